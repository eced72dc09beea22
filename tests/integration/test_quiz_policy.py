"""A quiz takes one submission, and the first one is the score: a second POST (a second
tab, a direct request, one racing the first) is refused with 409 and changes nothing, and
the database's unique index decides a race. Real PostgreSQL, real requests through
Django's test client (each thread its own client and connection)."""

import csv
import io
import threading

import pytest
import requests
from django.db import connection, transaction
from django.test import Client

from labplatform.cohorts.models import Cluster, Cohort, Enrollment
from lessons.models import Course, Lesson, QuizQuestion, QuizSubmission
from lessons.services import QUIZ_TAKEN
from tests.kube import wait_for
from tests.processes import free_port, start_web, stop
from tests.threads import in_thread

pytestmark = pytest.mark.django_db(transaction=True)

LESSON = "/learn/quiz-course/1.1-one/"
QUIZ = LESSON + "quiz"
JSON = {"Accept": "application/json"}
RIGHT = {"q-q1": "b", "q-q2": ["a", "c"]}
WRONG = {"q-q1": "a", "q-q2": ["a"]}


@pytest.fixture
def lesson() -> Lesson:
    course = Course.objects.create(slug="quiz-course", title="Quizzes")
    lesson = Lesson.objects.create(course=course, slug="1.1-one", number="1.1", title="One", order=1, body_html="")
    QuizQuestion.objects.create(
        lesson=lesson,
        slug="q1",
        order=1,
        kind="single",
        prompt_html="<p>Which?</p>",
        choices=[{"id": "a", "html": "A"}, {"id": "b", "html": "B"}],
        correct=["b"],
    )
    QuizQuestion.objects.create(
        lesson=lesson,
        slug="q2",
        order=2,
        kind="multiple",
        prompt_html="<p>Which ones?</p>",
        choices=[{"id": "a", "html": "A"}, {"id": "b", "html": "B"}, {"id": "c", "html": "C"}],
        correct=["a", "c"],
    )
    return lesson


@pytest.fixture
def cohort(lesson) -> Cohort:
    cluster = Cluster.objects.get_or_create(name="local", defaults={"is_local": True})[0]
    return Cohort.objects.create(name="Quiz", slug="quiz", course="quiz-course", cluster=cluster)


@pytest.fixture
def enrol(cohort, django_user_model):
    def enrol(username: str, role: str = Enrollment.Role.STUDENT) -> Enrollment:
        user = django_user_model.objects.create_user(username=username, first_name=username.title())
        return Enrollment.objects.create(user=user, cohort=cohort, role=role)

    return enrol


@pytest.fixture(scope="module")
def browsers() -> list[Client]:
    """Clients kept for the module: a new one loads the middleware, and WhiteNoise's scan
    of every static file takes seconds."""
    return []


@pytest.fixture
def signed_in(browsers):
    """A client signed in as the enrollment's user; `tab` picks another client."""

    def signed_in(enrollment: Enrollment, tab: int = 0) -> Client:
        while len(browsers) <= tab:
            browsers.append(Client())
        browsers[tab].logout()
        browsers[tab].force_login(enrollment.user)
        return browsers[tab]

    return signed_in


@pytest.fixture(scope="module")
def web(django_db_setup) -> str:
    """daphne on the test database, for requests that really run at once."""
    port = free_port()
    server = start_web(port=port, name="quiz-web")
    yield f"http://127.0.0.1:{port}"
    stop(server)


def saved(enrollment: Enrollment) -> list[tuple]:
    return list(
        QuizSubmission.objects.filter(enrollment=enrollment)
        .order_by("pk")
        .values_list("pk", "answers", "score", "max_score", "counts", "created_at")
    )


def test_the_page_says_one_attempt_before_the_quiz_is_submitted(enrol, signed_in):
    html = signed_in(enrol("ada")).get(LESSON).content.decode()
    assert "<strong>One attempt:</strong> your first submission is your score." in html
    assert 'aria-describedby="quiz-policy"' in html


def test_a_second_submission_is_refused_on_the_page_with_409_and_nothing_changes(enrol, signed_in):
    ada = enrol("ada")
    client = signed_in(ada)
    first = client.post(QUIZ, WRONG)
    assert first.status_code == 302 and first.url == f"{LESSON}#quiz"
    before = saved(ada)
    assert [(answers, score) for _, answers, score, _, _, _ in before] == [({"q1": ["a"], "q2": ["a"]}, 0)]

    # A second tab still showing the form submits the right answers.
    again = client.post(QUIZ, RIGHT)
    assert again.status_code == 409
    html = again.content.decode()
    assert QUIZ_TAKEN in html
    assert "You scored <strong>0 of 2</strong>" in html  # the page shows the score that stands
    assert "Submit answers" not in html
    assert "Traceback" not in html
    assert saved(ada) == before

    page = client.get(LESSON).content.decode()
    assert "You scored <strong>0 of 2</strong>" in page
    assert "A quiz takes one submission: this one, your first, is your score." in page


