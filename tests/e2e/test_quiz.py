"""A quiz in real Chromium against daphne: the page says it takes one attempt, and a second
tab still showing the form is refused with the reason while the first score stands."""

import pytest
from playwright.sync_api import expect

from labplatform.cohorts.models import Cluster, Cohort, Enrollment
from lessons.models import Course, Lesson, QuizQuestion, QuizSubmission

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-demo-password"


@pytest.fixture
def student(django_user_model) -> Enrollment:
    course = Course.objects.create(slug="quiz-course", title="Quizzes")
    lesson = Lesson.objects.create(
        course=course, slug="1.1-one", number="1.1", title="One", order=1, body_html="<p>Read this.</p>"
    )
    QuizQuestion.objects.create(
        lesson=lesson,
        slug="q1",
        order=1,
        kind="single",
        prompt_html="<p>What recreates a deleted pod?</p>",
        choices=[{"id": "a", "html": "The kubelet"}, {"id": "b", "html": "The ReplicaSet controller"}],
        correct=["b"],
    )
    cluster = Cluster.objects.get_or_create(name="local", defaults={"is_local": True})[0]
    cohort = Cohort.objects.create(name="Quiz", slug="quiz", course=course.slug, cluster=cluster)
    user = django_user_model.objects.create_user(username="sam", password=PASSWORD, first_name="Sam")
    return Enrollment.objects.create(user=user, cohort=cohort)


def test_a_second_tab_cannot_submit_the_quiz_again(browser, live_server_url, student, screenshots):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    first = context.new_page()
    first.set_default_timeout(15_000)
    first.goto(live_server_url + "/login/")
    first.get_by_label("Username").fill("sam")
    first.get_by_label("Password").fill(PASSWORD)
    first.get_by_role("button", name="Sign in").click()
    expect(first.get_by_role("button", name="Sign out")).to_be_visible()

    lesson = live_server_url + "/learn/quiz-course/1.1-one/"
    first.goto(lesson)
    expect(first.locator("#quiz-policy")).to_have_text(
        "One attempt: your first submission is your score. You cannot submit again or change your answers afterwards."
    )
    second = context.new_page()
    second.set_default_timeout(15_000)
    second.goto(lesson)

    first.get_by_label("The kubelet").check()
    first.get_by_role("button", name="Submit answers").click()
    expect(first.locator(".quiz-score")).to_have_text("You scored 0 of 1.")

    second.get_by_label("The ReplicaSet controller").check()
    with second.expect_response(lambda response: response.request.method == "POST") as posted:
        second.get_by_role("button", name="Submit answers").click()
    assert posted.value.status == 409
    expect(second.locator(".messages")).to_contain_text(
        "You have already submitted this quiz: a quiz takes one submission, and your first is your score."
    )
    expect(second.locator(".quiz-score")).to_have_text("You scored 0 of 1.")
    expect(second.get_by_role("button", name="Submit answers")).to_have_count(0)
    second.screenshot(path=screenshots / "quiz-second-tab.png", full_page=True)
    context.close()
    assert list(QuizSubmission.objects.values_list("score", "answers")) == [(0, {"q1": ["a"]})]
