import os
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


@pytest.fixture(scope="session")
def celery_worker_process():
    """A real Celery worker, started from the project's own app, on the test Redis."""
    import os
    import subprocess
    import sys

    from labplatform.celery import app

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "labplatform", "worker", "--pool", "solo", "--loglevel", "WARNING"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "labplatform.settings"},
    )
    try:
        wait_for("the Celery worker to answer a ping", lambda: app.control.ping(timeout=0.5), timeout=60)
        yield worker
    finally:
        worker.terminate()
        worker.wait(timeout=30)


@pytest_asyncio.fixture
async def async_gateway():
    """Closes the gateway's async clients on the test's own event loop when it ends."""
    yield
    await close_async_clients()
