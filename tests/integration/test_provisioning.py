"""Provisioning students' environments through the real path: the request-side service
queues Celery tasks, a real worker applies the objects as the platform's own identity on
the local cluster, and the database records each state."""

import base64
import hashlib
import threading

import pytest
from django.conf import settings
from django.db import connection
from kubernetes import client

from labplatform.cluster import manifests
from labplatform.cluster.apply import object_get
from labplatform.cluster.rest import object_name
from labplatform.cluster.students import student_environment_apply, student_namespace_objects
from labplatform.environments import services as environments
from labplatform.environments.models import StudentEnvironment
from labplatform.environments.steps import environment_spec
from tests.cohorts import wait_for_environments
from tests.kube import admin_kubeconfig, kubectl, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker_process")]
State = StudentEnvironment.State


def environment_of(cohort, index: int = 0) -> StudentEnvironment:
    return StudentEnvironment.objects.filter(enrollment__cohort=cohort).order_by("namespace")[index]


def test_provisioning_a_cohort_makes_every_students_environment_ready(make_cohort, kube):
    cohort = make_cohort(students=3, instructors=1)

    assert environments.cohort_provision(cohort=cohort) == 3
    wait_for_environments(cohort, State.READY, 3)

    core = client.CoreV1Api(kube)
    for environment in StudentEnvironment.objects.filter(enrollment__cohort=cohort):
        namespace = core.read_namespace(environment.namespace)
        assert namespace.metadata.labels["pod-security.kubernetes.io/enforce"] == "baseline"
        assert namespace.metadata.labels["labplatform.io/student"] == environment.enrollment.student_id
        email = environment.enrollment.user.email
        assert email and email.split("@")[0] not in str(namespace.metadata.labels) + namespace.metadata.name
        pod = core.read_namespaced_pod(f"ws-{environment.enrollment.student_id}", "labplatform-workstations")
        assert any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions)
        policy = client.NetworkingV1Api(kube).read_namespaced_network_policy(
            f"ws-{environment.enrollment.student_id}", "labplatform-workstations"
        )
        reaches = [
            peer.namespace_selector.match_labels
            for rule in policy.spec.egress
            for peer in rule.to
            if peer.namespace_selector
        ]
        assert {"kubernetes.io/metadata.name": environment.namespace} in reaches
        assert environment.ready_at is not None and environment.last_error == ""
    assert not StudentEnvironment.objects.filter(enrollment__cohort=cohort, enrollment__role="instructor").exists()


@pytest.mark.parametrize("preset", ["standard", "small"])
def test_the_workstation_is_bounded_as_the_cohorts_preset_says(make_cohort, kube, preset):
    from labplatform.cohorts.presets import PRESETS

    cohort = make_cohort(students=1, preset=preset)
    environments.cohort_provision(cohort=cohort)
    wait_for_environments(cohort, State.READY, 1)
    pod = client.CoreV1Api(kube).read_namespaced_pod(
        f"ws-{environment_of(cohort).enrollment.student_id}", "labplatform-workstations"
    )
    resources = pod.spec.containers[0].resources
    assert resources.limits == PRESETS[preset].workstation_limit
    assert resources.requests == PRESETS[preset].workstation_request


def test_applying_an_environment_twice_changes_nothing(make_cohort, kube):
    cohort = make_cohort(students=1)
    environments.cohort_provision(cohort=cohort)
    wait_for_environments(cohort, State.READY, 1)
    spec = environment_spec(environment_of(cohort))

    def versions() -> dict[str, str]:
        return {
            object_name(obj): object_get(obj, cluster=spec.cluster)["metadata"]["resourceVersion"]
            for obj in student_namespace_objects(spec)
        }

    before = versions()
    student_environment_apply(spec)
    assert versions() == before


def test_a_double_clicked_provision_queues_the_work_once(make_cohort):
    cohort = make_cohort(students=4)
    queued = []
    barrier = threading.Barrier(2)

    def click():
        barrier.wait()
        try:
            queued.append(environments.cohort_provision(cohort=cohort))
        finally:
            connection.close()

    clicks = [threading.Thread(target=click) for _ in range(2)]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join()
    assert sorted(queued) == [0, 4]
    wait_for_environments(cohort, State.READY, 4)


def test_reconcile_repairs_a_deleted_role_binding_and_a_changed_quota(make_cohort, kube):
    cohort = make_cohort(students=1)
    environments.cohort_provision(cohort=cohort)
    wait_for_environments(cohort, State.READY, 1)
    namespace = environment_of(cohort).namespace
    rbac, core = client.RbacAuthorizationV1Api(kube), client.CoreV1Api(kube)
    rbac.delete_namespaced_role_binding("labplatform-student", namespace)
    core.patch_namespaced_resource_quota("student-quota", namespace, {"spec": {"hard": {"pods": "1000"}}})

    assert environments.cohort_reconcile(cohort=cohort) == 1
    wait_for_environments(cohort, State.READY, 1)

    assert rbac.read_namespaced_role_binding("labplatform-student", namespace).role_ref.name == "labplatform-student"
    assert core.read_namespaced_resource_quota("student-quota", namespace).spec.hard["pods"] == "30"


