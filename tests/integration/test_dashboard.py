"""The instructor dashboard on a seeded cohort: the heatmap, the summary numbers and the CSV
export agree; the page takes a fixed number of queries at 500 students x 40 tasks; and
only the cohort's instructors and staff see any of it."""

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from labplatform.cohorts.models import Cluster, Cohort, Enrollment
from labplatform.teaching.sample_activity import cohort_sample_activity
from labplatform.terminal.models import TerminalActivity
from lessons.models import Attempt, Course, Lesson, PageActivity, StaffAction, Task, TaskProgress

pytestmark = pytest.mark.django_db


def make_course(slug: str, *, lessons: int, tasks_per_lesson: int) -> list[Task]:
    course = Course.objects.create(slug=slug, title=f"Course {slug}")
    tasks = []
    for n in range(lessons):
        lesson = Lesson.objects.create(
            course=course, slug=f"l{n}", number=f"1.{n}", title=f"Lesson {n}", order=n, body_html=""
        )
        for m in range(tasks_per_lesson):
            tasks.append(
                Task.objects.create(lesson=lesson, slug=f"t{m}", order=m, title=f"Task {n}.{m}", instructions_html="")
            )
    return tasks


def make_cohort(slug: str, course: str) -> Cohort:
    return Cohort.objects.create(
        name=f"Cohort {slug}", slug=slug, course=course, cluster=Cluster.objects.get(name="local")
    )


def enrol(cohort: Cohort, username: str, role=Enrollment.Role.STUDENT, **user) -> Enrollment:
    from django.contrib.auth import get_user_model

    account = get_user_model().objects.create_user(username=username, email=f"{username}@example.com", **user)
    return Enrollment.objects.create(user=account, cohort=cohort, role=role)


@pytest.fixture
def seeded():
    """Three students and four tasks in two lessons, every cell state present:
    ada passed 3 (one after 2 failed Checks), bo failed one 3 times, cy opened one, and
    dee (dropped) passed everything but no longer counts."""
    tasks = make_course("dash-course", lessons=2, tasks_per_lesson=2)
    cohort = make_cohort("dash", "dash-course")
    now = timezone.now()
    ada = enrol(cohort, "ada", first_name="Ada", last_name="Lovelace")
    bo = enrol(cohort, "bo", first_name="Bo")
    cy = enrol(cohort, "cy")
    dee = enrol(cohort, "dee")
    dee.dropped_at = now
    dee.save()
    instructor = enrol(cohort, "teacher", Enrollment.Role.INSTRUCTOR).user

    def progress(enrollment, task, state, *, minutes_to_pass=None, attempts=0, hints=0, fails=()):
        opened = now - timedelta(hours=1)
        row = TaskProgress.objects.create(
            enrollment=enrollment,
            task=task,
            state=state,
            opened_at=opened,
            first_passed_at=opened + timedelta(minutes=minutes_to_pass) if minutes_to_pass is not None else None,
            attempts_count=attempts,
            hints_used=hints,
        )
        for message in fails:
            Attempt.objects.create(
                progress=row,
                state=Attempt.State.FAILED,
                results=[
                    {"title": "c", "status": "passed", "message": "ok"},
                    {"title": "d", "status": "failed", "message": message},
                ],
            )
        return row

    ns = {e.pk: f"lab-{e.student_id}" for e in (ada, bo, cy)}
    for e in (ada, bo, cy):
        from labplatform.environments.models import StudentEnvironment

        StudentEnvironment.objects.create(enrollment=e, namespace=ns[e.pk], state="ready")
    progress(ada, tasks[0], "passed", minutes_to_pass=4, attempts=1)
    progress(
        ada,
        tasks[1],
        "passed",
        minutes_to_pass=10,
        attempts=3,
        hints=2,
        fails=[f"Deployment web: not found in namespace {ns[ada.pk]}", "Deployment web: expected 3, found 2"],
    )
    progress(ada, tasks[2], "passed", minutes_to_pass=30, attempts=1)
    progress(
        bo,
        tasks[1],
        "failed",
        attempts=3,
        fails=[f"Deployment web: not found in namespace {ns[bo.pk]}"] * 3,
    )
    progress(bo, tasks[0], "passed", minutes_to_pass=6, attempts=1)
    progress(cy, tasks[0], "open")
    for task in tasks:
        progress(dee, task, "passed", minutes_to_pass=1, attempts=1)
    TerminalActivity.objects.create(enrollment=bo, last_input_at=now - timedelta(minutes=1))
    PageActivity.objects.create(enrollment=cy, last_seen_at=now - timedelta(minutes=45))
    return {"cohort": cohort, "tasks": tasks, "instructor": instructor, "students": (ada, bo, cy), "dropped": dee}


