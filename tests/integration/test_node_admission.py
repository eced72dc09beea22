"""Where a student's pods may run, and what an exec into one answers, tried as the student
with their own ServiceAccount token (minted the way workstations get theirs) against the
real local API server. k8s/platform/base/admission.yaml keeps students' pods off the real
node labplatform-node, which runs the workstations; overlays/local/simulated-pods.yaml
refuses exec, attach and port-forward into students' pods, which KWOK only simulates."""

import json
import uuid
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from labplatform.cluster.manifests import workstation_pod_name
from labplatform.cluster.students import (
    StudentEnvironmentSpec,
    student_environment_apply,
    student_environment_delete,
    student_kubeconfig,
    student_token,
    workstation_ready,
)
from labplatform.cluster.terminals import SESSION_COMMAND
from tests.cohorts import local_student_spec
from tests.kube import admin_kubeconfig, kubectl, pods_ready, wait_for

pytestmark = pytest.mark.local_cluster
WORKSTATIONS = "labplatform-workstations"
REAL_NODE = "labplatform-node"
POOL = "labplatform.io/workstations"
NODES_POLICY = "ValidatingAdmissionPolicy 'labplatform-student-pod-nodes'"
CONNECT_POLICY = "ValidatingAdmissionPolicy 'labplatform-simulated-pods'"


@pytest.fixture(scope="module")
def me(kube) -> StudentEnvironmentSpec:
    """A student provisioned as the platform does it, their workstation on the real node."""
    spec = local_student_spec("s" + uuid.uuid4().hex[:9], cohort="node-admission")
    assert spec.workstation.node_pool == POOL, "workstations on the local cluster go to the real node's pool"
    try:
        student_environment_apply(spec)
        yield spec
    finally:
        student_environment_delete(spec)


@pytest.fixture(scope="module")
def my_kubeconfig(me, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("student") / "kubeconfig"
    path.write_text(yaml.safe_dump(student_kubeconfig(me, student_token(me, seconds=3600))))
    return path


@pytest.fixture(scope="module")
def as_me(my_kubeconfig) -> client.ApiClient:
    import kubernetes

    return kubernetes.config.new_client_from_config(config_file=str(my_kubeconfig))


def pod(name: str, **spec) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}], **spec},
    }


def affinity(kind: str, requirement: dict, *, fields: bool = False) -> dict:
    term = {"matchFields" if fields else "matchExpressions": [requirement]}
    if kind == "required":
        node_affinity = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}
    else:
        node_affinity = {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 10, "preference": term}]}
    return {"affinity": {"nodeAffinity": node_affinity}}


NOT_ALLOWED = "which is not allowed. Pods in your namespace run on the course's simulated nodes (node-...)"
WORKSTATION_NODES = (
    f"the nodes labelled {POOL} ({REAL_NODE}) run the course's workstations (students' shells)"
    " and take no other pods. Remove that selector"
)

