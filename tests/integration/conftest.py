import pytest
import pytest_asyncio
from kubernetes import client

from labplatform.cluster.clients import close_async_clients
from tests.cohorts import delete_namespace
from tests.kube import admin_kubeconfig, unique_name, wait_for


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


@pytest.fixture
def namespace(core):
    name = _make_namespace(core)
    yield name
    delete_namespace(core, name)


@pytest.fixture
def other_namespace(core):
    name = _make_namespace(core)
    yield name
    delete_namespace(core, name)


@pytest_asyncio.fixture
async def async_gateway():
    """Closes the gateway's async clients on the test's own event loop when it ends."""
    yield
    await close_async_clients()
