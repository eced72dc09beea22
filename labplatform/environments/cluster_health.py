"""The admins' cluster page: each registered cluster's health as the gateway reads it,
with student namespaces named by the people and cohorts they belong to."""

from dataclasses import dataclass

from labplatform.cluster.health import ClusterHealth, NamespaceQuota, PodProblem, QuotaUse, cluster_health
from labplatform.cohorts.models import Cluster, Enrollment


@dataclass(frozen=True)
class QuotaRow:
    quota: NamespaceQuota
    enrollment: Enrollment | None
    cells: list[QuotaUse | None]  # in the order of the report's columns


@dataclass(frozen=True)
class PodRow:
    problem: PodProblem
    enrollment: Enrollment | None


@dataclass(frozen=True)
class ClusterReport:
    cluster: Cluster
    health: ClusterHealth
    columns: list[tuple[str, str]]  # (quota resource, its short label)
    quota_rows: list[QuotaRow]
    pod_rows: list[PodRow]


_SHORT_LABELS = {
    "requests.cpu": "cpu requests",
    "requests.memory": "memory requests",
    "limits.cpu": "cpu limits",
    "limits.memory": "memory limits",
    "persistentvolumeclaims": "PVCs",
    "services.loadbalancers": "load balancers",
    "services.nodeports": "node ports",
    "count/horizontalpodautoscalers.autoscaling": "HPAs",
}


def column_label(resource: str) -> str:
    """`count/deployments.apps` reads as `deployments`, and a few long names in words that
    wrap; the rest as the quota names them (the header's title has the full name)."""
    if resource in _SHORT_LABELS:
        return _SHORT_LABELS[resource]
    return resource.removeprefix("count/").split(".", 1)[0] if resource.startswith("count/") else resource


def _enrollments(student_ids: set[str]) -> dict[str, Enrollment]:
    rows = Enrollment.objects.filter(student_id__in=student_ids).select_related("user", "cohort")
    return {row.student_id: row for row in rows}


def cluster_report(*, cluster: Cluster) -> ClusterReport:
    health = cluster_health(name=cluster.name)
    people = _enrollments({q.student for q in health.quotas} | {p.student for p in health.workstation_problems})
    columns = health.quota_resources
    return ClusterReport(
        cluster=cluster,
        health=health,
        columns=[(c, column_label(c)) for c in columns],
        quota_rows=[
            QuotaRow(quota=q, enrollment=people.get(q.student), cells=[q.usage.get(c) for c in columns])
            for q in health.quotas
        ],
        pod_rows=[PodRow(problem=p, enrollment=people.get(p.student)) for p in health.workstation_problems],
    )


def cluster_reports() -> list[ClusterReport]:
    return [cluster_report(cluster=cluster) for cluster in Cluster.objects.order_by("name")]
