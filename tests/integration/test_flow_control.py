"""API Priority and Fairness (k8s/platform/base/flow-control.yaml) on the real local API
server: a student's requests, made with their own token, are served in the limited level
labplatform-students through the FlowSchema provisioning made for them; the platform's in
its own level, labplatform-platform. The API server names both in every response's
X-Kubernetes-PF-FlowSchema-UID and X-Kubernetes-PF-PriorityLevel-UID headers. The
platform may write no FlowSchema but a student's (admission.yaml)."""

import copy
import json
import uuid

import kubernetes
import pytest
from kubernetes import client

from labplatform.cluster import manifests
from labplatform.cluster.students import student_environment_apply, student_environment_delete
from tests.cohorts import local_student_spec
from tests.kube import admin_kubeconfig, cluster_state_dir, kubectl
from tests.lessons import Student, provisioned_student

pytestmark = pytest.mark.local_cluster
PLATFORM = "system:serviceaccount:labplatform-system:labplatform"
GUARD = "ValidatingAdmissionPolicy 'labplatform-platform-flow-schemas'"


def uid(kind: str, name: str) -> str:
    result = kubectl(admin_kubeconfig(), "get", kind, name, "-o", "jsonpath={.metadata.uid}")
    assert result.returncode == 0, result.stderr
    return result.stdout


def classified(headers) -> tuple[str, str]:
    return headers["X-Kubernetes-PF-FlowSchema-UID"], headers["X-Kubernetes-PF-PriorityLevel-UID"]


@pytest.fixture(scope="module")
def student(kube, tmp_path_factory) -> Student:
    with provisioned_student(tmp_path_factory.mktemp("student"), cohort="flow-control") as student:
        yield student


def test_a_students_requests_are_served_in_the_students_level_by_their_own_flow_schema(student):
    as_student = kubernetes.config.new_client_from_config(config_file=str(student.kubeconfig))
    expected = (
        uid("flowschema", f"labplatform-student-{student.namespace}"),
        uid("prioritylevelconfiguration", "labplatform-students"),
    )
    _, _, headers = client.CoreV1Api(as_student).list_namespaced_pod_with_http_info(student.namespace)
    assert classified(headers) == expected
    # Cluster-wide reads and discovery too, as kubectl makes them.
    _, _, headers = client.CoreV1Api(as_student).list_node_with_http_info()
    assert classified(headers) == expected
    _, _, headers = client.CoreApi(as_student).get_api_versions_with_http_info()
    assert classified(headers) == expected
    # Reading a ConfigMap too; writing one is the writes level's (below).
    _, _, headers = client.CoreV1Api(as_student).list_namespaced_config_map_with_http_info(student.namespace)
    assert classified(headers) == expected


def test_a_students_config_map_and_secret_writes_are_served_in_the_writes_level(student):
    """Threat: a student rewriting large ConfigMaps or Secrets in a loop fills etcd's
    history and takes the seats the other students' requests need. Their writes of those
    kinds go to labplatform-student-writes, a level of a few seats for all students."""
    as_student = kubernetes.config.new_client_from_config(config_file=str(student.kubeconfig))
    expected = (
        uid("flowschema", f"labplatform-student-writes-{student.namespace}"),
        uid("prioritylevelconfiguration", "labplatform-student-writes"),
    )
    api = client.CoreV1Api(as_student)
    name = "flow-" + uuid.uuid4().hex[:8]
    _, _, headers = api.create_namespaced_config_map_with_http_info(
        student.namespace, {"metadata": {"name": name}, "data": {"a": "1"}}
    )
    assert classified(headers) == expected
    _, _, headers = api.patch_namespaced_config_map_with_http_info(name, student.namespace, {"data": {"a": "2"}})
    assert classified(headers) == expected
    _, _, headers = api.create_namespaced_secret_with_http_info(
        student.namespace, {"metadata": {"name": name}, "stringData": {"a": "1"}}
    )
    assert classified(headers) == expected
    # Deleting is not a write of bytes: the students' level.
    _, _, headers = api.delete_namespaced_config_map_with_http_info(name, student.namespace)
    assert classified(headers)[1] == uid("prioritylevelconfiguration", "labplatform-students")
    api.delete_namespaced_secret(name, student.namespace)


def test_the_platforms_requests_are_served_in_its_own_level():
    as_platform = kubernetes.config.new_client_from_config(config_file=str(cluster_state_dir() / "platform-kubeconfig"))
    _, _, headers = client.CoreV1Api(as_platform).list_node_with_http_info()
    assert classified(headers) == (
        uid("flowschema", "labplatform-platform"),
        uid("prioritylevelconfiguration", "labplatform-platform"),
    )


