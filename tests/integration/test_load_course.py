"""course_load and `manage.py load_course`: a course loads all or nothing, and loading it
again keeps students' progress on every task whose id is unchanged."""

from io import StringIO
from pathlib import Path
from textwrap import dedent

import pytest
from django.core.management import CommandError, call_command

from labplatform.cohorts.models import Cluster, Cohort, Enrollment
from lessons.loading import CourseInvalid, course_load
from lessons.models import Course, Lesson, QuizQuestion, Task, TaskProgress

pytestmark = pytest.mark.django_db


def task(slug: str, replicas: int = 3) -> str:
    return f"""\
  - id: {slug}
    title: Task {slug}
    instructions: Do {slug}.
    checks:
      - target: {{apiVersion: apps/v1, kind: Deployment, name: web}}
        assert:
          - {{path: spec.replicas, op: "==", value: {replicas}}}
    solution:
      commands: kubectl scale deployment web --replicas={replicas}
"""


QUIZ = """\
questions:
  - id: heal
    prompt: What recreates a deleted pod?
    kind: single
    choices:
      - {id: a, text: The kubelet}
      - {id: b, text: The ReplicaSet controller, correct: true}
"""


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def write_course(*, lessons: dict[str, dict[str, str]], title: str = "Kubernetes") -> Path:
    """A course folder "course" with the lessons given as {folder: {file name: text}}; each
    gets a lesson.md unless one is given."""
    root = Path("course")
    root.mkdir(exist_ok=True)
    listed = "".join(f"  - {folder}\n" for folder in lessons)
    (root / "course.yaml").write_text(f"slug: k8s\ntitle: {title}\nlessons:\n{listed}")
    for folder, files in lessons.items():
        (root / folder).mkdir(exist_ok=True)
        number, name = folder.split("-", 1)
        files = {"lesson.md": f"# {number} {name.title()}\n\nText.\n", **files}
        for name, text in files.items():
            (root / folder / name).write_text(dedent(text))
        for name in {"tasks.yaml", "quiz.yaml"} - files.keys():
            (root / folder / name).unlink(missing_ok=True)
    return root


def two_lessons(*, tasks: tuple[str, ...] = ("scale", "heal")) -> Path:
    return write_course(
        lessons={
            "15.6-pods": {"quiz.yaml": QUIZ},
            "15.7-deployments": {"tasks.yaml": "tasks:\n" + "".join(task(slug) for slug in tasks)},
        }
    )


@pytest.fixture
def progress(django_user_model) -> TaskProgress:
    """A student's passed task 15.7-deployments/scale, in the course two_lessons() makes."""
    course_load(path=two_lessons())
    cohort = Cohort.objects.create(
        name="Spring", slug="spring", course="k8s", cluster=Cluster.objects.get(name="local")
    )
    user = django_user_model.objects.create_user(username="ada", email="ada@example.com")
    student = Enrollment.objects.create(user=user, cohort=cohort, role=Enrollment.Role.STUDENT)
    return TaskProgress.objects.create(
        enrollment=student, task=Task.objects.get(slug="scale"), state=TaskProgress.State.PASSED, attempts_count=2
    )


def test_it_loads_the_course_its_lessons_tasks_and_questions():
    report = course_load(path=two_lessons())
    course = Course.objects.get(slug="k8s")
    assert course.title == "Kubernetes"
    assert list(course.lessons.values_list("slug", "number", "title", "order")) == [
        ("15.6-pods", "15.6", "Pods", 1),
        ("15.7-deployments", "15.7", "Deployments", 2),
    ]
    scale = Task.objects.get(lesson__slug="15.7-deployments", slug="scale")
    assert (scale.order, scale.title, scale.instructions_html) == (1, "Task scale", "<p>Do scale.</p>\n")
    assert scale.spec["solution"] == {"commands": "kubectl scale deployment web --replicas=3"}
    assert scale.checks[0]["assert"] == [{"path": "spec.replicas", "op": "==", "value": 3}]
    question = QuizQuestion.objects.get(lesson__slug="15.6-pods", slug="heal")
    assert (question.kind, question.correct) == ("single", ["b"])
    assert report.created == [
        "course k8s",
        "lesson 15.6-pods",
        "lesson 15.7-deployments",
        "question 15.6-pods/heal",
        "task 15.7-deployments/scale",
        "task 15.7-deployments/heal",
    ]
    assert (report.lessons, report.tasks, report.questions) == (2, 2, 1)


def test_loading_it_again_unchanged_changes_nothing_and_keeps_progress(progress):
    ids = set(Task.objects.values_list("id", flat=True))
    report = course_load(path=two_lessons())
    assert (report.created, report.updated, report.retired, report.restored) == ([], [], [], [])
    assert report.unchanged == 5
    assert set(Task.objects.values_list("id", flat=True)) == ids
    progress.refresh_from_db()
    assert (progress.state, progress.attempts_count) == ("passed", 2)


