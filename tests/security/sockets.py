"""Opening a socket through the project's whole ASGI stack (origin check, session
authentication, routing, the consumer) and reading how it answers."""

import asyncio
import json

from channels.testing import WebsocketCommunicator

from labplatform.asgi import application
from tests.terminals import socket_headers


async def socket_answer(
    path: str, session: str | None, *, origin: str | None = "http://localhost"
) -> tuple[bool, int | None, list[dict]]:
    """(accepted and still open after a moment, close code, JSON messages) of a socket
    opened with a session."""
    socket = WebsocketCommunicator(application, path, headers=headers(session, origin))
    connected, code = await socket.connect(timeout=10)
    messages: list[dict] = []
    if connected:
        code = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3
        while code is None and loop.time() < deadline:
            try:  # not receive_output: its timeout would cancel the application
                message = await asyncio.wait_for(socket.output_queue.get(), timeout=deadline - loop.time())
            except TimeoutError:
                break
            if message["type"] == "websocket.close":
                code = message.get("code")
            elif message.get("text"):
                messages.append(json.loads(message["text"]))
    await socket.disconnect()
    return connected and code is None, code, messages


def headers(session: str | None, origin: str | None) -> list[tuple[bytes, bytes]]:
    """A browser's headers: the Origin it sends (None: none at all), the host, the session."""
    sent = socket_headers(session=session, origin=origin or "")
    return [(name, value) for name, value in sent if name != b"origin" or origin is not None]
