"""A cohort's end: staff extend it or end it after a warning; its students are warned on
every page first; the beat task ends it and tears down its environments on the real
cluster, once."""

import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from kubernetes import client as kube_client

from labplatform.celery import app
from labplatform.cohorts.models import Cohort
from labplatform.environments import services as environments
from labplatform.environments.lifecycle import (
    END_OF_DAY,
    LifecycleRefused,
    cohort_end,
    cohort_extend,
    cohorts_ended_teardown,
    end_of,
)
from labplatform.environments.models import StudentEnvironment
from tests.cohorts import wait_for_environments
from tests.kube import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
State = StudentEnvironment.State
WARNING = "your namespace and terminal will be removed then. Your grades are kept."


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_user(username="root", is_staff=True)
    client.force_login(user)
    return user


def student_of(cohort, django_user_model):
    return django_user_model.objects.get(username=f"{cohort.slug}-student-0")


def ends_in(cohort: Cohort, delta: timedelta) -> Cohort:
    Cohort.objects.filter(pk=cohort.pk).update(ends_at=timezone.now() + delta)
    cohort.refresh_from_db()
    return cohort


def test_extending_to_a_past_date_is_refused_with_a_message(client, staff, make_cohort):
    cohort = ends_in(make_cohort(students=1), timedelta(days=2))
    before = cohort.ends_at
    yesterday = timezone.localdate() - timedelta(days=1)
    page = client.post(f"/staff/cohorts/{cohort.slug}/extend/", {"ends_on": yesterday.isoformat()}, follow=True)
    assert f"The new end date must be in the future; {yesterday.isoformat()} is not." in page.content.decode()
    cohort.refresh_from_db()
    assert cohort.ends_at == before


@pytest.mark.parametrize("ends_on", ["", "next week", "2026-02-30"])
def test_extending_without_a_date_says_what_is_wrong(client, staff, make_cohort, ends_on):
    cohort = make_cohort(students=1)
    page = client.post(f"/staff/cohorts/{cohort.slug}/extend/", {"ends_on": ends_on}, follow=True)
    assert "Choose the new end date, as YYYY-MM-DD." in page.content.decode()
    cohort.refresh_from_db()
    assert cohort.ends_at is None


def test_extending_to_a_future_date_moves_the_end_to_the_end_of_that_day(client, staff, make_cohort):
    cohort = ends_in(make_cohort(students=1), timedelta(hours=2))
    new_end = timezone.localdate() + timedelta(days=10)
    page = client.post(f"/staff/cohorts/{cohort.slug}/extend/", {"ends_on": new_end.isoformat()}, follow=True)
    cohort.refresh_from_db()
    assert cohort.ends_at == end_of(new_end)
    assert timezone.localtime(cohort.ends_at).time() == END_OF_DAY
    assert f"{cohort.name} now ends on" in page.content.decode()


def test_end_now_warns_the_students_at_once_and_ends_after_the_warning_period(
    client, staff, make_cohort, django_user_model
):
    cohort = make_cohort(students=1)
    student = student_of(cohort, django_user_model)
    client.force_login(student)
    assert WARNING not in client.get("/").content.decode()

    client.force_login(staff)
    page = client.post(f"/staff/cohorts/{cohort.slug}/end/", follow=True)
    assert "its students are warned now" in page.content.decode()
    cohort.refresh_from_db()
    expected = timezone.now() + timedelta(hours=settings.ENDING_WARNING_HOURS)
    assert abs(cohort.ends_at - expected) < timedelta(minutes=1)
    assert cohort.state == Cohort.State.ACTIVE  # ended by the beat task, after the warning

    client.force_login(student)
    html = client.get("/").content.decode()
    assert "This cohort ends on" in html and WARNING in html


def test_end_now_keeps_an_end_that_is_already_sooner(client, staff, make_cohort):
    cohort = ends_in(make_cohort(students=1), timedelta(hours=1))
    before = cohort.ends_at
    client.post(f"/staff/cohorts/{cohort.slug}/end/")
    cohort.refresh_from_db()
    assert cohort.ends_at == before


