"""Which nodes count for students, what a quota claims, and the admin's words for each
case, on plain values (the reads themselves: tests/integration/test_cohort_capacity.py)."""

from labplatform.cluster.capacity import NodeLeftOut, allocatable_pods, node_left_out, quota_pods
from labplatform.environments.capacity import CohortCapacity


def node(name: str = "n1", *, spec: dict | None = None, pods: str | None = "110") -> dict:
    status = {"allocatable": {"pods": pods}} if pods is not None else {}
    return {"metadata": {"name": name}, "spec": spec or {}, "status": status}


def test_a_cordoned_or_repelling_node_is_left_out_with_its_reason():
    assert node_left_out(node()) is None
    assert node_left_out(node(spec={"unschedulable": True})) == NodeLeftOut(name="n1", reason="cordoned")
    tainted = node(spec={"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]})
    assert node_left_out(tainted) == NodeLeftOut(name="n1", reason="taint node.kubernetes.io/not-ready:NoExecute")
    # PreferNoSchedule only steers the scheduler: students' pods may still land there.
    assert node_left_out(node(spec={"taints": [{"key": "k", "value": "v", "effect": "PreferNoSchedule"}]})) is None


def test_pods_are_read_as_quantities():
    assert allocatable_pods(node(pods="1k")) == 1000
    assert allocatable_pods(node(pods=None)) == 0
    assert allocatable_pods(node(pods="lots")) == 0
    assert quota_pods({"spec": {"hard": {"pods": "30"}}}) == 30
    assert quota_pods({"status": {"hard": {"pods": "20"}}, "spec": {"hard": {"pods": "30"}}}) == 20
    assert quota_pods({"spec": {"hard": {"cpu": "4"}}}) is None


def capacity(**changes) -> CohortCapacity:
    values = {
        "cluster": "prod",
        "local": False,
        "students": 45,
        "pods_per_student": 30,
        "workstations_beside": False,
        "cluster_pods": 1200,
        "student_nodes": 3,
    }
    return CohortCapacity(**{**values, **changes})


def test_a_remote_cluster_too_small_is_told_to_add_nodes():
    short = capacity()
    assert not short.fits
    assert short.message() == (
        "This cohort may run 45 × 30 = 1,350 pods; the cluster's 3 nodes for students hold 1,200. "
        "That is 150 more than the nodes hold: past what the nodes hold, pods stay Pending, this cohort's and "
        "everyone else's. Add nodes for students before provisioning."
    )


def test_workstations_on_the_students_nodes_count_one_pod_each():
    beside = capacity(students=10, workstations_beside=True, others_pods=62, others_namespaces=2)
    assert beside.cohort_pods == 310 and beside.needed == 372 and beside.fits
    assert beside.message() == (
        "This cohort may run 10 × (30 + 1 workstation) = 310 pods; other cohorts' 2 namespaces on cluster prod "
        "may run 62 more; the cluster's 3 nodes for students hold 1,200."
    )


def test_a_preset_or_namespace_without_a_pod_limit_cannot_be_said_to_fit():
    unlimited = capacity(pods_per_student=None)
    assert not unlimited.fits
    assert unlimited.message().startswith(
        "This cohort's quota preset sets no pod limit, so its 45 students may run any number of pods;"
    )
    others = capacity(students=1, others_unbounded=2, others_namespaces=2, local=True)
    assert not others.fits
    assert "2 other namespaces there have no pod limit" in others.message()
    assert "k8s/local/cluster.sh fit" not in others.message()  # no number of pods would be enough
