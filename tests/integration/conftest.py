import os
import time
from pathlib import Path

import kubernetes
import pytest
import pytest_asyncio
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from labplatform.cluster.clients import close_async_clients
from labplatform.cluster.errors import ClusterError
from labplatform.cluster.info import cluster_version
from tests.kube import (
    KWOK_GROUP,
    KWOK_VERSION,
    cluster_state_dir,
    contained_exec_rule,
    pods_ready,
    unique_name,
    wait_for,
)
from tests.processes import start_worker, stop


def admin_kubeconfig() -> Path:
    """Cluster-admin, for setting up what tests need. The platform itself acts through
    LABPLATFORM_KUBECONFIG (on the local cluster: its own token only)."""
    configured = os.environ.get("LABPLATFORM_KUBECONFIG")
    return Path(configured) if configured else cluster_state_dir() / "kubeconfig"


@pytest.fixture(scope="session")
def kube() -> client.ApiClient:
    try:
        cluster_version()
    except ClusterError as exc:
        pytest.fail(f"the local cluster is needed for this test: {exc}. Run `make cluster-up`.")
    return kubernetes.config.new_client_from_config(config_file=str(admin_kubeconfig()))


@pytest.fixture
def gateway_as_admin(settings):
    """Points the gateway at cluster-admin, for tests of the cluster itself (exec into
    arbitrary test namespaces) rather than of what the platform may do."""
    settings.LABPLATFORM_KUBECONFIG = admin_kubeconfig()


@pytest.fixture
def core(kube) -> client.CoreV1Api:
    return client.CoreV1Api(kube)


@pytest.fixture
def apps(kube) -> client.AppsV1Api:
    return client.AppsV1Api(kube)


@pytest.fixture
def custom(kube) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(kube)


def _make_namespace(core: client.CoreV1Api) -> str:
    name = unique_name("test")
    core.create_namespace({"metadata": {"name": name, "labels": {"labplatform.io/test": "true"}}})
    # Pods are refused until the controller-manager has made the namespace's default
    # ServiceAccount, as on any cluster.
    wait_for(
        f"the default ServiceAccount in {name}",
        lambda: core.list_namespaced_service_account(name, field_selector="metadata.name=default").items,
    )
    return name


def _delete_namespace(core: client.CoreV1Api, name: str) -> None:
    try:
        core.delete_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture
def namespace(core):
    name = _make_namespace(core)
    yield name
    _delete_namespace(core, name)


@pytest.fixture
def other_namespace(core):
    name = _make_namespace(core)
    yield name
    _delete_namespace(core, name)


@pytest.fixture
def exec_rule(custom, namespace):
    """Lets tests exec into pods of `namespace`, as nobody, like a student namespace's rule."""
    rule = contained_exec_rule(namespace)
    custom.create_cluster_custom_object(KWOK_GROUP, KWOK_VERSION, "clusterexecs", rule)
    yield rule
    custom.delete_cluster_custom_object(KWOK_GROUP, KWOK_VERSION, "clusterexecs", rule["metadata"]["name"])


@pytest.fixture
def ready_pod(core, namespace, exec_rule) -> str:
    name = "shell"
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": [{"name": "shell", "image": "busybox:1.36"}]},
        },
    )
    wait_for(f"pod {namespace}/{name} Ready", lambda: pods_ready(core, namespace, f"app={name}", 1))
    return name


@pytest.fixture(scope="module")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real Celery worker on the test database and the test Redis, for one test module."""
    worker = start_worker(name=f"tests-{os.getpid()}")
    yield worker
    stop(worker)


@pytest_asyncio.fixture
async def async_gateway():
    """Closes the gateway's async clients on the test's own event loop when it ends."""
    yield
    await close_async_clients()


def _delete_labelled(kube: client.ApiClient, cohort_slug: str) -> None:
    """Deletes what provisioning made for a test cohort, as cluster-admin."""
    selector = f"labplatform.io/cohort={cohort_slug}"
    core, rbac, custom = client.CoreV1Api(kube), client.RbacAuthorizationV1Api(kube), client.CustomObjectsApi(kube)
    for ns in core.list_namespace(label_selector=selector).items:
        _delete_namespace(core, ns.metadata.name)
    for binding in rbac.list_cluster_role_binding(label_selector=selector).items:
        rbac.delete_cluster_role_binding(binding.metadata.name)
    for rule in custom.list_cluster_custom_object(KWOK_GROUP, KWOK_VERSION, "clusterexecs", label_selector=selector)[
        "items"
    ]:
        custom.delete_cluster_custom_object(KWOK_GROUP, KWOK_VERSION, "clusterexecs", rule["metadata"]["name"])
    core.delete_collection_namespaced_pod("labplatform-workstations", label_selector=selector)
    core.delete_collection_namespaced_secret("labplatform-workstations", label_selector=selector)


@pytest.fixture
def make_cohort(kube, django_user_model):
    """Makes cohorts with students (and instructors) on the local cluster; afterwards
    removes what was provisioned for them, whatever state the test left."""
    from labplatform.classroom.models import Cluster, Cohort, Enrollment
    from labplatform.cluster.local_users import local_user_remove

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
        _delete_labelled(kube, cohort.slug)
        for enrollment in cohort.enrollments.all():
            local_user_remove(enrollment.student_id)


def wait_for_environments(cohort, state: str, count: int, *, timeout: float = 120) -> None:
    from labplatform.classroom.models import StudentEnvironment

    deadline = time.monotonic() + timeout
    while True:
        rows = list(
            StudentEnvironment.objects.filter(enrollment__cohort=cohort).values_list("namespace", "state", "last_error")
        )
        if sum(1 for _, s, _ in rows if s == state) == count:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout}s, {count} environments of {cohort.slug} are not {state}: {rows}")
        time.sleep(0.2)
