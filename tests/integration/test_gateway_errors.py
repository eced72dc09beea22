"""The gateway's one error mapping (labplatform/cluster/rest.py) against the real API
server: a missing object is ObjectMissing, an object the API server refuses is
ObjectRefused with its status and words, and a cluster that cannot be reached (a closed
port, a certificate that does not verify, credentials it does not accept) is
ClusterUnavailable. Every message names the object and holds no stack trace."""

import socket

import certifi
import pytest
import yaml

from labplatform.cluster.apply import object_apply, object_apply_into, object_delete, object_get
from labplatform.cluster.errors import ClusterUnavailable, ObjectMissing, ObjectRefused
from labplatform.cluster.health import cluster_health
from labplatform.cluster.info import cluster_version
from labplatform.cluster.reads import objects_list
from labplatform.cluster.rest import object_path, request
from tests.kube import admin_kubeconfig, write_token_kubeconfig


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _config_map(namespace: str, name: str, data: dict[str, str] | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": data}


def test_a_missing_object_is_object_missing_naming_it(kube, gateway_as_admin, namespace):
    ref = _config_map(namespace, "not-there")
    with pytest.raises(ObjectMissing) as missing:
        request("local", "GET", object_path(ref), what=f"ConfigMap {namespace}/not-there")
    assert str(missing.value) == f"ConfigMap {namespace}/not-there does not exist"
    # Where a missing object is an answer, not a failure:
    assert object_get(ref) is None
    assert object_delete(ref) is False
    assert objects_list(namespace=namespace, api_version="v1", kind="ConfigMap", name="not-there") == []


def test_an_invalid_object_is_refused_with_the_status_and_the_api_servers_words(kube, gateway_as_admin, namespace):
    invalid = _config_map(namespace, "settings", {"not a key!": "x"})
    with pytest.raises(ObjectRefused) as refused:
        object_apply(invalid)
    assert refused.value.status == 422
    message = str(refused.value)
    assert message.startswith(f"ConfigMap {namespace}/settings: 422 ")
    assert "not a key!" in message and "Invalid value" in message
    assert refused.value.reason in message
    assert "Traceback" not in message
    # The same through a setup's write into a namespace:
    with pytest.raises(ObjectRefused) as again:
        object_apply_into(invalid, namespace=namespace)
    assert again.value.status == 422


def test_what_the_platform_may_not_do_is_refused_with_403(kube, namespace):
    """The platform's own identity reads only the namespaces it manages."""
    with pytest.raises(ObjectRefused) as refused:
        objects_list(namespace=namespace, api_version="v1", kind="ConfigMap")
    assert refused.value.status == 403
    assert str(refused.value).startswith(f"ConfigMap list in {namespace}: 403 ")
    assert 'cannot list resource "configmaps"' in str(refused.value)


def test_a_token_the_api_server_does_not_accept_is_cluster_unavailable(kube, namespace):
    with pytest.raises(ClusterUnavailable) as unavailable:
        object_apply_into(_config_map(namespace, "settings", {"a": "b"}), namespace=namespace, token="not-a-token")
    assert str(unavailable.value).startswith(f"ConfigMap {namespace}/settings: cluster 'local' answered 401: ")


def test_a_closed_port_is_cluster_unavailable_for_every_kind_of_request(settings, tmp_path):
    settings.LABPLATFORM_KUBECONFIG = write_token_kubeconfig(
        tmp_path / "kubeconfig", server=f"https://127.0.0.1:{closed_port()}"
    )
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lab-nowhere"}}
    said = "cluster 'local' is unreachable: connection refused (is it running? `make cluster-up` starts the local one)"
    for call in (
        lambda: object_apply(namespace),
        lambda: object_get(namespace),
        lambda: object_delete(namespace),
    ):
        with pytest.raises(ClusterUnavailable) as unavailable:
            call()
        assert str(unavailable.value) == f"Namespace lab-nowhere: {said}"
    with pytest.raises(ClusterUnavailable) as unavailable:
        objects_list(namespace="lab-nowhere", api_version="v1", kind="Pod")
    assert str(unavailable.value) == f"Pod list in lab-nowhere: {said}"
    with pytest.raises(ClusterUnavailable) as unavailable:
        cluster_version()
    assert str(unavailable.value) == said
    health = cluster_health(name="local")
    assert (health.reachable, health.error) == (False, said)


def test_a_certificate_that_does_not_verify_is_cluster_unavailable(kube, settings, tmp_path):
    """The real API server, checked against a CA bundle that did not sign its certificate."""
    server = yaml.safe_load(admin_kubeconfig().read_text())["clusters"][0]["cluster"]["server"]

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": {"server": server, "certificate-authority": certifi.where()}}],
        "users": [{"name": "test", "user": {"token": "not-a-token"}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
        "current-context": "test",
    }
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(config))
    settings.LABPLATFORM_KUBECONFIG = tmp_path / "kubeconfig"
    with pytest.raises(ClusterUnavailable) as unavailable:
        object_get({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    message = str(unavailable.value)
    assert message.startswith("Namespace default: cluster 'local' is unreachable: TLS failed: ")
    assert "certificate verify failed" in message
    assert "Traceback" not in message