def test_the_levels_keep_students_to_their_share_and_the_platform_its_seats():
    levels = {
        name: json.loads(kubectl(admin_kubeconfig(), "get", "prioritylevelconfiguration", name, "-o", "json").stdout)
        for name in ("labplatform-students", "labplatform-student-writes", "labplatform-platform")
    }
    for name in ("labplatform-students", "labplatform-student-writes"):
        limited = levels[name]["spec"]["limited"]
        assert (limited["borrowingLimitPercent"], limited["limitResponse"]["type"]) == (0, "Queue"), name
    assert levels["labplatform-platform"]["spec"]["limited"]["lendablePercent"] == 0
    assert levels["labplatform-student-writes"]["spec"]["limited"]["lendablePercent"] == 0
    seats = nominal_seats()
    assert seats["labplatform-student-writes"] <= 3 < seats["labplatform-students"] < seats["labplatform-platform"]
    schema = json.loads(kubectl(admin_kubeconfig(), "get", "flowschema", "labplatform-platform", "-o", "json").stdout)
    service_accounts = json.loads(
        kubectl(admin_kubeconfig(), "get", "flowschema", "service-accounts", "-o", "json").stdout
    )
    assert (
        schema["spec"]["matchingPrecedence"]
        < manifests.STUDENT_WRITES_FLOW_PRECEDENCE
        < manifests.STUDENT_FLOW_PRECEDENCE
        < service_accounts["spec"]["matchingPrecedence"]
    )


def nominal_seats() -> dict[str, int]:
    """The seats the API server gave each level, from its own metrics."""
    metrics = kubectl(admin_kubeconfig(), "get", "--raw", "/metrics")
    assert metrics.returncode == 0, metrics.stderr
    seats = {}
    for line in metrics.stdout.splitlines():
        if line.startswith("apiserver_flowcontrol_nominal_limit_seats{"):
            level = line.split('priority_level="', 1)[1].split('"', 1)[0]
            seats[level] = int(float(line.rsplit(" ", 1)[1]))
    return seats


def test_teardown_removes_the_students_flow_schemas(kube):
    spec = local_student_spec("s" + uuid.uuid4().hex[:9], cohort="flow-control")
    names = [f"labplatform-student-{spec.namespace}", f"labplatform-student-writes-{spec.namespace}"]
    try:
        student_environment_apply(spec)
        assert kubectl(admin_kubeconfig(), "get", "flowschema", *names).returncode == 0
    finally:
        student_environment_delete(spec)
    for name in names:
        gone = kubectl(admin_kubeconfig(), "get", "flowschema", name)
        assert gone.returncode != 0 and "NotFound" in gone.stderr, gone.stderr


def as_platform(*args: str, stdin: str | None = None):
    return kubectl(admin_kubeconfig(), f"--as={PLATFORM}", *args, stdin=stdin)


SCHEMAS = {"requests": manifests.student_flow_schema, "writes": manifests.student_writes_flow_schema}


def schema_for(namespace: str, which: str = "requests") -> dict:
    return SCHEMAS[which](namespace=namespace, cohort="flow-control", student="s1")


def changed(schema: dict, change) -> dict:
    schema = copy.deepcopy(schema)
    change(schema)
    return schema


@pytest.mark.parametrize("which", SCHEMAS)
def test_the_platform_may_write_a_students_flow_schema_and_no_other(which):
    own = schema_for("lab-s1", which)
    other = schema_for("lab-s1", "writes" if which == "requests" else "requests")
    admitted = as_platform("apply", "--server-side", "--dry-run=server", "-f", "-", stdin=json.dumps(own))
    assert admitted.returncode == 0, admitted.stderr

    def subject(schema, kind="ServiceAccount", **account):
        schema["spec"]["rules"][0]["subjects"] = [{"kind": kind, "serviceAccount": account}]

    refused = {
        "another namespace's account": changed(own, lambda s: subject(s, name="student", namespace="kube-system")),
        "the namespace's other accounts": changed(own, lambda s: subject(s, name="*", namespace="lab-s1")),
        "the platform itself": changed(own, lambda s: subject(s, name="labplatform", namespace="labplatform-system")),
        "every user": changed(
            own,
            lambda s: s["spec"]["rules"][0].update(
                subjects=[{"kind": "Group", "group": {"name": "system:authenticated"}}]
            ),
        ),
        "into the exempt level": changed(own, lambda s: s["spec"]["priorityLevelConfiguration"].update(name="exempt")),
        "first of all": changed(own, lambda s: s["spec"].update(matchingPrecedence=2)),
        "under another name": changed(own, lambda s: s["metadata"].update(name="catch-all-students")),
        "into the other student level": changed(
            own, lambda s: s["spec"]["priorityLevelConfiguration"].update(other["spec"]["priorityLevelConfiguration"])
        ),
        "at the other schema's precedence": changed(
            own, lambda s: s["spec"].update(matchingPrecedence=other["spec"]["matchingPrecedence"])
        ),
    }
    for what, schema in refused.items():
        result = as_platform("apply", "--server-side", "--dry-run=server", "-f", "-", stdin=json.dumps(schema))
        assert result.returncode != 0, f"{what} was admitted"
        assert GUARD in result.stderr, f"{what}: {result.stderr}"
        assert "the platform may create only FlowSchemas labplatform-student-lab-*" in result.stderr, result.stderr
    for name in ("labplatform-platform", "service-accounts", "global-default"):
        result = as_platform("delete", "flowschema", name, "--dry-run=server")
        assert result.returncode != 0, f"the platform deleted FlowSchema {name}"
        assert f"FlowSchema {name}: the platform may delete only FlowSchemas labplatform-student-lab-*" in result.stderr
    assert as_platform("auth", "can-i", "patch", "prioritylevelconfigurations").stdout.strip() == "no"
