"""The student's lesson pages through Django's test client on PostgreSQL: the course
outline, a lesson with its tasks and quiz, the task actions the page calls with fetch(),
and who may see what."""

import json
import re

import pytest
from django.test import Client

from labplatform.cohorts.models import Cluster, Cohort, Enrollment
from labplatform.environments.models import StudentEnvironment
from lessons import services
from lessons.loading.markdown import markdown_render
from lessons.models import Attempt, Course, Lesson, QuizQuestion, Task, TaskProgress

pytestmark = pytest.mark.django_db

COURSE = "module-15-kubernetes"
OUTLINE = f"/learn/{COURSE}/"
PODS = f"/learn/{COURSE}/15.6-pods/"
DEPLOYMENTS = f"/learn/{COURSE}/15.7-deployments/"
JSON = {"Accept": "application/json"}
EXPLANATION = "The ReplicaSet controller notices one pod too few and makes another."

BODY = """# 15.6 Pods

A pod is the smallest thing Kubernetes runs.

```bash run
kubectl get pods
```

```mermaid
graph LR; Pod --> Container
```
"""


@pytest.fixture
def course() -> Course:
    course = Course.objects.create(slug=COURSE, title="Module 15: Kubernetes")
    pods = Lesson.objects.create(
        course=course, slug="15.6-pods", number="15.6", title="Pods", order=1, body_html=markdown_render(BODY)
    )
    Task.objects.create(
        lesson=pods,
        slug="count-nodes",
        order=1,
        title="Count the nodes",
        instructions_html="<p>How many nodes does the cluster have?</p>",
        hints_html=["<p>Try <code>kubectl get nodes</code>.</p>", "<p>Count the lines.</p>"],
        spec={"checks": [{"kind": "answer", "prompt": "How many nodes?", "expected": "1"}]},
    )
    Task.objects.create(
        lesson=pods,
        slug="run-a-pod",
        order=2,
        title="Run a pod",
        instructions_html="<p>Run a pod named <code>web</code>.</p>",
        spec={"checks": [{"title": "Pod web exists", "target": {"kind": "Pod", "name": "web"}}]},
    )
    QuizQuestion.objects.create(
        lesson=pods,
        slug="recreates",
        order=1,
        kind="single",
        prompt_html="<p>What recreates a deleted pod?</p>",
        choices=[{"id": "a", "html": "The kubelet"}, {"id": "b", "html": "The ReplicaSet controller"}],
        correct=["b"],
        explanation_html=f"<p>{EXPLANATION}</p>",
    )
    deployments = Lesson.objects.create(
        course=course, slug="15.7-deployments", number="15.7", title="Deployments", order=2, body_html="<p>Later.</p>"
    )
    Task.objects.create(
        lesson=deployments,
        slug="scale",
        order=1,
        title="Scale it",
        instructions_html="<p>Scale.</p>",
        spec={"checks": [{"target": {"kind": "Deployment", "name": "web"}}]},
    )
    return course


@pytest.fixture
def cohort(course) -> Cohort:
    cluster = Cluster.objects.get_or_create(name="local", defaults={"is_local": True})[0]
    return Cohort.objects.create(name="Autumn", slug="autumn", course=COURSE, cluster=cluster)


@pytest.fixture
def enrol(cohort, django_user_model):
    def enrol(username: str, *, role: str = Enrollment.Role.STUDENT) -> Enrollment:
        user = django_user_model.objects.create_user(username=username, first_name=username.title())
        enrollment = Enrollment.objects.create(user=user, cohort=cohort, role=role)
        if role == Enrollment.Role.STUDENT:
            StudentEnvironment.objects.create(
                enrollment=enrollment, namespace=f"lab-{enrollment.student_id}", state=StudentEnvironment.State.READY
            )
        return enrollment

    return enrol


@pytest.fixture
def student(enrol) -> Enrollment:
    return enrol("ada")


@pytest.fixture
def as_student(client, student) -> Client:
    client.force_login(student.user)
    return client


def task_url(task: str, action: str, lesson: str = "15.6-pods") -> str:
    return f"/learn/{COURSE}/{lesson}/tasks/{task}/{action}"


def test_anonymous_visitors_are_sent_to_sign_in(client, course):
    for url in (OUTLINE, PODS):
        answer = client.get(url)
        assert answer.status_code == 302
        assert answer.url.startswith("/login/?next=")
    assert client.post(task_url("count-nodes", "open"), headers=JSON).status_code == 302
    assert client.get("/learn/attempts/1").status_code == 302


def test_a_user_not_enrolled_in_the_course_gets_a_404_that_says_so(client, course, enrol, django_user_model):
    outsider = django_user_model.objects.create_user(username="mallory")
    teacher = enrol("tess", role=Enrollment.Role.INSTRUCTOR)
    for user in (outsider, teacher.user):
        client.force_login(user)
        for url in (OUTLINE, PODS):
            page = client.get(url)
            assert page.status_code == 404
            assert "not enrolled as a student" in page.content.decode()
        refused = client.post(task_url("count-nodes", "open"), headers=JSON)
        assert refused.status_code == 404
        assert "not enrolled" in refused.json()["error"]