REFUSED_PODS = [
    (
        "nodeName of the real node",
        {"nodeName": REAL_NODE},
        f"Pod {{name}} sets spec.nodeName: {REAL_NODE}, {NOT_ALLOWED}, wherever the scheduler places them;"
        " naming a node skips the scheduler. Remove spec.nodeName",
    ),
    ("nodeName of a simulated node", {"nodeName": "node-000000"}, "sets spec.nodeName: node-000000, which is not"),
    (
        "toleration of the pool's taint",
        {"tolerations": [{"key": POOL, "operator": "Equal", "value": "true", "effect": "NoSchedule"}]},
        f"Pod {{name}} tolerates the taint {POOL}, {NOT_ALLOWED}; the nodes tainted {POOL} run the course's"
        " workstations (students' shells) and take no other pods. Remove that toleration",
    ),
    (
        "toleration of every taint",
        {"tolerations": [{"operator": "Exists"}]},
        f"Pod {{name}} tolerates every taint (operator Exists with no key, so {POOL} too), {NOT_ALLOWED}",
    ),
    (
        "toleration of every NoSchedule taint",
        {"tolerations": [{"operator": "Exists", "effect": "NoSchedule"}]},
        "tolerates every taint (operator Exists with no key",
    ),
    (
        "nodeSelector on the pool's label",
        {"nodeSelector": {POOL: "true"}},
        f"Pod {{name}} selects the workstation nodes (nodeSelector {POOL}=true), {NOT_ALLOWED}; {WORKSTATION_NODES}",
    ),
    (
        "nodeSelector on the real node's hostname",
        {"nodeSelector": {"kubernetes.io/hostname": REAL_NODE}},
        f"selects the workstation nodes (nodeSelector kubernetes.io/hostname={REAL_NODE})",
    ),
    (
        "required node affinity on the pool's label",
        affinity("required", {"key": POOL, "operator": "In", "values": ["true"]}),
        f"selects the workstation nodes (node affinity {POOL} In true)",
    ),
    (
        "preferred node affinity on the pool's label",
        affinity("preferred", {"key": POOL, "operator": "Exists"}),
        f"selects the workstation nodes (node affinity {POOL} Exists)",
    ),
    (
        "preferred node affinity on the real node's hostname",
        affinity(
            "preferred", {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-000001", REAL_NODE]}
        ),
        f"selects the workstation nodes (node affinity kubernetes.io/hostname In node-000001,{REAL_NODE})",
    ),
    (
        "required node affinity on the real node's name",
        affinity("required", {"key": "metadata.name", "operator": "In", "values": [REAL_NODE]}, fields=True),
        f"selects the workstation nodes (node affinity field metadata.name In {REAL_NODE})",
    ),
]


@pytest.mark.parametrize(("what", "spec", "message"), REFUSED_PODS, ids=[row[0] for row in REFUSED_PODS])
def test_kubectl_apply_of_a_pod_that_reaches_for_the_real_node_is_refused(
    my_kubeconfig, as_me, me, what, spec, message
):
    name = "reach-" + uuid.uuid4().hex[:6]
    result = kubectl(my_kubeconfig, "apply", "-f", "-", stdin=json.dumps(pod(name, **spec)))
    assert result.returncode != 0, f"{what} was admitted"
    assert f'pods "{name}" is forbidden: {NODES_POLICY}' in result.stderr, result.stderr
    assert message.format(name=name) in result.stderr, result.stderr
    assert not client.CoreV1Api(as_me).list_namespaced_pod(me.namespace, label_selector=f"app={name}").items


def deployment(name: str, **pod_spec) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod(name, **pod_spec)["spec"]},
        },
    }


def test_a_deployment_whose_pods_would_reach_the_real_node_is_refused_at_kubectl_apply(my_kubeconfig, as_me, me):
    """Refused at the Deployment itself, so the student sees why at once rather than a
    Deployment whose ReplicaSet never gets pods."""
    name = "pinned-" + uuid.uuid4().hex[:6]
    manifest = deployment(
        name, tolerations=[{"operator": "Exists"}], nodeSelector={"kubernetes.io/hostname": REAL_NODE}
    )
    result = kubectl(my_kubeconfig, "apply", "-f", "-", stdin=json.dumps(manifest))
    assert result.returncode != 0
    assert f'deployments.apps "{name}" is forbidden: {NODES_POLICY}' in result.stderr, result.stderr
    assert f"Deployment {name} (its pod template) tolerates every taint" in result.stderr, result.stderr
    apps = client.AppsV1Api(as_me)
    assert not [d for d in apps.list_namespaced_deployment(me.namespace).items if d.metadata.name == name]


def test_a_job_and_a_template_change_are_refused_through_the_api_too(as_me, me):
    """The Python client, as the student: a Job's template, and an update of an admitted
    Deployment that adds a nodeName to its template."""
    batch, apps = client.BatchV1Api(as_me), client.AppsV1Api(as_me)
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pinned-job"},
        "spec": {"template": {"spec": {**pod("x", nodeName=REAL_NODE)["spec"], "restartPolicy": "Never"}}},
    }
    with pytest.raises(ApiException) as refused:
        batch.create_namespaced_job(me.namespace, job)
    assert refused.value.status == 403
    assert "Job pinned-job (its pod template) sets spec.nodeName: labplatform-node" in refused.value.body

    name = "movable-" + uuid.uuid4().hex[:6]
    apps.create_namespaced_deployment(me.namespace, deployment(name))
    try:
        with pytest.raises(ApiException) as refused:
            apps.patch_namespaced_deployment(
                name, me.namespace, {"spec": {"template": {"spec": {"nodeName": REAL_NODE}}}}
            )
        assert refused.value.status == 403
        assert f"Deployment {name} (its pod template) sets spec.nodeName: {REAL_NODE}" in refused.value.body
    finally:
        apps.delete_namespaced_deployment(name, me.namespace)


@pytest.fixture(scope="module")
def my_pod(as_me, me) -> str:
    """An ordinary pod the student made, scheduled on a simulated node and running."""
    core = client.CoreV1Api(as_me)
    core.create_namespaced_pod(me.namespace, pod("web"))
    wait_for("the student's pod web Ready", lambda: pods_ready(core, me.namespace, "app=web", 1))
    return "web"


