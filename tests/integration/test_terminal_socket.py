"""The terminal WebSocket through the full ASGI stack into real workstations on the local
cluster: who may connect, the shell, resize, reattach, flow control and bad input."""

import asyncio

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async

from labplatform.cluster.clients import close_async_clients
from tests.terminals import TerminalClient, plain, provision_ready_async, ready_terminal, session_cookie_async

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.local_cluster]


@pytest_asyncio.fixture
async def cohort(make_cohort):
    cohort = await database_sync_to_async(make_cohort)(students=2, instructors=1)
    students = await provision_ready_async(cohort)
    instructor = await database_sync_to_async(lambda: cohort.enrollments.get(role="instructor").user)()
    yield cohort, students, instructor
    await close_async_clients()


async def test_the_student_types_in_their_own_shell(cohort, client):
    _, students, _ = cohort
    me = students[0]
    session = await session_cookie_async(client, me.user)
    terminal = await ready_terminal("/ws/terminal/", session=session)
    await terminal.type("id -un; kubectl get pods\r")
    await terminal.wait_for_text(f"lab-{me.student_id}")
    await terminal.wait_for_text("No resources found")
    await terminal.close()
