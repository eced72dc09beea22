"""Check → Attempt → a real Celery worker grades it against the real cluster → the result
is stored once and pushed to the student's page."""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from kubernetes import client

from labplatform.push import user_group
from lessons.models import Attempt, TaskProgress
from lessons.services import attempt_create, task_open
from tests.kube import wait_for
from tests.lessons_rows import course_with_task, deployment
from tests.terminals import provision_ready

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.local_cluster]


@pytest.fixture
def student(make_cohort):
    cohort = make_cohort(students=1)
    (enrollment,) = provision_ready(cohort)
    enrollment.refresh_from_db()
    return enrollment


def finished(attempt: Attempt, timeout: float = 60) -> Attempt:
    def done():
        attempt.refresh_from_db()
        return attempt if attempt.state != Attempt.State.PENDING else None

    return wait_for(f"attempt {attempt.pk} graded", done, timeout=timeout)


async def received(layer, channel: str, count: int) -> list[dict]:
    """The next `count` events pushed to the channel (one event loop for all: the layer
    buffers per loop)."""
    return [(await asyncio.wait_for(layer.receive(channel), 30))["event"] for _ in range(count)]


@pytest.mark.usefixtures("celery_worker_process")
def test_a_check_is_graded_by_the_worker_and_pushed_to_the_students_page(student, kube, settings):
    settings.LESSONS_CHECK_INTERVAL_SECONDS = 0  # two Checks in a row, without waiting
    task = course_with_task()
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(user_group(student.user_id), channel)

    task_open(enrollment=student, task=task)
    failing = finished(attempt_create(enrollment=student, task=task, answers=[]))
    assert failing.state == Attempt.State.FAILED
    assert failing.results[0]["message"] == "Deployment web: not found in namespace " + student.environment.namespace

    client.AppsV1Api(kube).create_namespaced_deployment(student.environment.namespace, deployment(replicas=3))
    namespace = student.environment.namespace
    wait_for(
        "web's pods Ready",
        lambda: (
            client.AppsV1Api(kube).read_namespaced_deployment(name="web", namespace=namespace).status.ready_replicas
            == 3
        ),
    )
    passing = finished(attempt_create(enrollment=student, task=task, answers=[]))
    assert passing.state == Attempt.State.PASSED, passing.results

    pushed = async_to_sync(received)(layer, channel, 2)
    assert [(e["id"], e["state"]) for e in pushed] == [(failing.pk, "failed"), (passing.pk, "passed")]
    assert pushed[1]["progress"]["state"] == "passed"
    progress = TaskProgress.objects.get(enrollment=student, task=task)
    assert (progress.state, progress.attempts_count) == (TaskProgress.State.PASSED, 2)
    assert progress.first_passed_at == passing.finished_at
