"""How many pods a cluster has room for, as the platform's own identity reads it: the
allocatable pods of the nodes students' pods may be scheduled on, and the pods the
namespaces the platform manages may already run (their ResourceQuotas' `hard.pods`), per
cohort. Two LISTs (nodes, resource quotas), however large the cluster.

A node counts for students when it is schedulable (`spec.unschedulable` unset) and has no
taint of effect NoSchedule or NoExecute: students' pods tolerate none (an admission policy
keeps them off the workstation pool's nodes, whose taint is the pool's), and a node that
is not Ready carries the node controller's `node.kubernetes.io/not-ready` taint, so it is
left out too."""

from dataclasses import dataclass, field

from kubernetes.utils import parse_quantity

from labplatform.cluster.errors import ClusterUnavailable, ObjectMissing, ObjectRefused
from labplatform.cluster.manifests import COHORT_LABEL, MANAGED_BY, MANAGED_BY_LABEL
from labplatform.cluster.registry import LOCAL
from labplatform.cluster.rest import REGISTRY, Json, request

_REPELLING_EFFECTS = {"NoSchedule", "NoExecute"}
MANAGED = f"{MANAGED_BY_LABEL}={MANAGED_BY}"


@dataclass(frozen=True)
class NodeLeftOut:
    name: str
    reason: str  # "cordoned", "taint labplatform.io/workstations=true:NoSchedule"


@dataclass(frozen=True)
class CohortClaim:
    namespaces: int = 0
    pods: int = 0  # the sum of their quotas' hard.pods
    unbounded: int = 0  # namespaces whose quota sets no pod limit (counted in `namespaces` too)


@dataclass
class PodCapacity:
    cluster: str
    student_nodes: int = 0
    allocatable_pods: int = 0
    left_out: list[NodeLeftOut] = field(default_factory=list)
    # By cohort label, what the managed namespaces' quotas let them run.
    claims: dict[str, CohortClaim] = field(default_factory=dict)


def node_left_out(node: Json) -> NodeLeftOut | None:
    """Why students' pods cannot be scheduled on this node, or None if they can."""
    name = (node.get("metadata") or {}).get("name", "?")
    spec = node.get("spec") or {}
    if spec.get("unschedulable"):
        return NodeLeftOut(name=name, reason="cordoned")
    for taint in spec.get("taints") or []:
        if taint.get("effect") in _REPELLING_EFFECTS:
            value = f"={taint['value']}" if taint.get("value") else ""
            return NodeLeftOut(name=name, reason=f"taint {taint.get('key')}{value}:{taint['effect']}")
    return None


def allocatable_pods(node: Json) -> int:
    """The node's status.allocatable.pods (0 when it reports none or nonsense)."""
    text = ((node.get("status") or {}).get("allocatable") or {}).get("pods")
    try:
        return int(parse_quantity(text)) if text else 0
    except ValueError:
        return 0


def _list(cluster: str, kind: str, *, query: list[tuple[str, str]], timeout: float | None) -> list[Json]:
    resource = REGISTRY[("v1", kind)]
    what = resource.describe(namespace=None)
    try:
        listed = request(cluster, "GET", resource.path(namespace=None), what=what, query=query, timeout=timeout)
    except (ObjectRefused, ObjectMissing) as exc:
        # The platform's ClusterRole may list both; a cluster where it may not cannot be sized.
        raise ClusterUnavailable(f"cluster {cluster!r}: listing {what}s: {exc}") from exc
    return (listed or {}).get("items") or []


def quota_pods(quota: Json) -> int | None:
    """The pods a ResourceQuota allows (`hard.pods`, as the quota controller last saw it,
    else as written), or None when it sets no pod limit."""
    hard = (quota.get("status") or {}).get("hard") or (quota.get("spec") or {}).get("hard") or {}
    try:
        return int(parse_quantity(hard["pods"])) if "pods" in hard else None
    except ValueError:
        return None


def _add_claim(capacity: PodCapacity, quota: Json) -> None:
    cohort = ((quota.get("metadata") or {}).get("labels") or {}).get(COHORT_LABEL, "")
    before = capacity.claims.get(cohort, CohortClaim())
    pods = quota_pods(quota)
    capacity.claims[cohort] = CohortClaim(
        namespaces=before.namespaces + 1,
        pods=before.pods + (pods or 0),
        unbounded=before.unbounded + (pods is None),
    )


def pod_capacity(*, name: str = LOCAL, timeout: float | None = None) -> PodCapacity:
    """Raises ClusterUnavailable when the cluster cannot be read (or the platform may not
    list nodes or quotas there): the caller says so rather than guessing a size."""
    capacity = PodCapacity(cluster=name)
    for node in _list(name, "Node", query=[], timeout=timeout):
        left_out = node_left_out(node)
        if left_out is not None:
            capacity.left_out.append(left_out)
            continue
        capacity.student_nodes += 1
        capacity.allocatable_pods += allocatable_pods(node)
    for quota in _list(name, "ResourceQuota", query=[("labelSelector", MANAGED)], timeout=timeout):
        _add_claim(capacity, quota)
    return capacity