def test_reset_deletes_what_the_student_made_and_keeps_the_workstation(make_cohort, kube):
    cohort = make_cohort(students=1)
    environments.cohort_provision(cohort=cohort)
    wait_for_environments(cohort, State.READY, 1)
    environment = environment_of(cohort)
    core = client.CoreV1Api(kube)
    core.create_namespaced_config_map(environment.namespace, {"metadata": {"name": "made-by-student"}})
    workstation = core.read_namespaced_pod(f"ws-{environment.enrollment.student_id}", "labplatform-workstations")

    assert environments.environment_reset(environment=environment) is True
    assert environments.environment_reset(environment=environment) is False, "a second click finds it busy"
    wait_for_environments(cohort, State.READY, 1, timeout=180)

    names = [cm.metadata.name for cm in core.list_namespaced_config_map(environment.namespace).items]
    assert "made-by-student" not in names
    after = core.read_namespaced_pod(f"ws-{environment.enrollment.student_id}", "labplatform-workstations")
    assert after.metadata.uid == workstation.metadata.uid
    # Ready means the kept workstation already reads the new kubeconfig (the old token was
    # of the ServiceAccount the reset deleted), not whenever the kubelet next syncs it.
    secret = core.read_namespaced_secret(f"{after.metadata.name}-kubeconfig", "labplatform-workstations")
    digest = hashlib.sha256(base64.b64decode(secret.data["config"])).hexdigest()
    assert after.metadata.annotations[manifests.KUBECONFIG_DIGEST_ANNOTATION] == digest
    mounted = kubectl(
        admin_kubeconfig(),
        "exec",
        "-n",
        "labplatform-workstations",
        after.metadata.name,
        "--",
        "sha256sum",
        manifests.WORKSTATION_KUBECONFIG,
    )
    assert mounted.stdout.split()[0] == digest, mounted.stderr


def test_teardown_deletes_the_namespaces_and_keeps_the_enrollments(make_cohort, kube):
    cohort = make_cohort(students=2)
    environments.cohort_provision(cohort=cohort)
    wait_for_environments(cohort, State.READY, 2)

    assert environments.cohort_teardown(cohort=cohort) == 2
    wait_for_environments(cohort, State.DELETED, 2, timeout=180)

    core = client.CoreV1Api(kube)
    assert core.list_namespace(label_selector=f"labplatform.io/cohort={cohort.slug}").items == []
    assert (
        core.list_namespaced_pod(
            "labplatform-workstations", label_selector=f"labplatform.io/cohort={cohort.slug}"
        ).items
        == []
    )
    assert cohort.enrollments.count() == 2


def test_dropping_a_student_tears_down_only_their_environment(make_cohort, kube):
    cohort = make_cohort(students=2)
    environments.cohort_provision(cohort=cohort)
    wait_for_environments(cohort, State.READY, 2)
    dropped = environment_of(cohort, 0)

    environments.enrollment_drop(enrollment=dropped.enrollment)

    wait_for_environments(cohort, State.DELETED, 1, timeout=180)
    dropped.refresh_from_db()
    assert dropped.state == State.DELETED
    assert dropped.enrollment.dropped_at is not None
    assert environment_of(cohort, 1).state == State.READY
    assert environments.cohort_provision(cohort=cohort) == 0, "a dropped student is not provisioned again"
    wait_for(
        "the namespace to be gone",
        lambda: not client.CoreV1Api(kube).list_namespace(field_selector=f"metadata.name={dropped.namespace}").items,
    )


def test_refreshing_a_workstation_token_puts_a_new_student_token_in_its_kubeconfig(make_cohort, kube):
    import base64

    import kubernetes
    import yaml as pyyaml

    from labplatform.environments.tasks import workstation_tokens_refresh_task

    cohort = make_cohort(students=1)
    environments.cohort_provision(cohort=cohort)
    wait_for_environments(cohort, State.READY, 1)
    environment = environment_of(cohort)
    core = client.CoreV1Api(kube)
    secret_name = f"ws-{environment.enrollment.student_id}-kubeconfig"

    def kubeconfig() -> dict:
        secret = core.read_namespaced_secret(secret_name, "labplatform-workstations")
        return pyyaml.safe_load(base64.b64decode(secret.data["config"]))

    before = kubeconfig()["users"][0]["user"]["token"]
    assert workstation_tokens_refresh_task() >= 1, "beat's task fans out one refresh per ready environment"
    wait_for("a new token", lambda: kubeconfig()["users"][0]["user"]["token"] != before)

    config = kubeconfig()
    assert set(config["users"][0]["user"]) == {"token"}, "only the token: a client certificate would win"
    # The workstation's address of the API server may be reachable only from workstations
    # (on the local cluster, inside the real node's namespace); the test asks at the host's.
    cluster = config["clusters"][0]["cluster"]
    assert cluster["server"] == (settings.WORKSTATION_API_SERVER or kube.configuration.host)
    cluster["server"] = kube.configuration.host
    api = kubernetes.config.new_client_from_config_dict(config)
    review = client.AuthenticationV1Api(api).create_self_subject_review({})
    assert review.status.user_info.username == f"system:serviceaccount:{environment.namespace}:student"
