"""Which clusters the platform knows and how to reach each one."""

from dataclasses import dataclass
from pathlib import Path

from django.apps import apps
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
    """Where a registered cluster is. A registered cluster (classroom.Cluster) with no
    kubeconfig of its own is reached the way the platform reaches its default one."""
    path = _registered_kubeconfig(name)
    if path:
        return ClusterSource(name=name, kubeconfig=Path(path))
    if settings.LABPLATFORM_IN_CLUSTER:
        return ClusterSource(name=name, kubeconfig=None)
    return ClusterSource(name=name, kubeconfig=Path(settings.LABPLATFORM_KUBECONFIG))


def _registered_kubeconfig(name: str) -> str:
    if name == LOCAL:
        return ""
    cluster = apps.get_model("classroom", "Cluster").objects.filter(name=name).first()
    if cluster is None:
        raise UnknownCluster(f"no cluster named {name!r} is registered")
    return cluster.kubeconfig_path
