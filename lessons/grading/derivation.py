"""What an object a check reads is derived from, and whether that has settled.

Controllers write much of what checks read: a Deployment's status, its pods' readiness, a
Service's EndpointSlices, an autoscaler's desired replicas. Right after a correct
`kubectl apply` these lag behind, and a check that read them then would fail a right
answer. So, for an object whose derived fields a check found wrong, the engine reads what
they derive from and decides (readiness.py's three states):

- Waiting: still converging (pods starting, a controller yet to catch up): pending;
- Broken: will not settle by waiting (a crash loop, an image that cannot be pulled, a
  quota, a Service whose selector matches nothing): failed now, saying why;
- Ready: settled, and the check's own verdict stands.

It also gives what was read for messages to say (`{pods}`, `{ready}`, `{selector}`,
`{pod_labels}`), and a measure of progress (pods Ready, endpoints listed, replicas wanted)
that grows while the cluster converges, so grading waits as long as it does."""

from dataclasses import dataclass, field

from lessons.grading.readiness import (
    Broken,
    Ready,
    RolloutState,
    Waiting,
    deployment_state,
    pod_broken,
    pod_is_ready,
    pod_state,
    replica_set_state,
)
from lessons.grading.reads import ClusterReads, labels_match

# What makes pods in a student's namespace: students may create only these (the
# labplatform-student role), and the grader reads only these (labplatform-grader).
WORKLOAD_KINDS = ("Deployment", "ReplicaSet")
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
# Kinds a controller writes whole: every field of theirs is derived.
DERIVED_KINDS = ("EndpointSlice", "Endpoints")
# Which observed values each target kind can give its messages (the loader checks them).
OBSERVED_FIELDS = {
    **{kind: ("pods", "ready", "selector", "pod_labels") for kind in ("Service", *DERIVED_KINDS, *WORKLOAD_KINDS)},
    "Pod": ("pods", "ready", "pod_labels"),
}
# Autoscaler conditions that say it cannot read its metrics yet (the metrics server has
# not scraped the new pods), and the ones that say it is scaling in steps.
_METRICS_MISSING = {"FailedGetResourceMetric", "FailedGetPodsMetric", "FailedGetObjectMetric", "FailedGetScale"}
_SCALING_IN_STEPS = {"ScaleUpLimit", "ScaleDownLimit"}
_CONTROLLER_LABELS = {"pod-template-hash", "controller-revision-hash"}


@dataclass(frozen=True)
class Derivation:
    state: RolloutState
    observed: dict[str, str] = field(default_factory=dict)
    progress: int = 0


class NothingSelected(Broken):
    """A Service whose selector matches no pod and no workload: settled, and the check's own
    message (which can say {selector} and {pod_labels}) is the one to show, if it has one."""


def is_derived(obj: dict | None, kind: str, path: str, reads: ClusterReads) -> bool:
    """Whether an assertion's path reads what a controller writes, not what the student
    declared: a status; every field of an EndpointSlice; the replicas of a workload an
    autoscaler scales."""
    if kind in DERIVED_KINDS or path == "status" or path.startswith(("status.", "status[")):
        return True
    return path == "spec.replicas" and obj is not None and bool(_autoscalers_of(obj, reads))


def _autoscalers_of(workload: dict, reads: ClusterReads) -> list[dict]:
    if workload.get("kind") not in WORKLOAD_KINDS:
        return []
    return [
        hpa
        for hpa in reads.objects(api_version="autoscaling/v2", kind="HorizontalPodAutoscaler")
        if ((hpa.get("spec") or {}).get("scaleTargetRef") or {}).get("kind") == workload["kind"]
        and hpa["spec"]["scaleTargetRef"].get("name") == workload["metadata"]["name"]
    ]


def _live(objects: list[dict]) -> list[dict]:
    return [obj for obj in objects if not obj["metadata"].get("deletionTimestamp")]


def selector_text(selector: dict[str, str] | None) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted((selector or {}).items())) or "nothing"


def pod_labels_text(pods: list[dict]) -> str:
    """`app=rag-api (2 pods), run=shell (1 pod)`: the label sets of these pods, without the
    ones controllers add (a ReplicaSet's pod-template-hash), which nobody selects by."""
    counts: dict[str, int] = {}
    for pod in pods:
        declared = {k: v for k, v in (pod["metadata"].get("labels") or {}).items() if k not in _CONTROLLER_LABELS}
        labels = selector_text(declared)
        counts[labels if labels != "nothing" else "no labels"] = counts.get(labels, 0) + 1
    if not counts:
        return "no pods"
    return ", ".join(f"{labels} ({n} pod{'s' if n != 1 else ''})" for labels, n in sorted(counts.items()))


def pods_selected(reads: ClusterReads, selector: dict[str, str]) -> list[dict]:
    return [pod for pod in _live(reads.objects(api_version="v1", kind="Pod")) if labels_match(pod, selector)]


