"""Provisioning when things go wrong: a cluster that cannot be reached, and a worker
killed in the middle of a student."""

import pytest
import redis
from django.conf import settings
from kubernetes import client

from labplatform.cohorts.models import Cluster
from labplatform.environments import services as environments
from labplatform.environments.models import StudentEnvironment
from tests.cohorts import wait_for_environments
from tests.kube import wait_for, write_token_kubeconfig
from tests.processes import manage, start_worker, stop

pytestmark = pytest.mark.django_db(transaction=True)
State = StudentEnvironment.State


@pytest.fixture
def unreachable_kubeconfig(tmp_path):
    return write_token_kubeconfig(tmp_path / "unreachable-kubeconfig", server="https://127.0.0.1:9")


@pytest.mark.usefixtures("celery_worker_process")
def test_an_unreachable_cluster_fails_environments_with_the_reason_and_retry_finishes_them(
    make_cohort, unreachable_kubeconfig
):
    healthy = make_cohort(students=1)
    environments.cohort_provision(cohort=healthy)
    wait_for_environments(healthy, State.READY, 1)

    Cluster.objects.create(name="flaky", kubeconfig_path=str(unreachable_kubeconfig), is_local=False)
    cohort = make_cohort(students=2, cluster="flaky")
    environments.cohort_provision(cohort=cohort)
    wait_for_environments(cohort, State.FAILED, 2)
    for environment in StudentEnvironment.objects.filter(enrollment__cohort=cohort):
        assert "cluster 'flaky' is unreachable" in environment.last_error
        assert environment.namespace in environment.last_error

    Cluster.objects.filter(name="flaky").update(kubeconfig_path=str(settings.LABPLATFORM_KUBECONFIG), is_local=True)
    assert environments.cohort_provision(cohort=cohort) == 2, "retry takes the failed ones"
    wait_for_environments(cohort, State.READY, 2)
    assert StudentEnvironment.objects.get(enrollment__cohort=healthy).state == State.READY, "nothing else was touched"


def test_a_worker_killed_mid_student_is_redelivered_and_the_environment_ends_ready_once(make_cohort, kube):
    cohort = make_cohort(students=1)
    # A broker of its own keeps the other tests' workers out of this one. A short
    # visibility timeout brings the killed worker's task back quickly. The worker is killed
    # once the workstation pod exists, while it waits for the pod to be Ready, which it
    # never is: the doomed worker names an image the node does not have and may not pull.
    # (A pod that starts slowly would leave a race: a container of the real node's cached
    # image is Ready within a second.) The survivor applies the right image to the same pod.
    broker = "redis://127.0.0.1:6379/7"
    redis.Redis.from_url(broker).flushdb()
    environment = {
        "REDIS_URL": broker,
        "CELERY_VISIBILITY_TIMEOUT": "10",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
    }
    never_ready = {
        "WORKSTATION_IMAGE": "localhost/labplatform/workstation:absent",
        "WORKSTATION_IMAGE_PULL_POLICY": "Never",
    }
    doomed = start_worker(name="doomed", concurrency=1, **environment, **never_ready)
    try:
        queued = manage(
            "shell",
            "--no-imports",
            "-c",
            "from labplatform.environments.services import cohort_provision;"
            "from labplatform.cohorts.models import Cohort;"
            f"print(cohort_provision(cohort=Cohort.objects.get(slug='{cohort.slug}')))",
            **environment,
        )
        assert queued.stdout.strip() == "1", queued.stderr
        core = client.CoreV1Api(kube)
        selector = f"labplatform.io/cohort={cohort.slug}"
        wait_for(
            "the workstation pod",
            lambda: core.list_namespaced_pod("labplatform-workstations", label_selector=selector).items,
        )
        doomed.kill()
        doomed.wait(timeout=10)
    finally:
        if doomed.poll() is None:
            stop(doomed)
    assert StudentEnvironment.objects.get(enrollment__cohort=cohort).state == State.PROVISIONING

    survivor = start_worker(name="survivor", concurrency=1, **environment)
    try:
        wait_for_environments(cohort, State.READY, 1, timeout=120)
    finally:
        stop(survivor)

    namespace = StudentEnvironment.objects.get(enrollment__cohort=cohort).namespace
    rbac = client.RbacAuthorizationV1Api(kube)
    assert len(core.list_namespaced_pod("labplatform-workstations", label_selector=selector).items) == 1
    assert len(core.list_namespaced_secret("labplatform-workstations", label_selector=selector).items) == 1
    assert len(rbac.list_namespaced_role_binding(namespace).items) == 3
    assert len(rbac.list_cluster_role_binding(label_selector=selector).items) == 1
    assert len(core.list_namespaced_resource_quota(namespace).items) == 1
