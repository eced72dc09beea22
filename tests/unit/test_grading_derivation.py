"""The engine's verdicts on derived state, from objects as the API server returns them (held
in a ClusterReads filled here instead of read): pending while what a check reads derives
from something still converging, failed at once and saying why when that is broken, failed
as read when the student's own declaration is wrong. (On the real cluster, with pods made
slow and crashing: tests/integration/test_lesson_verdicts.py.)"""

import datetime

from lessons.grading.engine import checks_evaluate
from lessons.grading.reads import ClusterReads
from lessons.grading.results import Evaluation

NAMESPACE = "lab-unit"
REVISION = "deployment.kubernetes.io/revision"

ENDPOINTS_CHECK = {
    "title": "The Service's EndpointSlice lists the 2 Ready pods",
    "target": {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "selector": {"kubernetes.io/service-name": "frontend"},
    },
    "assert": [
        {
            "path": "length(endpoints[?conditions.ready] || `[]`)",
            "op": "==",
            "value": 2,
            "message": "Service frontend lists {actual} ready endpoints; selects {selector}, {ready} of {pods} Ready",
        }
    ],
}
REPLICAS_CHECK = {
    "title": "Deployment frontend asks for 2 replicas",
    "target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "frontend"},
    "assert": [{"path": "spec.replicas", "op": "==", "value": 2}],
}
READY_REPLICAS_CHECK = {
    "title": "Deployment frontend has 2 ready replicas",
    "target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "frontend"},
    "assert": [{"path": "status.readyReplicas", "op": "==", "value": 2, "message": "{ready} of {pods} pods Ready"}],
}


def meta(kind: str, name: str, *, labels=None, owner: dict | None = None, **extra) -> dict:
    metadata = {"name": name, "namespace": NAMESPACE, "uid": f"uid-{kind}-{name}", "labels": labels or {}} | extra
    if owner:
        metadata["ownerReferences"] = [
            {"kind": owner["kind"], "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}
        ]
    return metadata


def deployment(*, replicas: int = 2, ready: int = 0, labels=None) -> dict:
    labels = labels or {"app": "frontend"}
    status = {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas}
    status |= {"readyReplicas": ready, "availableReplicas": ready} if ready else {"unavailableReplicas": replicas}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta("Deployment", "frontend", labels=labels, generation=1, annotations={REVISION: "1"}),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}},
        },
        "status": status,
    }


def replica_set(owner: dict) -> dict:
    spec = owner["spec"]
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": meta("ReplicaSet", "frontend-abc", owner=owner, annotations={REVISION: "1"}),
        "spec": {"replicas": spec["replicas"], "selector": spec["selector"], "template": spec["template"]},
        "status": {"replicas": spec["replicas"]},
    }


def pod(name: str, owner: dict | None, *, ready: bool, labels=None, waiting: str | None = None) -> dict:
    container = {"name": "nginx", "image": "nginx", "restartCount": 4 if waiting else 0, "state": {}}
    if waiting:
        container["state"] = {"waiting": {"reason": waiting}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta("Pod", name, labels=labels or {"app": "frontend"}, owner=owner),
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [container],
        },
    }


def service(selector: dict) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta("Service", "frontend"),
        "spec": {"type": "ClusterIP", "selector": selector, "ports": [{"port": 80, "targetPort": 80}]},
    }


def endpoint_slice(pods: list[dict], *, listed_ready: int) -> dict:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": meta("EndpointSlice", "frontend-x1", labels={"kubernetes.io/service-name": "frontend"}),
        "endpoints": [
            {"conditions": {"ready": index < listed_ready}, "targetRef": {"kind": "Pod", "name": p["metadata"]["name"]}}
            for index, p in enumerate(pods)
        ],
    }


def autoscaler(*, replicas: int, conditions: list[dict]) -> dict:
    """HPA frontend, scaling Deployment frontend, at `replicas` with these conditions."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta("HorizontalPodAutoscaler", "frontend", generation=1),
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "frontend"}},
        "status": {
            "observedGeneration": 1,
            "currentReplicas": replicas,
            "desiredReplicas": replicas,
            "conditions": conditions,
        },
    }


class HeldReads(ClusterReads):
    """ClusterReads over objects given here: the engine's own filtering, no API server."""

    def __init__(self, objects: list[dict]) -> None:
        super().__init__(cluster="unit", namespace=NAMESPACE)
        self.held = objects

    def objects(self, *, api_version, kind):
        return [obj for obj in self.held if obj["kind"] == kind]


