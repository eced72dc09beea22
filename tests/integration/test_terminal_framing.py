"""The consumer's framing above the gateway, with a stand-in exec stream that cuts its
output where a real one may: a multibyte character split across two reads."""

import asyncio
from contextlib import asynccontextmanager

import pytest
from channels.db import database_sync_to_async

from labplatform.cluster.exec import ExecOutput
from labplatform.cohorts.models import Cluster, Cohort, Enrollment
from labplatform.environments.models import StudentEnvironment
from labplatform.terminal import consumers
from tests.terminals import ready_terminal, session_cookie_async

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


class CuttingStream:
    """An exec stream whose output comes in the given pieces, then ends as a shell that
    exited does (with a status)."""

    closed = False
    exit_status = {"status": "Success"}

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def read(self, timeout=None):
        if self.chunks:
            return ExecOutput(1, self.chunks.pop(0))
        return None

    async def write(self, data: bytes) -> None:
        pass

    async def resize(self, *, cols: int, rows: int) -> None:
        pass


def ready_student(django_user_model):
    cluster = Cluster.objects.get_or_create(name="local", defaults={"is_local": True})[0]
    cohort = Cohort.objects.create(name="Framing", slug="framing", cluster=cluster)
    user = django_user_model.objects.create_user(username="framing-student")
    enrollment = Enrollment.objects.create(user=user, cohort=cohort)
    StudentEnvironment.objects.create(
        enrollment=enrollment, namespace=f"lab-{enrollment.student_id}", state=StudentEnvironment.State.READY
    )
    return user


async def test_a_character_split_across_reads_reaches_the_browser_whole(django_user_model, monkeypatch):
    chunks = [b"caf\xc3", b"\xa9 \xe2\x82", b"\xac 5 \xf0\x9f", b"\x99\x82", b"\r\n"]

    @asynccontextmanager
    async def cutting_terminal(**kwargs):
        yield CuttingStream(list(chunks))

    monkeypatch.setattr(consumers, "workstation_terminal", cutting_terminal)
    user = await database_sync_to_async(ready_student)(django_user_model)
    terminal = await ready_terminal("/ws/terminal/", session=await session_cookie_async(user))
    await terminal.wait_for_message("ended")
    await terminal.close()
    frames = []
    for message in terminal.frames:
        frames.append(message.decode("utf-8"))  # each frame is whole characters
    assert "".join(frames) == "café € 5 🙂\r\n"


class BrokenStream(CuttingStream):
    async def read(self, timeout=None):
        raise RuntimeError("a bug of ours, with internals: /srv/secret")


async def test_a_bug_in_the_bridge_ends_the_terminal_with_a_message_not_silence(django_user_model, monkeypatch):
    @asynccontextmanager
    async def broken_terminal(**kwargs):
        yield BrokenStream([])

    monkeypatch.setattr(consumers, "workstation_terminal", broken_terminal)
    user = await database_sync_to_async(ready_student)(django_user_model)
    terminal = await ready_terminal("/ws/terminal/", session=await session_cookie_async(user))
    ended = await terminal.wait_for_message("ended")
    assert ended["reason"] == "The terminal stopped on an error of ours. Reconnect to try again."
    assert await terminal.wait_closed() == consumers.CLOSE_UNAVAILABLE
    await terminal.close()


class LateDrawingStream(CuttingStream):
    """A session that draws its screen only when told to, as tmux does once it has
    attached (and put the terminal in raw mode); it records what it was given when."""

    exit_status = None

    def __init__(self) -> None:
        super().__init__([])
        self.draw = asyncio.Event()
        self.drawn = False
        self.given: list[tuple[bool, bytes]] = []  # (drawn yet, keys)
        self.end = asyncio.Event()

    async def read(self, timeout=None):
        if not self.drawn:
            await self.draw.wait()
            self.drawn = True
            return ExecOutput(1, b"\x1b[H\x1b[2Jstudent ~ $ ")
        await self.end.wait()
        return None

    async def write(self, data: bytes) -> None:
        self.given.append((self.drawn, data))


async def test_keys_typed_before_the_session_has_drawn_reach_it_after_and_in_order(django_user_model, monkeypatch):
    stream = LateDrawingStream()

    @asynccontextmanager
    async def late_terminal(**kwargs):
        yield stream

    monkeypatch.setattr(consumers, "workstation_terminal", late_terminal)
    user = await database_sync_to_async(ready_student)(django_user_model)
    terminal = await ready_terminal("/ws/terminal/", session=await session_cookie_async(user))
    await terminal.type("\x1a")  # Ctrl-Z, which a terminal still in cooked mode would act on
    await terminal.type("jobs\r")
    await asyncio.sleep(0.5)
    assert stream.given == []
    stream.draw.set()
    await terminal.wait_for_text("student ~ $ ")
    for _ in range(50):
        if len(stream.given) == 2:
            break
        await asyncio.sleep(0.05)
    assert stream.given == [(True, b"\x1a"), (True, b"jobs\r")]
    await terminal.type("echo after\r")
    for _ in range(50):
        if len(stream.given) == 3:
            break
        await asyncio.sleep(0.05)
    assert stream.given[2] == (True, b"echo after\r")
    stream.end.set()
    await terminal.close()
