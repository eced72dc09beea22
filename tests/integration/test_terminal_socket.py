"""The terminal WebSocket through the full ASGI stack into real workstations on the local
cluster: who may connect, the shell, resize, reattach, flow control and bad input."""

import asyncio
import re

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from kubernetes import client as k8s

from labplatform.cluster.clients import close_async_clients
from labplatform.cluster.terminals import KEEPALIVE_KEY
from labplatform.terminal.flow import HIGH_WATERMARK
from labplatform.terminal.models import ShadowSession, TerminalActivity
from tests.terminals import (
    TerminalClient,
    provision_ready_async,
    ready_terminal,
    screen,
    session_cookie_async,
    shell_identity,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.local_cluster]


@pytest_asyncio.fixture
async def cohort(make_cohort):
    """Two students with ready workstations and their instructor."""
    cohort = await database_sync_to_async(make_cohort)(students=2, instructors=1)
    students = await provision_ready_async(cohort)
    instructor = await database_sync_to_async(lambda: cohort.enrollments.get(role="instructor").user)()
    yield cohort, students, instructor
    await close_async_clients()


async def screen_size(terminal: TerminalClient, tag: str, *, expect: tuple[int, int]) -> tuple[int, int]:
    """The shell's terminal size, asked until it is `expect` (a resize is applied
    asynchronously, so keys typed right after it may overtake it) or for 10 tries."""
    for attempt in range(10):
        await terminal.type(f"echo {tag}{attempt}-$((2+2)) $(stty size)\r")
        pattern = re.compile(rf"{tag}{attempt}-4 (\d+) (\d+)")
        await terminal.wait_for(lambda c, p=pattern: p.search(c.text), what=f"{tag} size")
        rows, cols = pattern.search(terminal.text).groups()
        if (int(cols), int(rows)) == expect:
            break
        await asyncio.sleep(0.2)
    return int(cols), int(rows)


# Who may connect


async def test_the_student_types_in_their_own_shell(cohort):
    _, students, _ = cohort
    me = students[0]
    terminal = await ready_terminal("/ws/terminal/", session=await session_cookie_async(me.user))
    assert terminal.messages[0] == {"type": "status", "state": "connected", "read_only": False, "watchers": 0}
    await terminal.type("id -un; kubectl get pods\r")
    await terminal.wait_for_text(f"lab-{me.student_id}")
    await terminal.wait_for_text("No resources found")
    # The bridge's keepalive key is the session's business: nothing reaches the shell.
    await terminal.socket.send_to(bytes_data=KEEPALIVE_KEY)
    await terminal.type("echo typed-$((3+4))\r")
    await terminal.wait_for_text("typed-7")
    assert "9998" not in terminal.text
    await terminal.close()
    recorded = database_sync_to_async(TerminalActivity.objects.filter(enrollment=me).exists)
    for _ in range(50):  # written in the background
        if await recorded():
            break
        await asyncio.sleep(0.1)
    assert await recorded()


async def test_the_instructor_watches_read_only_and_the_student_sees_it(cohort):
    _, students, instructor = cohort
    me = students[0]
    owner = await ready_terminal("/ws/terminal/", session=await session_cookie_async(me.user))
    watcher = TerminalClient(f"/ws/terminal/watch/{me.student_id}/", session=await session_cookie_async(instructor))
    assert await watcher.connect()
    status = await watcher.wait_for_message("status")
    assert status["read_only"] is True
    assert (await owner.wait_for_message("watchers"))["count"] == 1

    await owner.type("echo owner-$((40+2))\r")
    await watcher.wait_for_text("owner-42")
    # The watcher's window size is its own: the student's screen keeps the student's.
    await watcher.resize(150, 50)
    await owner.type("echo size-$((1+1)) $(stty size)\r")
    await owner.wait_for_text("size-2 30 100")
    # The watcher's keys go nowhere: neither typed into the shell nor run.
    await watcher.type("echo watcher-$((50+5))\r")
    await owner.type("echo after-$((60+6))\r")
    await owner.wait_for_text("after-66")
    await watcher.wait_for_text("after-66")
    assert "watcher-55" not in owner.text
    assert "echo watcher" not in owner.text

    await watcher.close()
    await owner.wait_for(
        lambda c: [m for m in c.messages if m["type"] == "watchers"][-1]["count"] == 0, what="watchers back to 0"
    )
    await owner.close()
    session = await database_sync_to_async(ShadowSession.objects.get)(enrollment=me)
    assert session.watcher_id == instructor.pk
    assert session.ended_at is not None and session.ended_at >= session.started_at


