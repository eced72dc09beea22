"""Helpers for terminal tests: provisioned students with a ready workstation, and a
client for the terminal WebSocket that speaks its protocol (acks, resize, status)."""

import asyncio
import json
import re

import pyte
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from labplatform.asgi import application
from labplatform.cluster.manifests import student_namespace_name
from labplatform.cohorts.models import Enrollment
from labplatform.environments.models import StudentEnvironment
from labplatform.environments.steps import environment_provision_run

ANSI = re.compile(rb"\x1b(\[[0-9;?<=>!]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78DEHMNOZc])")


def provision_ready(cohort) -> list[Enrollment]:
    """Provisions every student of the cohort here and now, as a worker would."""
    students = list(cohort.enrollments.filter(role=Enrollment.Role.STUDENT).select_related("user"))
    for enrollment in students:
        environment = StudentEnvironment.objects.create(
            enrollment=enrollment,
            namespace=student_namespace_name(enrollment.student_id),
            state=StudentEnvironment.State.PROVISIONING,
        )
        environment_provision_run(environment_id=environment.pk)
        environment.refresh_from_db()
        assert environment.state == StudentEnvironment.State.READY, environment.last_error
    return students


def session_cookie(user) -> str:
    """A session of the user's own (a shared test client would end the previous user's
    session when it signs in the next)."""
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def socket_headers(*, session: str | None, origin: str = "http://localhost") -> list[tuple[bytes, bytes]]:
    headers = [(b"origin", origin.encode()), (b"host", b"localhost")]
    if session:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session}".encode()))
    return headers


def plain(data: bytes) -> str:
    """Terminal output without escape sequences, for matching what a person would read."""
    return ANSI.sub(b"", data).decode("utf-8", "replace")


class TerminalClient:
    """One browser tab's terminal socket."""

    def __init__(self, path: str, *, session: str | None, origin: str = "http://localhost", ack: bool = True):
        self.socket = WebsocketCommunicator(application, path, headers=socket_headers(session=session, origin=origin))
        self.ack = ack
        self.output = b""
        self.frames: list[bytes] = []  # output as it came, one entry per frame
        self.text = ""  # the output without escape sequences, for reading like a person
        self.messages: list[dict] = []
        self.closed_code: int | None = None

    async def connect(self) -> bool:
        connected, _ = await self.socket.connect(timeout=10)
        return connected

    async def _receive(self, timeout: float) -> bool:
        """One frame into output or messages; False once the socket has closed."""
        # Not receive_output: its timeout would cancel the application.
        if self.socket.future.done():
            self.socket.future.result()  # the consumer's exception, if it raised
        message = await asyncio.wait_for(self.socket.output_queue.get(), timeout=min(timeout, 1))
        if message["type"] == "websocket.close":
            self.closed_code = message.get("code")
            return False
        if message.get("bytes") is not None:
            self.output += message["bytes"]
            self.frames.append(message["bytes"])
            self.text += plain(message["bytes"])
            if self.ack:
                await self.socket.send_to(text_data=json.dumps({"type": "ack", "bytes": len(message["bytes"])}))
        else:
            self.messages.append(json.loads(message["text"]))
        return True

    async def wait_for(self, condition, *, timeout: float = 15, what: str = "") -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition(self):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what}; screen so far:\n{self.text[-2000:]}")
            try:
                if not await self._receive(remaining):
                    if not condition(self):
                        raise AssertionError(f"closed ({self.closed_code}) waiting for {what}: {self.messages}")
                    return
            except TimeoutError:
                continue

    async def wait_for_text(self, text: str, *, timeout: float = 15) -> None:
        start = 0  # all of it first, then only what is new (a flood makes megabytes)

        def found(c: "TerminalClient") -> bool:
            nonlocal start
            hit = text in c.text[start:]
            start = max(start, len(c.text) - len(text))
            return hit

        await self.wait_for(found, timeout=timeout, what=repr(text))

    async def wait_for_message(self, kind: str, *, timeout: float = 15) -> dict:
        await self.wait_for(lambda c: any(m["type"] == kind for m in c.messages), timeout=timeout, what=kind)
        return next(m for m in self.messages if m["type"] == kind)

    async def wait_closed(self, *, timeout: float = 15) -> int:
        await self.wait_for(lambda c: c.closed_code is not None, timeout=timeout, what="close")
        return self.closed_code

    async def type(self, text: str) -> None:
        await self.socket.send_to(bytes_data=text.encode())

    async def send_json(self, message: dict) -> None:
        await self.socket.send_to(text_data=json.dumps(message))

    async def resize(self, cols: int, rows: int) -> None:
        await self.send_json({"type": "resize", "cols": cols, "rows": rows})

    async def close(self) -> None:
        """The browser leaving: the consumer is told and finishes, whether or not it had
        closed the socket itself."""
        await self.socket.disconnect()


async def ready_terminal(path: str, *, session: str, cols: int = 100, rows: int = 30) -> TerminalClient:
    """A connected terminal that has told its size first, as the browser does."""
    terminal = TerminalClient(path, session=session)
    assert await terminal.connect()
    await terminal.resize(cols, rows)
    status = await terminal.wait_for_message("status")
    assert status["state"] == "connected", status
    return terminal


async def shell_identity(terminal: TerminalClient, tag: str) -> str:
    """An identity of the shell behind this terminal, printed between markers: a random
    number the shell keeps once drawn (its PID would not do: each session has a PID
    namespace of its own, so every new shell has the same PID)."""
    await terminal.type(f"echo {tag}-$((1+1))-${{SHELL_ID:=$RANDOM$RANDOM}}-end\r")
    pattern = re.compile(rf"{tag}-2-(\d+)-end")
    await terminal.wait_for(lambda c: pattern.search(c.text), what=f"{tag} shell identity")
    return pattern.search(terminal.text).group(1)


def screen(data: bytes, *, cols: int = 100, rows: int = 30) -> list[str]:
    """The screen a terminal shows after this output: its lines, as a person sees them."""
    emulator = pyte.Screen(cols, rows)
    stream = pyte.ByteStream(emulator)
    stream.feed(data)
    return [line.rstrip() for line in emulator.display]


session_cookie_async = database_sync_to_async(session_cookie)
provision_ready_async = database_sync_to_async(provision_ready)
