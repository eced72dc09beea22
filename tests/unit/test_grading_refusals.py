"""Whether a ReplicaSet short of pods was refused them, from its events (no cluster:
the reads are given)."""

from lessons.grading.readiness import Broken, replica_set_refused


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
