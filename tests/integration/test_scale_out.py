"""The scale-out proof for live events: two web processes (real daphne) on one Redis and
one database behave as one. An instructor's dashboard on either process sees a grade
pushed once, and a student whose page is on process B sees an announcement posted
through process A. Real processes, real HTTP and WebSockets, on loopback."""

import asyncio
import json

import aiohttp
import pytest
from django.conf import settings

from labplatform.cohorts.models import Cluster, Cohort, Enrollment
from labplatform.environments.models import StudentEnvironment
from lessons.events import task_state_push
from lessons.models import TaskProgress
from tests.lessons_rows import course_with_task
from tests.processes import free_port, start_web, stop
from tests.terminals import session_cookie

pytestmark = [pytest.mark.django_db(transaction=True)]

TEXT = "Break until 11:00; your shells keep running."


@pytest.fixture
def two_web_processes(transactional_db):
    """Ports of two daphne processes, each with its own channel layer connection to Redis."""
    servers = [start_web(port=free_port(), name="scale-out-web") for _ in range(2)]
    yield [int(server.args[server.args.index("-p") + 1]) for server in servers]
    for server in servers:
        stop(server)


@pytest.fixture
def cohort(django_user_model):
    task = course_with_task()
    cohort = Cohort.objects.create(
        name="Scale-out",
        slug="scale-out",
        course=task.lesson.course.slug,
        cluster=Cluster.objects.get_or_create(name="local", defaults={"is_local": True})[0],
    )
    for role in Enrollment.Role.values:
        user = django_user_model.objects.create_user(username=f"scale-{role}", first_name=f"scale {role}")
        enrollment = Enrollment.objects.create(user=user, cohort=cohort, role=role)
        if role == Enrollment.Role.STUDENT:
            StudentEnvironment.objects.create(enrollment=enrollment, namespace=f"lab-{enrollment.student_id}")
            TaskProgress.objects.create(enrollment=enrollment, task=task, state=TaskProgress.State.PASSED)
    return cohort


def cookie(session: str, csrf: str | None = None) -> dict[str, str]:
    value = f"{settings.SESSION_COOKIE_NAME}={session}"
    if csrf:
        value += f"; {settings.CSRF_COOKIE_NAME}={csrf}"
    return {"Cookie": value}


async def open_socket(http: aiohttp.ClientSession, port: int, path: str, session: str):
    # A header, not the cookie jar: aiohttp's jar keeps no cookies for IP addresses.
    return await http.ws_connect(
        f"ws://127.0.0.1:{port}{path}", origin=f"http://127.0.0.1:{port}", headers=cookie(session)
    )


async def next_json(socket, timeout: float = 20) -> dict:
    message = await socket.receive(timeout=timeout)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    return json.loads(message.data)


async def csrf_token(http: aiohttp.ClientSession, port: int) -> str:
    """The CSRF cookie, from the sign-in page (it is not tied to a session)."""
    async with http.get(f"http://127.0.0.1:{port}/login/") as response:
        assert response.status == 200
        return response.cookies[settings.CSRF_COOKIE_NAME].value


def test_scale_out_live_events_reach_sockets_on_every_web_process(cohort, two_web_processes):
    process_a, process_b = two_web_processes
    instructor = cohort.enrollments.get(role=Enrollment.Role.INSTRUCTOR).user
    student = cohort.enrollments.get(role=Enrollment.Role.STUDENT)
    teaching, studying = session_cookie(instructor), session_cookie(student.user)
    progress = TaskProgress.objects.select_related("task__lesson", "enrollment__cohort").get(enrollment=student)

    async def scenario():
        async with aiohttp.ClientSession() as http:
            on_a = await open_socket(http, process_a, f"/ws/teach/{cohort.slug}/", teaching)
            on_b = await open_socket(http, process_b, f"/ws/teach/{cohort.slug}/", teaching)
            students_page_on_b = await open_socket(http, process_b, "/ws/events/", studying)

            # One push, as a worker makes it after grading: both dashboards get it.
            await asyncio.to_thread(task_state_push, progress=progress)
            cells = [await next_json(on_a), await next_json(on_b)]

            token = await csrf_token(http, process_a)
            async with http.post(
                f"http://127.0.0.1:{process_a}/staff/cohorts/{cohort.slug}/announce/",
                data={"text": TEXT},
                headers={**cookie(teaching, token), "X-CSRFToken": token},
                allow_redirects=False,
            ) as response:
                assert response.status == 302, await response.text()
            announcement = await next_json(students_page_on_b)
            for socket in (on_a, on_b, students_page_on_b):
                await socket.close()
            return cells, announcement

    cells, announcement = asyncio.run(scenario())
    expected = {
        "type": "cell",
        "student": student.student_id,
        "task": f"{progress.task.lesson.slug}/{progress.task.slug}",
        "state": "passed",
        "attempts": 0,
    }
    assert cells == [expected, expected]
    assert (announcement["type"], announcement["cohort"], announcement["text"]) == ("announcement", "Scale-out", TEXT)
