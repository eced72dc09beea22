"""Open sockets close when access ends, on the real stack (the full ASGI app, sessions in
PostgreSQL, the Redis channel layer): signing out closes that browser's sockets and no
other's; an instructor removed in the admin loses the dashboard's socket; staff who are
no longer staff lose the provisioning page's. And the terminal slots' count in Redis:
at most the limit, a slot given back or lapsed is free again."""

import time
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from labplatform import push
from labplatform.asgi import application
from labplatform.cohorts.models import Cluster, Cohort, Enrollment
from labplatform.terminal import slots
from tests.access_changes import admin_client, admin_drops_enrollment, sign_out
from tests.terminals import session_cookie, session_cookie_async, socket_headers

pytestmark = [pytest.mark.django_db(transaction=True)]

CLOSE_WAIT_SECONDS = 15  # a bound on waiting, never an expectation of how long it takes


def rows(django_user_model):
    cohort = Cohort.objects.create(
        name="Sockets",
        slug=f"sockets-{uuid.uuid4().hex[:6]}",
        cluster=Cluster.objects.get_or_create(name="local", defaults={"is_local": True})[0],
    )
    people = {}
    for role in Enrollment.Role.values:
        user = django_user_model.objects.create_user(username=f"{cohort.slug}-{role}")
        people[role] = Enrollment.objects.create(user=user, cohort=cohort, role=role)
    return cohort, people


async def opened(path: str, session: str) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, path, headers=socket_headers(session=session))
    connected, code = await socket.connect(timeout=10)
    assert connected, code
    return socket


async def closed_with(socket: WebsocketCommunicator) -> int:
    """The code the server closed it with (anything else it sent first is skipped)."""
    while True:
        message = await socket.receive_output(timeout=CLOSE_WAIT_SECONDS)
        if message["type"] == "websocket.close":
            return message["code"]


@pytest.mark.asyncio
async def test_signing_out_closes_that_browsers_sockets_and_no_other(django_user_model):
    user = await database_sync_to_async(django_user_model.objects.create_user)(username="two-browsers")
    here, elsewhere = await session_cookie_async(user), await session_cookie_async(user)
    leaving = await opened("/ws/events/", here)
    staying = await opened("/ws/events/", elsewhere)

    await database_sync_to_async(sign_out)(here)

    assert await closed_with(leaving) == 4401
    # The other browser's session is still signed in: its socket stays and is pushed to.
    await database_sync_to_async(push.send)(push.to_user(user.pk, {"kind": "still-here"}), what="test")
    assert await staying.receive_json_from(timeout=CLOSE_WAIT_SECONDS) == {"kind": "still-here"}
    refused = WebsocketCommunicator(application, "/ws/events/", headers=socket_headers(session=here))
    assert await refused.connect(timeout=10) == (False, 4401)
    for socket in (leaving, staying, refused):
        await socket.disconnect()


@pytest.mark.asyncio
async def test_an_instructor_removed_in_the_admin_loses_the_dashboard_socket(django_user_model):
    cohort, people = await database_sync_to_async(rows)(django_user_model)
    instructor = people[Enrollment.Role.INSTRUCTOR]
    session = await session_cookie_async(instructor.user)
    dashboard = await opened(f"/ws/teach/{cohort.slug}/", session)
    events = await opened("/ws/events/", session)
    admin = await database_sync_to_async(admin_client)(django_user_model)

    await database_sync_to_async(admin_drops_enrollment)(admin, instructor)

    assert await closed_with(dashboard) == 4403
    again = WebsocketCommunicator(application, f"/ws/teach/{cohort.slug}/", headers=socket_headers(session=session))
    assert await again.connect(timeout=10) == (False, 4403)
    # Still signed in: the page's own events socket stays open.
    assert await events.receive_nothing(timeout=1)
    for socket in (dashboard, again, events):
        await socket.disconnect()


@pytest.mark.asyncio
async def test_staff_no_longer_staff_lose_the_provisioning_socket(django_user_model):
    cohort, _ = await database_sync_to_async(rows)(django_user_model)
    staff = await database_sync_to_async(django_user_model.objects.create_user)(username="staff-now", is_staff=True)
    session = await session_cookie_async(staff)
    progress = await opened(f"/ws/cohorts/{cohort.slug}/progress/", session)
    dashboard = await opened(f"/ws/teach/{cohort.slug}/", session)  # staff see every cohort's

    def unstaff():
        staff.is_staff = False
        staff.save()

    await database_sync_to_async(unstaff)()

    assert await closed_with(progress) == 4403
    assert await closed_with(dashboard) == 4403
    for socket in (progress, dashboard):
        await socket.disconnect()


@pytest.mark.asyncio
async def test_an_unrelated_save_of_the_user_closes_nothing(django_user_model):
    """Signing in again elsewhere (last_login) or a new name takes no right away."""
    cohort, people = await database_sync_to_async(rows)(django_user_model)
    instructor = people[Enrollment.Role.INSTRUCTOR]
    session = await session_cookie_async(instructor.user)
    dashboard = await opened(f"/ws/teach/{cohort.slug}/", session)

    def renamed():
        session_cookie(instructor.user)
        instructor.user.first_name = "Renamed"
        instructor.user.save()
        # Told to check again anyway: it checks and stays.
        push.send(push.access_changed(instructor.user_id), what="test")

    await database_sync_to_async(renamed)()
    assert await dashboard.receive_nothing(timeout=2)
    await dashboard.disconnect()


# The slots' count


def holders(count: int) -> list[str]:
    return [f"test-holder-{uuid.uuid4().hex}" for _ in range(count)]


def test_slots_are_capped_and_given_back():
    key = slots.slot_key(slots.OWN, 10_000_000 + uuid.uuid4().int % 1_000_000)
    one, two, three = holders(3)
    assert slots.take(key, one, limit=2)
    assert slots.take(key, two, limit=2)
    assert not slots.take(key, three, limit=2)
    assert slots.held(key) == 2
    assert slots.take(key, one, limit=2), "a holder keeps its slot when it asks again"
    slots.give_back(key, one)
    assert slots.take(key, three, limit=2)
    slots.give_back(key, two)
    slots.give_back(key, three)
    assert slots.held(key) == 0


def test_a_slot_whose_holder_died_lapses():
    """A process that died without giving its slot back: the slot is free again once its
    lifetime passes (here a short one), and the key itself goes."""
    key = slots.slot_key(slots.OWN, 20_000_000 + uuid.uuid4().int % 1_000_000)
    dead, alive = holders(2)
    assert slots.take(key, dead, limit=1, lifetime=0.3)
    assert not slots.take(key, alive, limit=1)
    taken = False
    for _ in range(100):  # bounded: up to 10 s
        taken = slots.take(key, alive, limit=1, lifetime=0.3)
        if taken:
            break
        time.sleep(0.1)
    assert taken
    for _ in range(100):
        if not slots._redis().exists(key):
            break
        time.sleep(0.1)
    assert not slots._redis().exists(key)


def test_renewing_keeps_an_open_socket_counted_past_the_limit():
    key = slots.slot_key(slots.WATCH, 30_000_000 + uuid.uuid4().int % 1_000_000)
    first, second = holders(2)
    assert slots.take(key, first, limit=1)
    slots.give_back(key, first)
    assert slots.take(key, second, limit=1)
    slots.renew(key, first)  # a socket whose slot had gone (Redis restarted, say)
    assert slots.held(key) == 2
    slots.give_back(key, first)
    slots.give_back(key, second)
