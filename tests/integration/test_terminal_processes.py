"""Two ASGI processes behind one address behave as one: a reattach or a shadow that lands
on the other process reaches the same shell. Real daphne processes, real WebSockets."""

import asyncio
import re

import aiohttp
import pytest
from django.conf import settings

from tests.processes import free_port, start_web, stop
from tests.terminals import plain, provision_ready, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.local_cluster]


@pytest.fixture
def two_web_processes(transactional_db):
    servers = [start_web(port=port, name="terminal-web") for port in (free_port(), free_port())]
    yield [int(server.args[server.args.index("-p") + 1]) for server in servers]
    for server in servers:
        stop(server)


class Tab:
    """A terminal socket to one web process, read and acknowledged as a browser does."""

    def __init__(self, http: aiohttp.ClientSession, socket_) -> None:
        self.http = http
        self.socket = socket_
        self.text = ""
        self.messages: list[dict] = []

    @classmethod
    async def open(cls, port: int, path: str, session: str) -> "Tab":
        # A header, not the cookie jar: aiohttp's jar keeps no cookies for IP addresses.
        http = aiohttp.ClientSession(headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session}"})
        socket_ = await http.ws_connect(f"ws://127.0.0.1:{port}{path}", origin=f"http://127.0.0.1:{port}")
        tab = cls(http, socket_)
        await socket_.send_json({"type": "resize", "cols": 100, "rows": 30})
        return tab

    async def wait_for(self, pattern: str, timeout: float = 20) -> re.Match:
        async with asyncio.timeout(timeout):
            while not (match := re.search(pattern, self.text)):
                message = await self.socket.receive()
                if message.type == aiohttp.WSMsgType.BINARY:
                    self.text += plain(message.data)
                    await self.socket.send_json({"type": "ack", "bytes": len(message.data)})
                elif message.type == aiohttp.WSMsgType.TEXT:
                    self.messages.append(message.json())
                else:
                    raise AssertionError(f"closed waiting for {pattern!r}: {self.messages} {self.text[-1000:]}")
        return match

    async def type(self, keys: str) -> None:
        await self.socket.send_bytes(keys.encode())

    async def close(self) -> None:
        await self.socket.close()
        await self.http.close()


def test_reattach_and_shadow_through_the_other_web_process(make_cohort, two_web_processes):
    first, second = two_web_processes
    cohort = make_cohort(students=1, instructors=1)
    (student,) = provision_ready(cohort)
    mine = session_cookie(student.user)
    instructor = session_cookie(cohort.enrollments.get(role="instructor").user)

    async def scenario():
        tab = await Tab.open(first, "/ws/terminal/", mine)
        await tab.type("sleep 300 &\recho pid-$((1+1))-${SHELL_ID:=$RANDOM$RANDOM}-end\r")
        pid = (await tab.wait_for(r"pid-2-(\d+)-end")).group(1)
        await tab.close()

        again = await Tab.open(second, "/ws/terminal/", mine)
        await again.type("echo pid-$((2+2))-${SHELL_ID:=$RANDOM$RANDOM}-end; jobs\r")
        assert (await again.wait_for(r"pid-4-(\d+)-end")).group(1) == pid
        await again.wait_for(r"sleep 300 &")

        watcher = await Tab.open(first, f"/ws/terminal/watch/{student.student_id}/", instructor)
        await again.type("echo watched-$((5*5))\r")
        await watcher.wait_for(r"watched-25")
        await watcher.close()
        await again.close()

    asyncio.run(scenario())