@pytest.mark.parametrize(
    ("who", "path", "code"),
    [
        ("anonymous", "own", 4401),
        ("anonymous", "watch", 4401),
        ("other student", "watch", 4403),
        ("student watching themselves", "watch", 4403),
        ("another cohort's instructor", "watch", 4403),
        ("instructor without a student enrollment", "own", 4403),
    ],
)
async def test_anyone_else_is_refused_before_an_exec(cohort, make_cohort, who, path, code):
    _, students, instructor = cohort
    me, other = students
    if who == "anonymous":
        session = None
    elif who == "other student":
        session = await session_cookie_async(other.user)
    elif who == "student watching themselves":
        session = await session_cookie_async(me.user)
    elif who == "another cohort's instructor":
        elsewhere = await database_sync_to_async(make_cohort)(students=0, instructors=1)
        stranger = await database_sync_to_async(lambda: elsewhere.enrollments.get().user)()
        session = await session_cookie_async(stranger)
    else:
        session = await session_cookie_async(instructor)
    url = "/ws/terminal/" if path == "own" else f"/ws/terminal/watch/{me.student_id}/"
    terminal = TerminalClient(url, session=session)
    assert await terminal.connect()
    ended = await terminal.wait_for_message("ended")
    assert await terminal.wait_closed() == code
    assert not [m for m in terminal.messages if m["type"] == "status"], "no shell is opened"
    assert ended["reason"]
    assert not await database_sync_to_async(ShadowSession.objects.exists)()
    await terminal.close()


async def test_a_socket_from_another_origin_is_refused(cohort):
    _, students, _ = cohort
    terminal = TerminalClient(
        "/ws/terminal/", session=await session_cookie_async(students[0].user), origin="https://evil.example"
    )
    assert not await terminal.connect()
    await terminal.close()  # the refusing consumer waits on the channel layer until then


# The shell


async def test_resize_is_forwarded_clamped_and_coalesced(cohort):
    _, students, _ = cohort
    terminal = await ready_terminal("/ws/terminal/", session=await session_cookie_async(students[0].user))
    await terminal.resize(132, 43)
    assert await screen_size(terminal, "a", expect=(132, 43)) == (132, 43)
    await terminal.resize(100000, 100000)
    assert await screen_size(terminal, "b", expect=(500, 200)) == (500, 200)
    await terminal.resize(0, 0)  # a hidden panel: ignored, not closed
    assert await screen_size(terminal, "c", expect=(500, 200)) == (500, 200)
    for i in range(1000):
        await terminal.resize(80 + i % 7, 24)
    await terminal.resize(90, 30)
    assert await screen_size(terminal, "d", expect=(90, 30)) == (90, 30)
    assert terminal.closed_code is None
    await terminal.close()


async def test_a_reload_reattaches_to_the_same_shell_with_its_screen(cohort):
    _, students, _ = cohort
    session = await session_cookie_async(students[0].user)
    first = await ready_terminal("/ws/terminal/", session=session)
    pid = await shell_identity(first, "before")
    await first.type("sleep 300 &\r")
    await first.wait_for_text("[1]")
    await first.close()

    second = await ready_terminal("/ws/terminal/", session=session)
    # The screen comes back from tmux's state: what was on it, once.
    await second.wait_for_text(f"before-2-{pid}-end")
    shown = screen(second.output)
    assert shown.count(f"before-2-{pid}-end") == 1, shown
    assert await shell_identity(second, "after") == pid
    await second.type("jobs\r")
    await second.wait_for_text("sleep 300 &")
    await second.close()


async def test_a_second_tab_attaches_to_the_same_shell(cohort):
    _, students, _ = cohort
    session = await session_cookie_async(students[0].user)
    one = await ready_terminal("/ws/terminal/", session=session)
    two = await ready_terminal("/ws/terminal/", session=session)
    pid = await shell_identity(one, "one")
    await two.wait_for_text(f"one-2-{pid}-end")
    assert await shell_identity(two, "two") == pid
    await two.type("echo clients-$((9+1))-$(tmux list-clients | wc -l)\r")
    await two.wait_for_text("clients-10-2")
    # A closed tab leaves the session: its client does not linger.
    await one.close()
    await two.type("echo clients-$((9+2))-$(tmux list-clients | wc -l)\r")
    await two.wait_for_text("clients-11-1")
    await two.close()


async def test_a_client_that_stops_acknowledging_stalls_the_stream(cohort):
    _, students, _ = cohort
    terminal = await ready_terminal("/ws/terminal/", session=await session_cookie_async(students[0].user))
    await terminal.type("clear\r")
    await terminal.wait_for_text("$")
    terminal.ack = False
    received_before = len(terminal.output)
    await terminal.type("yes flood-line\r")
    # Output arrives until the window is full, then stops: wait for a second of silence.
    while True:
        size = len(terminal.output)
        try:
            await terminal.wait_for(lambda c, size=size: len(c.output) > size, timeout=1.5, what="more output")
        except AssertionError:
            break
    unacknowledged = len(terminal.output) - received_before
    assert 0 < unacknowledged <= HIGH_WATERMARK + 64 * 1024
    # Acknowledging reopens the stream, and Ctrl-C brings the prompt back.
    terminal.ack = True
    await terminal.send_json({"type": "ack", "bytes": len(terminal.output)})
    await terminal.type("\x03")
    await terminal.type("echo done-$((3*3))\r")
    await terminal.wait_for_text("done-9", timeout=30)
    await terminal.close()


# Bad input


