"""Whether a ReplicaSet short of pods was refused them, from its events (no cluster:
the reads are given)."""

import pytest

from lessons.grading.readiness import Broken, Ready, Waiting, deployment_state, replica_set_refused


class GivenEvents:
    def __init__(self, events: list[dict]) -> None:
        self.events = events

    def events_about(self, obj: dict) -> list[dict]:
        return self.events


def short_replica_set() -> dict:
    return {"metadata": {"name": "web-1"}, "spec": {"replicas": 3}, "status": {"replicas": 2}}


def event(reason: str, at: str) -> dict:
    return {"reason": reason, "lastTimestamp": at, "message": f"{reason} at {at}", "metadata": {}}


def test_a_refusal_after_the_last_created_pod_is_reported():
    reads = GivenEvents(
        [event("SuccessfulCreate", "2026-11-30T10:00:00Z"), event("FailedCreate", "2026-11-30T10:05:00Z")]
    )
    refused = replica_set_refused(short_replica_set(), reads)
    assert isinstance(refused, Broken)
    assert refused.message == "ReplicaSet web-1 cannot create pods: FailedCreate at 2026-11-30T10:05:00Z"


def test_a_refusal_from_an_earlier_surge_is_old_news_once_pods_were_created_since():
    reads = GivenEvents(
        [event("FailedCreate", "2026-11-30T10:00:00Z"), event("SuccessfulCreate", "2026-11-30T10:05:00Z")]
    )
    assert replica_set_refused(short_replica_set(), reads) is None


def test_a_replica_set_with_all_its_pods_was_not_refused():
    full = short_replica_set() | {"status": {"replicas": 3}}
    assert replica_set_refused(full, GivenEvents([event("FailedCreate", "2026-11-30T10:05:00Z")])) is None


class NoReads:
    """Fails the test if the cluster would be read."""

    def __getattr__(self, name: str):
        raise AssertionError(f"the cluster was read ({name})")


def deployment_with(status: dict) -> dict:
    return {"metadata": {"name": "web", "generation": 2}, "spec": {"replicas": 3}, "status": status}


ROLLED_OUT = {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3}


def test_a_deployment_that_says_it_rolled_out_is_ready_without_reading_its_pods():
    assert isinstance(deployment_state(deployment_with(ROLLED_OUT), NoReads()), Ready)


@pytest.mark.parametrize(
    "change",
    [
        {"replicas": 4},  # an old pod is still there
        {"updatedReplicas": 2},  # mid-rollout
        {"readyReplicas": 2},
        {"unavailableReplicas": 1},
    ],
)
def test_a_deployment_not_yet_rolled_out_has_its_replica_sets_read(change):
    class NoReplicaSets:
        def owned_by(self, obj: dict, *, api_version: str, kind: str) -> list[dict]:
            return []

    state = deployment_state(deployment_with(ROLLED_OUT | change), NoReplicaSets())
    assert state == Waiting("Deployment web: waiting for its ReplicaSet to be created")


def test_pods_ready_before_the_deployment_counts_them_is_waiting_not_ready():
    """Checks read the Deployment's status: until its controller has counted the Ready pods
    (readyReplicas short for a moment), the verdict waits."""
    deployment = deployment_with(ROLLED_OUT | {"readyReplicas": 2, "availableReplicas": 2})
    deployment["metadata"] |= {"uid": "d", "annotations": {"deployment.kubernetes.io/revision": "1"}}
    replica_set = {
        "metadata": {"name": "web-1", "uid": "r", "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {"replicas": 3},
        "status": {"replicas": 3},
    }
    ready = {"type": "Ready", "status": "True"}
    pods = [{"metadata": {"name": f"web-1-{n}"}, "status": {"conditions": [ready]}} for n in range(3)]

    class Reads:
        def owned_by(self, obj: dict, *, api_version: str, kind: str) -> list[dict]:
            return [replica_set] if kind == "ReplicaSet" else pods

        def events_about(self, obj: dict) -> list[dict]:
            return []

    state = deployment_state(deployment, Reads())
    assert state == Waiting("Deployment web: waiting for the Deployment controller to count its ready pods")
