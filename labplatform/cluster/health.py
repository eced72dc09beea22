"""How one registered cluster is doing, for the admins' cluster page: whether its API
server answers and which version it runs, how many namespaces the platform manages,
each student namespace's quota usage, and the workstation pods that are not Running and
Ready. Read as the platform's own identity, one LIST per kind however many students
there are (its ClusterRole may list namespaces and resourcequotas cluster-wide, and its
Role in the workstation namespace may list pods)."""

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from kubernetes.utils import parse_quantity

from labplatform.cluster.errors import ClusterError, ClusterUnavailable, ObjectMissing, ObjectRefused
from labplatform.cluster.info import cluster_version
from labplatform.cluster.manifests import COHORT_LABEL, MANAGED_BY, MANAGED_BY_LABEL, STUDENT_LABEL
from labplatform.cluster.rest import REGISTRY, Json, request

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


def _list(health: ClusterHealth, label: str, kind: str, *, namespace: str | None = None) -> list[Json] | None:
    """One LIST (every namespace unless one is named) of the objects the platform manages;
    a refusal is noted on the report (as "listing <label>: ..."), a lost connection
    (ClusterUnavailable) ends it."""
    resource = REGISTRY[("v1", kind)]
    query = [] if namespace else [("labelSelector", MANAGED)]
    what = resource.describe(namespace=namespace)
    try:
        listed = request(health.name, "GET", resource.path(namespace=namespace), what=what, query=query)
    except (ObjectRefused, ObjectMissing) as exc:
        said = f"HTTP {exc.status} {exc.reason}" if isinstance(exc, ObjectRefused) else "HTTP 404, not served"
        health.read_errors.append(f"listing {label}: {said}")
        return None
    return (listed or {}).get("items") or []


def _at_limit(used: str, hard: str) -> bool:
    """A hard limit of 0 turns a kind off (no PersistentVolumeClaims), so it is never "full"."""
    try:
        limit = parse_quantity(hard)
        return limit > 0 and parse_quantity(used) >= limit
    except ValueError:
        return False


def _quota(quota: Json) -> NamespaceQuota:
    metadata = quota["metadata"]
    labels = metadata.get("labels") or {}
    status = quota.get("status") or {}
    hard = status.get("hard") or (quota.get("spec") or {}).get("hard") or {}
    used = status.get("used") or {}
    return NamespaceQuota(
        namespace=metadata.get("namespace", ""),
        cohort=labels.get(COHORT_LABEL, ""),
        student=labels.get(STUDENT_LABEL, ""),
        usage={
            name: QuotaUse(used=used.get(name, "?"), hard=limit, full=_at_limit(used.get(name, "0"), limit))
            for name, limit in hard.items()
        },
    )


def _timestamp(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _pod_reasons(status: Json, *, ready: bool, deleting: bool) -> list[str]:
    reasons = []
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            reasons.append(waiting["reason"])
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True" and condition.get("message"):
            reasons.append(condition["message"])
    if deleting:
        reasons.insert(0, "being deleted")
    elif not ready:
        reasons.insert(0, "not ready")
    return reasons


def _pod_problem(pod: Json) -> PodProblem | None:
    metadata, status = pod["metadata"], pod.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    deleting = metadata.get("deletionTimestamp") is not None
    if status.get("phase") == "Running" and ready and not deleting:
        return None
    labels = metadata.get("labels") or {}
    return PodProblem(
        name=metadata["name"],
        cohort=labels.get(COHORT_LABEL, ""),
        student=labels.get(STUDENT_LABEL, ""),
        phase=status.get("phase") or "Unknown",
        detail="; ".join(_pod_reasons(status, ready=ready, deleting=deleting)),
        created_at=_timestamp(metadata.get("creationTimestamp")),
    )


def _health_read(health: ClusterHealth) -> None:
    namespaces = _list(health, "namespaces", "Namespace")
    if namespaces is not None:
        health.managed_namespaces = len(namespaces)
        phases = [(ns.get("status") or {}).get("phase") for ns in namespaces]
        health.terminating_namespaces = phases.count("Terminating")
    quotas = _list(health, "resource quotas", "ResourceQuota")
    if quotas is not None:
        health.quotas = sorted((_quota(q) for q in quotas), key=lambda q: (q.cohort, q.namespace))
    namespace = settings.WORKSTATION_NAMESPACE
    pods = _list(health, f"pods in {namespace}", "Pod", namespace=namespace)
    if pods is not None:
        health.workstation_pods = len(pods)
        problems = (_pod_problem(pod) for pod in pods)
        health.workstation_problems = sorted((p for p in problems if p), key=lambda p: p.name)


def cluster_health(*, name: str) -> ClusterHealth:
    """Never raises for a cluster that is down or refuses: the report says what failed."""
    try:
        version = cluster_version(name=name, timeout=PROBE_TIMEOUT_SECONDS)
    except ClusterError as exc:
        return ClusterHealth(name=name, reachable=False, error=str(exc))
    health = ClusterHealth(name=name, reachable=True, version=version)
    try:
        _health_read(health)
    except ClusterUnavailable as exc:
        return ClusterHealth(name=name, reachable=False, version=version, error=str(exc))
    return health