def test_an_unknown_lesson_or_task_is_a_404(as_student):
    assert "no lesson 15.99-nope" in as_student.get(f"/learn/{COURSE}/15.99-nope/").content.decode()
    refused = as_student.post(task_url("nope", "open"), headers=JSON)
    assert refused.status_code == 404
    assert refused.json() == {"error": "There is no task nope in lesson 15.6-pods."}


def test_the_outline_lists_the_lessons_with_the_students_progress(as_student, student):
    progress = TaskProgress.objects.create(
        enrollment=student, task=Task.objects.get(slug="count-nodes"), state=TaskProgress.State.PASSED
    )
    assert progress.state == "passed"
    page = as_student.get(OUTLINE).content.decode()
    assert "Module 15: Kubernetes" in page
    assert f'href="{PODS}"' in page and f'href="{DEPLOYMENTS}"' in page
    assert "1 of 2 tasks passed" in page
    assert "0 of 1 task passed" in page
    assert "Continue with 15.6 Pods" in page


def test_the_home_page_links_a_student_to_the_course(as_student):
    page = as_student.get("/").content.decode()
    assert f'href="{OUTLINE}"' in page
    assert "Continue the course" in page


def test_gated_lessons_are_locked_until_the_one_before_has_passed(as_student, cohort):
    cohort.lessons_gated = True
    cohort.save()
    outline = as_student.get(OUTLINE).content.decode()
    assert f'href="{PODS}"' in outline
    assert f'href="{DEPLOYMENTS}"' not in outline
    assert "Locked" in outline

    locked = as_student.get(DEPLOYMENTS)
    assert locked.status_code == 403
    body = locked.content.decode()
    assert "opens when every task of 15.6 Pods has passed" in body
    assert "Scale it" not in body
    refused = as_student.post(task_url("scale", "open", lesson="15.7-deployments"), headers=JSON)
    assert refused.status_code == 403
    assert "opens when every task" in refused.json()["error"]


def test_the_lesson_page_shows_the_text_tasks_quiz_and_the_students_terminal(as_student, cohort):
    page = as_student.get(PODS)
    assert page.status_code == 200
    html = page.content.decode()
    assert "A pod is the smallest thing Kubernetes runs." in html
    assert 'class="command-paste" data-command="kubectl get pods"' in html
    assert '<pre class="mermaid">' in html
    assert "/static/lessons/lesson.js" in html
    assert "vendor/mermaid/dist/mermaid.min.js" in html  # loaded by lesson.js where a diagram is
    assert html.count("data-task-card") == 2
    assert html.count(">Start task<") == 2
    assert "Count the nodes" in html and "Run a pod" in html
    assert f'data-socket="/ws/terminal/?cohort={cohort.slug}"' in html
    assert 'name="q-recreates" value="b"' in html
    assert "Submit answers" in html
    assert 'rel="next"' in html and DEPLOYMENTS in html


def test_the_lesson_page_renders_the_state_words_for_its_script_once(as_student):
    """lesson.js draws pushed results with the words and marks the page renders (json_script):
    those of lessons/templatetags/lesson_tags.py, the templates' own."""
    html = as_student.get(PODS).content.decode()
    rendered = re.search(r'<script id="lesson-states" type="application/json">(.*?)</script>', html).group(1)
    assert json.loads(rendered) == {
        "task": {
            "not_started": "Not started",
            "open": "Not checked yet",
            "pending": "Checking…",
            "failed": "Not passed yet",
            "passed": "Passed",
        },
        "attempt": {"pending": "Checking…", "passed": "Passed", "failed": "Not passed", "error": "Could not check"},
        "check_marks": {"passed": ["✓", "Passed"], "failed": ["✗", "Failed"], "pending": ["", "Still waiting"]},
    }


def test_the_lesson_page_names_the_students_namespace_and_ingress_host(as_student, student, cohort):
    html = as_student.get(PODS).content.decode()
    namespace = student.environment.namespace
    assert f"Your namespace <code>{namespace}</code>" in html
    assert f"your Ingress host <code>{namespace}.{cohort.cluster.ingress_domain}</code>" in html


def test_quiz_answers_and_explanations_stay_off_the_page_until_submitted(as_student):
    html = as_student.get(PODS).content.decode()
    assert EXPLANATION not in html
    assert "choice-correct" not in html
    assert "correct" not in html.lower().replace("correctly", "")