def test_the_students_ordinary_pods_are_admitted_and_run_on_simulated_nodes(as_me, me, my_pod, my_kubeconfig):
    core = client.CoreV1Api(as_me)
    node = core.read_namespaced_pod(my_pod, me.namespace).spec.node_name
    assert node.startswith("node-"), node
    # An update of a pod the scheduler has bound (its nodeName is set) is not an attempt to pick a node.
    assert kubectl(my_kubeconfig, "label", "pod", my_pod, "tier=frontend").returncode == 0
    # Tolerations and selectors that keep off the real node, or concern other taints, are fine.
    allowed = pod(
        "placed",
        tolerations=[{"key": "example.com/maintenance", "operator": "Exists", "effect": "NoSchedule"}],
        nodeSelector={"type": "kwok"},
        **affinity("required", {"key": POOL, "operator": "DoesNotExist"}),
    )
    result = kubectl(my_kubeconfig, "apply", "-f", "-", stdin=json.dumps(allowed))
    assert result.returncode == 0, result.stderr
    result = kubectl(my_kubeconfig, "create", "deployment", "plain", "--image=nginx:1.27", "--replicas=2")
    assert result.returncode == 0, result.stderr
    wait_for("the plain Deployment's two pods Ready", lambda: pods_ready(core, me.namespace, "app=plain", 2))


def test_a_toleration_added_to_a_running_pod_is_refused(as_me, me, my_pod):
    """Pods may gain tolerations after creation: an update is checked for what it adds."""
    core = client.CoreV1Api(as_me)
    with pytest.raises(ApiException) as refused:
        core.patch_namespaced_pod(
            my_pod, me.namespace, [{"op": "add", "path": "/spec/tolerations/-", "value": {"operator": "Exists"}}]
        )
    assert refused.value.status == 403
    assert f"Pod {my_pod} tolerates every taint" in refused.value.body


def test_the_platforms_workstation_pod_selects_and_tolerates_the_real_node_and_is_admitted(kube, me):
    core = client.CoreV1Api(kube)
    name = workstation_pod_name(me.student)
    workstation = core.read_namespaced_pod(name, WORKSTATIONS)
    assert workstation.spec.node_selector == {POOL: "true"}
    assert [(t.key, t.effect) for t in workstation.spec.tolerations if t.key == POOL] == [(POOL, "NoSchedule")]
    wait_for(f"workstation {name} Ready", lambda: workstation_ready(me), timeout=120)
    assert core.read_namespaced_pod(name, WORKSTATIONS).spec.node_name == REAL_NODE
    # The platform's own exec into a workstation is not a student's into a simulated pod.
    result = kubectl(admin_kubeconfig(), "exec", "-n", WORKSTATIONS, name, "--", SESSION_COMMAND, "end", me.student)
    assert result.returncode == 0, result.stderr


CONNECTS = [
    ("exec", ["exec", "{pod}", "--", "sh", "-c", "echo hello"], "to exec into"),
    ("exec -it", ["exec", "-i", "-t", "{pod}", "--", "sh"], "to exec into"),
    ("attach", ["attach", "{pod}"], "to attach to"),
    ("port-forward", ["port-forward", "pod/{pod}", "0:80"], "to forward ports to"),
]


@pytest.mark.parametrize(("what", "args", "reach"), CONNECTS, ids=[row[0] for row in CONNECTS])
def test_exec_attach_and_port_forward_into_a_simulated_pod_say_it_is_simulated(
    my_kubeconfig, my_pod, what, args, reach
):
    command = what.split()[0]
    result = kubectl(my_kubeconfig, *[a.format(pod=my_pod) for a in args], stdin="")
    assert result.returncode != 0
    assert f'pods "{my_pod}" is forbidden: {CONNECT_POLICY}' in result.stderr, result.stderr
    assert (
        f"kubectl {command} {my_pod}: pod {my_pod} runs on one of the course's simulated nodes, which run no"
        f" containers: there is no process in it {reach}. See what it does with `kubectl logs {my_pod}` and"
        f" `kubectl describe pod {my_pod}`, and run commands in your workstation's own shell"
    ) in result.stderr, result.stderr


def test_the_student_may_still_read_logs_and_describe_the_pod(my_kubeconfig, my_pod):
    """What the refusal suggests answers."""
    assert kubectl(my_kubeconfig, "describe", "pod", my_pod).returncode == 0
    logs = kubectl(my_kubeconfig, "logs", my_pod)
    assert CONNECT_POLICY not in logs.stderr
