"""A student's drill-down pages their Checks, newest first, for every task or one, in a
fixed number of queries however many they pressed; a bad page or task gets a clear answer,
never a 500. Older attempts' evidence is dropped (lessons/grading/retention.py), and the
page says so while counts and grades still add up. Real PostgreSQL; no cluster (the
student's environment is not ready, so nothing is read from one)."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from labplatform.cohorts.models import Cluster, Cohort, Enrollment
from labplatform.environments.models import StudentEnvironment
from labplatform.teaching.student_drilldown import ATTEMPTS_PER_PAGE
from lessons.grading.evidence import results_stored
from lessons.grading.retention import evidence_drop_older
from lessons.models import Attempt, Course, Lesson, Task, TaskProgress

pytestmark = pytest.mark.django_db


@pytest.fixture
def room(django_user_model):
    course = Course.objects.create(slug="paging-course", title="Paging")
    lesson = Lesson.objects.create(course=course, slug="l1", number="1.1", title="One", order=1, body_html="")
    tasks = [
        Task.objects.create(lesson=lesson, slug=f"t{n}", order=n, title=f"Task {n}", instructions_html="")
        for n in range(2)
    ]
    cohort = Cohort.objects.create(
        name="Paging", slug="paging", course=course.slug, cluster=Cluster.objects.get(name="local")
    )

    def enrol(username, role=Enrollment.Role.STUDENT):
        user = django_user_model.objects.create_user(username=username, email=f"{username}@example.com")
        return Enrollment.objects.create(user=user, cohort=cohort, role=role)

    student = enrol("ada")
    StudentEnvironment.objects.create(enrollment=student, namespace="lab-ada", state="failed")
    instructor = enrol("teacher", Enrollment.Role.INSTRUCTOR).user
    return {"cohort": cohort, "tasks": tasks, "student": student, "instructor": instructor}


def checks(enrollment, task, count: int, *, start: int = 0) -> TaskProgress:
    """`count` failed Checks on the task, a minute apart, numbered from `start` in their messages."""
    progress, _ = TaskProgress.objects.get_or_create(enrollment=enrollment, task=task)
    base = timezone.now() - timedelta(days=1)
    for n in range(start, start + count):
        Attempt.objects.create(
            progress=progress,
            state=Attempt.State.FAILED,
            message=f"check number {n}",
            results=results_stored(
                [{"title": "replicas", "status": "failed", "message": f"found {n}", "evidence": {"count": n}}]
            ),
            created_at=base + timedelta(minutes=n),
            finished_at=base + timedelta(minutes=n),
        )
    progress.attempts_count += count
    progress.state = TaskProgress.State.FAILED
    progress.save()
    return progress


def page_of(client, room, query: str = ""):
    url = f"/teach/{room['cohort'].slug}/students/{room['student'].student_id}/{query}"
    return client.get(url)


def numbers(response) -> list[int]:
    return [int(n) for n in re.findall(r"check number (\d+)", response.content.decode())]


def test_checks_are_paged_newest_first_with_newer_and_older_links(room, client):
    first, second = room["tasks"]
    checks(room["student"], first, 45)
    checks(room["student"], second, 3, start=45)
    client.force_login(room["instructor"])

    page = page_of(client, room)
    assert page.status_code == 200
    assert numbers(page) == list(range(47, 27, -1))
    text = page.content.decode()
    assert "1\N{EN DASH}20 of 48" in text and "page 1 of 3" in text
    assert 'href="?page=2#checks" rel="next">Older →' in text and "← Newer" not in text

    page = page_of(client, room, "?page=2")
    assert numbers(page) == list(range(27, 7, -1))
    assert 'href="?page=1#checks" rel="prev">← Newer' in page.content.decode()

    page = page_of(client, room, "?page=3")
    assert numbers(page) == list(range(7, -1, -1))
    assert "41\N{EN DASH}48 of 48" in page.content.decode() and "Older →" not in page.content.decode()

    # One task's Checks only, paged the same way.
    page = page_of(client, room, f"?task={second.pk}")
    assert numbers(page) == [47, 46, 45]
    assert "1\N{EN DASH}3 of 3" in page.content.decode()
    page = page_of(client, room, f"?task={first.pk}&page=3")
    assert numbers(page) == [4, 3, 2, 1, 0]
    assert f'href="?task={first.pk}&amp;page=2#checks" rel="prev"' in page.content.decode()


def test_each_task_regrades_its_own_latest_check_whatever_page_it_is_on(room, client):
    first, second = room["tasks"]
    checks(room["student"], second, 2)
    checks(room["student"], first, 30, start=2)
    client.force_login(room["instructor"])
    text = page_of(client, room).content.decode()
    latest = {
        task: Attempt.objects.filter(progress__task=task).order_by("-created_at").first().pk for task in (first, second)
    }
    base = f"/teach/{room['cohort'].slug}/students/{room['student'].student_id}/attempts/"
    # The second task's Checks are all on page 3; its button is still on page 1.
    assert numbers(page_of(client, room)) == list(range(31, 11, -1))
    for task, attempt in latest.items():
        assert f'action="{base}{attempt}/regrade/"' in text, task.title


def test_the_page_takes_a_fixed_number_of_queries_however_many_checks(room, client):
    first, second = room["tasks"]
    client.force_login(room["instructor"])
    checks(room["student"], first, 3)
    page_of(client, room)  # the session and the like, loaded once
    with CaptureQueriesContext(connection) as few:
        assert page_of(client, room).status_code == 200
    checks(room["student"], first, 400, start=3)
    checks(room["student"], second, 100, start=403)
    with CaptureQueriesContext(connection) as many:
        page = page_of(client, room, "?page=7")
    assert page.status_code == 200
    assert len(numbers(page)) == ATTEMPTS_PER_PAGE
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
    assert len(many) <= 12


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("?page=abc", 400, "Page &#x27;abc&#x27; is not a page number: the 25 Checks listed here are on pages 1 to 2."),
        ("?page=-1", 400, "Page &#x27;-1&#x27; is not a page number"),
        ("?page=0", 404, "There is no page 0: the 25 Checks listed here are on pages 1 to 2."),
        ("?page=3", 404, "There is no page 3: the 25 Checks listed here are on pages 1 to 2."),
        ("?page=99999999999999999999", 400, "is not a page number"),
        ("?page=%3Cb%3Ex%3C/b%3E", 400, "Page &#x27;&lt;b&gt;x&lt;/b&gt;&#x27; is not a page number"),
        ("?task=web", 400, "Task &#x27;web&#x27; is not a task number."),
        ("?task=999999", 404, "There is no task 999999 in this cohort&#x27;s course."),
    ],
)
def test_a_bad_page_or_task_gets_a_clear_answer(room, client, query, status, message):
    checks(room["student"], room["tasks"][0], 25)
    client.force_login(room["instructor"])
    response = page_of(client, room, query)
    assert response.status_code == status
    text = response.content.decode()
    assert message in text
    assert "Traceback" not in text
    assert f'href="/teach/{room["cohort"].slug}/students/{room["student"].student_id}/"' in text


def test_a_task_of_another_course_is_no_task_here(room, client):
    other = Course.objects.create(slug="other-course", title="Other")
    lesson = Lesson.objects.create(course=other, slug="o", number="9", title="O", order=1, body_html="")
    foreign = Task.objects.create(lesson=lesson, slug="x", order=1, title="Foreign", instructions_html="")
    client.force_login(room["instructor"])
    response = page_of(client, room, f"?task={foreign.pk}")
    assert response.status_code == 404
    assert f"There is no task {foreign.pk} in this cohort" in response.content.decode()


def test_a_student_without_checks_has_one_empty_page(room, client):
    client.force_login(room["instructor"])
    page = page_of(client, room)
    assert page.status_code == 200 and "No Checks yet." in page.content.decode()
    assert page_of(client, room, "?page=1").status_code == 200
    assert page_of(client, room, "?page=2").status_code == 404


def test_older_attempts_lose_evidence_only_and_the_counts_still_add_up(room, client, settings):
    settings.LESSONS_EVIDENCE_ATTEMPTS = 3
    task = room["tasks"][0]
    progress = checks(room["student"], task, 8)
    pending = Attempt.objects.filter(progress=progress).order_by("created_at").first()
    Attempt.objects.filter(pk=pending.pk).update(state=Attempt.State.PENDING)
    assert evidence_drop_older(progress_id=progress.pk) == 4  # 8 - 3 kept - 1 pending
    assert evidence_drop_older(progress_id=progress.pk) == 0
    rows = list(Attempt.objects.filter(progress=progress).order_by("-created_at"))
    assert [row.evidence_dropped for row in rows] == [False] * 3 + [True] * 4 + [False]
    assert [row.results[0]["evidence"] for row in rows[:3]] == [{"count": 7}, {"count": 6}, {"count": 5}]
    for row in rows[3:7]:
        assert row.results == [
            {"title": "replicas", "status": "failed", "message": f"found {row.message.split()[-1]}", "evidence": {}}
        ]
        assert row.state == Attempt.State.FAILED
    assert rows[7].results[0]["evidence"] == {"count": 0}
    assert len(rows) == TaskProgress.objects.get(pk=progress.pk).attempts_count == 8

    client.force_login(room["instructor"])
    text = page_of(client, room).content.decode()
    assert text.count("Evidence dropped: only a task's latest 3 Checks keep what they read.") == 4
    assert "1\N{EN DASH}8 of 8" in text and ">8 Checks</a>" in text
    board = client.get(f"/teach/{room['cohort'].slug}/").context["board"]
    (row,) = board.rows
    assert (row.cells[0].state, row.cells[0].attempts) == ("failed", 8)
    (worst,) = [t for t in board.most_failed if t.column.task_id == task.pk]
    # Every failed attempt still counts, and its failing message with it.
    assert worst.failed_attempts == 7
