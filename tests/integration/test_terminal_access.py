"""Terminal sockets capped per person and closed when access ends, through the full ASGI
stack and the Redis channel layer into real workstations on the local cluster: the
socket past the cap is refused saying why (watches do not count against the student);
signing out closes the terminal and the shell keeps running for the next sign-in;
a dropped student's terminal (and the watch of it) closes and a new one is refused; an
instructor removed from the cohort loses their watch; a cohort torn down closes its
terminals. And the cap holds across two web processes."""

import asyncio
import json

import aiohttp
import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from django.conf import settings

from labplatform.cluster.clients import close_async_clients
from tests.access_changes import admin_client, admin_drops_enrollment, sign_out, staff_drops_student
from tests.processes import free_port, start_web, stop
from tests.terminals import (
    TerminalClient,
    provision_ready,
    provision_ready_async,
    ready_terminal,
    session_cookie,
    session_cookie_async,
    shell_identity,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.local_cluster]

CLOSE_WAIT_SECONDS = 20  # a bound on waiting, never an expectation of how long it takes


@pytest_asyncio.fixture
async def cohort(make_cohort):
    """One student with a ready workstation and their instructor."""
    cohort = await database_sync_to_async(make_cohort)(students=1, instructors=1)
    (student,) = await provision_ready_async(cohort)
    instructor = await database_sync_to_async(lambda: cohort.enrollments.get(role="instructor"))()
    yield cohort, student, instructor
    await close_async_clients()


async def refused(path: str, *, session: str) -> tuple[dict, int]:
    """A terminal socket that ends before any shell: its last word and close code."""
    terminal = TerminalClient(path, session=session)
    assert await terminal.connect()
    ended = await terminal.wait_for_message("ended")
    code = await terminal.wait_closed()
    assert not [m for m in terminal.messages if m["type"] == "status"], "no shell is opened"
    await terminal.close()
    return ended, code


async def ended_by_the_server(terminal: TerminalClient) -> tuple[dict, int]:
    ended = await terminal.wait_for_message("ended", timeout=CLOSE_WAIT_SECONDS)
    return ended, await terminal.wait_closed(timeout=CLOSE_WAIT_SECONDS)


def watch_path(enrollment) -> str:
    return f"/ws/terminal/watch/{enrollment.student_id}/"


@pytest.mark.asyncio
async def test_the_socket_past_the_cap_is_refused_saying_why(cohort, settings):
    settings.TERMINAL_SOCKETS_PER_STUDENT = 2
    settings.TERMINAL_WATCHES_PER_INSTRUCTOR = 1
    _, student, instructor = cohort
    session = await session_cookie_async(student.user)
    first = await ready_terminal("/ws/terminal/", session=session)
    second = await ready_terminal("/ws/terminal/", session=session)

    ended, code = await refused("/ws/terminal/", session=session)
    assert code == 4429
    assert ended["reason"] == (
        "Too many terminals open: you have 2 terminals open already, the most at once. "
        "Close one in another tab, then Reconnect."
    )
    assert ended["reset"] is False

    # An instructor's watch is not the student's: it opens with the student at the cap,
    # and counts against the instructor's own.
    watcher_session = await session_cookie_async(instructor.user)
    watcher = await ready_terminal(watch_path(student), session=watcher_session)
    ended, code = await refused(watch_path(student), session=watcher_session)
    assert code == 4429 and "you are watching 1 terminal already" in ended["reason"], ended

    # A tab closed gives its slot back.
    await first.close()
    third = await ready_terminal("/ws/terminal/", session=session)
    assert await shell_identity(third, "third") == await shell_identity(second, "second")
    for terminal in (second, third, watcher):
        await terminal.close()


@pytest.mark.asyncio
async def test_signing_out_closes_the_terminal_and_the_shell_waits_for_the_next_sign_in(cohort):
    _, student, _ = cohort
    session = await session_cookie_async(student.user)
    terminal = await ready_terminal("/ws/terminal/", session=session)
    shell = await shell_identity(terminal, "before")
    await terminal.type("sleep 600 &\r")
    await terminal.wait_for_text("[1]")

    await database_sync_to_async(sign_out)(session)

    ended, code = await ended_by_the_server(terminal)
    assert code == 4401
    assert "You signed out" in ended["reason"] and "sign in again" in ended["reason"], ended
    await terminal.close()
    _, code = await refused("/ws/terminal/", session=session)
    assert code == 4401

    again = await ready_terminal("/ws/terminal/", session=await session_cookie_async(student.user))
    assert await shell_identity(again, "after") == shell
    await again.type("jobs\r")
    await again.wait_for_text("sleep 600 &")
    await again.close()