def test_the_warning_appears_within_the_warning_window_and_not_before(client, make_cohort, django_user_model):
    cohort = make_cohort(students=1)
    client.force_login(student_of(cohort, django_user_model))
    window = timedelta(hours=settings.ENDING_WARNING_HOURS)

    ends_in(cohort, window + timedelta(minutes=5))
    assert WARNING not in client.get("/").content.decode()

    ends_in(cohort, window - timedelta(minutes=5))
    html = client.get("/").content.decode()
    assert WARNING in html
    assert f"This cohort ends on {timezone.localtime(cohort.ends_at):%A}" in html


def test_the_warning_window_follows_the_setting(client, make_cohort, django_user_model, settings):
    settings.ENDING_WARNING_HOURS = 72
    cohort = ends_in(make_cohort(students=1), timedelta(hours=48))
    client.force_login(student_of(cohort, django_user_model))
    assert WARNING in client.get("/").content.decode()


def test_the_staff_page_shows_the_dates_and_the_warning(client, staff, make_cohort):
    cohort = ends_in(make_cohort(students=1), timedelta(hours=3))
    html = client.get(f"/staff/cohorts/{cohort.slug}/").content.decode()
    assert ">Starts</dt>" in html and ">Ends</dt>" in html
    assert 'data-lifecycle="warning"' in html
    assert f'action="/staff/cohorts/{cohort.slug}/extend/"' in html and 'type="date"' in html
    assert f'action="/staff/cohorts/{cohort.slug}/end/"' in html


def test_students_and_instructors_may_not_change_the_dates(client, make_cohort, django_user_model):
    cohort = make_cohort(students=1, instructors=1)
    for role in ("student", "instructor"):
        client.force_login(django_user_model.objects.get(username=f"{cohort.slug}-{role}-0"))
        later = (timezone.localdate() + timedelta(days=3)).isoformat()
        assert client.post(f"/staff/cohorts/{cohort.slug}/extend/", {"ends_on": later}).status_code == 302
        assert client.post(f"/staff/cohorts/{cohort.slug}/end/").status_code == 302
    cohort.refresh_from_db()
    assert cohort.ends_at is None


def test_the_beat_schedule_runs_the_teardown_task():
    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"].endswith("cohorts_ended_teardown"))
    assert entry["task"] in app.tasks


def test_a_cohort_not_yet_due_or_already_ended_is_left_alone(make_cohort):
    soon = ends_in(make_cohort(students=1), timedelta(minutes=5))
    ended = ends_in(make_cohort(students=1), -timedelta(days=1))
    Cohort.objects.filter(pk=ended.pk).update(state=Cohort.State.ENDED)
    enrollment = ended.enrollments.get()
    StudentEnvironment.objects.create(
        enrollment=enrollment, namespace=f"lab-{enrollment.student_id}", state=State.READY
    )
    assert cohorts_ended_teardown() == []
    assert cohort_end(cohort_id=soon.pk) is None
    soon.refresh_from_db()
    assert soon.state == Cohort.State.ACTIVE
    assert StudentEnvironment.objects.get(enrollment=enrollment).state == State.READY


def test_extending_an_overdue_cohort_keeps_it_running(client, staff, make_cohort):
    cohort = ends_in(make_cohort(students=1), -timedelta(minutes=1))
    assert 'data-lifecycle="overdue"' in client.get(f"/staff/cohorts/{cohort.slug}/").content.decode()
    later = timezone.localdate() + timedelta(days=1)
    client.post(f"/staff/cohorts/{cohort.slug}/extend/", {"ends_on": later.isoformat()})
    assert cohorts_ended_teardown() == []
    cohort.refresh_from_db()
    assert cohort.state == Cohort.State.ACTIVE and cohort.ends_at == end_of(later)


def test_extending_a_cohort_marked_ended_by_hand_reopens_it(client, staff, make_cohort):
    cohort = make_cohort(students=1)
    Cohort.objects.filter(pk=cohort.pk).update(state=Cohort.State.ENDED, ends_at=timezone.now())
    later = timezone.localdate() + timedelta(days=2)
    client.post(f"/staff/cohorts/{cohort.slug}/extend/", {"ends_on": later.isoformat()})
    cohort.refresh_from_db()
    assert cohort.state == Cohort.State.ACTIVE and cohort.ends_at == end_of(later)


