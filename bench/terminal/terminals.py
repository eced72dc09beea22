"""Two ways to reach a student's shell, with the same interface so that they are measured
alike: through the browser protocol (a real WebSocket to daphne, signed in by the session
cookie, acknowledging output as xterm.js does) and directly (the exec stream the terminal
bridge itself opens, from this process). Output is kept with its arrival times."""

import asyncio
import contextlib
import json
import re
import time

import aiohttp
from django.conf import settings

from labplatform.cluster.terminals import workstation_terminal

ANSI = re.compile(rb"\x1b(\[[0-9;?<=>!]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78DEHMNOZc])")
# The shell's prompt once prepared: found in output to know the shell is back.
PROMPT = "@bq@"
COLS, ROWS = 120, 40


def plain(data: bytes) -> str:
    """Output without escape sequences: what a person would read."""
    return ANSI.sub(b"", data).decode("utf-8", "replace")


class TerminalClosed(Exception):
    pass


class Terminal:
    """Output as it arrives: `output` holds every byte, `ends[i]` and `times[i]` say where
    frame i ended and when it arrived (time.perf_counter())."""

    kind = ""

    def __init__(self) -> None:
        self.output = bytearray()
        self.ends: list[int] = []
        self.times: list[float] = []
        self.arrived = asyncio.Event()
        self.closed: str | None = None
        self.opened_at = time.perf_counter()
        self.closed_at: float | None = None
        self._reader: asyncio.Task | None = None

    def _received(self, data: bytes) -> None:
        self.output += data
        self.ends.append(len(self.output))
        self.times.append(time.perf_counter())
        self.arrived.set()

    def _ended(self, why: str) -> None:
        self.closed = why
        self.closed_at = time.perf_counter()
        self.arrived.set()

    @property
    def offset(self) -> int:
        return len(self.output)

    def forget(self) -> None:
        """Drops the output kept so far (offsets start again at 0)."""
        self.output.clear()
        self.ends.clear()
        self.times.clear()

    async def open(self) -> dict:
        """Connects; returns the status message (or the `ended` one)."""
        raise NotImplementedError

    async def send(self, data: bytes) -> None:
        raise NotImplementedError

    async def wait_for_text(self, text: str, *, since: int, timeout: float = 10, tail: int = 8192) -> float:
        """When `text` was first seen in the output after offset `since` (perf_counter)."""
        deadline = time.perf_counter() + timeout
        while True:
            start = max(since, len(self.output) - tail)
            if text in plain(bytes(self.output[start:])):
                return self.times[-1]
            if self.closed:
                raise TerminalClosed(f"{self.kind} terminal closed waiting for {text!r}: {self.closed}")
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                seen = plain(bytes(self.output[max(since, len(self.output) - 400) :]))
                raise TimeoutError(f"{self.kind} terminal: no {text!r} after {timeout}s; last output {seen!r}")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), remaining)

    async def quiet(self, *, seconds: float = 0.15, timeout: float = 10) -> None:
        """Waits until no output has arrived for `seconds`."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            last = self.times[-1] if self.times else 0.0
            idle = time.perf_counter() - last
            if idle >= seconds:
                return
            await asyncio.sleep(seconds - idle)
        raise TimeoutError(f"{self.kind} terminal never went quiet in {timeout}s")

    async def drawn(self, *, timeout: float = 15) -> None:
        """Waits for the first output: tmux draws the screen on attach."""
        deadline = time.perf_counter() + timeout
        while not self.output and not self.closed and time.perf_counter() < deadline:
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), deadline - time.perf_counter())
        if self.closed:
            raise TerminalClosed(f"{self.kind} terminal closed before drawing: {self.closed}")
        if not self.output:
            raise TimeoutError(f"{self.kind} terminal: no screen after {timeout}s")

    async def settle(self, *, timeout: float = 15) -> None:
        """Waits for the screen tmux draws on attach, and for it to end."""
        await self.drawn(timeout=timeout)
        await self.quiet(seconds=0.3)

    async def prepare_shell(self) -> None:
        """A known prompt, no history file, an empty screen."""
        since = self.offset
        # Quoted in two halves, so that the echo of this line does not show the prompt.
        half = len(PROMPT) // 2
        command = f"\x15 export PS1='{PROMPT[:half]}''{PROMPT[half:]} ' PROMPT_COMMAND= HISTFILE=/dev/null; clear\r"
        await self.send(command.encode())
        await self.wait_for_text(PROMPT, since=since)
        await self.quiet()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader


class BrowserTerminal(Terminal):
    """/ws/terminal/ as the browser speaks it."""

    kind = "browser"

    def __init__(self, session: aiohttp.ClientSession, url: str, *, cookie: str, origin: str) -> None:
        super().__init__()
        self.session, self.url, self.cookie, self.origin = session, url, cookie, origin
        self.acking = True
        self.unacknowledged = 0
        self.messages: list[dict] = []
        self.socket: aiohttp.ClientWebSocketResponse | None = None

    async def open(self, *, timeout: float = 30) -> dict:
        """Connects and waits for the status message; returns it (or the `ended` message)."""
        self.socket = await self.session.ws_connect(
            self.url,
            headers={"Origin": self.origin, "Cookie": f"{settings.SESSION_COOKIE_NAME}={self.cookie}"},
            max_msg_size=0,
            autoping=True,
        )
        self.status = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())
        status = await asyncio.wait_for(asyncio.shield(self.status), timeout)
        if status.get("type") == "status":
            await self._send_json({"type": "resize", "cols": COLS, "rows": ROWS})
        return status

    async def _read(self) -> None:
        async for message in self.socket:
            if message.type == aiohttp.WSMsgType.BINARY:
                self._received(message.data)
                if self.acking:
                    await self._send_json({"type": "ack", "bytes": len(message.data)})
                else:
                    self.unacknowledged += len(message.data)
            elif message.type == aiohttp.WSMsgType.TEXT:
                data = json.loads(message.data)
                self.messages.append(data)
                if data["type"] in ("status", "ended") and not self.status.done():
                    self.status.set_result(data)
                if data["type"] == "ended":
                    self._ended(data["reason"])
        if not self.status.done():
            self.status.set_result({"type": "ended", "reason": f"closed with code {self.socket.close_code}"})
        self._ended(self.closed or f"closed with code {self.socket.close_code}")

    async def _send_json(self, message: dict) -> None:
        await self.socket.send_str(json.dumps(message))

    async def send(self, data: bytes) -> None:
        await self.socket.send_bytes(data)

    async def acknowledge_all(self) -> None:
        """Acknowledges what was held back while not acking, and acks every frame again."""
        pending, self.unacknowledged = self.unacknowledged, 0
        self.acking = True
        if pending:
            await self._send_json({"type": "ack", "bytes": pending})

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
        await super().close()


class DirectTerminal(Terminal):
    """The same exec the bridge opens (`workstation_terminal`), from this process."""

    kind = "direct"

    def __init__(self, student: str) -> None:
        super().__init__()
        self.student = student
        self._exit = contextlib.AsyncExitStack()

    async def open(self) -> dict:
        self.stream = await self._exit.enter_async_context(
            workstation_terminal(
                cluster="local",
                namespace=settings.WORKSTATION_NAMESPACE,
                student=self.student,
                read_only=False,
                grace_seconds=settings.TERMINAL_GRACE_SECONDS,
            )
        )
        self._reader = asyncio.create_task(self._read())
        await self.stream.resize(cols=COLS, rows=ROWS)
        return {"type": "status", "state": "connected"}

    async def _read(self) -> None:
        while (output := await self.stream.read()) is not None:
            self._received(output.data)
        status = self.stream.exit_status or {}
        why = f": {status.get('message') or status.get('status')}" if status.get("status") == "Failure" else ""
        self._ended(f"the exec stream ended{why}")

    async def send(self, data: bytes) -> None:
        await self.stream.write(data)

    async def close(self) -> None:
        await super().close()
        await self._exit.aclose()