def test_heatmap_summary_and_csv_agree(seeded, client):
    cohort = seeded["cohort"]
    client.force_login(seeded["instructor"])
    board = client.get(f"/teach/{cohort.slug}/").context["board"]

    # Heatmap: one row per enrolled student (the dropped one is not there), one cell per task.
    assert [row.enrollment.user.username for row in board.rows] == ["ada", "bo", "cy"]
    states = {row.enrollment.user.username: [cell.state for cell in row.cells] for row in board.rows}
    assert states == {
        "ada": ["passed", "passed", "passed", "not_started"],
        "bo": ["passed", "failed", "not_started", "not_started"],
        "cy": ["open", "not_started", "not_started", "not_started"],
    }
    assert board.rows[1].cells[1].attempts == 3 and board.rows[1].cells[1].mark == "✗3"

    # Summary: 4 passed pairs of 3 students x 4 tasks.
    assert (board.passed_pairs, board.total_pairs) == (4, 12)
    assert round(board.completion_percent, 2) == 33.33
    medians = {t.column.key: t.median_seconds for t in board.tasks}
    assert medians == {"l0/t0": 300.0, "l0/t1": 600.0, "l1/t0": 1800.0, "l1/t1": None}  # median of 4 and 6 min = 5
    worst = board.most_failed[0]
    assert (worst.column.key, worst.failed_attempts) == ("l0/t1", 5)
    # Four of the five failures say "not found" for the student's own namespace: one message.
    assert (worst.top_message, worst.top_message_count) == ("Deployment web: not found in namespace <namespace>", 4)
    stuck = {row.enrollment.user.username: row.stuck_reasons for row in board.stuck_rows}
    assert stuck == {"bo": ["3 Checks on 1.0 Task 0.1 without a pass"], "cy": ["idle 45 min with 1.0 Task 0.0 open"]}
    assert board.chart[-1][1] == pytest.approx(board.completion_percent)
    assert len(board.chart) == 4

    # CSV: the same students, the same passes, attempts and hints.
    response = client.get(f"/teach/{cohort.slug}/grades.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["username"] for r in rows] == ["ada", "bo", "cy"]
    for row, csv_row in zip(board.rows, rows, strict=True):
        assert csv_row["tasks_passed"] == str(row.passed)
        for column, cell in zip(board.columns, row.cells, strict=True):
            assert csv_row[f"{column.key} passed"] == ("yes" if cell.state == "passed" else "no")
            assert csv_row[f"{column.key} attempts"] == str(cell.attempts)
            assert csv_row[f"{column.key} hints_used"] == str(cell.hints)
    assert sum(int(r["tasks_passed"]) for r in rows) == board.passed_pairs
    assert rows[0]["l0/t1 hints_used"] == "2"
    assert rows[0]["percent_passed"] == "75.0"

    # The page shows the same numbers.
    page = client.get(f"/teach/{cohort.slug}/").content.decode()
    assert "33.3</span>%" in page
    assert "4</span> of <span data-total-pairs>12" in page
    assert "Deployment web: not found in namespace &lt;namespace&gt;" in page


def test_the_cells_words_and_marks_are_rendered_once_for_the_script(seeded, client):
    """dashboard.js draws live cells with the words and marks the page renders (json_script),
    the same as the server's: one source, dashboard.py."""
    client.force_login(seeded["instructor"])
    page = client.get(f"/teach/{seeded['cohort'].slug}/").content.decode()
    rendered = re.search(r'<script id="cell-states" type="application/json">(.*?)</script>', page).group(1)
    assert json.loads(rendered) == {
        "words": {
            "passed": "passed",
            "failed": "failed",
            "pending": "being checked",
            "open": "opened, not checked yet",
            "not_started": "not started",
        },
        "marks": {"passed": "✓", "failed": "✗", "pending": "…", "open": "○", "not_started": "·"},
    }
    bo = seeded["students"][1].student_id
    assert re.search(
        rf'<tr data-student="{bo}".*?title="failed \(3 Checks, 0 hints\)">✗3</td>'
        r'<td class="cell not_started" data-task="l1/t0" title="not started">·</td>',
        page,
        re.DOTALL,
    )


def test_sort_and_stuck_filter(seeded, client):
    client.force_login(seeded["instructor"])
    slug = seeded["cohort"].slug

    def order(query):
        return [r.enrollment.user.username for r in client.get(f"/teach/{slug}/{query}").context["board"].rows]

    assert order("?sort=progress") == ["ada", "bo", "cy"]
    assert order("?sort=activity") == ["bo", "cy", "ada"]  # bo typed a minute ago; ada opened tasks an hour ago
    assert order("?sort=name&stuck=1") == ["bo", "cy"]
    assert order("?sort=nonsense") == ["ada", "bo", "cy"]


def test_quiz_scores_and_formula_safe_names_in_the_export(seeded, client):
    from lessons.models import QuizQuestion, QuizSubmission

    ada = seeded["students"][0]
    lesson = seeded["tasks"][0].lesson
    QuizQuestion.objects.create(lesson=lesson, slug="q", order=0, kind="single", prompt_html="?", correct=["a"])
    # A retake kept from before the one-submission policy counts for nothing.
    QuizSubmission.objects.create(enrollment=ada, lesson=lesson, score=1, max_score=2, created_at=timezone.now())
    QuizSubmission.objects.create(
        enrollment=ada, lesson=lesson, score=2, max_score=2, created_at=timezone.now(), counts=False
    )
    ada.user.first_name, ada.user.last_name = "=HYPERLINK(1)", ""
    ada.user.save()
    client.force_login(seeded["instructor"])
    rows = list(csv.DictReader(io.StringIO(client.get(f"/teach/{seeded['cohort'].slug}/grades.csv").content.decode())))
    assert rows[0]["1.0 quiz score (first submission)"] == "1/2"
    assert rows[1]["1.0 quiz score (first submission)"] == ""
    assert rows[0]["name"] == "'=HYPERLINK(1)"


def test_500_students_by_40_tasks_take_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    tasks = make_course("big-course", lessons=8, tasks_per_lesson=5)
    cohort = make_cohort("big", "big-course")
    cohort_sample_activity(cohort=cohort, students=500, tasks=tasks)
    instructor = enrol(cohort, "big-teacher", Enrollment.Role.INSTRUCTOR).user
    client.force_login(instructor)
    with django_assert_max_num_queries(10):
        response = client.get(f"/teach/{cohort.slug}/")
    assert response.status_code == 200
    board = response.context["board"]
    assert len(board.rows) == 500 and len(board.columns) == 40
    assert board.passed_pairs == TaskProgress.objects.filter(enrollment__cohort=cohort, state="passed").count()
    with django_assert_max_num_queries(10):
        assert client.get(f"/teach/{cohort.slug}/grades.csv").status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get(f"/teach/{cohort.slug}/cells.json").status_code == 200


def test_cells_json_matches_the_heatmap(seeded, client):
    client.force_login(seeded["instructor"])
    data = client.get(f"/teach/{seeded['cohort'].slug}/cells.json").json()
    _, bo, cy = (e.student_id for e in seeded["students"])
    assert data["cells"][bo] == {"l0/t0": ["passed", 1], "l0/t1": ["failed", 3]}
    assert data["cells"][cy] == {"l0/t0": ["open", 0]}
    assert (data["passed_pairs"], data["total_pairs"]) == (4, 12)


PAGES = ["/teach/{slug}/", "/teach/{slug}/grades.csv", "/teach/{slug}/cells.json", "/teach/{slug}/students/{sid}/"]


@pytest.mark.parametrize("page", PAGES)
def test_who_may_see_the_dashboard(seeded, client, django_user_model, page):
    cohort = seeded["cohort"]
    student = seeded["students"][0]
    url = page.format(slug=cohort.slug, sid=student.student_id)
    other = make_cohort("other", "dash-course")
    other_instructor = enrol(other, "other-teacher", Enrollment.Role.INSTRUCTOR).user
    staff = django_user_model.objects.create_user(username="admin1", is_staff=True)
    # The drill-down reads the student's namespace; here there is none to read.
    student.environment.state = "failed"
    student.environment.save()

    assert client.get(url).status_code == 302  # anonymous: to the login page
    assert client.get(url)["Location"].startswith("/login/?next=")
    for user, expected in [
        (seeded["instructor"], 200),
        (staff, 200),
        (other_instructor, 403),
        (student.user, 403),
        (seeded["students"][1].user, 403),
    ]:
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == expected, (user.username, response.status_code)
        if expected == 403:
            assert student.user.username not in response.content.decode()
    # A dropped instructor no longer sees it.
    Enrollment.objects.filter(user=seeded["instructor"]).update(dropped_at=timezone.now())
    client.force_login(seeded["instructor"])
    assert client.get(url).status_code == 403


def test_an_instructor_lists_only_their_cohorts(seeded, client):
    make_cohort("not-mine", "dash-course")
    client.force_login(seeded["instructor"])
    page = client.get("/teach/").content.decode()
    assert "Cohort dash" in page and "Cohort not-mine" not in page


def test_who_may_act_on_a_student(seeded, client, django_user_model):
    cohort, ada = seeded["cohort"], seeded["students"][0]
    task = seeded["tasks"][3]
    attempt = Attempt.objects.filter(progress__enrollment=seeded["students"][1]).first()
    base = f"/teach/{cohort.slug}/students/{ada.student_id}/"
    actions = [f"{base}reset/", f"{base}tasks/{task.pk}/pass/", f"{base}attempts/{attempt.pk}/regrade/"]
    other_instructor = enrol(make_cohort("other2", "dash-course"), "other2-teacher", Enrollment.Role.INSTRUCTOR).user
    for url in actions:
        assert client.post(url, {"reason": "x"})["Location"].startswith("/login/?next=")
        for user in (other_instructor, ada.user, seeded["students"][1].user):
            client.force_login(user)
            assert client.post(url, {"reason": "x"}).status_code == 403, (user.username, url)
        client.logout()
    assert not StaffAction.objects.exists()
    assert not TaskProgress.objects.filter(enrollment=ada, task=task).exists()
    client.force_login(seeded["instructor"])
    # An attempt of another student is not reachable through this student's URL.
    assert client.post(actions[2]).status_code == 404
    response = client.post(actions[1], {"reason": "Passed in the live demo"}, follow=True)
    assert "Task 1.1 is marked passed." in response.content.decode()
    assert StaffAction.objects.get().reason == "Passed in the live demo"
    assert client.post(actions[1], {"reason": "again"}, follow=True).content.decode().count("has already passed") == 1


def test_an_instructor_announces_from_the_dashboard_and_returns_to_it(seeded, client):
    from labplatform.cohorts.models import Announcement

    slug = seeded["cohort"].slug
    client.force_login(seeded["instructor"])
    page = client.get(f"/teach/{slug}/?sort=progress").content.decode()
    assert f'action="/staff/cohorts/{slug}/announce/"' in page
    response = client.post(
        f"/staff/cohorts/{slug}/announce/", {"text": "Break until 11:00", "next": f"/teach/{slug}/?sort=progress"}
    )
    assert response["Location"] == f"/teach/{slug}/?sort=progress"
    assert Announcement.objects.get().text == "Break until 11:00"
    client.force_login(seeded["students"][0].user)
    assert "Break until 11:00" in client.get("/").content.decode()