def first_holds_the_lock(first, second) -> tuple:
    """Runs `first` in a transaction that stays open until `second`, in another thread,
    has had time to block on the cohort's row; returns both results (or refusals)."""
    results: dict[str, object] = {}
    holding = threading.Event()

    def call(name, function):
        try:
            results[name] = function()
        except LifecycleRefused as refused:
            results[name] = refused

    def run_first():
        try:
            with transaction.atomic():
                call("first", first)
                holding.set()
                time.sleep(1)  # the second is now waiting on the row lock
        finally:
            connection.close()

    def run_second():
        holding.wait(timeout=10)
        try:
            call("second", second)
        finally:
            connection.close()

    threads = [threading.Thread(target=run_first), threading.Thread(target=run_second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results["first"], results["second"]


def overdue_with_an_environment(make_cohort) -> Cohort:
    cohort = ends_in(make_cohort(students=1), -timedelta(seconds=1))
    enrollment = cohort.enrollments.get()
    StudentEnvironment.objects.create(
        enrollment=enrollment, namespace=f"lab-{enrollment.student_id}", state=State.READY
    )
    return cohort


# The worker tears down the rows' namespaces, which were never made: a 404 is success.
@pytest.mark.usefixtures("celery_worker_process")
def test_an_extend_waiting_on_the_beat_task_is_refused_once_it_tore_the_cohort_down(make_cohort):
    cohort = overdue_with_an_environment(make_cohort)
    later = timezone.localdate() + timedelta(days=1)
    ended, extended = first_holds_the_lock(
        lambda: cohort_end(cohort_id=cohort.pk), lambda: cohort_extend(cohort=cohort, ends_on=later)
    )
    assert ended == 1
    assert isinstance(extended, LifecycleRefused) and "environments were removed" in str(extended)
    cohort.refresh_from_db()
    assert cohort.state == Cohort.State.ENDED


def test_the_beat_task_waiting_on_an_extend_leaves_the_cohort_running(make_cohort):
    cohort = overdue_with_an_environment(make_cohort)
    later = timezone.localdate() + timedelta(days=1)
    extended, ended = first_holds_the_lock(
        lambda: cohort_extend(cohort=cohort, ends_on=later), lambda: cohort_end(cohort_id=cohort.pk)
    )
    assert extended == end_of(later) and ended is None
    cohort.refresh_from_db()
    assert cohort.state == Cohort.State.ACTIVE and cohort.ends_at == end_of(later)
    assert StudentEnvironment.objects.get(enrollment__cohort=cohort).state == State.READY


@pytest.mark.usefixtures("celery_worker_process")
def test_the_beat_task_ends_a_due_cohort_and_tears_its_environments_down_once(
    client, staff, make_cohort, kube, django_user_model
):
    cohort = make_cohort(students=2)
    environments.cohort_provision(cohort=cohort)
    wait_for_environments(cohort, State.READY, 2)
    namespaces = list(StudentEnvironment.objects.filter(enrollment__cohort=cohort).values_list("namespace", flat=True))
    ends_in(cohort, -timedelta(seconds=1))

    # Through the real worker, as beat queues it; the second run finds nothing to do.
    assert cohort.pk in cohorts_ended_teardown.delay().get(timeout=60)
    assert cohort.pk not in cohorts_ended_teardown.delay().get(timeout=60)
    cohort.refresh_from_db()
    assert cohort.state == Cohort.State.ENDED

    wait_for_environments(cohort, State.DELETED, 2)
    core = kube_client.CoreV1Api(kube)
    for namespace in namespaces:
        wait_for(f"namespace {namespace} gone", lambda ns=namespace: not core.list_namespace(
            field_selector=f"metadata.name={ns}").items)  # fmt: skip
    assert cohorts_ended_teardown() == []

    html = client.get(f"/staff/cohorts/{cohort.slug}/").content.decode()
    assert 'data-lifecycle="ended"' in html and "This cohort ended on" in html
    assert f'action="/staff/cohorts/{cohort.slug}/extend/"' not in html

    later = (timezone.localdate() + timedelta(days=3)).isoformat()
    page = client.post(f"/staff/cohorts/{cohort.slug}/extend/", {"ends_on": later}, follow=True)
    assert "has ended and its environments were removed" in page.content.decode()
    page = client.post(f"/staff/cohorts/{cohort.slug}/provision/", follow=True)
    assert "has ended" in page.content.decode()
    assert not StudentEnvironment.objects.filter(enrollment__cohort=cohort).exclude(state=State.DELETED).exists()

    client.force_login(student_of(cohort, django_user_model))
    assert "This cohort ended on" in client.get("/").content.decode()
