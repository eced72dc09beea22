import os

import kubernetes
import pytest
from kubernetes import client

from labplatform.cluster.errors import ClusterError
from labplatform.cluster.info import cluster_version
from tests.cohorts import delete_labelled
from tests.kube import admin_kubeconfig, unique_name
from tests.processes import start_worker, stop


def pytest_collection_modifyitems(config, items):
    if not os.environ.get("LABPLATFORM_KUBECONFIG"):
        return
    skip = pytest.mark.skip(reason="tests the local KWOK cluster; LABPLATFORM_KUBECONFIG names another cluster")
    for item in items:
        if item.get_closest_marker("local_cluster"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def kube() -> client.ApiClient:
    try:
        cluster_version()
    except ClusterError as exc:
        pytest.fail(f"the local cluster is needed for this test: {exc}. Run `make cluster-up`.")
    return kubernetes.config.new_client_from_config(config_file=str(admin_kubeconfig()))


@pytest.fixture
def make_cohort(kube, django_user_model):
    """Makes cohorts with students (and instructors) on the local cluster; afterwards
    removes what was provisioned for them, whatever state the test left."""
    from labplatform.cohorts.models import Cluster, Cohort, Enrollment

    made = []

    def make(*, students: int, instructors: int = 0, cluster: str = "local", preset: str = "standard"):
        slug = unique_name("c")
        cohort = Cohort.objects.create(
            name=f"Test {slug}",
            slug=slug,
            # Transactional tests flush the table the data migration filled.
            cluster=Cluster.objects.get_or_create(name=cluster, defaults={"is_local": cluster == "local"})[0],
            quota_preset=preset,
        )
        for role, count in [(Enrollment.Role.STUDENT, students), (Enrollment.Role.INSTRUCTOR, instructors)]:
            for i in range(count):
                user = django_user_model.objects.create_user(
                    username=f"{slug}-{role}-{i}", email=f"{slug}-{role}-{i}@example.com", first_name=f"{role} {i}"
                )
                Enrollment.objects.create(user=user, cohort=cohort, role=role)
        made.append(cohort)
        return cohort

    yield make
    for cohort in made:
        delete_labelled(kube, cohort.slug)


@pytest.fixture(scope="module")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real Celery worker on the test database and the test Redis, for one test module."""
    worker = start_worker(name=f"tests-{os.getpid()}")
    yield worker
    stop(worker)