def test_a_direct_post_asking_for_json_gets_409_and_the_reason(enrol, signed_in):
    ada = enrol("ada")
    client = signed_in(ada)
    first = client.post(QUIZ, RIGHT, headers=JSON)
    assert first.status_code == 200 and first.json() == {"score": 2, "max_score": 2}
    before = saved(ada)
    for answers in (WRONG, RIGHT, {}):
        refused = client.post(QUIZ, answers, headers=JSON)
        assert refused.status_code == 409
        assert refused.json() == {"error": QUIZ_TAKEN}
    assert saved(ada) == before


def test_an_incomplete_submission_is_refused_and_leaves_the_one_attempt(enrol, signed_in):
    ada = enrol("ada")
    client = signed_in(ada)
    incomplete = client.post(QUIZ, {"q-q1": "b"})
    assert incomplete.status_code == 400
    assert "Answer question 2 first." in incomplete.content.decode()
    assert saved(ada) == []
    assert client.post(QUIZ, RIGHT).status_code == 302


def test_one_students_submission_does_not_use_up_anothers(enrol, signed_in):
    ada, bo = enrol("ada"), enrol("bo")
    assert signed_in(ada).post(QUIZ, RIGHT).status_code == 302
    assert signed_in(bo).post(QUIZ, WRONG).status_code == 302
    assert QuizSubmission.objects.get(enrollment=ada).score == 2
    assert QuizSubmission.objects.get(enrollment=bo).score == 0


def test_concurrent_posts_land_one_submission(enrol, signed_in, web):
    """Eight tabs POST at once to daphne (a barrier releases them together): one is stored
    and answered with the redirect, every other is answered 409, whatever the interleaving."""
    ada = enrol("ada")
    session = signed_in(ada).cookies["sessionid"].value
    tabs = []
    for _ in range(8):
        tab = requests.Session()
        tab.cookies.set("sessionid", session)
        assert tab.get(web + LESSON, timeout=60).status_code == 200  # sets the CSRF cookie
        tabs.append(tab)
    start, results = threading.Barrier(len(tabs)), []

    def submit(tab: requests.Session, answers: dict) -> int:
        start.wait()
        headers = {"X-CSRFToken": tab.cookies["csrftoken"]}
        return tab.post(web + QUIZ, answers, headers=headers, allow_redirects=False, timeout=60).status_code

    threads = [
        in_thread(lambda t=tab, a=(RIGHT if i % 2 else WRONG): submit(t, a), results) for i, tab in enumerate(tabs)
    ]
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(results) == [302] + [409] * 7
    assert QuizSubmission.objects.filter(enrollment=ada).count() == 1


def test_a_post_that_passed_the_check_is_stopped_by_the_unique_index(enrol, signed_in):
    """The race made certain: another transaction has inserted ada's submission and not yet
    committed, so the POST sees none, grades, and its insert waits on the unique index;
    once the other commits, the POST is refused (409) and only the other's row exists."""
    ada = enrol("ada")
    lesson = Lesson.objects.get(slug="1.1-one")
    holding, release, others, posts = threading.Event(), threading.Event(), [], []

    def other_request() -> int:
        with transaction.atomic():
            row = QuizSubmission.objects.create(enrollment=ada, lesson=lesson, answers={}, score=1, max_score=2)
            holding.set()
            release.wait(timeout=60)
        return row.pk

    other = in_thread(other_request, others)
    assert holding.wait(timeout=30)
    post = in_thread(lambda: signed_in(ada).post(QUIZ, RIGHT), posts)
    try:
        wait_for("the POST's insert to wait on the unique index", _insert_waiting_on_a_lock, timeout=30)
    finally:
        release.set()
    other.join(timeout=30)
    post.join(timeout=30)
    [answer] = posts
    assert answer.status_code == 409
    assert QUIZ_TAKEN in answer.content.decode()
    assert [pk for pk, *_ in saved(ada)] == others


def _insert_waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO \"lessons_quizsubmission\"%'"
        )
        return cursor.fetchone()[0] == 1


def test_the_export_reports_the_first_submission_and_says_so(enrol, cohort, lesson, signed_in):
    ada = enrol("ada")
    teacher = enrol("tess", Enrollment.Role.INSTRUCTOR)
    assert signed_in(ada).post(QUIZ, WRONG).status_code == 302
    assert signed_in(ada).post(QUIZ, RIGHT).status_code == 409
    export = signed_in(teacher).get(f"/teach/{cohort.slug}/grades.csv").content.decode()
    rows = list(csv.DictReader(io.StringIO(export)))
    assert [(row["username"], row["1.1 quiz score (first submission)"]) for row in rows] == [("ada", "0/2")]
