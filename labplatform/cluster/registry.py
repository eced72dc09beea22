"""Which clusters the platform knows and how to reach each one."""

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
    if name != LOCAL:
        raise UnknownCluster(f"no cluster named {name!r} is registered")
    if settings.LABPLATFORM_IN_CLUSTER:
        return ClusterSource(name=LOCAL, kubeconfig=None)
    return ClusterSource(name=LOCAL, kubeconfig=Path(settings.LABPLATFORM_KUBECONFIG))
