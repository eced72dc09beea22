"""How one registered cluster is doing, for the admins' cluster page: whether its API
server answers and which version it runs, how many namespaces the platform manages,
each student namespace's quota usage, and the workstation pods that are not Running and
Ready. Read as the platform's own identity, one LIST per kind however many students
there are (its ClusterRole may list namespaces and resourcequotas cluster-wide, and its
Role in the workstation namespace may list pods)."""

from dataclasses import dataclass, field
from datetime import datetime

import urllib3
from django.conf import settings
from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException
from kubernetes.utils import parse_quantity

from labplatform.cluster.clients import sync_client
from labplatform.cluster.errors import ClusterError
from labplatform.cluster.info import cluster_version
from labplatform.cluster.manifests import COHORT_LABEL, MANAGED_BY, MANAGED_BY_LABEL, STUDENT_LABEL

# The version probe decides whether the cluster is reachable; it should not hold the page up.
PROBE_TIMEOUT_SECONDS = 3
MANAGED = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
# The quota's resources in this order first, the rest alphabetically.
_LEADING_RESOURCES = ["pods", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"]


@dataclass(frozen=True)
class QuotaUse:
    used: str
    hard: str
    full: bool  # used has reached hard: the student's next object of this kind is refused


@dataclass(frozen=True)
class NamespaceQuota:
    namespace: str
    cohort: str
    student: str
    usage: dict[str, QuotaUse]


@dataclass(frozen=True)
class PodProblem:
    name: str
    cohort: str
    student: str
    phase: str
    detail: str
    created_at: datetime | None


@dataclass
class ClusterHealth:
    name: str
    reachable: bool
    version: str = ""
    error: str = ""
    managed_namespaces: int = 0
    terminating_namespaces: int = 0
    quotas: list[NamespaceQuota] = field(default_factory=list)
    workstation_pods: int = 0
    workstation_problems: list[PodProblem] = field(default_factory=list)
    # Reads that failed on a cluster that answers (a missing permission), in words.
    read_errors: list[str] = field(default_factory=list)

    @property
    def quota_resources(self) -> list[str]:
        names = {name for quota in self.quotas for name in quota.usage}
        return [n for n in _LEADING_RESOURCES if n in names] + sorted(names - set(_LEADING_RESOURCES))


class _Unreachable(Exception):
    pass


def _read(health: ClusterHealth, what: str, call):
    """One LIST; a refusal is noted on the report, a lost connection ends the report."""
    try:
        return call()
    except ApiException as exc:
        health.read_errors.append(f"listing {what}: HTTP {exc.status} {exc.reason}")
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise _Unreachable(f"listing {what}: {exc}") from exc
    return None


def _at_limit(used: str, hard: str) -> bool:
    """A hard limit of 0 turns a kind off (no PersistentVolumeClaims), so it is never "full"."""
    try:
        limit = parse_quantity(hard)
        return limit > 0 and parse_quantity(used) >= limit
    except ValueError:
        return False


def _quota(quota) -> NamespaceQuota:
    labels = quota.metadata.labels or {}
    status = quota.status
    hard = (status.hard if status else None) or quota.spec.hard or {}
    used = (status.used if status else None) or {}
    return NamespaceQuota(
        namespace=quota.metadata.namespace,
        cohort=labels.get(COHORT_LABEL, ""),
        student=labels.get(STUDENT_LABEL, ""),
        usage={
            name: QuotaUse(used=used.get(name, "?"), hard=limit, full=_at_limit(used.get(name, "0"), limit))
            for name, limit in hard.items()
        },
    )


def _pod_problem(pod) -> PodProblem | None:
    status = pod.status
    ready = any(c.type == "Ready" and c.status == "True" for c in (status.conditions or []))
    if status.phase == "Running" and ready and pod.metadata.deletion_timestamp is None:
        return None
    reasons = []
    for container in status.container_statuses or []:
        waiting = container.state.waiting if container.state else None
        if waiting and waiting.reason:
            reasons.append(waiting.reason)
    for condition in status.conditions or []:
        if condition.status != "True" and condition.message:
            reasons.append(condition.message)
    if pod.metadata.deletion_timestamp is not None:
        reasons.insert(0, "being deleted")
    elif not ready:
        reasons.insert(0, "not ready")
    labels = pod.metadata.labels or {}
    return PodProblem(
        name=pod.metadata.name,
        cohort=labels.get(COHORT_LABEL, ""),
        student=labels.get(STUDENT_LABEL, ""),
        phase=status.phase or "Unknown",
        detail="; ".join(reasons),
        created_at=pod.metadata.creation_timestamp,
    )


def cluster_health(*, name: str) -> ClusterHealth:
    """Never raises for a cluster that is down or refuses: the report says what failed."""
    try:
        version = cluster_version(name=name, timeout=PROBE_TIMEOUT_SECONDS)
    except ClusterError as exc:
        return ClusterHealth(name=name, reachable=False, error=str(exc))
    health = ClusterHealth(name=name, reachable=True, version=version)
    try:
        core = CoreV1Api(sync_client(name))
        namespaces = _read(health, "namespaces", lambda: core.list_namespace(label_selector=MANAGED))
        if namespaces is not None:
            health.managed_namespaces = len(namespaces.items)
            health.terminating_namespaces = sum(1 for ns in namespaces.items if ns.status.phase == "Terminating")
        quotas = _read(
            health, "resource quotas", lambda: core.list_resource_quota_for_all_namespaces(label_selector=MANAGED)
        )
        if quotas is not None:
            health.quotas = sorted((_quota(q) for q in quotas.items), key=lambda q: (q.cohort, q.namespace))
        namespace = settings.WORKSTATION_NAMESPACE
        pods = _read(health, f"pods in {namespace}", lambda: core.list_namespaced_pod(namespace))
        if pods is not None:
            health.workstation_pods = len(pods.items)
            problems = (_pod_problem(pod) for pod in pods.items)
            health.workstation_problems = sorted((p for p in problems if p), key=lambda p: p.name)
    except _Unreachable as exc:
        return ClusterHealth(name=name, reachable=False, version=version, error=f"cluster {name!r}: {exc}")
    return health
