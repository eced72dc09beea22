"""The events WebSocket through the full ASGI stack: session authentication, origin
validation, and a message pushed by other code (a worker) through the Redis layer."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

from labplatform import push
from labplatform.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def headers(*, origin: str = "http://localhost", session: str | None = None) -> list[tuple[bytes, bytes]]:
    result = [(b"origin", origin.encode()), (b"host", b"localhost")]
    if session:
        result.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session}".encode()))
    return result


async def signed_in_session(django_user_model, client) -> tuple[int, str]:
    user = await database_sync_to_async(django_user_model.objects.create_user)(
        username="sam", password="x-long-password"
    )
    await database_sync_to_async(client.force_login)(user)
    return user.pk, client.cookies[settings.SESSION_COOKIE_NAME].value


async def test_a_signed_in_user_receives_events_pushed_to_them(django_user_model, client):
    user_id, session = await signed_in_session(django_user_model, client)
    socket = WebsocketCommunicator(application, "/ws/events/", headers=headers(session=session))
    connected, _ = await socket.connect()
    assert connected
    await database_sync_to_async(push.send)(push.to_user(user_id, {"kind": "hello", "n": 1}), what="test")
    assert await socket.receive_json_from(timeout=5) == {"kind": "hello", "n": 1}
    await socket.disconnect()


async def test_an_anonymous_socket_is_refused():
    socket = WebsocketCommunicator(application, "/ws/events/", headers=headers())
    connected, code = await socket.connect()
    assert not connected
    assert code == 4401
    await socket.disconnect()


async def test_a_socket_from_another_origin_is_refused(django_user_model, client):
    _, session = await signed_in_session(django_user_model, client)
    socket = WebsocketCommunicator(
        application, "/ws/events/", headers=headers(origin="https://evil.example", session=session)
    )
    connected, _ = await socket.connect()
    assert not connected
    await socket.disconnect()  # the refusing consumer waits on the channel layer until then


async def test_a_socket_idle_longer_than_the_layers_blocking_pop_stays_open(django_user_model, client):
    """The channel layer waits on Redis in 5 s pops; a read timeout no longer than that
    closed idle sockets (1011) about 5 s after they connected."""
    user_id, session = await signed_in_session(django_user_model, client)
    socket = WebsocketCommunicator(application, "/ws/events/", headers=headers(session=session))
    connected, _ = await socket.connect()
    assert connected
    assert await socket.receive_nothing(timeout=7, interval=0.5)
    await database_sync_to_async(push.send)(push.to_user(user_id, {"kind": "still", "n": 2}), what="test")
    assert await socket.receive_json_from(timeout=5) == {"kind": "still", "n": 2}
    await socket.disconnect()
