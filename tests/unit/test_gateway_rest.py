"""The gateway has one REST layer (labplatform/cluster/rest.py): its mapping of the API
server's answers to errors, and a scan proving no other gateway module sends requests of
its own, so a second REST layer cannot come back unnoticed. The mapping against a real
API server is tested in tests/integration/test_gateway_errors.py."""

import ast
from pathlib import Path

import pytest

from labplatform.cluster import rest
from labplatform.cluster.errors import ClusterUnavailable, ObjectMissing, ObjectRefused, UnknownKind

GATEWAY = Path(rest.__file__).parent
CONFIGMAP = "ConfigMap lab-x/settings"


def _error(status: int, data: bytes = b"", *, what: str = CONFIGMAP, cluster: str = "local"):
    return rest._error(
        cluster, "GET", "/api/v1/namespaces/lab-x/configmaps/settings", what, status, rest._message(data)
    )


def _status(message: str) -> bytes:
    return f'{{"kind": "Status", "status": "Failure", "message": "{message}"}}'.encode()


def test_404_is_object_missing_naming_the_object():
    error = _error(404, _status('configmaps "settings" not found'))
    assert isinstance(error, ObjectMissing)
    assert str(error) == "ConfigMap lab-x/settings does not exist"


@pytest.mark.parametrize("status", [400, 403, 409, 422])
def test_other_4xx_is_a_refusal_with_the_status_and_the_api_servers_words(status):
    error = _error(status, _status("the reason"))
    assert isinstance(error, ObjectRefused)
    assert (error.status, error.reason) == (status, "the reason")
    assert str(error) == f"ConfigMap lab-x/settings: {status} the reason"


@pytest.mark.parametrize("status", [401, 429, 500, 502, 503, 504])
def test_credentials_not_accepted_throttling_and_server_errors_are_cluster_unavailable(status):
    error = _error(status, _status("try later"), cluster="far")
    assert isinstance(error, ClusterUnavailable)
    assert str(error) == f"ConfigMap lab-x/settings: cluster 'far' answered {status}: try later"


def test_an_answer_that_is_not_a_status_is_quoted_briefly():
    assert rest._message(b"<html>" + b"x" * 1000) == "<html>" + "x" * 294
    assert rest._message(b"") == "(no message)"
    assert rest._message(b'["not", "a", "status"]') == '["not", "a", "status"]'


def test_a_request_about_no_object_is_named_by_its_path():
    assert str(_error(404, what="")) == "GET /api/v1/namespaces/lab-x/configmaps/settings does not exist"
    assert str(_error(503, b"down", what="")) == "cluster 'local' answered 503: down"


def test_connection_failures_are_said_in_a_few_words():
    refused = ConnectionRefusedError(111, "[Errno 111] Connection refused")
    assert (
        rest._reason(refused, "local") == "connection refused (is it running? `make cluster-up` starts the local one)"
    )
    assert rest._reason(refused, "far") == "connection refused"
    assert rest._reason(TimeoutError("read timed out"), "far") == "timed out"


def test_the_registry_paths():
    pod = rest.REGISTRY[("v1", "Pod")]
    assert pod.path(namespace="lab-x", name="web") == "/api/v1/namespaces/lab-x/pods/web"
    assert pod.path(namespace=None) == "/api/v1/pods"
    account = rest.REGISTRY[("v1", "ServiceAccount")]
    assert account.path(namespace="lab-x", name="student", subresource="token") == (
        "/api/v1/namespaces/lab-x/serviceaccounts/student/token"
    )
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "b"}}
    assert rest.object_path(binding) == "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/b"
    assert rest.resource_for(api_version=None, kind="Pod") is pod


def test_lessons_may_not_use_the_platforms_own_kinds():
    with pytest.raises(UnknownKind, match="kind 'Namespace'"):
        rest.resource_for(api_version="v1", kind="Namespace")
    assert rest.resource_of({"apiVersion": "v1", "kind": "Namespace"}).plural == "namespaces"


