"""Whether a cohort's pods fit on its cluster, said to the admin before provisioning.

A cohort may run as many pods as its students' quotas allow: students × the preset's
`pods`, and one workstation each when workstations share the students' nodes (no node
pool). Beside it, what the other cohorts' namespaces on the same cluster may run, as their
ResourceQuotas say (read from the cluster, so a cohort provisioned from another
database, or one half torn down, counts as it is). Their sum is set against the allocatable
pods of the nodes students' pods may be scheduled on (`labplatform.cluster.capacity`). Past
that, pods stay Pending, for this cohort and for everyone else's: a warning, never a
refusal, since most students never run their whole quota at once."""

from dataclasses import dataclass, field, replace

from django.conf import settings

from labplatform.cluster.capacity import NodeLeftOut, pod_capacity
from labplatform.cluster.errors import ClusterError
from labplatform.cohorts.models import Cohort, Enrollment
from labplatform.cohorts.presets import PRESETS

# The page waits for this at most; the cluster's health page allows the same.
READ_TIMEOUT_SECONDS = 3
# How an admin grows the local cluster (k8s/local/cluster.sh, "fit").
LOCAL_FIT_COMMAND = "k8s/local/cluster.sh fit"


def _count(n: int) -> str:
    return f"{n:,}"


def preset_pods(preset_name: str) -> int | None:
    """The pods each student's quota allows, or None when the preset sets no such limit."""
    hard = PRESETS[preset_name].hard
    try:
        return int(hard["pods"])
    except (KeyError, ValueError):
        return None


@dataclass(frozen=True)
class CohortCapacity:
    cluster: str
    local: bool
    students: int
    pods_per_student: int | None  # None: the preset sets no pod limit
    workstations_beside: bool  # each student's workstation runs on the students' nodes too
    others_pods: int = 0
    others_namespaces: int = 0
    others_unbounded: int = 0  # other managed namespaces whose quota sets no pod limit
    cluster_pods: int | None = None  # None: not read
    student_nodes: int = 0
    left_out: list[NodeLeftOut] = field(default_factory=list)
    error: str = ""

    @property
    def per_student(self) -> int:
        return (self.pods_per_student or 0) + (1 if self.workstations_beside else 0)

    @property
    def cohort_pods(self) -> int:
        return self.students * self.per_student

    @property
    def needed(self) -> int:
        return self.cohort_pods + self.others_pods

    @property
    def fits(self) -> bool:
        """True only when the numbers were read and they fit; False says "warn"."""
        return (
            self.cluster_pods is not None
            and self.pods_per_student is not None
            and not self.others_unbounded
            and self.needed <= self.cluster_pods
        )

    def _cohort_words(self) -> str:
        if self.pods_per_student is None:
            students = _count(self.students)
            return (
                f"This cohort's quota preset sets no pod limit, so its {students} students may run any number of pods"
            )
        each = f"({self.pods_per_student} + 1 workstation)" if self.workstations_beside else str(self.pods_per_student)
        return f"This cohort may run {_count(self.students)} × {each} = {_count(self.cohort_pods)} pods"

    def _others_words(self) -> str:
        words = ""
        if self.others_namespaces:
            words = (
                f"; other cohorts' {_count(self.others_namespaces)} namespaces on cluster {self.cluster} "
                f"may run {_count(self.others_pods)} more"
            )
        if self.others_unbounded:
            words += f"; {_count(self.others_unbounded)} other namespaces there have no pod limit"
        return words

    def message(self) -> str:
        """What the admin reads, naming every number it compares."""
        if self.cluster_pods is None:
            return (
                f"{self._cohort_words()}, but the capacity of cluster {self.cluster} could not be read "
                f"({self.error}), so whether they fit is not known."
            )
        nodes = f"the cluster's {_count(self.student_nodes)} nodes for students hold {_count(self.cluster_pods)}"
        text = f"{self._cohort_words()}{self._others_words()}; {nodes}."
        if self.fits:
            return text
        bounded = self.pods_per_student is not None and not self.others_unbounded
        if bounded:
            text += f" That is {_count(self.needed - self.cluster_pods)} more than the nodes hold:"
        text += " past what the nodes hold, pods stay Pending, this cohort's and everyone else's."
        if self.local and bounded:
            return f"{text} To grow this local cluster to fit: {LOCAL_FIT_COMMAND} {self.needed}"
        return f"{text} Add nodes for students before provisioning."


def cohort_capacity(*, cohort: Cohort) -> CohortCapacity:
    """Reads the cohort's cluster; never raises for a cluster that cannot be read."""
    cluster = cohort.cluster
    known = CohortCapacity(
        cluster=cluster.name,
        local=cluster.is_local,
        students=Enrollment.objects.students().filter(cohort=cohort).count(),
        pods_per_student=preset_pods(cohort.quota_preset),
        workstations_beside=not settings.WORKSTATION_NODE_POOL,
    )
    try:
        read = pod_capacity(name=cluster.name, timeout=READ_TIMEOUT_SECONDS)
    except ClusterError as exc:
        return replace(known, error=str(exc))
    others = [claim for slug, claim in read.claims.items() if slug != cohort.slug]
    namespaces = sum(claim.namespaces for claim in others)
    return replace(
        known,
        # Their workstations too, when workstations run on the students' nodes.
        others_pods=sum(claim.pods for claim in others) + (namespaces if known.workstations_beside else 0),
        others_namespaces=namespaces,
        others_unbounded=sum(claim.unbounded for claim in others),
        cluster_pods=read.allocatable_pods,
        student_nodes=read.student_nodes,
        left_out=read.left_out,
    )
