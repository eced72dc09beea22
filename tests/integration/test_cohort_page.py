"""The staff cohort page: who may see it, its actions, and its live progress socket."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

from labplatform.asgi import application
from labplatform.environments.models import StudentEnvironment
from tests.cohorts import wait_for_environments

pytestmark = pytest.mark.django_db(transaction=True)
State = StudentEnvironment.State


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(username="ada", password="x", is_staff=True)


def test_it_shows_the_cohorts_people_and_counts_to_staff(client, staff, make_cohort):
    cohort = make_cohort(students=2, instructors=1)
    client.force_login(staff)
    page = client.get(f"/staff/cohorts/{cohort.slug}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert f"{cohort.slug}-student-0" in body and f"{cohort.slug}-instructor-0" in body
    assert f'data-socket="/ws/cohorts/{cohort.slug}/progress/"' in body


def test_it_refuses_a_student(client, django_user_model, make_cohort):
    cohort = make_cohort(students=1)
    client.force_login(django_user_model.objects.get(username=f"{cohort.slug}-student-0"))
    assert client.get(f"/staff/cohorts/{cohort.slug}/").status_code == 302
    assert client.post(f"/staff/cohorts/{cohort.slug}/provision/").status_code == 302
    assert not StudentEnvironment.objects.exists()


@pytest.mark.usefixtures("celery_worker_process")
def test_a_double_submitted_provision_button_does_the_work_once(client, staff, make_cohort):
    cohort = make_cohort(students=3)
    client.force_login(staff)
    first = client.post(f"/staff/cohorts/{cohort.slug}/provision/", follow=True)
    second = client.post(f"/staff/cohorts/{cohort.slug}/provision/", follow=True)
    assert "Provisioning 3 environment(s)." in first.content.decode()
    assert "Provisioning 0 environment(s)." in second.content.decode()
    wait_for_environments(cohort, State.READY, 3)


async def connect(session: str | None, slug: str) -> tuple[WebsocketCommunicator, bool, int]:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if session:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session}".encode()))
    socket = WebsocketCommunicator(application, f"/ws/cohorts/{slug}/progress/", headers=headers)
    connected, code = await socket.connect()
    return socket, connected, code


@pytest.mark.asyncio
@pytest.mark.usefixtures("celery_worker_process")
async def test_staff_watch_provisioning_progress_live(client, staff, make_cohort):
    cohort = await database_sync_to_async(make_cohort)(students=2)
    await database_sync_to_async(client.force_login)(staff)
    socket, connected, _ = await connect(client.cookies[settings.SESSION_COOKIE_NAME].value, cohort.slug)
    assert connected

    from labplatform.environments.services import cohort_provision

    await database_sync_to_async(cohort_provision)(cohort=cohort)
    seen_ready = 0
    namespaces = set()
    # Counts come with each event and from a periodic re-read, in any order; both
    # environments' events arrive as well.
    while seen_ready < 2 or len(namespaces) < 2:
        message = await socket.receive_json_from(timeout=60)
        assert message["progress"]["total"] == 2
        seen_ready = message["progress"]["states"]["ready"]
        if "environment" in message:
            namespaces.add(message["environment"]["namespace"])
    assert len(namespaces) == 2
    await socket.disconnect()


@pytest.mark.asyncio
async def test_the_progress_socket_refuses_non_staff(client, django_user_model, make_cohort):
    cohort = await database_sync_to_async(make_cohort)(students=1)
    student = await database_sync_to_async(django_user_model.objects.get)(username=f"{cohort.slug}-student-0")
    await database_sync_to_async(client.force_login)(student)
    for session in (client.cookies[settings.SESSION_COOKIE_NAME].value, None):
        socket, connected, code = await connect(session, cohort.slug)
        assert (connected, code) == (False, 4403)
        # The refused consumer still waits on the channel layer until the socket is gone.
        await socket.disconnect()
