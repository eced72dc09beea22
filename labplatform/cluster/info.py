"""Reads about the cluster as a whole."""

import urllib3
from kubernetes.client import VersionApi
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from labplatform.cluster.clients import sync_client
from labplatform.cluster.errors import ClusterUnavailable
from labplatform.cluster.registry import LOCAL


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


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    if "Connection refused" in text:
        return "connection refused (is it running? `make cluster-up` starts the local one)"
    if "timed out" in text.lower():
        return "timed out"
    return text.split(": ", 1)[-1]