# What sends a request of its own: the client's request methods, and the typed APIs.
_REQUEST_ATTRIBUTES = {"call_api", "param_serialize", "request", "rest_client", "pool_manager", "urlopen"}
_HTTP_MODULES = {"requests", "httpx", "http.client", "urllib.request", "aiohttp"}
# exec.py's WebSocket stream, and the async pod read beside it on the event loop, need
# kubernetes_asyncio's client (exec.py's docstring says why); nothing else does.
_ALLOWED = {("exec.py", "CoreV1Api"), ("exec.py", "aiohttp")}


def _request_attribute(node: ast.AST) -> str | None:
    """A client's request method (`client.call_api`), but not `rest.request` itself."""
    if not isinstance(node, ast.Attribute) or node.attr not in _REQUEST_ATTRIBUTES:
        return None
    if node.attr == "request" and isinstance(node.value, ast.Name) and node.value.id == "rest":
        return None
    return f".{node.attr}"


def _typed_apis(node: ast.AST) -> list[str]:
    """Typed APIs used or imported (CoreV1Api, kubernetes.client.AppsV1Api)."""
    if isinstance(node, ast.Name):
        names = [node.id]
    elif isinstance(node, ast.Attribute):
        names = [node.attr]
    elif isinstance(node, ast.ImportFrom):
        names = [alias.name for alias in node.names]
    else:
        return []
    return [name for name in names if name.endswith("Api") and name[0].isupper()]


def _http_modules(node: ast.AST) -> list[str]:
    """HTTP libraries imported."""
    if isinstance(node, ast.ImportFrom):
        modules = [node.module or ""]
    elif isinstance(node, ast.Import):
        modules = [alias.name for alias in node.names]
    else:
        return []
    return [module for module in modules if module.split(".")[0] in _HTTP_MODULES or module in _HTTP_MODULES]


def raw_requests(source: str, filename: str) -> list[str]:
    """What in a module talks to an API server other than through rest.request."""
    found = []
    for node in ast.walk(ast.parse(source)):
        attribute = _request_attribute(node)
        if attribute:
            found.append(f"line {node.lineno}: {attribute}")
        for name in _typed_apis(node) + _http_modules(node):
            if (filename, name.split(".")[0]) not in _ALLOWED:
                found.append(f"line {node.lineno}: {name}")
    return sorted(set(found))


def test_the_scan_finds_a_second_rest_layer():
    second = (
        "from kubernetes.client import CoreV1Api\n"
        "import requests\n"
        "def f(client):\n"
        "    client.call_api('GET', '/api/v1/pods')\n"
        "    CoreV1Api(client).list_namespaced_pod('x')\n"
        "    kubernetes.client.AppsV1Api(client)\n"
    )
    assert raw_requests(second, "health.py") == [
        "line 1: CoreV1Api",
        "line 2: requests",
        "line 4: .call_api",
        "line 5: CoreV1Api",
        "line 6: AppsV1Api",
    ]
    assert (
        raw_requests("from labplatform.cluster import rest\nrest.request('local', 'GET', '/version', what='')", "x.py")
        == []
    )


def test_only_rest_py_sends_requests_to_the_api_server():
    modules = sorted(GATEWAY.glob("*.py"))
    assert GATEWAY / "rest.py" in modules and GATEWAY / "students.py" in modules
    found = {
        path.name: raw_requests(path.read_text(), path.name)
        for path in modules
        if path.name not in ("rest.py", "clients.py")
    }
    assert {name: lines for name, lines in found.items() if lines} == {}


def test_clients_py_only_makes_clients():
    """clients.py builds the clients (and bounds the sync one's timeout); it asks nothing itself."""
    tree = ast.parse((GATEWAY / "clients.py").read_text())
    calls = [
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _REQUEST_ATTRIBUTES
    ]
    assert calls == ["call_api"]  # super().call_api in the timeout default, nothing else
