"""Reads about the cluster as a whole."""

import time

import urllib3
from kubernetes.client import CoreV1Api, DiscoveryV1Api, VersionApi
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from labplatform.cluster.clients import sync_client
from labplatform.cluster.errors import ClusterUnavailable
from labplatform.cluster.manifests import ApiServerPeer
from labplatform.cluster.registry import LOCAL
from labplatform.tracing import traced


def cluster_version(*, name: str = LOCAL, timeout: float | None = None) -> str:
    """The API server's gitVersion, e.g. "v1.36.3". Raises ClusterUnavailable."""
    try:
        api = VersionApi(sync_client(name))
        kwargs = {"_request_timeout": timeout} if timeout else {}
        return api.get_code(**kwargs).git_version
    except ApiException as exc:
        raise ClusterUnavailable(f"cluster {name!r} answered HTTP {exc.status} {exc.reason}") from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ClusterUnavailable(f"cluster {name!r} is unreachable: {_reason(exc)}") from exc
    except ConfigException as exc:
        raise ClusterUnavailable(f"cluster {name!r} is misconfigured: {exc}") from exc


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


def _read_api_server_peers(name: str) -> list[ApiServerPeer]:
    api = sync_client(name)
    try:
        service = CoreV1Api(api).read_namespaced_service("kubernetes", "default")
        slices = DiscoveryV1Api(api).list_namespaced_endpoint_slice(
            "default", label_selector="kubernetes.io/service-name=kubernetes"
        )
    except ApiException as exc:
        raise ClusterUnavailable(
            f"cluster {name!r}: reading the API server's address: {exc.status} {exc.reason}"
        ) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ClusterUnavailable(f"cluster {name!r} is unreachable: {_reason(exc)}") from exc
    peers = [ApiServerPeer(cidr=f"{service.spec.cluster_ip}/32", port=port.port) for port in service.spec.ports]
    for endpoint_slice in slices.items:
        for endpoint in endpoint_slice.endpoints or []:
            for address in endpoint.addresses:
                prefix = 128 if ":" in address else 32
                peers += [ApiServerPeer(cidr=f"{address}/{prefix}", port=port.port) for port in endpoint_slice.ports]
    return peers


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    if "Connection refused" in text:
        return "connection refused (is it running? `make cluster-up` starts the local one)"
    if "timed out" in text.lower():
        return "timed out"
    return text.split(": ", 1)[-1]