@pytest.mark.asyncio
async def test_a_dropped_student_loses_their_terminal_and_the_watch_of_it(cohort, django_user_model):
    course, student, instructor = cohort
    session = await session_cookie_async(student.user)
    terminal = await ready_terminal(f"/ws/terminal/?cohort={course.slug}", session=session)
    watcher = await ready_terminal(watch_path(student), session=await session_cookie_async(instructor.user))
    admin = await database_sync_to_async(admin_client)(django_user_model)

    await database_sync_to_async(staff_drops_student)(admin, student)

    ended, code = await ended_by_the_server(terminal)
    assert code == 4403
    assert ended["reason"] == f"You are no longer enrolled in {course.name}, so your terminal there is closed."
    ended, code = await ended_by_the_server(watcher)
    assert code == 4403
    assert ended["reason"] == f"{student.user.username} is no longer enrolled in {course.name}.", ended
    for closed in (terminal, watcher):
        await closed.close()

    ended, code = await refused(f"/ws/terminal/?cohort={course.slug}", session=session)
    assert code == 4403 and "no longer enrolled" in ended["reason"], ended
    _, code = await refused("/ws/terminal/", session=session)
    assert code == 4403


@pytest.mark.asyncio
async def test_an_instructor_removed_from_the_cohort_loses_the_watch(cohort, django_user_model):
    _, student, instructor = cohort
    owner = await ready_terminal("/ws/terminal/", session=await session_cookie_async(student.user))
    watcher_session = await session_cookie_async(instructor.user)
    watcher = await ready_terminal(watch_path(student), session=watcher_session)
    assert (await owner.wait_for_message("watchers"))["count"] == 1
    admin = await database_sync_to_async(admin_client)(django_user_model)

    await database_sync_to_async(admin_drops_enrollment)(admin, instructor)

    ended, code = await ended_by_the_server(watcher)
    assert code == 4403
    assert ended["reason"] == "Only the instructors of this student's cohort may watch this terminal."
    await watcher.close()
    # The student's own terminal is untouched and hears that nobody watches now.
    await owner.wait_for(
        lambda c: [m for m in c.messages if m["type"] == "watchers"][-1]["count"] == 0, what="watchers back to 0"
    )
    await owner.type("echo still-$((6*7))\r")
    await owner.wait_for_text("still-42")
    assert owner.closed_code is None
    _, code = await refused(watch_path(student), session=watcher_session)
    assert code == 4403
    await owner.close()


@pytest.mark.asyncio
async def test_a_cohort_torn_down_closes_its_terminals_for_good(cohort, django_user_model):
    course, student, instructor = cohort
    session = await session_cookie_async(student.user)
    terminal = await ready_terminal("/ws/terminal/", session=session)
    watcher = await ready_terminal(watch_path(student), session=await session_cookie_async(instructor.user))
    admin = await database_sync_to_async(admin_client)(django_user_model)

    def teardown():
        response = admin.post(f"/staff/cohorts/{course.slug}/teardown/")
        assert response.status_code == 302

    await database_sync_to_async(teardown)()

    ended, code = await ended_by_the_server(terminal)
    assert (code, ended["reason"]) == (4410, "Your environment has been removed, so the terminal is closed.")
    ended, code = await ended_by_the_server(watcher)
    assert code == 4410 and "environment has been removed" in ended["reason"], ended
    for closed in (terminal, watcher):
        await closed.close()
    ended, code = await refused("/ws/terminal/", session=session)
    assert code == 4410, ended


# Across web processes


def test_the_cap_holds_across_two_web_processes(make_cohort):
    """Two daphne processes on one Redis: the student's one terminal allowed is open on the
    first, and the second process refuses the next; once it closes, the second opens one."""
    cohort = make_cohort(students=1)
    (student,) = provision_ready(cohort)
    session = session_cookie(student.user)
    servers = [start_web(port=free_port(), name="terminal-cap-web", TERMINAL_SOCKETS_PER_STUDENT="1") for _ in range(2)]
    ports = [int(server.args[server.args.index("-p") + 1]) for server in servers]
    try:
        asyncio.run(_cap_across(ports, session))
    finally:
        for server in servers:
            stop(server)


async def _terminal(http: aiohttp.ClientSession, port: int, session: str):
    socket = await http.ws_connect(
        f"ws://127.0.0.1:{port}/ws/terminal/",
        origin=f"http://127.0.0.1:{port}",
        headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session}"},
    )
    await socket.send_str(json.dumps({"type": "resize", "cols": 80, "rows": 24}))
    return socket


async def _first_message(socket) -> dict:
    """The first JSON frame, acknowledging output on the way."""
    while True:
        message = await socket.receive(timeout=CLOSE_WAIT_SECONDS)
        if message.type == aiohttp.WSMsgType.BINARY:
            await socket.send_str(json.dumps({"type": "ack", "bytes": len(message.data)}))
            continue
        assert message.type == aiohttp.WSMsgType.TEXT, message
        return json.loads(message.data)


async def _cap_across(ports: list[int], session: str) -> None:
    async with aiohttp.ClientSession() as http:
        first = await _terminal(http, ports[0], session)
        assert (await _first_message(first))["type"] == "status"
        second = await _terminal(http, ports[1], session)
        ended = await _first_message(second)
        assert ended["type"] == "ended" and "Too many terminals open" in ended["reason"], ended
        closing = await second.receive(timeout=CLOSE_WAIT_SECONDS)
        assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 4429, closing
        await first.close()
        # The slot is given back when the first process sees the close; asked again until then.
        for _ in range(20):
            third = await _terminal(http, ports[1], session)
            answer = await _first_message(third)
            await third.close()
            if answer["type"] == "status":
                break
            await asyncio.sleep(0.5)
        assert answer["type"] == "status", answer