async def test_junk_and_oversized_frames_close_the_socket_with_a_reason(cohort):
    _, students, _ = cohort
    session = await session_cookie_async(students[0].user)
    junk = await ready_terminal("/ws/terminal/", session=session)
    await junk.socket.send_to(text_data="{not json")
    assert "JSON" in (await junk.wait_for_message("ended"))["reason"]
    assert await junk.wait_closed() == 4400
    await junk.close()

    unknown = await ready_terminal("/ws/terminal/", session=session)
    await unknown.send_json({"type": "format-disk"})
    assert "format-disk" in (await unknown.wait_for_message("ended"))["reason"]
    await unknown.close()

    big = await ready_terminal("/ws/terminal/", session=session)
    await big.type("x" * (65 * 1024))
    assert await big.wait_closed() == 1009
    await big.close()

    # The shell is unharmed, and bytes that are not UTF-8 do not break it.
    again = await ready_terminal("/ws/terminal/", session=session)
    await again.socket.send_to(bytes_data=b"\xff\xfe\xc3")
    await again.type("\x15echo fine-$((7*6))\r")
    await again.wait_for_text("fine-42")
    await again.close()


async def test_a_gone_workstation_is_explained_and_the_reset_offered(cohort, kube):
    _, students, _ = cohort
    me = students[0]
    core = k8s.CoreV1Api(kube)
    await asyncio.to_thread(
        core.delete_namespaced_pod, f"ws-{me.student_id}", "labplatform-workstations", grace_period_seconds=0
    )

    def gone():
        try:
            core.read_namespaced_pod(f"ws-{me.student_id}", "labplatform-workstations")
        except k8s.ApiException as exc:
            return exc.status == 404
        return False

    for _ in range(100):
        if await asyncio.to_thread(gone):
            break
        await asyncio.sleep(0.1)
    terminal = TerminalClient("/ws/terminal/", session=await session_cookie_async(me.user))
    assert await terminal.connect()
    ended = await terminal.wait_for_message("ended")
    assert ended["reset"] is True
    assert "Reset" in ended["reason"]
    await terminal.close()


async def test_a_workstation_evicted_for_its_disk_says_why_and_offers_the_reset(cohort, kube):
    """Writing past the home's 1 GiB: the node evicts the workstation, and the terminal
    says why in the node's words (never "try again") and offers a reset."""
    _, students, _ = cohort
    me = students[0]
    terminal = await ready_terminal("/ws/terminal/", session=await session_cookie_async(me.user))
    await terminal.type("dd if=/dev/zero of=~/fill bs=1M count=1300 status=none; echo wrote-$((1+1))\r")
    ended = await terminal.wait_for_message("ended", timeout=180)
    assert ended["reset"] is True, ended
    assert "Your workstation has stopped" in ended["reason"] and "exceeds" in ended["reason"], ended
    pod = await asyncio.to_thread(
        k8s.CoreV1Api(kube).read_namespaced_pod, f"ws-{me.student_id}", "labplatform-workstations"
    )
    assert (pod.status.phase, pod.status.reason) == ("Failed", "Evicted"), pod.status
    assert pod.status.message.strip() in ended["reason"]
    again = TerminalClient("/ws/terminal/", session=await session_cookie_async(me.user))
    assert await again.connect()
    assert (await again.wait_for_message("ended"))["reason"] == ended["reason"]
    await again.close()


async def test_an_idle_terminal_is_closed_and_says_so(cohort, settings):
    settings.TERMINAL_IDLE_SECONDS = 1
    _, students, _ = cohort
    terminal = await ready_terminal("/ws/terminal/", session=await session_cookie_async(students[0].user))
    ended = await terminal.wait_for_message("ended", timeout=20)
    assert "without typing" in ended["reason"]
    assert await terminal.wait_closed() == 4408
    await terminal.close()


async def test_a_watcher_that_stops_reading_never_holds_up_the_owner(cohort):
    _, students, instructor = cohort
    me = students[0]
    owner = await ready_terminal("/ws/terminal/", session=await session_cookie_async(me.user))
    watcher = TerminalClient(f"/ws/terminal/watch/{me.student_id}/", session=await session_cookie_async(instructor))
    watcher.ack = False
    assert await watcher.connect()
    await watcher.wait_for_message("status")
    await owner.type("yes slow-watcher\r")
    await owner.wait_for_text("slow-watcher\r\nslow-watcher")
    await owner.type("\x03")
    await owner.type("echo owner-free-$((8*8))\r")
    await owner.wait_for_text("owner-free-64", timeout=30)
    assert watcher.closed_code is None
    await watcher.close()
    await owner.close()


async def test_a_shell_left_alone_past_the_grace_period_ends(cohort, settings):
    settings.TERMINAL_GRACE_SECONDS = 0
    _, students, _ = cohort
    session = await session_cookie_async(students[0].user)
    first = await ready_terminal("/ws/terminal/", session=session)
    pid = await shell_identity(first, "old")
    await first.close()
    # The session keeper looks every few seconds; afterwards a new shell starts.
    for attempt in range(15):
        again = await ready_terminal("/ws/terminal/", session=session)
        new_pid = await shell_identity(again, f"new{attempt}")
        await again.close()
        if new_pid != pid:
            break
        await asyncio.sleep(2)
    assert new_pid != pid
