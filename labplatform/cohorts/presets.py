"""Quota presets a cohort can choose. `standard` fits the whole of Module 15 in one
namespace: a Deployment scaled to 5 plus a rolling update's surge, an HPA that really
scales rag-api to 10 (lesson 15.11; with 15.8's container `api` kept, each of those pods
has 750m of CPU limits), and what earlier lessons leave behind; two LoadBalancer Services
(each also counts as node ports).

Object counts are what the module needs at once, played in order without cleaning up,
with a little room: every object is kept in the cluster's shared database, and node ports
come from one range for the whole cluster (30000-32767: 2768 ports). At most the module
holds 3 Services (frontend, rag-api, rag-api-public), 2 of them LoadBalancers, 2 node
ports (3 if 15.8's demo NodePort is kept), 5 ConfigMaps (kube-root-ca.crt, which every
namespace has, and 15.9's four), 2 Secrets, 4 Deployments and about 8 ReplicaSets (old
revisions), 1 Ingress, 1 HPA and no Job."""

from dataclasses import dataclass, field

from labplatform.cluster.manifests import WORKSTATION_LIMITS, WORKSTATION_REQUESTS


@dataclass(frozen=True)
class QuotaPreset:
    name: str
    label: str
    hard: dict[str, str]
    default_request: dict[str, str] = field(default_factory=lambda: {"cpu": "50m", "memory": "64Mi"})
    default_limit: dict[str, str] = field(default_factory=lambda: {"cpu": "500m", "memory": "256Mi"})
    # The student's workstation (their shell's container), outside the namespace's quota:
    # what the node reserves for it, and what it may use (memory past the limit kills the
    # process that asked; disk past it evicts the workstation, and the terminal says so).
    workstation_request: dict[str, str] = field(default_factory=lambda: dict(WORKSTATION_REQUESTS))
    workstation_limit: dict[str, str] = field(default_factory=lambda: dict(WORKSTATION_LIMITS))


PRESETS: dict[str, QuotaPreset] = {
    preset.name: preset
    for preset in [
        QuotaPreset(
            name="standard",
            label="Standard (Module 15)",
            hard={
                "pods": "30",
                "requests.cpu": "4",
                "requests.memory": "4Gi",
                "limits.cpu": "12",
                "limits.memory": "8Gi",
                "services": "6",
                "services.loadbalancers": "2",
                "services.nodeports": "3",
                "configmaps": "8",
                "secrets": "5",
                "persistentvolumeclaims": "0",
                "count/deployments.apps": "6",
                "count/replicasets.apps": "20",
                "count/ingresses.networking.k8s.io": "3",
                "count/horizontalpodautoscalers.autoscaling": "2",
                "count/jobs.batch": "2",
            },
        ),
        QuotaPreset(
            name="small",
            label="Small (a few pods)",
            hard={
                "pods": "10",
                "requests.cpu": "1",
                "requests.memory": "1Gi",
                "limits.cpu": "2",
                "limits.memory": "2Gi",
                "services": "4",
                "services.loadbalancers": "1",
                "services.nodeports": "2",
                "configmaps": "5",
                "secrets": "4",
                "persistentvolumeclaims": "0",
                "count/deployments.apps": "4",
                "count/replicasets.apps": "10",
                "count/ingresses.networking.k8s.io": "2",
                "count/horizontalpodautoscalers.autoscaling": "1",
                "count/jobs.batch": "2",
            },
            workstation_limit={"cpu": "250m", "memory": "256Mi", "ephemeral-storage": "512Mi"},
        ),
    ]
}
DEFAULT_PRESET = "standard"


def preset_choices() -> list[tuple[str, str]]:
    """The choices of Cohort.quota_preset. A callable, so a migration records this function,
    not the list: a preset added above needs no migration."""
    return [(preset.name, preset.label) for preset in PRESETS.values()]
