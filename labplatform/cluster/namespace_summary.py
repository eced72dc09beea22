"""What is in a student's namespace now, one line per object, read as the platform: what
an instructor sees beside the student's attempts. Secrets are listed by name and type
only; their data is never read into the summary."""

from dataclasses import dataclass

from labplatform.cluster.errors import ClusterError
from labplatform.cluster.reads import objects_list
from labplatform.cluster.registry import LOCAL

KINDS = [
    ("apps/v1", "Deployment"),
    ("v1", "Pod"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("networking.k8s.io/v1", "Ingress"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
]


@dataclass(frozen=True)
class ObjectLine:
    kind: str
    name: str
    status: str


@dataclass(frozen=True)
class NamespaceSummary:
    lines: list[ObjectLine]
    error: str = ""


def _pod_status(pod: dict) -> str:
    status = pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    ready = sum(1 for c in containers if c.get("ready"))
    waiting = [c["state"]["waiting"].get("reason", "") for c in containers if (c.get("state") or {}).get("waiting")]
    restarts = sum(c.get("restartCount", 0) for c in containers)
    total = len(containers) or len(pod.get("spec", {}).get("containers", []))
    words = [status.get("phase", "Unknown"), f"{ready}/{total} ready"]
    words += [reason for reason in waiting if reason]
    if restarts:
        words.append(f"{restarts} restarts")
    return ", ".join(words)


def _status(obj: dict) -> str:
    kind, spec, status = obj["kind"], obj.get("spec") or {}, obj.get("status") or {}
    if kind == "Deployment":
        images = ", ".join(c.get("image", "") for c in spec.get("template", {}).get("spec", {}).get("containers", []))
        return f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)} ready, {images}"
    if kind == "Pod":
        return _pod_status(obj)
    if kind == "Service":
        ports = ", ".join(f"{p.get('port')}→{p.get('targetPort', p.get('port'))}" for p in spec.get("ports", []))
        return f"{spec.get('type', 'ClusterIP')} {ports}".strip()
    if kind == "ConfigMap":
        return f"{len(obj.get('data') or {})} keys"
    if kind == "Secret":
        return obj.get("type", "Opaque")
    if kind == "Ingress":
        return ", ".join(rule.get("host", "*") for rule in spec.get("rules", []))
    if kind == "HorizontalPodAutoscaler":
        return (
            f"{spec.get('minReplicas', 1)} to {spec.get('maxReplicas')} replicas, "
            f"now {status.get('currentReplicas', 0)} → {status.get('desiredReplicas', 0)}"
        )
    return ""


def namespace_summary(*, namespace: str, cluster: str = LOCAL) -> NamespaceSummary:
    lines: list[ObjectLine] = []
    try:
        for api_version, kind in KINDS:
            for obj in objects_list(cluster=cluster, namespace=namespace, api_version=api_version, kind=kind):
                if kind == "ConfigMap" and obj["metadata"]["name"] == "kube-root-ca.crt":
                    continue  # every namespace has it
                if kind == "Secret":
                    obj.pop("data", None)
                    obj.pop("stringData", None)
                lines.append(ObjectLine(kind=kind, name=obj["metadata"]["name"], status=_status(obj)))
    except ClusterError as exc:
        return NamespaceSummary(lines=lines, error=f"Could not read {namespace}: {exc}")
    return NamespaceSummary(lines=lines)
