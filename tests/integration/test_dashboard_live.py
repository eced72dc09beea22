"""The dashboard live, on the real stack: its socket's permissions through the full ASGI
app; a grade made by a real Celery worker against the real cluster reaching the
instructor's socket through Redis; the drill-down reading the student's namespace; and the
instructor's actions, logged."""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client
from kubernetes import client

from labplatform.asgi import application
from labplatform.cohorts.models import Enrollment
from lessons.models import Attempt, StaffAction, TaskProgress
from lessons.services import attempt_create, task_open
from tests.lessons_rows import course_with_task, deployment
from tests.terminals import provision_ready, session_cookie, socket_headers

pytestmark = [pytest.mark.django_db(transaction=True)]


def people(cohort):
    students = list(cohort.enrollments.filter(role=Enrollment.Role.STUDENT).select_related("user"))
    instructors = [e.user for e in cohort.enrollments.filter(role=Enrollment.Role.INSTRUCTOR).select_related("user")]
    return students, instructors


async def connect(path: str, *, session: str | None, origin: str = "http://localhost"):
    socket = WebsocketCommunicator(application, path, headers=socket_headers(session=session, origin=origin))
    connected, code = await socket.connect(timeout=10)
    return socket, connected, code


def test_who_may_open_the_dashboard_socket(make_cohort, django_user_model):
    cohort = make_cohort(students=2, instructors=1)
    other = make_cohort(students=0, instructors=1)
    (student, _), (instructor,) = people(cohort)
    _, (other_instructor,) = people(other)
    staff = django_user_model.objects.create_user(username="dash-staff", is_staff=True)
    path = f"/ws/teach/{cohort.slug}/"
    cases = [
        (None, "http://localhost", False, 4401),
        (student.user, "http://localhost", False, 4403),
        (other_instructor, "http://localhost", False, 4403),
        (instructor, "https://evil.example", False, None),
        (instructor, "http://localhost", True, None),
        (staff, "http://localhost", True, None),
    ]
    sessions = [session_cookie(user) if user else None for user, *_ in cases]

    async def scenario():
        outcomes = []
        for (_, origin, _, _), session in zip(cases, sessions, strict=True):
            socket, connected, code = await connect(path, session=session, origin=origin)
            outcomes.append((connected, code if not connected else None))
            await socket.disconnect()
        return outcomes

    outcomes = async_to_sync(scenario)()
    for (user, origin, may, code), (connected, got) in zip(cases, outcomes, strict=True):
        assert connected == may, (user, origin)
        if code is not None:
            assert got == code, (user, got)


@pytest.mark.local_cluster
@pytest.mark.usefixtures("celery_worker_process")
def test_a_grade_by_the_worker_reaches_the_instructors_socket_and_a_regrade_is_logged(make_cohort, kube):
    cohort = make_cohort(students=1, instructors=1)
    (student,), (instructor,) = people(cohort)
    provision_ready(cohort)
    student.refresh_from_db()
    task = course_with_task()
    key = f"{task.lesson.slug}/{task.slug}"
    session = session_cookie(instructor)

    async def next_cell(socket) -> dict:
        message = await socket.receive_json_from(timeout=60)
        assert message["type"] == "cell"
        return message

    async def scenario():
        socket, connected, _ = await connect(f"/ws/teach/{cohort.slug}/", session=session)
        assert connected
        await database_sync_to_async(task_open)(enrollment=student, task=task)
        opened = await next_cell(socket)
        await database_sync_to_async(attempt_create)(enrollment=student, task=task, answers=[])
        failed = await next_cell(socket)
        client.AppsV1Api(kube).create_namespaced_deployment(student.environment.namespace, deployment(replicas=3))
        # An instructor regrades the failed attempt now that the Deployment exists.
        attempt = await database_sync_to_async(Attempt.objects.get)(progress__enrollment=student)
        web = Client()
        await database_sync_to_async(web.force_login)(instructor)
        response = await database_sync_to_async(web.post)(
            f"/teach/{cohort.slug}/students/{student.student_id}/attempts/{attempt.pk}/regrade/"
        )
        assert response.status_code == 302
        passed = await next_cell(socket)
        await socket.disconnect()
        return opened, failed, passed

    opened, failed, passed = async_to_sync(scenario)()
    assert opened == {"type": "cell", "student": student.student_id, "task": key, "state": "open", "attempts": 0}
    assert failed == {"type": "cell", "student": student.student_id, "task": key, "state": "failed", "attempts": 1}
    assert passed == {"type": "cell", "student": student.student_id, "task": key, "state": "passed", "attempts": 2}
    action = StaffAction.objects.get(enrollment=student)
    assert (action.kind, action.actor, action.task_id) == (StaffAction.Kind.REGRADE, instructor, task.pk)
    assert action.attempt.state == Attempt.State.PASSED


@pytest.mark.local_cluster
def test_the_drilldown_reads_the_namespace_and_marking_passed_is_logged_and_pushed(make_cohort, kube):
    cohort = make_cohort(students=1, instructors=1)
    (student,), (instructor,) = people(cohort)
    provision_ready(cohort)
    student.refresh_from_db()
    task = course_with_task()
    namespace = student.environment.namespace
    client.AppsV1Api(kube).create_namespaced_deployment(namespace, deployment(replicas=2))
    client.CoreV1Api(kube).create_namespaced_secret(
        namespace, {"metadata": {"name": "rag-secrets"}, "stringData": {"API_KEY": "sk-very-secret-value"}}
    )
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(cohort.grades_group, channel)
    web = Client()
    web.force_login(instructor)
    page_url = f"/teach/{cohort.slug}/students/{student.student_id}/"

    page = web.get(page_url).content.decode()
    assert "<td>Deployment</td><td><code>web</code></td><td>" in page
    assert "rag-secrets" in page and "sk-very-secret-value" not in page
    assert f"/terminal/watch/{student.student_id}/" in page

    refused = web.post(f"{page_url}tasks/{task.pk}/pass/", {"reason": "  "}, follow=True).content.decode()
    assert "Say why the task counts as passed" in refused
    assert not StaffAction.objects.exists()

    web.post(f"{page_url}tasks/{task.pk}/pass/", {"reason": "Done on their laptop's cluster"})
    progress = TaskProgress.objects.get(enrollment=student, task=task)
    assert progress.state == TaskProgress.State.PASSED and progress.first_passed_at is not None

    async def pushed():
        return await asyncio.wait_for(layer.receive(channel), 10)

    message = async_to_sync(pushed)()
    assert (message["type"], message["student"], message["state"]) == ("grade.update", student.student_id, "passed")
    page = web.get(page_url).content.decode()
    assert (
        "marked a task passed (15.7 Create a Deployment with 3 replicas): “Done on their laptop&#x27;s cluster”" in page
    )

    web.post(f"{page_url}reset/")
    assert StaffAction.objects.filter(enrollment=student, kind=StaffAction.Kind.RESET, actor=instructor).exists()
    # Another cohort's student cannot be acted on from this cohort's URL.
    other = make_cohort(students=1)
    (outsider,), _ = people(other)
    assert web.post(f"/teach/{cohort.slug}/students/{outsider.student_id}/reset/").status_code == 404
