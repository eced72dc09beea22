"""`wait: rollout` on the real local cluster: pending while pods start, failed at once
(saying why) when a quota refuses pods, an image cannot be pulled or a container keeps
crashing, passed when every pod is Ready."""

import datetime

import pytest

from lessons.grading.engine import checks_evaluate
from tests.kube import pods_ready, wait_for

pytestmark = pytest.mark.usefixtures("gateway_as_admin")

ROLLED_OUT = {
    "title": "Deployment web runs 3 replicas",
    "target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
    "wait": "rollout",
    "assert": [{"path": "spec.replicas", "op": "==", "value": 3}],
}


def deployment(*, replicas: int = 3, image: str = "nginx:1.27", annotations=None) -> dict:
    return {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": annotations or {}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def evaluate(namespace: str, check: dict = ROLLED_OUT):
    evaluation = checks_evaluate(
        checks=[check],
        cluster="local",
        namespace=namespace,
        setup_data={},
        answers=[],
        opened_at=datetime.datetime.now(datetime.UTC),
    )
    return evaluation.status, evaluation.results[0].message


def settled(namespace: str, check: dict = ROLLED_OUT):
    """The evaluation once the controllers and KWOK have acted: not pending any more."""

    def probe():
        status, message = evaluate(namespace, check)
        return (status, message) if status != "pending" else None

    return wait_for("a settled evaluation", probe)


def test_it_passes_when_every_pod_is_ready(apps, core, namespace):
    apps.create_namespaced_deployment(namespace, deployment())
    wait_for("3 Ready pods", lambda: pods_ready(core, namespace, "app=web", 3))
    # The Deployment's status can lag its pods for a moment; that moment is pending.
    assert settled(namespace) == ("passed", "")


def test_it_is_pending_while_pods_become_ready(apps, core, namespace):
    apps.create_namespaced_deployment(namespace, deployment(annotations={"labplatform.io/ready-delay": "10m"}))
    wait_for("3 pods", lambda: len(core.list_namespaced_pod(namespace, label_selector="app=web").items) == 3)
    waiting = ("pending", "Deployment web: waiting for 3 of 3 pods to become Ready")
    # Before the controller has reported on its pods, it is pending for that instead.
    assert wait_for("waiting on the pods", lambda: evaluate(namespace) == waiting)


def test_a_pod_is_pending_while_it_becomes_ready(core, namespace):
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "slow", "annotations": {"labplatform.io/ready-delay": "10m"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
        },
    )
    check = {"target": {"kind": "Pod", "name": "slow"}, "wait": "rollout"}
    assert evaluate(namespace, check) == ("pending", "Pod slow: waiting for it to become Ready")


def test_a_quota_refusal_fails_at_once_saying_so(apps, core, namespace):
    core.create_namespaced_resource_quota(namespace, {"metadata": {"name": "pods"}, "spec": {"hard": {"pods": "1"}}})
    wait_for("the quota's usage", lambda: core.read_namespaced_resource_quota("pods", namespace).status.used)
    apps.create_namespaced_deployment(namespace, deployment())
    status, message = settled(namespace)
    assert status == "failed"
    assert message.startswith("ReplicaSet web-")
    assert "cannot create pods" in message and "exceeded quota: pods" in message


def test_a_pull_failure_fails_at_once_saying_so(apps, namespace):
    apps.create_namespaced_deployment(namespace, deployment(replicas=3, image="registry.invalid/web:1.0"))
    status, message = settled(namespace)
    assert status == "failed"
    assert message.startswith("pod web-")
    assert "image registry.invalid/web:1.0 cannot be pulled (" in message


def test_a_crash_loop_fails_at_once_saying_so(apps, namespace):
    apps.create_namespaced_deployment(namespace, deployment(annotations={"labplatform.io/simulate": "crash-loop"}))
    status, message = settled(namespace)
    assert status == "failed"
    assert message.startswith("pod web-")
    assert "container web keeps crashing (CrashLoopBackOff, restarted " in message


def test_fixing_a_broken_rollout_passes(apps, core, namespace):
    apps.create_namespaced_deployment(namespace, deployment(image="registry.invalid/web:1.0"))
    assert settled(namespace)[0] == "failed"
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}
    apps.patch_namespaced_deployment("web", namespace, patch)
    assert settled(namespace) == ("passed", "")
