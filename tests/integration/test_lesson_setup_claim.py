"""A task's setup runs once, with no row locked while it calls the cluster: the request
that runs it claims it with one conditional UPDATE, and a second tab waits for that
claim instead of a lock. No cluster needed: the setup here only generates values."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from labplatform.cohorts.models import Cluster, Cohort, Enrollment
from labplatform.environments.models import StudentEnvironment
from lessons import services
from lessons.models import Course, Lesson, Task, TaskProgress
from tests.threads import in_thread

pytestmark = pytest.mark.django_db(transaction=True)

SETUP = {"values": {"word": {"generate": "word"}, "port": {"generate": "number"}}}


@pytest.fixture
def opening(django_user_model):
    """A student with a ready environment, and a task whose setup generates values."""
    course = Course.objects.create(slug="claim-course", title="Claims")
    lesson = Lesson.objects.create(course=course, slug="one", number="1.1", title="One", order=1, body_html="")
    task = Task.objects.create(
        lesson=lesson, slug="task", order=1, title="Task", instructions_html="", spec={"checks": [], "setup": SETUP}
    )
    cohort = Cohort.objects.create(
        name="Claims",
        slug="claims",
        course=course.slug,
        cluster=Cluster.objects.get_or_create(name="local", defaults={"is_local": True})[0],
    )
    enrollment = Enrollment.objects.create(user=django_user_model.objects.create_user(username="ada"), cohort=cohort)
    StudentEnvironment.objects.create(
        enrollment=enrollment, namespace=f"lab-{enrollment.student_id}", state=StudentEnvironment.State.READY
    )
    return Enrollment.objects.select_related("cohort__cluster", "environment").get(pk=enrollment.pk), task


def test_two_tabs_opening_at_once_run_the_setup_once(opening):
    enrollment, task = opening
    start, results = threading.Barrier(2), []

    def open_task():
        start.wait()
        return services.task_open(enrollment=enrollment, task=task).setup_data

    threads = [in_thread(open_task, results) for _ in range(2)]
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 2
    assert results[0] == results[1], "each tab ran its own setup"
    assert set(results[0]["values"]) == {"word", "port"}
    assert TaskProgress.objects.get(enrollment=enrollment, task=task).setup_claimed_at is not None


def test_a_second_tab_waits_for_the_first_ones_setup_and_holds_no_lock(opening):
    enrollment, task = opening
    progress = TaskProgress.objects.create(enrollment=enrollment, task=task)
    # The first tab is running the setup (its claim is live).
    TaskProgress.objects.filter(pk=progress.pk).update(setup_claimed_at=timezone.now())
    results = []
    second = in_thread(lambda: services.task_open(enrollment=enrollment, task=task), results)
    # While the second tab waits, nothing holds the row: another transaction locks it at once.
    with transaction.atomic():
        locked = TaskProgress.objects.select_for_update(nowait=True).get(pk=progress.pk)
        assert locked.setup_done_at is None
    assert second.is_alive(), "the second tab did not wait for the first one's setup"
    first = {"values": {"word": "first-tab", "port": "1234"}, "baseline": {}}
    TaskProgress.objects.filter(pk=progress.pk).update(setup_data=first, setup_done_at=timezone.now())
    second.join(timeout=30)
    assert [opened.setup_data for opened in results] == [first]


def test_a_claim_left_by_a_request_that_died_expires(opening):
    enrollment, task = opening
    progress = TaskProgress.objects.create(enrollment=enrollment, task=task)
    stale = timezone.now() - services.SETUP_CLAIM - timedelta(seconds=1)
    TaskProgress.objects.filter(pk=progress.pk).update(setup_claimed_at=stale)
    opened = services.task_open(enrollment=enrollment, task=task)
    assert opened.setup_done_at is not None
    assert set(opened.setup_data["values"]) == {"word", "port"}
    assert connection.in_atomic_block is False