def evaluate(checks: list[dict], objects: list[dict], monkeypatch) -> Evaluation:
    monkeypatch.setattr("lessons.grading.engine.ClusterReads", lambda **_: HeldReads(objects))
    return checks_evaluate(
        checks=checks,
        cluster="unit",
        namespace=NAMESPACE,
        setup_data={},
        answers=[],
        opened_at=datetime.datetime.now(datetime.UTC),
    )


def starting_frontend(*, ready: bool, listed_ready: int, selector=None) -> list[dict]:
    made = deployment(ready=2 if ready else 0)
    rs = replica_set(made)
    pods = [pod(f"frontend-abc-{i}", rs, ready=ready) for i in range(2)]
    return [made, rs, *pods, service(selector or {"app": "frontend"}), endpoint_slice(pods, listed_ready=listed_ready)]


def only(evaluation: Evaluation):
    (result,) = evaluation.results
    return result


def test_endpoints_of_pods_still_starting_are_pending_not_failed(monkeypatch):
    result = only(evaluate([ENDPOINTS_CHECK], starting_frontend(ready=False, listed_ready=0), monkeypatch))
    assert result.status == "pending"
    assert result.message == "Deployment frontend: waiting for 2 of 2 pods to become Ready"


def test_endpoints_behind_ready_pods_are_pending_for_the_endpointslice_controller(monkeypatch):
    result = only(evaluate([ENDPOINTS_CHECK], starting_frontend(ready=True, listed_ready=0), monkeypatch))
    assert result.status == "pending"
    assert result.message == "Service frontend: waiting for the EndpointSlice controller to list its 2 Ready pods"


def test_endpoints_listed_pass(monkeypatch):
    assert only(evaluate([ENDPOINTS_CHECK], starting_frontend(ready=True, listed_ready=2), monkeypatch)).status == (
        "passed"
    )


def test_a_settled_count_fails_saying_what_was_read(monkeypatch):
    made = deployment(replicas=3, ready=3)
    made["status"]["readyReplicas"] = 3
    rs = replica_set(made)
    pods = [pod(f"frontend-abc-{i}", rs, ready=True) for i in range(3)]
    objects = [made, rs, *pods, service({"app": "frontend"}), endpoint_slice(pods, listed_ready=3)]
    result = only(evaluate([ENDPOINTS_CHECK], objects, monkeypatch))
    assert (result.status, result.message) == (
        "failed",
        "Service frontend lists 3 ready endpoints; selects app=frontend, 3 of 3 Ready",
    )


def test_a_selector_matching_nothing_fails_at_once_naming_it_and_the_pods_labels(monkeypatch):
    objects = starting_frontend(ready=False, listed_ready=0, selector={"app": "frontnd"})
    objects[-1]["endpoints"] = []
    # The check's own message, saying what was read of the selector.
    result = only(evaluate([ENDPOINTS_CHECK], objects, monkeypatch))
    assert (result.status, result.message) == (
        "failed",
        "Service frontend lists 0 ready endpoints; selects app=frontnd, 0 of 0 Ready",
    )
    # Without one, the engine says it.
    plain = ENDPOINTS_CHECK | {"assert": [{k: v for k, v in ENDPOINTS_CHECK["assert"][0].items() if k != "message"}]}
    result = only(evaluate([plain], objects, monkeypatch))
    assert result.status == "failed"
    assert result.message == (
        f"Service frontend selects app=frontnd, and no pod in namespace {NAMESPACE} has those labels "
        "(the pods there: app=frontend (2 pods))"
    )


