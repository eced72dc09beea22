"""The terminal WebSocket: protocol only. Who may connect is decided in `access`, the
bookkeeping lives in `sessions`, and the shell is an exec stream from the gateway.

Browser to server: binary frames are keystrokes; text frames are JSON
  {"type": "resize", "cols": C, "rows": R}   the panel's size (clamped, coalesced)
  {"type": "ack", "bytes": N}                N bytes of output were drawn (flow control)
  {"type": "input", "data": "..."}           keystrokes as text (pasting)
Server to browser: binary frames are terminal output, cut only between UTF-8 characters;
text frames are JSON
  {"type": "status", "state": "connected", "read_only": bool, "watchers": N}
  {"type": "watchers", "count": N}           instructors watching this terminal now
  {"type": "ended", "reason": "...", "reset": bool}   then the socket closes

A person holds at most TERMINAL_SOCKETS_PER_STUDENT terminals of their own and
TERMINAL_WATCHES_PER_INSTRUCTOR watches at once (`slots`, across web processes); past
that the socket ends with 4429. An open terminal checks again who may hold it when told
that access changed (labplatform/sockets.py): signed out, dropped, no longer teaching,
or the environment torn down, and it ends saying so; the shell keeps running.
"""

import asyncio
import json
import logging
import time
from urllib.parse import parse_qs

import redis
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from labplatform.cluster.errors import ClusterError, PodMissing
from labplatform.cluster.terminals import (
    DETACH_KEY,
    KEEPALIVE_KEY,
    KEEPALIVE_SECONDS,
    workstation_stopped,
    workstation_terminal,
)
from labplatform.sockets import AccessWatched
from labplatform.terminal import access, sessions, slots
from labplatform.terminal.flow import OutputWindow, terminal_size, utf8_split

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024
RESIZE_INTERVAL_SECONDS = 0.05
FIRST_SIZE_WAIT_SECONDS = 1
# Keys reach the shell once tmux has drawn its screen: until then the exec's terminal is
# still in cooked mode, where a Ctrl-Z or Ctrl-C would stop the session command instead
# of reaching the shell. A session that draws nothing in this time gets its keys anyway.
FIRST_DRAW_WAIT_SECONDS = 10
ACTIVITY_CHECK_SECONDS = 60
CLOSE_BAD_FRAME = 4400
CLOSE_TOO_BIG = 1009
CLOSE_IDLE = 4408
CLOSE_ENDED = 4410
CLOSE_TOO_MANY = 4429
CLOSE_UNAVAILABLE = 4503


# How long a terminal whose shell vanished asks the cluster whether the node stopped the
# workstation (the pod's status follows its container's end by a few seconds).
STOPPED_SETTLE_SECONDS = 10


