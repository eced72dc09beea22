"""The Python check kinds on the real local cluster: a rollout to an image, a rollback
with `kubectl rollout undo`, a pod deleted and replaced after the task opened, and the
port a Service's targetPort reaches on its pods; and quantities compared as amounts."""

import datetime
import json

import pytest

from lessons.grading.engine import checks_evaluate
from lessons.grading.kinds import KINDS
from lessons.grading.setup import task_setup_run
from tests.kube import admin_kubeconfig, deployment_rolled_out, kubectl, pods_ready, wait_for

pytestmark = pytest.mark.usefixtures("gateway_as_admin")

ROLLOUT = {"kind": "rollout_to_image", "deployment": "web", "image": "nginx:1.27"}
ROLLBACK = {"kind": "rolled_back", "deployment": "web", "image": "nginx:1.26"}


def deployment(image: str, replicas: int = 2) -> dict:
    return {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def evaluate(namespace: str, check: dict, *, setup_data=None, opened_at=None):
    evaluation = checks_evaluate(
        checks=[check],
        cluster="local",
        namespace=namespace,
        setup_data=setup_data or {},
        answers=[],
        opened_at=opened_at or datetime.datetime.now(datetime.UTC),
    )
    return evaluation.results[0]


def settled(namespace: str, check: dict, **kwargs):
    """The result once the controllers and KWOK have acted: not pending any more."""

    def probe():
        result = evaluate(namespace, check, **kwargs)
        return result if result.status != "pending" else None

    return wait_for("a settled result", probe)


def run(namespace: str, *args: str) -> None:
    result = kubectl(admin_kubeconfig(), "-n", namespace, *args)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def web(apps, core, namespace) -> str:
    apps.create_namespaced_deployment(namespace, deployment("nginx:1.26"))
    wait_for("2 Ready pods of web", lambda: pods_ready(core, namespace, "app=web", 2))
    wait_for("web's status to report it", lambda: deployment_rolled_out(apps, namespace, "web", 2))
    return "web"


def test_each_kind_declares_its_keys():
    assert {name: (kind.required, kind.optional) for name, kind in KINDS.items()} == {
        "objects": ({"target": dict}, {"match": str, "count": dict, "wait": str, "assert": list}),
        "answer": ({"prompt": str}, {"expected": str, "expected_from": dict, "normalize": str, "message": str}),
        "pod_replaced": ({"deployment": str, "baseline": str}, {}),
        "rollout_to_image": ({"deployment": str, "image": str}, {}),
        "rolled_back": ({"deployment": str, "image": str}, {}),
        "service_port": ({"service": str, "port": int, "reaches": int}, {"hint": str}),
    }


def test_rollout_to_image_fails_before_and_passes_after_the_rollout(namespace, web):
    before = evaluate(namespace, ROLLOUT)
    assert (before.status, before.message) == ("failed", "Deployment web: expected image nginx:1.27, found nginx:1.26")
    run(namespace, "set", "image", "deployment/web", "web=nginx:1.27")
    after = settled(namespace, ROLLOUT)
    assert (after.status, after.title) == ("passed", "Deployment web rolled out to nginx:1.27")
    assert after.evidence == {
        "Deployment web": {
            "spec.template.spec.containers[].image": ["nginx:1.27"],
            'metadata.annotations."deployment.kubernetes.io/revision"': 2,
        }
    }


def test_rollout_to_image_wants_a_rollout_not_a_new_deployment(apps, namespace):
    apps.create_namespaced_deployment(namespace, deployment("nginx:1.27"))
    result = settled(namespace, ROLLOUT)
    assert (result.status, result.message) == (
        "failed",
        "Deployment web: runs nginx:1.27 but has not rolled out (revision 1); "
        "change the image of the existing Deployment",
    )


def test_rolled_back_passes_after_rollout_undo(namespace, web):
    run(namespace, "set", "image", "deployment/web", "web=nginx:1.27")
    assert settled(namespace, ROLLOUT).status == "passed"
    not_yet = evaluate(namespace, ROLLBACK)
    assert (not_yet.status, not_yet.message) == (
        "failed",
        "Deployment web: expected image nginx:1.26 after the rollback, found nginx:1.27",
    )
    run(namespace, "rollout", "undo", "deployment/web")
    result = settled(namespace, ROLLBACK)
    assert result.status == "passed"
    replica_set = next(key for key in result.evidence if key.startswith("ReplicaSet "))
    assert result.evidence[replica_set] == {
        'metadata.annotations."deployment.kubernetes.io/revision"': "3",
        'metadata.annotations."deployment.kubernetes.io/revision-history"': "1",
    }


def test_rolled_back_is_not_fooled_by_a_deployment_that_never_changed(namespace, web):
    result = evaluate(namespace, ROLLBACK)
    assert (result.status, result.message) == (
        "failed",
        "Deployment web: runs nginx:1.26, but not by bringing back an earlier ReplicaSet; "
        "roll out another image, then use kubectl rollout undo",
    )


def test_pod_replaced_after_a_pod_is_deleted(core, namespace, web):
    opened_at = datetime.datetime.now(datetime.UTC)
    baseline = {"pod_uids": {"target": {"kind": "Pod", "selector": {"app": "web"}}, "select": "[].metadata.uid"}}
    setup_data = task_setup_run(setup={"baseline": baseline}, cluster="local", namespace=namespace, local_kwok=True)
    assert len(setup_data["baseline"]["pod_uids"]) == 2
    check = {"kind": "pod_replaced", "deployment": "web", "baseline": "pod_uids"}
    before = evaluate(namespace, check, setup_data=setup_data, opened_at=opened_at)
    assert (before.status, before.message) == (
        "failed",
        "Deployment web: every pod it had when the task opened is still there; delete one",
    )
    victim = core.list_namespaced_pod(namespace, label_selector="app=web").items[0]
    core.delete_namespaced_pod(victim.metadata.name, namespace)
    after = settled(namespace, check, setup_data=setup_data, opened_at=opened_at)
    assert after.status == "passed"
    assert after.evidence["deleted pod uids"] == [victim.metadata.uid]
    assert len(after.evidence["replacement pods"]) == 1


def served(name: str, port: int, *, replicas: int = 2) -> dict:
    """A Deployment whose container names its port `port` http."""
    web = deployment("nginx:1.27", replicas)
    web["metadata"]["name"] = name
    web["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"name": "http", "containerPort": port}]
    return web


def service(target_port, *, selector=None) -> dict:
    return {
        "metadata": {"name": "web"},
        "spec": {"selector": selector or {"app": "web"}, "ports": [{"port": 80, "targetPort": target_port}]},
    }


SERVICE_PORT = {"kind": "service_port", "service": "web", "port": 80, "reaches": 8000}


def test_a_named_target_port_reaches_the_port_the_pods_give_that_name(apps, core, namespace):
    apps.create_namespaced_deployment(namespace, served("web", 8000))
    core.create_namespaced_service(namespace, service("http"))
    wait_for("2 Ready pods of web", lambda: pods_ready(core, namespace, "app=web", 2))
    result = evaluate(namespace, SERVICE_PORT)
    assert (result.status, result.message) == ("passed", "")
    assert result.title == "Service web sends port 80 to port 8000 on its pods"
    assert result.evidence == {"Service web": {"port": 80, "targetPort": "http", "reaches": 8000}}


def test_a_named_target_port_bound_to_8080_is_failed_naming_8080(apps, core, namespace):
    apps.create_namespaced_deployment(namespace, served("web", 8080, replicas=1))
    core.create_namespaced_service(namespace, service("http"))
    [pod] = wait_for("a Ready pod of web", lambda: pods_ready(core, namespace, "app=web", 1))
    result = evaluate(namespace, SERVICE_PORT | {"hint": "Name port 8000 http."})
    assert (result.status, result.message) == (
        "failed",
        f"Service web sends port 80 to port 8080 on the pods (targetPort: http, which pod {pod.metadata.name} "
        "names for 8080); the check wants 8000. Name port 8000 http.",
    )
    assert result.evidence == {"Service web": {"port": 80, "targetPort": "http", "reaches": 8080}}


def test_before_any_pod_the_name_is_resolved_against_the_deployments_template(apps, core, namespace):
    apps.create_namespaced_deployment(namespace, served("web", 8000, replicas=0))
    core.create_namespaced_service(namespace, service("http"))
    assert evaluate(namespace, SERVICE_PORT).status == "passed"


def test_a_numeric_target_port_is_the_port_it_reaches(core, namespace):
    core.create_namespaced_service(namespace, service(8000))
    assert evaluate(namespace, SERVICE_PORT).status == "passed"
    result = evaluate(namespace, SERVICE_PORT | {"reaches": 8080})
    assert (result.status, result.message) == (
        "failed",
        "Service web sends port 80 to port 8000 on the pods (targetPort: 8000); the check wants 8080.",
    )


def test_a_service_whose_selector_matches_nothing_is_failed_naming_the_selector(apps, core, namespace):
    apps.create_namespaced_deployment(namespace, served("web", 8000, replicas=1))
    core.create_namespaced_service(namespace, service("http", selector={"app": "wbe"}))
    wait_for("a Ready pod of web", lambda: pods_ready(core, namespace, "app=web", 1))
    result = evaluate(namespace, SERVICE_PORT)
    assert (result.status, result.message) == (
        "failed",
        f"Service web selects app=wbe, and nothing in namespace {namespace} has those labels (no pod, and no pod "
        "template of a Deployment or ReplicaSet), so nothing gives its targetPort http "
        "a port; the check wants 8000.",
    )


def test_a_memory_limit_written_in_bytes_is_128mi(namespace):
    web = deployment("nginx:1.27", 1) | {"apiVersion": "apps/v1", "kind": "Deployment"}
    # As a student's YAML says it: a number, which kubectl sends as one.
    web["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"memory": 134217728}}
    applied = kubectl(admin_kubeconfig(), "-n", namespace, "apply", "-f", "-", stdin=json.dumps(web))
    assert applied.returncode == 0, applied.stderr
    path = "spec.template.spec.containers[0].resources.limits.memory"
    check = {
        "target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "assert": [{"path": path, "op": "==", "value": "128Mi"}],
    }
    result = evaluate(namespace, check)
    # The API server keeps the amount as written: in bytes, not as 128Mi.
    assert (result.status, result.evidence) == ("passed", {"Deployment web": {path: "134217728"}})
