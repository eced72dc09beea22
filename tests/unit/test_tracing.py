"""The platform's trace hooks: nothing is recorded unless a recorder is installed, and then
every step, its detail, and a step that raised, with what the platform's code returns or
raises unchanged."""

import pytest

from bench.spans import recording
from labplatform import tracing
from labplatform.cohorts.models import Cluster, Cohort, Enrollment
from labplatform.environments.models import StudentEnvironment
from labplatform.environments.steps import environment_spec


@tracing.traced("test.halve")
def halve(n: int) -> float:
    if n < 0:
        raise ValueError("negative")
    return n / 2


def unsaved_environment() -> StudentEnvironment:
    cohort = Cohort(slug="c-tracing", name="Tracing", cluster=Cluster(name="local", is_local=True))
    return StudentEnvironment(enrollment=Enrollment(cohort=cohort, student_id="stracing"))


def test_off_by_default_the_hooks_record_nothing_and_change_nothing():
    with recording() as recorder:
        pass  # installed, then removed
    assert halve(4) == 2
    with tracing.span("test.block", "detail"):
        pass
    assert recorder.take() == []


def test_a_recorder_sees_each_step_with_its_detail_and_steps_that_raise():
    with recording() as recorder:
        assert halve(4) == 2
        with tracing.span("test.block", "Pod"):
            pass
        with pytest.raises(ValueError, match="negative"):
            halve(-1)
    events = recorder.take()
    assert [event["l"] for event in events] == ["test.halve", "test.block Pod", "test.halve"]
    assert all(event["t1"] >= event["t0"] and event["cpu"] >= 0 for event in events)


def test_the_platforms_own_steps_are_recorded_where_they_run():
    with recording() as recorder:
        spec = environment_spec(unsaved_environment())
    assert spec.student == "stracing"
    assert [event["l"] for event in recorder.take()] == ["environment.spec"]


def test_the_task_a_thread_works_on_is_on_its_steps_and_is_a_step_itself():
    with recording() as recorder:
        recorder.task_begin("task-1")
        halve(2)
        recorder.task_end("task halving")
        halve(2)
    events = recorder.take()
    assert [(event["l"], event["task"]) for event in events] == [
        ("test.halve", "task-1"),
        ("task halving", "task-1"),
        ("test.halve", None),
    ]
    assert events[1]["t0"] <= events[0]["t0"] <= events[0]["t1"] <= events[1]["t1"]