def _template_labels(workload: dict) -> dict[str, str]:
    return ((workload.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}


def workloads_making(reads: ClusterReads, selector: dict[str, str]) -> list[dict]:
    """The workloads whose pods would carry these labels (a ReplicaSet a Deployment owns
    counts through its Deployment)."""
    found = []
    for kind in WORKLOAD_KINDS:
        for workload in _live(reads.objects(api_version="apps/v1", kind=kind)):
            owned = any(ref.get("kind") == "Deployment" for ref in workload["metadata"].get("ownerReferences") or [])
            if not owned and labels_match({"metadata": {"labels": _template_labels(workload)}}, selector):
                found.append(workload)
    return found


def _first(states: list[RolloutState]) -> RolloutState:
    """Broken if one is, else waiting if one is, else ready."""
    for wanted in (Broken, Waiting):
        found = [state for state in states if isinstance(state, wanted)]
        if found:
            return found[0]
    return Ready()


def _pods_observed(pods: list[dict], reads: ClusterReads, selector: dict[str, str] | None) -> dict[str, str]:
    observed = {
        "pods": str(len(pods)),
        "ready": str(sum(1 for pod in pods if pod_is_ready(pod))),
        "pod_labels": pod_labels_text(_live(reads.objects(api_version="v1", kind="Pod"))),
    }
    if selector is not None:
        observed["selector"] = selector_text(selector)
    return observed


def workload_state(workload: dict, reads: ClusterReads) -> RolloutState:
    kind = workload.get("kind")
    if kind == "Deployment":
        return deployment_state(workload, reads)
    return replica_set_state(workload, reads)


def _workload(workload: dict, reads: ClusterReads) -> Derivation:
    selector = ((workload.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    pods = pods_selected(reads, selector) if selector else []
    state = workload_state(workload, reads)
    if isinstance(state, Ready):
        # Its own pods can still be broken while the controller counts the rest (a pod
        # crashing after it was Ready once).
        state = _first([pod_broken(pod) or Ready() for pod in pods])
    observed = _pods_observed(pods, reads, selector)
    progress = int(observed["ready"])
    # Its replicas are what an autoscaler decides, while it is still deciding.
    for hpa in _autoscalers_of(workload, reads):
        scaling = _autoscaler_status(hpa)
        state = _first([scaling.state, state])
        progress += scaling.progress
    return Derivation(state, observed, progress)


def _pod(pod: dict, reads: ClusterReads) -> Derivation:
    observed = _pods_observed([pod], reads, None)
    return Derivation(pod_state(pod), observed, int(observed["ready"]))


def _ready_endpoints(slices: list[dict]) -> int:
    return sum(
        1
        for piece in slices
        for endpoint in piece.get("endpoints") or []
        if (endpoint.get("conditions") or {}).get("ready")
    )


def _endpoints_ready(endpoints: dict) -> int:
    return sum(len(subset.get("addresses") or []) for subset in endpoints.get("subsets") or [])


def service_derivation(service: dict, reads: ClusterReads, *, listed: int | None = None) -> Derivation:
    """A Service's endpoints derive from the pods its selector matches and the workloads
    making them. `listed`: the ready endpoints the checked object lists, which the
    EndpointSlice controller brings up to the pods' readiness a moment later."""
    name = service["metadata"]["name"]
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector:
        # No selector: its endpoints are whatever the student wrote by hand.
        return Derivation(Ready(), _pods_observed([], reads, selector))
    pods = pods_selected(reads, selector)
    observed = _pods_observed(pods, reads, selector)
    ready = int(observed["ready"])
    workloads = workloads_making(reads, selector)
    states = [workload_state(workload, reads) for workload in workloads]
    states += [pod_broken(pod) or (Ready() if pod_is_ready(pod) else Waiting("")) for pod in pods]
    state = _first(states)
    if isinstance(state, Waiting) and not state.message:
        waiting = len(pods) - ready
        state = Waiting(f"Service {name}: waiting for {waiting} of the {len(pods)} pods it selects to become Ready")
    if not pods and not workloads:
        state = NothingSelected(
            f"Service {name} selects {selector_text(selector)}, and no pod in namespace "
            f"{service['metadata'].get('namespace', '')} has those labels (the pods there: {observed['pod_labels']})"
        )
    elif isinstance(state, Ready) and listed is not None and listed != ready:
        state = Waiting(f"Service {name}: waiting for the EndpointSlice controller to list its {ready} Ready pods")
    return Derivation(state, observed, ready + (listed or 0))


def _load_balancer(service: dict, base: Derivation) -> Derivation:
    spec, status = service.get("spec") or {}, service.get("status") or {}
    if spec.get("type") != "LoadBalancer" or (status.get("loadBalancer") or {}).get("ingress"):
        return base
    message = f"Service {service['metadata']['name']}: waiting for a load balancer to give it an address"
    return Derivation(Waiting(message), base.observed, base.progress)


def _service_of(obj: dict, reads: ClusterReads) -> dict | None:
    if obj["kind"] == "Endpoints":
        name = obj["metadata"]["name"]
    else:
        name = (obj["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL)
    found = reads.matching({"kind": "Service", "name": name}) if name else []
    return found[0] if found else None


def _autoscaler(hpa: dict, reads: ClusterReads) -> Derivation:
    own = _autoscaler_status(hpa)
    if not isinstance(own.state, Ready):
        return own
    # Settled, as far as its own status goes: what it scales may still be rolling out.
    target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
    scaled = []
    if target.get("kind") in WORKLOAD_KINDS and target.get("name"):
        scaled = reads.matching({"apiVersion": "apps/v1", "kind": target["kind"], "name": target["name"]})
    return Derivation(_first([workload_state(workload, reads) for workload in scaled]), {}, own.progress)


def _autoscaler_status(hpa: dict) -> Derivation:
    """An autoscaler's own convergence: metrics read, and not scaling in steps."""
    name, status = hpa["metadata"]["name"], hpa.get("status") or {}
    progress = status.get("desiredReplicas", 0) + status.get("currentReplicas", 0)
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    active, limited = conditions.get("ScalingActive") or {}, conditions.get("ScalingLimited") or {}
    # The autoscaler controller does not set observedGeneration (it may be absent).
    seen = status.get("observedGeneration", hpa["metadata"].get("generation", 1))
    if seen < hpa["metadata"].get("generation", 1) or not conditions:
        message = f"HorizontalPodAutoscaler {name}: waiting for its controller to read it"
        return Derivation(Waiting(message), {}, progress)
    if active.get("status") == "False" and active.get("reason") in _METRICS_MISSING:
        message = f"HorizontalPodAutoscaler {name}: waiting for metrics of its pods ({active.get('message', '')})"
        return Derivation(Waiting(message), {}, progress)
    if limited.get("status") == "True" and limited.get("reason") in _SCALING_IN_STEPS:
        wanted = status.get("desiredReplicas", 0)
        message = f"HorizontalPodAutoscaler {name}: scaling in steps, {wanted} replicas wanted so far"
        return Derivation(Waiting(message), {}, progress)
    return Derivation(Ready(), {}, progress)


def derivation(obj: dict, reads: ClusterReads) -> Derivation | None:
    """What `obj`'s derived fields come from, or None for a kind with none (a ConfigMap)."""
    kind = obj.get("kind")
    if kind in WORKLOAD_KINDS:
        return _workload(obj, reads)
    if kind == "Pod":
        return _pod(obj, reads)
    if kind == "Service":
        return _load_balancer(obj, service_derivation(obj, reads))
    if kind in DERIVED_KINDS:
        service = _service_of(obj, reads)
        if service is None:
            # Its Service is gone: nothing will change it, and it selects nothing.
            return Derivation(Ready(), _pods_observed([], reads, {}))
        listed = _ready_endpoints([obj]) if kind == "EndpointSlice" else _endpoints_ready(obj)
        return service_derivation(service, reads, listed=listed)
    if kind == "HorizontalPodAutoscaler":
        return _autoscaler(obj, reads)
    return None


def missing_derivation(target: dict, reads: ClusterReads, namespace: str) -> Derivation | None:
    """For a target whose objects are fewer than wanted (or none): whether they are still to
    be made by a controller. An EndpointSlice of a Service (by its label), or pods of a
    workload (by labels its pods carry)."""
    kind, selector = target["kind"], target.get("selector") or {}
    if kind == "EndpointSlice" and SERVICE_NAME_LABEL in selector:
        name = selector[SERVICE_NAME_LABEL]
        found = reads.matching({"kind": "Service", "name": name})
        if not found:
            return Derivation(Broken(f"Service {name}: not found in namespace {namespace}, so it has no EndpointSlice"))
        base = service_derivation(found[0], reads)
        if isinstance(base.state, Ready) and found[0].get("spec", {}).get("selector"):
            message = f"Service {name}: waiting for the EndpointSlice controller to make its EndpointSlice"
            return Derivation(Waiting(message), base.observed, base.progress)
        return base
    if kind == "Pod" and selector:
        pods = pods_selected(reads, selector)
        workloads = workloads_making(reads, selector)
        if not workloads:
            return None
        state = _first([workload_state(workload, reads) for workload in workloads])
        observed = _pods_observed(pods, reads, None)
        return Derivation(state, observed, int(observed["ready"]) + len(pods))
    return None


def combined(derivations: list[Derivation]) -> Derivation:
    """Several objects' derivations as one: the first broken, else the first waiting."""
    return Derivation(
        _first([d.state for d in derivations]),
        derivations[0].observed if derivations else {},
        sum(d.progress for d in derivations),
    )