def test_the_replicas_an_autoscaler_is_still_deciding_are_pending(monkeypatch):
    made = deployment(replicas=6, ready=6)
    made["status"]["readyReplicas"] = 6
    hpa = autoscaler(
        replicas=6,
        conditions=[
            {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound"},
            {"type": "ScalingLimited", "status": "True", "reason": "ScaleUpLimit"},
        ],
    )
    check = REPLICAS_CHECK | {"assert": [{"path": "spec.replicas", "op": "==", "value": 10}]}
    result = only(evaluate([check], [made, hpa], monkeypatch))
    assert (result.status, result.message) == (
        "pending",
        "HorizontalPodAutoscaler frontend: scaling in steps, 6 replicas wanted so far",
    )
    # Done deciding at 6: the replicas are what they are.
    hpa["status"]["conditions"][1] = {"type": "ScalingLimited", "status": "False", "reason": "DesiredWithinRange"}
    result = only(evaluate([check], [made, hpa], monkeypatch))
    assert (result.status, result.message) == ("failed", "Deployment frontend: expected spec.replicas == 10, found 6")


def test_a_crash_loop_fails_at_once_and_says_so(monkeypatch):
    objects = starting_frontend(ready=False, listed_ready=0)
    objects[2] = pod("frontend-abc-0", objects[1], ready=False, waiting="CrashLoopBackOff")
    result = only(evaluate([ENDPOINTS_CHECK], objects, monkeypatch))
    assert result.status == "failed"
    assert result.message == "pod frontend-abc-0: container nginx keeps crashing (CrashLoopBackOff, restarted 4 times)"


def test_a_wrong_declaration_fails_as_read_even_while_pods_start(monkeypatch):
    objects = starting_frontend(ready=False, listed_ready=0)
    objects[0]["spec"]["replicas"] = 3
    result = only(evaluate([REPLICAS_CHECK], objects, monkeypatch))
    assert result.status == "failed"
    assert result.message == "Deployment frontend: expected spec.replicas == 2, found 3"


def test_a_status_check_waits_and_its_message_says_what_was_read(monkeypatch):
    objects = starting_frontend(ready=False, listed_ready=0)
    evaluation = evaluate([READY_REPLICAS_CHECK], objects, monkeypatch)
    assert only(evaluation).status == "pending"
    # Settled with one pod short: failed, counting what was read.
    objects[0]["status"] = {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 1}
    objects[0]["spec"]["replicas"] = 1
    objects[1]["spec"]["replicas"] = 1
    del objects[3]
    objects[2]["status"]["conditions"][0]["status"] = "True"
    objects[0]["status"] |= {"replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
    result = only(evaluate([READY_REPLICAS_CHECK], objects, monkeypatch))
    assert (result.status, result.message) == ("failed", "1 of 1 pods Ready")


def test_an_endpointslice_not_made_yet_waits_for_its_service(monkeypatch):
    objects = starting_frontend(ready=True, listed_ready=2)[:-1]
    result = only(evaluate([ENDPOINTS_CHECK], objects, monkeypatch))
    assert result.status == "pending"
    assert result.message == "Service frontend: waiting for the EndpointSlice controller to make its EndpointSlice"


def test_an_endpointslice_of_a_missing_service_fails_saying_the_service_is_missing(monkeypatch):
    objects = [
        o for o in starting_frontend(ready=True, listed_ready=2) if o["kind"] not in ("Service", "EndpointSlice")
    ]
    result = only(evaluate([ENDPOINTS_CHECK], objects, monkeypatch))
    assert result.status == "failed"
    assert result.message == f"Service frontend: not found in namespace {NAMESPACE}, so it has no EndpointSlice"


def test_an_autoscaler_without_metrics_yet_is_pending(monkeypatch):
    hpa = autoscaler(
        replicas=2,
        conditions=[
            {"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale"},
            {
                "type": "ScalingActive",
                "status": "False",
                "reason": "FailedGetResourceMetric",
                "message": "no metrics",
            },
        ],
    )
    check = {
        "title": "HPA frontend wants 4",
        "target": {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": "frontend"},
        "assert": [{"path": "status.desiredReplicas", "op": "==", "value": 4}],
    }
    result = only(evaluate([check], [*starting_frontend(ready=True, listed_ready=2), hpa], monkeypatch))
    assert result.status == "pending"
    assert result.message == "HorizontalPodAutoscaler frontend: waiting for metrics of its pods (no metrics)"
    # Metrics read, and it wants 2: settled, and failed as read.
    hpa["status"]["conditions"][1] = {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound"}
    result = only(evaluate([check], [*starting_frontend(ready=True, listed_ready=2), hpa], monkeypatch))
    assert (result.status, result.message) == (
        "failed",
        "HorizontalPodAutoscaler frontend: expected status.desiredReplicas == 4, found 2",
    )