def test_a_student_starts_a_task_reveals_hints_and_checks_an_answer(as_student, student):
    opened = as_student.post(task_url("count-nodes", "open"), headers=JSON)
    assert opened.status_code == 200
    card = opened.json()
    assert card["state"] == "open"
    assert 'id="task-count-nodes"' in card["html"]
    assert ">Check<" in card["html"] and ">Start task<" not in card["html"]
    assert '<label for="answer-count-nodes-1">How many nodes?</label>' in card["html"]
    assert "2 hints left" in card["html"]

    hinted = as_student.post(task_url("count-nodes", "hint"), headers=JSON).json()
    assert "Try <code>kubectl get nodes</code>." in hinted["html"]
    assert "Count the lines." not in hinted["html"]
    assert "1 hint left" in hinted["html"]
    as_student.post(task_url("count-nodes", "hint"), headers=JSON)
    no_more = as_student.post(task_url("count-nodes", "hint"), headers=JSON)
    assert no_more.status_code == 409
    assert no_more.json() == {"error": "This task has no more hints."}

    empty = as_student.post(task_url("count-nodes", "check"), {"answer": ""}, headers=JSON)
    assert empty.status_code == 400
    assert empty.json() == {"error": "Type your answer first: How many nodes?"}

    checked = as_student.post(task_url("count-nodes", "check"), {"answer": "1"}, headers=JSON)
    assert checked.status_code == 200
    attempt = checked.json()["attempt"]
    assert attempt["state"] == "pending"
    assert attempt["task"] == "count-nodes" and attempt["lesson"] == "15.6-pods"
    assert as_student.get(f"/learn/attempts/{attempt['id']}").json() == attempt

    again = as_student.post(task_url("count-nodes", "check"), {"answer": "1"}, headers=JSON)
    assert again.status_code == 429
    assert "wait" in again.json()["error"]

    page = as_student.get(PODS).content.decode()
    assert f'data-attempt="{attempt["id"]}" data-attempt-state="pending"' in page


def test_the_latest_results_and_history_are_on_the_page(as_student, student):
    progress = TaskProgress.objects.create(
        enrollment=student,
        task=Task.objects.get(slug="run-a-pod"),
        state=TaskProgress.State.FAILED,
        setup_done_at="2026-01-01T10:00:00Z",
        attempts_count=2,
    )
    Attempt.objects.create(
        progress=progress, state="failed", message="1 of 1 checks failed.", created_at="2026-01-01T10:01:00Z"
    )
    Attempt.objects.create(
        progress=progress,
        state="failed",
        message="Not yet.",
        results=[{"title": "Pod web exists", "status": "failed", "message": "Pod web: not found in namespace lab-x"}],
        created_at="2026-01-01T10:02:00Z",
    )
    html = as_student.get(PODS).content.decode()
    assert "Pod web: not found in namespace lab-x" in html
    assert 'class="check check-failed"' in html
    assert "Recent attempts" in html and "1 of 1 checks failed." in html
    assert "Not passed yet" in html


def test_checking_an_unopened_task_is_refused_with_a_message(as_student):
    refused = as_student.post(task_url("run-a-pod", "check"), headers=JSON)
    assert refused.status_code == 409
    assert refused.json() == {"error": "Start the task first."}


def test_a_plain_form_post_redirects_back_to_the_task(as_student):
    opened = as_student.post(task_url("run-a-pod", "open"))
    assert opened.status_code == 302
    assert opened.url == f"{PODS}#task-run-a-pod"
    refused = as_student.post(task_url("run-a-pod", "hint"), follow=True)
    assert "This task has no more hints." in refused.content.decode()


def test_an_unexpected_failure_is_a_json_message_without_a_trace(as_student, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(services, "task_open", broken)
    answer = as_student.post(task_url("run-a-pod", "open"), headers=JSON)
    assert answer.status_code == 500
    assert "secret internals" not in answer.content.decode()
    assert "went wrong on our side" in answer.json()["error"]


def test_posts_need_the_csrf_token(student):
    client = Client(enforce_csrf_checks=True)
    client.force_login(student.user)
    assert client.post(task_url("run-a-pod", "open"), headers=JSON).status_code == 403
    assert client.post(f"{PODS}quiz", {"q-recreates": "b"}).status_code == 403
    assert not TaskProgress.objects.exists()


def test_only_the_owner_may_read_an_attempt(client, as_student, enrol):
    as_student.post(task_url("run-a-pod", "open"), headers=JSON)
    attempt = as_student.post(task_url("run-a-pod", "check"), headers=JSON).json()["attempt"]
    assert as_student.get(f"/learn/attempts/{attempt['id']}").status_code == 200

    other = Client()
    other.force_login(enrol("bea").user)
    refused = other.get(f"/learn/attempts/{attempt['id']}")
    assert refused.status_code == 404
    assert refused.json() == {"error": "No such attempt."}
    assert other.get("/learn/attempts/999999").status_code == 404


def test_the_quiz_is_graded_and_shows_the_score_and_explanations(as_student):
    incomplete = as_student.post(f"{PODS}quiz", {})
    assert incomplete.status_code == 400
    assert "Answer question 1 first." in incomplete.content.decode()

    answer = as_student.post(f"{PODS}quiz", {"q-recreates": "a"})
    assert answer.status_code == 302
    assert answer.url == f"{PODS}#quiz"
    html = as_student.get(PODS).content.decode()
    assert "You scored <strong>0 of 1</strong>" in html
    assert EXPLANATION in html
    assert "Not quite" in html
    assert "Submit answers" not in html
    outline = as_student.get(OUTLINE).content.decode()
    assert "Quiz 0/1" in outline
