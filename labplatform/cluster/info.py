"""Reads about the cluster as a whole."""

import time

from labplatform.cluster.errors import ClusterUnavailable, ObjectMissing, ObjectRefused
from labplatform.cluster.manifests import ApiServerPeer
from labplatform.cluster.registry import LOCAL
from labplatform.cluster.rest import Json, Query, Resource, request, resource_for
from labplatform.tracing import traced


def cluster_version(*, name: str = LOCAL, timeout: float | None = None) -> str:
    """The API server's gitVersion, e.g. "v1.36.3". Raises ClusterUnavailable: a cluster
    whose version cannot be read (a refusal or no such path included) is of no use."""
    try:
        version = request(name, "GET", "/version", what="", timeout=timeout or None)
    except (ObjectMissing, ObjectRefused) as exc:
        raise ClusterUnavailable(f"cluster {name!r}: {exc}") from exc
    git_version = (version or {}).get("gitVersion")
    if not isinstance(git_version, str):
        raise ClusterUnavailable(f"cluster {name!r}: GET /version did not say which version it runs")
    return git_version


# The API server's addresses change rarely; provisioning a cohort asks for them per student.
_PEERS_TTL_SECONDS = 60
_peers_cache: dict[str, tuple[float, list[ApiServerPeer]]] = {}


@traced("cluster.api_server_peers")
def api_server_peers(*, name: str = LOCAL) -> list[ApiServerPeer]:
    """Where the API server is reached from pods: the `kubernetes` Service and its endpoints."""
    cached = _peers_cache.get(name)
    if cached and time.monotonic() - cached[0] < _PEERS_TTL_SECONDS:
        return cached[1]
    peers = _read_api_server_peers(name)
    _peers_cache[name] = (time.monotonic(), peers)
    return peers


def _read(name: str, resource: Resource, *, item: str | None = None, query: Query = ()) -> Json:
    what = resource.describe(namespace="default", name=item)
    try:
        found = request(name, "GET", resource.path(namespace="default", name=item), what=what, query=query)
    except (ObjectMissing, ObjectRefused) as exc:
        raise ClusterUnavailable(f"cluster {name!r}: reading the API server's address: {exc}") from exc
    return found or {}


def _read_api_server_peers(name: str) -> list[ApiServerPeer]:
    service = _read(name, resource_for(api_version="v1", kind="Service"), item="kubernetes")
    slices = _read(
        name,
        resource_for(api_version="discovery.k8s.io/v1", kind="EndpointSlice"),
        query=[("labelSelector", "kubernetes.io/service-name=kubernetes")],
    )
    spec = service.get("spec") or {}
    peers = [ApiServerPeer(cidr=f"{spec['clusterIP']}/32", port=port["port"]) for port in spec.get("ports") or []]
    for endpoint_slice in slices.get("items") or []:
        ports = [port["port"] for port in endpoint_slice.get("ports") or [] if port.get("port")]
        for endpoint in endpoint_slice.get("endpoints") or []:
            for address in endpoint.get("addresses") or []:
                prefix = 128 if ":" in address else 32
                peers += [ApiServerPeer(cidr=f"{address}/{prefix}", port=port) for port in ports]
    return peers