def test_a_changed_task_is_updated_in_place(progress):
    root = two_lessons()
    (root / "15.7-deployments/tasks.yaml").write_text("tasks:\n" + task("scale", replicas=5) + task("heal"))
    report = course_load(path=root)
    assert report.updated == ["task 15.7-deployments/scale"]
    progress.refresh_from_db()
    assert progress.task.checks[0]["assert"][0]["value"] == 5


def test_a_task_left_out_is_retired_not_deleted_and_comes_back_with_its_progress(progress):
    report = course_load(path=two_lessons(tasks=("heal",)))
    assert report.retired == ["task 15.7-deployments/scale"]
    progress.refresh_from_db()
    assert progress.task.retired_at is not None
    assert Task.objects.get(slug="heal").order == 1

    report = course_load(path=two_lessons())
    assert report.restored == ["task 15.7-deployments/scale"]
    progress.refresh_from_db()
    assert (progress.task.retired_at, progress.state) == (None, "passed")


def test_a_lesson_left_out_of_course_yaml_is_retired():
    course_load(path=two_lessons())
    report = course_load(path=write_course(lessons={"15.7-deployments": {"tasks.yaml": "tasks:\n" + task("scale")}}))
    assert report.retired == ["lesson 15.6-pods", "task 15.7-deployments/heal"]
    assert Lesson.objects.get(slug="15.6-pods").retired_at is not None
    assert Lesson.objects.get(slug="15.7-deployments").order == 1


def test_nothing_loads_when_a_second_lesson_is_broken(progress):
    root = two_lessons()
    (root / "course.yaml").write_text("slug: k8s\ntitle: Renamed\nlessons:\n  - 15.6-pods\n  - 15.7-deployments\n")
    (root / "15.6-pods/quiz.yaml").write_text(QUIZ.replace("heal", "heal-renamed"))
    (root / "15.7-deployments/tasks.yaml").write_text("tasks:\n" + task("scale").replace("solution:", "answer:"))
    with pytest.raises(CourseInvalid) as raised:
        course_load(path=root)
    assert raised.value.errors == [
        "course/15.7-deployments/tasks.yaml:2: task is missing 'solution'",
        "course/15.7-deployments/tasks.yaml:9: unknown key 'answer' in task "
        "(expected one of: checks, hints, id, instructions, setup, solution, title)",
    ]
    assert Course.objects.get().title == "Kubernetes"
    assert list(QuizQuestion.objects.values_list("slug", flat=True)) == ["heal"]
    assert Task.objects.filter(retired_at__isnull=True).count() == 2


def test_nothing_loads_into_an_empty_catalogue_either():
    root = write_course(lessons={"15.6-pods": {"quiz.yaml": QUIZ}, "15.7-deployments": {"lesson.md": "No heading\n"}})
    with pytest.raises(CourseInvalid):
        course_load(path=root)
    assert (Course.objects.count(), Lesson.objects.count(), QuizQuestion.objects.count()) == (0, 0, 0)


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("load_course", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_command_prints_a_summary_and_what_it_retired():
    two_lessons()
    out, err = run("course")
    assert out == (
        "Loaded k8s from course: 2 lessons, 2 tasks, 1 question. "
        "6 created, 0 updated, 0 unchanged, 0 retired, 0 restored.\n"
    )
    assert err == ""
    two_lessons(tasks=("heal",))
    out, _ = run("course")
    assert out.splitlines() == [
        "Loaded k8s from course: 2 lessons, 1 task, 1 question. "
        "0 created, 1 updated, 3 unchanged, 1 retired, 0 restored.",
        "  retired task 15.7-deployments/scale",
    ]


def test_the_command_prints_every_error_and_fails_loading_nothing():
    root = two_lessons()
    (root / "course.yaml").write_text((root / "course.yaml").read_text() + "  - 15.8-services\nauthor: me\n")
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match=r"^course: 2 errors in the course; nothing was loaded\.$"):
        call_command("load_course", "course", stdout=out, stderr=err)
    assert err.getvalue().splitlines() == [
        "course/course.yaml:6: lesson folder '15.8-services' not found",
        "course/course.yaml:7: unknown key 'author' in course (expected one of: description, lessons, slug, title)",
    ]
    assert Course.objects.count() == 0


def test_the_command_names_a_folder_without_course_yaml():
    err = StringIO()
    with pytest.raises(CommandError, match="nothing was loaded"):
        call_command("load_course", "nowhere", stderr=err)
    assert (
        err.getvalue()
        == "nowhere/course.yaml: not found (a course folder holds course.yaml and its lessons' folders)\n"
    )


REAL_COURSE = Path(__file__).resolve().parents[2] / "lessons/content/module-15-kubernetes"


@pytest.mark.skipif(not (REAL_COURSE / "course.yaml").exists(), reason="the course is not written yet")
def test_the_real_course_loads_without_errors():
    report = course_load(path=REAL_COURSE)
    assert report.course == "module-15-kubernetes"
    assert report.lessons == Lesson.objects.filter(course__slug="module-15-kubernetes").count() > 0
