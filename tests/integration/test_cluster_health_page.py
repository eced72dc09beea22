"""The admins' cluster page, read with the platform's own identity from the real local
cluster: the API server's version, the namespaces it manages, a student's quota usage,
workstations that are not running, and a registered cluster that does not answer."""

import re

import pytest
from kubernetes import client as kube_client

from labplatform.cluster.info import cluster_version
from labplatform.cluster.manifests import MANAGED_BY, MANAGED_BY_LABEL
from labplatform.cohorts.models import Cluster
from labplatform.environments import services as environments
from labplatform.environments.models import StudentEnvironment
from tests.cohorts import wait_for_environments
from tests.kube import unique_name, wait_for, write_token_kubeconfig

pytestmark = pytest.mark.django_db(transaction=True)
WORKSTATIONS = "labplatform-workstations"
MANAGED = f"{MANAGED_BY_LABEL}={MANAGED_BY}"


@pytest.fixture
def staff(client, django_user_model):
    # Transactional tests flush the row the data migration made.
    Cluster.objects.get_or_create(name="local", defaults={"is_local": True})
    user = django_user_model.objects.create_user(username="root", is_staff=True)
    client.force_login(user)
    return user


@pytest.fixture
def core(kube) -> kube_client.CoreV1Api:
    return kube_client.CoreV1Api(kube)


def section_of(html: str, cluster: str) -> str:
    start = html.index(f'data-cluster="{cluster}"')
    end = html.find("data-cluster=", start + 1)
    return html[start : end if end != -1 else len(html)]


def managed_namespaces(core) -> int:
    return len(core.list_namespace(label_selector=MANAGED).items)


@pytest.mark.usefixtures("celery_worker_process")
def test_staff_see_the_version_managed_namespaces_and_a_students_quota_usage(client, staff, make_cohort, core):
    cohort = make_cohort(students=1)
    environments.cohort_provision(cohort=cohort)
    wait_for_environments(cohort, StudentEnvironment.State.READY, 1)
    environment = StudentEnvironment.objects.select_related("enrollment__user").get(enrollment__cohort=cohort)
    namespace = environment.namespace
    # As cluster-admin, as if the student had started a pod; the LimitRange gives it requests.
    core.create_namespaced_pod(
        namespace, {"metadata": {"name": "web"}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}
    )
    wait_for(
        "the quota to count the pod",
        lambda: core.read_namespaced_resource_quota("student-quota", namespace).status.used.get("pods") == "1",
    )

    # Other tests may make or remove managed namespaces meanwhile: the page's count lies
    # between what cluster-admin counts just before and just after.
    before = managed_namespaces(core)
    page = client.get("/staff/cluster/")
    after = managed_namespaces(core)
    assert page.status_code == 200
    html = section_of(page.content.decode(), "local")

    assert f"Kubernetes {cluster_version()}" in html
    assert '<span class="state state-ready">reachable</span>' in html
    counted = int(re.search(r"data-managed-namespaces>(\d+)<", html).group(1))
    assert min(before, after) <= counted <= max(before, after) and counted >= 1

    row = re.search(rf'<tr data-quota-namespace="{namespace}">(.*?)</tr>', html, re.DOTALL).group(1)
    assert environment.enrollment.user.get_full_name() in row and cohort.name in row
    headers = re.findall(r'<th scope="col" title="([^"]+)">', html)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
    usage = dict(zip(headers, cells, strict=True))
    assert headers[:3] == ["pods", "requests.cpu", "requests.memory"]
    hard = core.read_namespaced_resource_quota("student-quota", namespace).status.hard
    assert usage["pods"] == f'1<span class="muted">/{hard["pods"]}</span>'
    # the LimitRange's default request
    assert usage["requests.cpu"] == f'50m<span class="muted">/{hard["requests.cpu"]}</span>'
    assert usage["count/deployments.apps"] == f'0<span class="muted">/{hard["count/deployments.apps"]}</span>'
    assert "at-limit" not in row  # persistentvolumeclaims 0/0: turned off, not full


def test_a_workstation_pod_that_is_not_ready_is_listed(client, staff, core):
    name = unique_name("ws-test")
    core.create_namespaced_pod(
        WORKSTATIONS,
        {
            # KWOK makes the pod Ready only after this delay, as a slow image pull would.
            "metadata": {"name": name, "annotations": {"labplatform.io/ready-delay": "1h"}},
            "spec": {
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 1000,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "shell",
                        "image": "labplatform/workstation:test",
                        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                    }
                ],
            },
        },
    )
    try:
        html = section_of(client.get("/staff/cluster/").content.decode(), "local")
        row = re.search(rf'<tr data-workstation-pod="{name}">(.*?)</tr>', html, re.DOTALL)
        assert row, f"{name} is not listed"
        assert "Pending" in row.group(1) or "not ready" in row.group(1)
    finally:
        core.delete_namespaced_pod(name, WORKSTATIONS, grace_period_seconds=0)


def test_an_unreachable_registered_cluster_says_so(client, staff, tmp_path):
    closed = write_token_kubeconfig(tmp_path / "kubeconfig", server="https://127.0.0.1:1")
    Cluster.objects.create(name="far-away", kubeconfig_path=str(closed))
    Cluster.objects.create(name="no-config", kubeconfig_path=str(tmp_path / "missing"))
    page = client.get("/staff/cluster/")
    assert page.status_code == 200
    html = page.content.decode()
    far = section_of(html, "far-away")
    assert '<span class="state state-failed">unreachable</span>' in far
    assert (
        "The platform cannot reach this cluster: cluster &#x27;far-away&#x27; is unreachable: connection refused" in far
    )
    missing = section_of(html, "no-config")
    assert "unreachable" in missing and "does not exist" in missing
    assert "Traceback" not in html
    # The other clusters are still reported.
    assert "reachable</span>" in section_of(html, "local")


def test_the_cohort_list_links_to_it(client, staff):
    assert 'href="/staff/cluster/"' in client.get("/staff/cohorts/").content.decode()


def test_non_staff_are_refused(client, django_user_model):
    assert client.get("/staff/cluster/").status_code == 302
    client.force_login(django_user_model.objects.create_user(username="ada"))
    page = client.get("/staff/cluster/")
    assert page.status_code == 302 and page.url.startswith("/login/")
