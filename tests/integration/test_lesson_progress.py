"""Progress across a course: quizzes graded on the server, lesson completion and gating.
No cluster needed: tasks without setup, progress recorded as the grader would."""

import pytest
from django.utils import timezone

from labplatform.cohorts.models import Cluster, Cohort, Enrollment
from lessons.models import Course, Lesson, QuizQuestion, Task, TaskProgress
from lessons.selectors import course_outline, lesson_page
from lessons.services import LessonRefused, quiz_submit, task_open

pytestmark = pytest.mark.django_db


@pytest.fixture
def course():
    course = Course.objects.create(slug="gated-course", title="Gated")
    for order, (slug, number) in enumerate([("one", "1.1"), ("two", "1.2")], start=1):
        lesson = Lesson.objects.create(
            course=course, slug=slug, number=number, title=slug.title(), order=order, body_html="<p>x</p>"
        )
        Task.objects.create(
            lesson=lesson, slug="task", order=1, title=f"Task of {slug}", instructions_html="", spec={"checks": []}
        )
    QuizQuestion.objects.create(
        lesson=course.lessons.get(slug="one"),
        slug="q1",
        order=1,
        kind="single",
        prompt_html="<p>Which?</p>",
        choices=[{"id": "a", "html": "A"}, {"id": "b", "html": "B"}],
        correct=["b"],
        explanation_html="<p>Because B.</p>",
    )
    QuizQuestion.objects.create(
        lesson=course.lessons.get(slug="one"),
        slug="q2",
        order=2,
        kind="multiple",
        prompt_html="<p>Which ones?</p>",
        choices=[{"id": "a", "html": "A"}, {"id": "b", "html": "B"}, {"id": "c", "html": "C"}],
        correct=["a", "c"],
    )
    return course


def enrolled(django_user_model, course: Course, *, gated: bool, name: str = "ada") -> Enrollment:
    cohort = Cohort.objects.create(
        name=f"{name} cohort",
        slug=f"{name}-cohort",
        course=course.slug,
        cluster=Cluster.objects.get(name="local"),
        lessons_gated=gated,
    )
    user = django_user_model.objects.create_user(username=name)
    return Enrollment.objects.create(user=user, cohort=cohort)


def passed(enrollment: Enrollment, task: Task) -> None:
    TaskProgress.objects.create(
        enrollment=enrollment,
        task=task,
        state=TaskProgress.State.PASSED,
        setup_done_at=timezone.now(),
        first_passed_at=timezone.now(),
    )


def test_a_quiz_is_graded_on_the_server_each_question_all_or_nothing(course, django_user_model):
    student = enrolled(django_user_model, course, gated=False)
    lesson = course.lessons.get(slug="one")
    submission = quiz_submit(enrollment=student, lesson=lesson, answers={"q1": ["b"], "q2": ["a"]})
    assert (submission.score, submission.max_score) == (1, 2)
    assert submission.results == {"q1": True, "q2": False}
    feedback = lesson_page(enrollment=student, lesson=lesson).quiz.feedback
    assert [(f["question"], f["right"], f["correct"]) for f in feedback] == [
        ("q1", True, ["b"]),
        ("q2", False, ["a", "c"]),
    ]


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"q1": ["b"]}, "Answer question 2 first."),
        ({"q1": ["a", "b"], "q2": ["a"]}, "Question 1: choose one answer."),
        ({"q1": ["z"], "q2": ["a"]}, "Question 1: that choice does not exist."),
    ],
)
def test_an_incomplete_or_invalid_quiz_is_refused_and_nothing_is_stored(course, django_user_model, answers, message):
    student = enrolled(django_user_model, course, gated=False)
    with pytest.raises(LessonRefused) as refused:
        quiz_submit(enrollment=student, lesson=course.lessons.get(slug="one"), answers=answers)
    assert (refused.value.message, refused.value.status) == (message, 400)
    assert not student.quiz_submissions.exists()


def test_the_quiz_answers_are_not_in_the_page_data_before_submission(course, django_user_model):
    student = enrolled(django_user_model, course, gated=False)
    quiz = lesson_page(enrollment=student, lesson=course.lessons.get(slug="one")).quiz
    assert quiz.submission is None and quiz.feedback == []


def test_a_gated_lesson_opens_when_the_lesson_before_has_passed(course, django_user_model):
    student = enrolled(django_user_model, course, gated=True)
    one, two = course.lessons.get(slug="one"), course.lessons.get(slug="two")
    assert [s.locked for s in course_outline(enrollment=student)] == [False, True]
    page = lesson_page(enrollment=student, lesson=two)
    assert page.locked and page.locked_reason == "This lesson opens when every task of 1.1 One has passed."
    with pytest.raises(LessonRefused) as refused:
        task_open(enrollment=student, task=two.tasks.get())
    assert refused.value.status == 403

    passed(student, one.tasks.get())
    assert [s.locked for s in course_outline(enrollment=student)] == [False, False]
    assert not lesson_page(enrollment=student, lesson=two).locked


def test_without_gating_every_lesson_is_open(course, django_user_model):
    student = enrolled(django_user_model, course, gated=False)
    assert [s.locked for s in course_outline(enrollment=student)] == [False, False]


def test_a_lesson_is_complete_when_its_tasks_passed_and_its_quiz_was_taken(course, django_user_model):
    student = enrolled(django_user_model, course, gated=False)
    one = course.lessons.get(slug="one")
    passed(student, one.tasks.get())
    summary = course_outline(enrollment=student)[0]
    assert (summary.tasks_passed, summary.tasks_total, summary.completed) == (1, 1, False)
    quiz_submit(enrollment=student, lesson=one, answers={"q1": ["b"], "q2": ["a", "c"]})
    summary = course_outline(enrollment=student)[0]
    assert summary.completed and summary.quiz_score == (2, 2)


def test_progress_is_per_student(course, django_user_model):
    ada = enrolled(django_user_model, course, gated=True, name="ada")
    bob = enrolled(django_user_model, course, gated=True, name="bob")
    passed(ada, course.lessons.get(slug="one").tasks.get())
    assert [s.tasks_passed for s in course_outline(enrollment=ada)] == [1, 0]
    assert [s.tasks_passed for s in course_outline(enrollment=bob)] == [0, 0]
    assert [s.locked for s in course_outline(enrollment=bob)] == [False, True]
