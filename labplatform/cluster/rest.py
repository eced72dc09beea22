"""The gateway's one way to talk to an API server over HTTP: one registry of the kinds
the platform reads and writes, one request function, one mapping of failures to errors.

Every request is the API server's JSON in and out, as plain dicts, rather than the
client's typed APIs (CoreV1Api and the like) and their model classes: grading reads
whole kinds at a time and compares fields as a manifest names them (`clusterIP`, not
`cluster_ip`), setups apply any registered kind by server-side apply, which the typed
APIs do not offer for every kind, and models are slow to build for lists of hundreds of
objects. One style also means one place where a timeout is set and an HTTP status
becomes an error, so every caller sees the same errors (labplatform.cluster.errors):

- the connection fails (refused, TLS, a timeout), the kubeconfig is unusable, the API
  server does not accept the credentials (401, the platform's or a student's token: the
  request was never judged), throttles (429) or fails (5xx): ClusterUnavailable, since
  nothing was said about the object and the same request may succeed later;
- 404: ObjectMissing;
- any other 4xx, 403 included (the identity may not do this to this object, while the
  cluster works): ObjectRefused, with the status and what the API server said.

Messages name the object (kind, namespace, name) and say what the API server said.
Only exec streams (exec.py) use another client, kubernetes_asyncio's WebSocket one.
"""

import json
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes.config.config_exception import ConfigException

from labplatform.cluster.clients import sync_client
from labplatform.cluster.errors import ClusterUnavailable, ObjectMissing, ObjectRefused, UnknownKind
from labplatform.cluster.manifests import KWOK_API_VERSION
from labplatform.cluster.registry import LOCAL
from labplatform.tracing import span

Json = dict[str, Any]
Query = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Resource:
    api_version: str
    kind: str
    plural: str
    namespaced: bool
    # Lessons' checks may read it and their setups apply it; the others are the platform's own.
    lessons: bool = True

    def path(self, *, namespace: str | None, name: str | None = None, subresource: str = "") -> str:
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        scope = f"/namespaces/{namespace}" if self.namespaced and namespace else ""
        item = (f"/{name}" if name else "") + (f"/{subresource}" if subresource else "")
        return f"{prefix}{scope}/{self.plural}{item}"

    def describe(self, *, namespace: str | None, name: str | None = None) -> str:
        """How messages name the object ("Pod lab-x/web") or the list ("Pod list in lab-x")."""
        where = namespace if self.namespaced and namespace else None
        if name:
            return f"{self.kind} {where}/{name}" if where else f"{self.kind} {name}"
        return f"{self.kind} list in {where}" if where else f"{self.kind} list"


