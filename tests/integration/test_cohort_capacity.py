"""Whether a cohort's pods fit on its cluster, read from the real local API server as the
platform's own identity: the allocatable pods of the nodes students' pods may use, what
other cohorts' namespaces claim by their quotas, the admin's warning on the cohort page and
at provisioning, and a cluster that cannot be read."""

import re

import pytest
from kubernetes import client as kube_client

from labplatform.celery import app
from labplatform.cluster import manifests
from labplatform.cluster.capacity import CohortClaim, NodeLeftOut, pod_capacity
from labplatform.cohorts.models import Cluster
from labplatform.environments.capacity import cohort_capacity
from tests.cohorts import delete_namespace
from tests.kube import unique_name, write_token_kubeconfig

pytestmark = pytest.mark.django_db(transaction=True)
SIMULATED = "kwok.x-k8s.io/node"
REAL_NODE = "labplatform-node"


@pytest.fixture
def core(kube) -> kube_client.CoreV1Api:
    return kube_client.CoreV1Api(kube)


def simulated_pods(core) -> tuple[int, int]:
    """As cluster-admin: the simulated nodes, where students' pods go, and the pods they hold."""
    nodes = [n for n in core.list_node().items if (n.metadata.annotations or {}).get(SIMULATED) == "fake"]
    return len(nodes), sum(int(n.status.allocatable["pods"]) for n in nodes)


@pytest.fixture
def other_cohort_namespace(core):
    """A namespace of another cohort as provisioning leaves it (its labels and quota), made
    as cluster-admin from the platform's own builders."""
    slug, student = unique_name("other"), "s" + unique_name("x").replace("-", "")[:9]
    namespace = manifests.student_namespace_name(student)
    core.create_namespace(manifests.namespace(name=namespace, cohort=slug, student=student, ingress_host="x.invalid"))
    quota = manifests.resource_quota(namespace=namespace, cohort=slug, student=student, hard={"pods": "30"})
    core.create_namespaced_resource_quota(namespace, quota)
    yield slug
    delete_namespace(core, namespace)


@pytest.mark.local_cluster
def test_the_students_nodes_are_the_simulated_ones_and_the_workstation_node_is_left_out(core):
    nodes, pods = simulated_pods(core)
    capacity = pod_capacity(name="local")
    assert (capacity.student_nodes, capacity.allocatable_pods) == (nodes, pods)
    assert NodeLeftOut(name=REAL_NODE, reason="taint labplatform.io/workstations=true:NoSchedule") in capacity.left_out


def test_another_cohorts_namespace_claims_its_quotas_pods(other_cohort_namespace):
    assert pod_capacity(name="local").claims[other_cohort_namespace] == CohortClaim(namespaces=1, pods=30)


@pytest.mark.local_cluster
def test_a_cohort_that_fits_is_told_its_numbers(make_cohort, core, other_cohort_namespace):
    cohort = make_cohort(students=2)
    nodes, pods = simulated_pods(core)
    capacity = cohort_capacity(cohort=cohort)
    assert capacity.fits, capacity.message()
    # Other tests may hold namespaces of their own meanwhile; this one's are among them.
    assert capacity.others_namespaces >= 1 and capacity.others_pods >= 30
    assert capacity.message() == (
        f"This cohort may run 2 × 30 = 60 pods; other cohorts' {capacity.others_namespaces} namespaces on cluster "
        f"local may run {capacity.others_pods:,} more; the cluster's {nodes} nodes for students hold {pods:,}."
    )


@pytest.mark.local_cluster
def test_a_cohort_larger_than_the_cluster_is_warned_with_the_command_that_grows_it(make_cohort, core):
    _, pods = simulated_pods(core)
    students = pods // 30 + 1
    capacity = cohort_capacity(cohort=make_cohort(students=students))
    assert not capacity.fits
    assert capacity.cohort_pods == students * 30 > pods
    message = capacity.message()
    assert message.startswith(f"This cohort may run {students} × 30 = {students * 30:,} pods")
    assert f"That is {capacity.needed - pods:,} more than the nodes hold" in message
    assert message.endswith(f"To grow this local cluster to fit: k8s/local/cluster.sh fit {capacity.needed}")


def test_a_cluster_that_cannot_be_read_says_so(make_cohort, tmp_path):
    closed = write_token_kubeconfig(tmp_path / "kubeconfig", server="https://127.0.0.1:1")
    cohort = make_cohort(students=3, cluster="far-away")
    Cluster.objects.filter(name="far-away").update(kubeconfig_path=str(closed))
    cohort.refresh_from_db()
    capacity = cohort_capacity(cohort=cohort)
    assert not capacity.fits
    assert capacity.message() == (
        "This cohort may run 3 × 30 = 90 pods, but the capacity of cluster far-away could not be read "
        "(Node list: cluster 'far-away' is unreachable: connection refused), so whether they fit is not known."
    )


@pytest.fixture
def staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_user(username="root", is_staff=True))


def capacity_notice(html: str) -> tuple[str, str]:
    found = re.search(r'data-capacity="(\w+)">(.*?)</p>', html, re.DOTALL)
    assert found, "the cohort page says nothing of capacity"
    return found.group(1), found.group(2)


@pytest.mark.local_cluster
def test_the_cohort_page_shows_whether_it_fits(client, staff, make_cohort, core):
    small = make_cohort(students=1)
    state, text = capacity_notice(client.get(f"/staff/cohorts/{small.slug}/").content.decode())
    assert state == "fits" and text.startswith("This cohort may run 1 × 30 = 30 pods")
    _, pods = simulated_pods(core)
    large = make_cohort(students=pods // 30 + 1)
    state, text = capacity_notice(client.get(f"/staff/cohorts/{large.slug}/").content.decode())
    assert state == "short" and "k8s/local/cluster.sh fit" in text


@pytest.mark.local_cluster
def test_provisioning_a_cohort_larger_than_the_cluster_warns_and_still_provisions(client, staff, make_cohort, core):
    _, pods = simulated_pods(core)
    students = pods // 30 + 1
    cohort = make_cohort(students=students)
    try:
        page = client.post(f"/staff/cohorts/{cohort.slug}/provision/", follow=True).content.decode()
    finally:
        app.control.purge()  # no worker runs here: drop the queued provisionings
    messages = re.findall(r'<li class="(\w+)">(.*?)</li>', page, re.DOTALL)
    assert ("success", f"Provisioning {students} environment(s).") in messages
    warnings = [text for level, text in messages if level == "warning"]
    assert len(warnings) == 1 and warnings[0].startswith(
        f"This cohort may run {students} × 30 = {students * 30:,} pods"
    )


def test_provisioning_on_a_cluster_that_cannot_be_read_says_so(client, staff, make_cohort, tmp_path):
    closed = write_token_kubeconfig(tmp_path / "kubeconfig", server="https://127.0.0.1:1")
    cohort = make_cohort(students=1, cluster="far-away")
    Cluster.objects.filter(name="far-away").update(kubeconfig_path=str(closed))
    try:
        page = client.post(f"/staff/cohorts/{cohort.slug}/provision/", follow=True).content.decode()
    finally:
        app.control.purge()
    assert "the capacity of cluster far-away could not be read" in page
    assert "Traceback" not in page
