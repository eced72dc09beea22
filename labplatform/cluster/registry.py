"""Which clusters the platform knows and how to reach each one."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from labplatform.cluster.errors import UnknownCluster

LOCAL = "local"


@dataclass(frozen=True)
class ClusterSource:
    name: str
    kubeconfig: Path | None  # None: in-cluster service account

    def describe(self) -> str:
        return "in-cluster service account" if self.kubeconfig is None else f"kubeconfig {self.kubeconfig}"


def cluster_source(name: str = LOCAL) -> ClusterSource:
    """Where a registered cluster is. A registered cluster (cohorts.Cluster) with no
    kubeconfig of its own is reached the way the platform reaches its default one."""
    path = _registered_kubeconfig(name)
    if path:
        return ClusterSource(name=name, kubeconfig=Path(path))
    if settings.LABPLATFORM_IN_CLUSTER:
        return ClusterSource(name=name, kubeconfig=None)
    return ClusterSource(name=name, kubeconfig=Path(settings.LABPLATFORM_KUBECONFIG))


# The clusters the platform knows are registered by the app that keeps them (cohorts), which
# installs this lookup when Django starts: the gateway imports no app's models.
# It maps a cluster's name to its kubeconfig path ("" for the platform's own), or None.
_registered: Callable[[str], str | None] | None = None


def registered_clusters_use(lookup: Callable[[str], str | None]) -> None:
    global _registered
    _registered = lookup


def _registered_kubeconfig(name: str) -> str:
    if name == LOCAL:
        return ""
    path = _registered(name) if _registered is not None else None
    if path is None:
        raise UnknownCluster(f"no cluster named {name!r} is registered")
    return path