_REGISTRY = [
    Resource("v1", "Namespace", "namespaces", False, lessons=False),
    Resource("v1", "Pod", "pods", True),
    Resource("v1", "Service", "services", True),
    Resource("v1", "Endpoints", "endpoints", True),
    Resource("v1", "ConfigMap", "configmaps", True),
    Resource("v1", "Secret", "secrets", True),
    Resource("v1", "Event", "events", True),
    Resource("v1", "ServiceAccount", "serviceaccounts", True),
    Resource("v1", "ResourceQuota", "resourcequotas", True),
    Resource("v1", "LimitRange", "limitranges", True),
    Resource("v1", "PersistentVolumeClaim", "persistentvolumeclaims", True),
    Resource("v1", "Node", "nodes", False),
    Resource("apps/v1", "Deployment", "deployments", True),
    Resource("apps/v1", "ReplicaSet", "replicasets", True),
    Resource("apps/v1", "StatefulSet", "statefulsets", True),
    Resource("apps/v1", "DaemonSet", "daemonsets", True),
    Resource("batch/v1", "Job", "jobs", True),
    Resource("batch/v1", "CronJob", "cronjobs", True),
    Resource("discovery.k8s.io/v1", "EndpointSlice", "endpointslices", True),
    Resource("events.k8s.io/v1", "Event", "events", True),
    Resource("networking.k8s.io/v1", "Ingress", "ingresses", True),
    Resource("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", True),
    Resource("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True),
    Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", True, lessons=False),
    Resource("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", False, lessons=False),
    Resource("flowcontrol.apiserver.k8s.io/v1", "FlowSchema", "flowschemas", False, lessons=False),
    Resource(KWOK_API_VERSION, "Logs", "logs", True),
]
REGISTRY: dict[tuple[str, str], Resource] = {(r.api_version, r.kind): r for r in _REGISTRY}
# (apiVersion, kind) -> the resource, for the kinds lessons may read and apply.
LESSON_RESOURCES: dict[tuple[str, str], Resource] = {key: r for key, r in REGISTRY.items() if r.lessons}
# A check may leave apiVersion out for these; for any other kind it must say which.
_DEFAULT_API_VERSIONS = {"Pod", "Service", "Endpoints", "ConfigMap", "Secret", "Event", "ServiceAccount",
                         "ResourceQuota", "LimitRange", "PersistentVolumeClaim", "Node"}  # fmt: skip


def resource_for(*, api_version: str | None, kind: str) -> Resource:
    """The resource for a kind lessons may use; apiVersion may be omitted for core kinds."""
    if not api_version and kind in _DEFAULT_API_VERSIONS:
        api_version = "v1"
    resource = LESSON_RESOURCES.get((api_version or "", kind))
    if resource is None:
        known = ", ".join(sorted(f"{r.api_version} {r.kind}" for r in LESSON_RESOURCES.values()))
        raise UnknownKind(f"kind {kind!r} (apiVersion {api_version or 'not given'}) is not one of: {known}")
    return resource


def resource_of(obj: Mapping[str, Any]) -> Resource:
    """The resource of a manifest (or a reference: apiVersion, kind, metadata) of any registered kind."""
    resource = REGISTRY.get((obj.get("apiVersion", ""), obj.get("kind", "")))
    if resource is None:
        raise UnknownKind(f"{obj.get('kind')!r} (apiVersion {obj.get('apiVersion')!r}) is not a registered kind")
    return resource


def object_name(obj: Mapping[str, Any]) -> str:
    """The object as messages name it: "Pod lab-x/web", "Namespace lab-x"."""
    metadata = obj["metadata"]
    where = f"{metadata['namespace']}/" if "namespace" in metadata else ""
    return f"{obj['kind']} {where}{metadata['name']}"


def object_path(obj: Mapping[str, Any]) -> str:
    """The API path of a manifest (or a reference to one) of a registered kind."""
    metadata = obj["metadata"]
    return resource_of(obj).path(namespace=metadata.get("namespace"), name=metadata["name"])


def request(
    cluster: str,
    method: str,
    path: str,
    *,
    what: str,
    query: Query = (),
    headers: Mapping[str, str] | None = None,
    body: Json | None = None,
    token: str | None = None,
    timeout: float | None = None,
) -> Json | None:
    """One request, with the platform's credentials or else `token`'s, within the clients'
    default timeout unless `timeout` is given; the decoded JSON answer (None if empty).
    `what` names the object in messages ("" for the cluster as a whole). Failures come
    back as ClusterErrors, as the module's docstring maps them."""
    with span("cluster.request"):
        status, data = _send(cluster, method, path, what, query, headers, body, token, timeout)
    if 200 <= status <= 299:
        return json.loads(data) if data else None
    raise _error(cluster, method, path, what, status, _message(data))


def _send(
    cluster: str,
    method: str,
    path: str,
    what: str,
    query: Query,
    headers: Mapping[str, str] | None,
    body: Json | None,
    token: str | None,
    timeout: float | None,
) -> tuple[int, bytes]:
    header_params = {"Accept": "application/json", **(headers or {})}
    if token:
        header_params["Authorization"] = f"Bearer {token}"
    try:
        client = sync_client(cluster)
        serialized = client.param_serialize(
            method,
            path,
            query_params=list(query),
            header_params=header_params,
            body=body,
            auth_settings=[] if token else ["BearerToken"],
        )
        response = client.call_api(*serialized, _request_timeout=timeout)
        response.read()
    except ConfigException as exc:
        raise ClusterUnavailable(f"{_prefix(what)}cluster {cluster!r} is misconfigured: {exc}") from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ClusterUnavailable(f"{_prefix(what)}cluster {cluster!r} is unreachable: {_reason(exc, cluster)}") from exc
    return response.status, response.data or b""


def _error(
    cluster: str, method: str, path: str, what: str, status: int, message: str
) -> ObjectMissing | ObjectRefused | ClusterUnavailable:
    if status == 404:
        return ObjectMissing(f"{what or f'{method} {path}'} does not exist")
    if 400 <= status <= 499 and status not in (401, 429):
        return ObjectRefused(f"{what or f'{method} {path}'}: {status} {message}", status=status, reason=message)
    # 401: the credentials were not accepted; 429: throttled; 5xx: the API server failed.
    return ClusterUnavailable(f"{_prefix(what)}cluster {cluster!r} answered {status}: {message}")


def _prefix(what: str) -> str:
    return f"{what}: " if what else ""


def _message(data: bytes) -> str:
    """What the API server said: a Status object's message, else the start of its answer."""
    try:
        said = json.loads(data)
    except ValueError:
        said = None
    if isinstance(said, dict) and isinstance(said.get("message"), str):
        return said["message"]
    return data.decode(errors="replace")[:300].strip() or "(no message)"


def _reason(exc: Exception, cluster: str) -> str:
    """Why a connection failed, in a few words (urllib3 wraps the cause in its retries)."""
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    if "Connection refused" in text:
        hint = " (is it running? `make cluster-up` starts the local one)" if cluster == LOCAL else ""
        return f"connection refused{hint}"
    if "timed out" in text.lower():
        return "timed out"
    if isinstance(reason, ssl.SSLError | urllib3.exceptions.SSLError) or "SSL" in text:
        return f"TLS failed: {text}"
    return text.split(": ", 1)[-1]
