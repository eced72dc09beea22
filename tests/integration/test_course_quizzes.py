"""Every quiz of the course, as a student meets it: the answers are not in the page before
submission, the correct answers score full marks, a wrong choice loses that question, and
each explanation appears once submitted. Quizzes are read from the course files, so a new
one is covered without touching this file."""

import pytest
from django.test import Client
from django.urls import reverse

from labplatform.cohorts.models import Cluster, Cohort, Enrollment
from lessons.loading.course_files import course_read
from lessons.loading.service import course_load
from lessons.models import Lesson
from lessons.services import quiz_submit
from tests.lessons import COURSE

pytestmark = pytest.mark.django_db

QUIZZES = [(lesson, question) for lesson in course_read(path=COURSE).lessons for question in lesson.questions]
LESSONS_WITH_QUIZZES = sorted({lesson.slug for lesson, _ in QUIZZES})


@pytest.fixture
def student(django_user_model) -> Enrollment:
    course_load(path=COURSE)
    cohort = Cohort.objects.create(
        name="Quiz cohort",
        slug="quiz-cohort",
        course=course_read(path=COURSE).slug,
        cluster=Cluster.objects.get(name="local"),
    )
    return Enrollment.objects.create(user=django_user_model.objects.create_user(username="quizzer"), cohort=cohort)


def page(student: Enrollment, lesson_slug: str) -> str:
    client = Client()
    client.force_login(student.user)
    response = client.get(reverse("lesson-detail", args=[student.cohort.course, lesson_slug]))
    assert response.status_code == 200
    return response.content.decode()


def correct_answers(lesson: Lesson) -> dict[str, list[str]]:
    return {q.slug: list(q.correct) for q in lesson.questions.filter(retired_at__isnull=True)}


@pytest.mark.parametrize("lesson_slug", LESSONS_WITH_QUIZZES)
def test_the_answers_are_not_in_the_page_before_submission(student, lesson_slug):
    html = page(student, lesson_slug)
    for lesson, question in QUIZZES:
        if lesson.slug != lesson_slug:
            continue
        assert question.prompt_html.strip() in html
        if question.explanation_html.strip():
            assert question.explanation_html.strip() not in html, question.slug


@pytest.mark.parametrize("lesson_slug", LESSONS_WITH_QUIZZES)
def test_the_correct_answers_score_full_marks_and_the_explanations_follow(student, lesson_slug):
    lesson = Lesson.objects.get(slug=lesson_slug)
    submission = quiz_submit(enrollment=student, lesson=lesson, answers=correct_answers(lesson))
    assert submission.score == submission.max_score == lesson.questions.count()
    html = page(student, lesson_slug)
    for question in lesson.questions.all():
        assert question.explanation_html.strip() in html


@pytest.mark.parametrize(
    ("lesson_slug", "question_slug"), [(lesson.slug, question.slug) for lesson, question in QUIZZES]
)
def test_a_wrong_choice_loses_that_question_only(student, lesson_slug, question_slug):
    lesson = Lesson.objects.get(slug=lesson_slug)
    answers = correct_answers(lesson)
    question = lesson.questions.get(slug=question_slug)
    wrong = next(c["id"] for c in question.choices if c["id"] not in question.correct)
    answers[question_slug] = [wrong]
    submission = quiz_submit(enrollment=student, lesson=lesson, answers=answers)
    assert submission.results[question_slug] is False
    assert submission.score == submission.max_score - 1