class TerminalConsumer(AccessWatched, AsyncWebsocketConsumer):
    async def dispatch(self, message: dict) -> None:
        """As Channels does, without closing old database connections before every
        message: that runs on the one thread all consumers share, so each keystroke and
        each ack would wait its turn behind every other terminal's (38 % of the web
        process's main thread under load, bench/terminal). The database work here goes
        through database_sync_to_async, which closes old connections itself."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.target: access.TerminalTarget | None = None
        self.stream = None
        self.closing = False
        self.tasks: list[asyncio.Task] = []
        self.slot: str | None = None
        await self.accept()
        try:
            self.target = await self._admit()
        except access.TerminalRefused as refused:
            await self._end(str(refused), code=refused.code, reset=refused.offer_reset)
            return
        self.window = OutputWindow()
        self.size = None
        self.size_changed = asyncio.Event()
        self.early_input: list[bytes] = []
        self.drawn = asyncio.Event()
        self.input_open = False
        self.last_input = time.monotonic()
        self.last_activity_write = 0.0
        self.shadow_id = None
        if self.target.read_only:
            user = self.scope["user"]
            self.shadow_id, watchers = await database_sync_to_async(sessions.shadow_start)(
                watcher_id=user.pk, enrollment_id=self.target.enrollment_id
            )
            await self.channel_layer.group_send(sessions.terminal_group(self.target.student), watchers)
        else:
            await self.channel_layer.group_add(sessions.terminal_group(self.target.student), self.channel_name)
        self.tasks.append(asyncio.create_task(self._slot_renewal()))
        self.tasks.append(asyncio.create_task(self._bridge_or_say_why()))

    async def _admit(self) -> access.TerminalTarget:
        """Who may open it, then a slot; raises TerminalRefused. Access changes are heard
        from before the check, so one made meanwhile is not missed."""
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            await self.access_watch(user.pk)
        target = await self._resolve()
        if target.read_only:
            # A watch also ends when the student loses their place: checked again once
            # their changes are heard too.
            await self.access_watch(target.student_user_id)
            await database_sync_to_async(access.target_recheck)(user, target)
        await self._take_slot(target)
        return target

    async def _resolve(self) -> access.TerminalTarget:
        user = self.scope.get("user")
        student = self.scope["url_route"]["kwargs"].get("student")
        if student is not None:
            return await database_sync_to_async(access.watcher_target)(user, student=student)
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        cohort = (query.get("cohort") or [""])[0]
        return await database_sync_to_async(access.owner_target)(user, cohort_slug=cohort or None)

    def _slot_key(self, target: access.TerminalTarget) -> str:
        if target.read_only:
            return slots.slot_key(slots.WATCH, self.scope["user"].pk)
        return slots.slot_key(slots.OWN, target.student_user_id)

    async def _take_slot(self, target: access.TerminalTarget) -> None:
        limit = settings.TERMINAL_WATCHES_PER_INSTRUCTOR if target.read_only else settings.TERMINAL_SOCKETS_PER_STUDENT
        key = self._slot_key(target)
        try:
            taken = await slots.take_async(key, self.channel_name, limit=limit)
        except redis.RedisError as exc:
            logger.warning("terminal of %s: no slot: %s", target.student, exc)
            raise access.TerminalRefused(
                "The terminal could not be opened just now. Try Reconnect in a moment.", code=CLOSE_UNAVAILABLE
            ) from None
        if not taken:
            terminals = f"{limit} terminal{'s' if limit != 1 else ''}"
            held = f"you are watching {terminals}" if target.read_only else f"you have {terminals} open"
            raise access.TerminalRefused(
                f"Too many terminals open: {held} already, the most at once. Close one in another tab, then Reconnect.",
                code=CLOSE_TOO_MANY,
            )
        self.slot = key

    async def _slot_renewal(self) -> None:
        while True:
            await asyncio.sleep(slots.RENEW_SECONDS)
            try:
                await slots.renew_async(self.slot, self.channel_name)
            except redis.RedisError as exc:  # the next renewal tries again
                logger.warning("terminal slot of %s not renewed: %s", self.target.student, exc)

    async def _slot_give_back(self) -> None:
        if self.slot is None:
            return
        slot, self.slot = self.slot, None
        try:
            await slots.give_back_async(slot, self.channel_name)
        except redis.RedisError as exc:  # it lapses by itself
            logger.warning("terminal slot %s not given back: %s", slot, exc)

    async def disconnect(self, code: int) -> None:
        self.closing = True
        if self.stream is not None and not self.stream.closed:
            try:  # the shell stays; only this connection to it goes
                await asyncio.wait_for(self.stream.write(DETACH_KEY), timeout=2)
            except (ClusterError, OSError, TimeoutError, ConnectionError):
                pass
        for task in self.tasks:
            task.cancel()
        await self._slot_give_back()
        await self.access_unwatch()
        if self.target is None:
            return
        if self.shadow_id is not None:
            watchers = await database_sync_to_async(sessions.shadow_end)(
                session_id=self.shadow_id, enrollment_id=self.target.enrollment_id
            )
            await self.channel_layer.group_send(sessions.terminal_group(self.target.student), watchers)
        else:
            await self.channel_layer.group_discard(sessions.terminal_group(self.target.student), self.channel_name)

    # Access changed (labplatform/sockets.py)

    async def access_signed_out(self) -> None:
        if self.target is None:
            return  # refused at connect: nothing was opened
        if self.target.read_only:
            reason = "You signed out, so this watch is closed."
        else:
            reason = (
                "You signed out, so this terminal is closed. Your shell keeps running for a while: "
                "sign in again to get back to it."
            )
        await self._end(reason, code=access.CLOSE_SIGNED_OUT)

    async def access_recheck(self, user) -> None:
        if self.target is None or self.closing:
            return
        try:
            await database_sync_to_async(access.target_recheck)(user, self.target)
        except access.TerminalRefused as refused:
            await self._end(str(refused), code=refused.code, reset=refused.offer_reset)

    # The shell

    async def _bridge_or_say_why(self) -> None:
        """The bridge, and if it fails unexpectedly, a message instead of a silent terminal."""
        try:
            await self._bridge()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("terminal of %s: the bridge failed", self.target.student)
            await self._end("The terminal stopped on an error of ours. Reconnect to try again.", code=CLOSE_UNAVAILABLE)

    async def _bridge(self) -> None:
        target = self.target
        # The browser says its size first thing; tmux then draws the screen once, at that size.
        try:
            await asyncio.wait_for(self.size_changed.wait(), timeout=FIRST_SIZE_WAIT_SECONDS)
        except TimeoutError:
            pass
        try:
            async with workstation_terminal(
                cluster=target.cluster,
                namespace=target.namespace,
                student=target.student,
                read_only=target.read_only,
                grace_seconds=settings.TERMINAL_GRACE_SECONDS,
            ) as stream:
                await self._attached(stream)
                await self._pump(stream)
                # The session command ends with a status when the shell ends (the student
                # typed exit); a container killed under it (an eviction) leaves none.
                cleanly = (stream.exit_status or {}).get("status") == "Success"
        except PodMissing:
            await self._end(
                "Your workstation is not running. Reset your environment to get a new one."
                if not target.read_only
                else "This student's workstation is not running.",
                code=CLOSE_ENDED,
                reset=not target.read_only,
            )
            return
        except ClusterError as exc:
            if await self._ended_by_the_node():
                return
            logger.warning("terminal of %s: %s", target.student, exc)
            await self._end(
                "The cluster could not open the terminal just now. Try Reconnect in a moment.",
                code=CLOSE_UNAVAILABLE,
            )
            return
        if not cleanly and await self._ended_by_the_node(settle_seconds=STOPPED_SETTLE_SECONDS):
            return
        if target.read_only:
            await self._end(
                "The student's shell is not running: they have no terminal open, or it just ended.", code=CLOSE_ENDED
            )
        else:
            await self._end("Your shell has ended. Reconnect to start a new one.", code=CLOSE_ENDED)

    async def _attached(self, stream) -> None:
        """The shell is there: the browser is told, and the connection's helpers start."""
        target = self.target
        self.stream = stream
        if self.size is not None:
            await stream.resize(cols=self.size.cols, rows=self.size.rows)
        watchers = 0
        if not target.read_only:
            watchers = await database_sync_to_async(sessions.watchers_count)(enrollment_id=target.enrollment_id)
        await self._send_json(
            {"type": "status", "state": "connected", "read_only": target.read_only, "watchers": watchers}
        )
        self.tasks.append(asyncio.create_task(self._input_after_draw(stream)))
        self.tasks.append(asyncio.create_task(self._resizer()))
        self.tasks.append(asyncio.create_task(self._keepalive()))
        if not target.read_only:
            self.tasks.append(asyncio.create_task(self._idle_watch()))

    async def _input_after_draw(self, stream) -> None:
        """Gives the shell the keys typed so far once tmux has drawn, then every key."""
        try:
            await asyncio.wait_for(self.drawn.wait(), timeout=FIRST_DRAW_WAIT_SECONDS)
        except TimeoutError:
            pass
        for data in self.early_input:
            await stream.write(data)
        self.early_input = []
        self.input_open = True

    async def _ended_by_the_node(self, *, settle_seconds: float = 0) -> bool:
        """Says so if the workstation has stopped for good (its node evicted it, say), in
        the node's words; the shell cannot come back, a reset gives a new one. A pod whose
        container was just killed says so a moment later: asked for up to settle_seconds."""
        target = self.target
        deadline = time.monotonic() + settle_seconds
        while True:
            try:
                stopped = await workstation_stopped(
                    cluster=target.cluster, namespace=target.namespace, student=target.student
                )
            except ClusterError:
                stopped = None
            if stopped is not None or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.5)
        if stopped is None:
            return False
        if target.read_only:
            await self._end(f"This student's workstation has stopped: {stopped}", code=CLOSE_ENDED)
        else:
            await self._end(
                f"Your workstation has stopped: {stopped} Reset your environment to get a new one.",
                code=CLOSE_ENDED,
                reset=True,
            )
        return True

    async def _pump(self, stream) -> None:
        """Output to the browser, never more than the window ahead of what it has drawn."""
        carry = b""
        while True:
            await self.window.wait_open()
            output = await stream.read()
            if output is None:
                break
            data, carry = utf8_split(carry + output.data)
            if data:
                self.window.sent(len(data))
                await self.send(bytes_data=data)
                self.drawn.set()
        if carry:
            await self.send(bytes_data=carry)

    async def _resizer(self) -> None:
        """Applies the latest size at most every RESIZE_INTERVAL_SECONDS."""
        applied = None
        while True:
            await self.size_changed.wait()
            self.size_changed.clear()
            if self.size != applied:
                applied = self.size
                await self.stream.resize(cols=applied.cols, rows=applied.rows)
            await asyncio.sleep(RESIZE_INTERVAL_SECONDS)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_SECONDS)
            await self.stream.write(KEEPALIVE_KEY)
            if self.shadow_id is not None:
                await database_sync_to_async(sessions.shadow_seen)(session_id=self.shadow_id)

    async def _idle_watch(self) -> None:
        idle = settings.TERMINAL_IDLE_SECONDS
        while True:
            remaining = idle - (time.monotonic() - self.last_input)
            if remaining <= 0:
                minutes = max(1, round(idle / 60))
                await self._end(
                    f"Closed after {minutes} minute{'s' if minutes != 1 else ''} without typing. "
                    "Your shell and anything running in it are kept for a while: Reconnect to continue.",
                    code=CLOSE_IDLE,
                )
                return
            await asyncio.sleep(min(remaining, 30))

    # From the browser

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.target is None or self.closing:
            return
        if bytes_data is not None:
            await self._receive_keys(bytes_data)
        else:
            await self._receive_message(text_data)

    async def _receive_keys(self, data: bytes) -> None:
        """A binary frame: keys typed."""
        if len(data) > MAX_FRAME_BYTES:
            await self._end(f"Input frame over {MAX_FRAME_BYTES} bytes.", code=CLOSE_TOO_BIG)
            return
        await self._input(data)

    async def _receive_message(self, text_data: str) -> None:
        """A text frame: a JSON message, by its type."""
        if len(text_data) > MAX_FRAME_BYTES:
            await self._end(f"Message over {MAX_FRAME_BYTES} bytes.", code=CLOSE_TOO_BIG)
            return
        try:
            message = json.loads(text_data)
            kind = message["type"]
        except (ValueError, TypeError, KeyError):
            await self._end("Unreadable message: expected JSON with a type.", code=CLOSE_BAD_FRAME)
            return
        if kind == "ack":
            self._acknowledged(message)
        elif kind == "resize":
            self._resized(message)
        elif kind == "input" and isinstance(message.get("data"), str):
            await self._input(message["data"].encode("utf-8", "surrogateescape"))
        else:
            await self._end(f"Unknown message type {str(kind)[:40]!r}.", code=CLOSE_BAD_FRAME)

    def _acknowledged(self, message: dict) -> None:
        count = message.get("bytes")
        if isinstance(count, int) and not isinstance(count, bool):
            self.window.acknowledged(count)

    def _resized(self, message: dict) -> None:
        size = terminal_size(message.get("cols"), message.get("rows"))
        # A watcher's size is its own view's: tmux attaches it with ignore-size, so the
        # student's screen keeps the student's size.
        if size is not None:
            self.size = size
            self.size_changed.set()

    async def _input(self, data: bytes) -> None:
        if self.target.read_only or not data:
            return  # a watcher's keys go nowhere
        self.last_input = time.monotonic()
        if not self.input_open:
            if sum(map(len, self.early_input)) + len(data) <= MAX_FRAME_BYTES:
                self.early_input.append(data)
        else:
            await self.stream.write(data)
        if self.last_input - self.last_activity_write >= ACTIVITY_CHECK_SECONDS:
            self.last_activity_write = self.last_input
            # In the background: a keystroke never waits for the database.
            self.activity_write = asyncio.create_task(
                database_sync_to_async(sessions.activity_record)(enrollment_id=self.target.enrollment_id)
            )

    # To the browser

    async def terminal_watchers(self, message: dict) -> None:
        await self._send_json({"type": "watchers", "count": message["count"]})

    async def _send_json(self, message: dict) -> None:
        await self.send(text_data=json.dumps(message))

    async def _end(self, reason: str, *, code: int, reset: bool = False) -> None:
        if self.closing:
            return
        self.closing = True
        await self._send_json({"type": "ended", "reason": reason, "reset": reset})
        await self.close(code=code)
