"""Live events to browsers: the groups, the envelope, and one sender for web processes
and workers alike.

Groups, each joined by one consumer:
- `user_group(id)`: every page of a signed-in user (labplatform/events.py), which
  forwards `event` from `{"type": "user.event", "event": {...}}` as it is;
- `cohort_progress_group(id)`: the admin's provisioning page of a cohort
  (environments/consumers.py), messages of type `progress.update`;
- `cohort_grades_group(id)`: the cohort dashboard (teaching/consumers.py), messages of
  type `grade.update`;
- `user_access_group(id)`: every socket a user holds (and a watcher's, for the student
  watched): `{"type": "access.changed"}`, sent when the user signed out or their
  enrollments or rights changed (cohorts/access_changes.py); each socket then checks
  again itself whether it may stay open (labplatform/sockets.py). A group of its own, so
  that the terminal and dashboard sockets are not sent every event of the user's pages.
The terminal's own groups are in terminal/sessions.py.

Sending is best effort: what is pushed is already saved, and every page catches up when
it reconnects or reloads. Messages go out from one event loop per process, kept running
in a thread: async_to_sync would start a loop and a Redis connection for every push,
which the grading benchmark measured as a third of a grading round's CPU.
"""

import asyncio
import logging
import os
import threading

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 10

Message = tuple[str, dict]  # (group, message)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def cohort_progress_group(cohort_id: int) -> str:
    return f"cohort.{cohort_id}.progress"


def cohort_grades_group(cohort_id: int) -> str:
    return f"cohort.{cohort_id}.grades"


def user_access_group(user_id: int) -> str:
    return f"user.{user_id}.access"


def access_changed(user_id: int) -> Message:
    """Tells every socket of the user to check again whether it may stay open. It says
    nothing more: a socket never takes a message's word for what changed."""
    return user_access_group(user_id), {"type": "access.changed"}


def to_user(user_id: int, event: dict) -> Message:
    """`event` as the user's pages receive it."""
    return user_group(user_id), {"type": "user.event", "event": event}


_loop: asyncio.AbstractEventLoop | None = None
_loop_pid = 0
_loop_lock = threading.Lock()


def _sending_loop() -> asyncio.AbstractEventLoop:
    """This process's sending loop; a forked child (a worker's pool) starts its own."""
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid():
            _loop, _loop_pid = asyncio.new_event_loop(), os.getpid()
            threading.Thread(target=_loop.run_forever, name="push", daemon=True).start()
        return _loop


async def _send_all(messages: tuple[Message, ...]) -> None:
    layer = get_channel_layer()
    for group, message in messages:
        await layer.group_send(group, message)


def send(*messages: Message, what: str) -> bool:
    """Sends the messages in order; False (and a warning naming `what`) if they could not
    all be sent. Call it from synchronous code: a view, a task, a thread."""
    if not messages:
        return True
    try:
        asyncio.run_coroutine_threadsafe(_send_all(messages), _sending_loop()).result(timeout=SEND_TIMEOUT_SECONDS)
    except Exception:
        logger.warning("%s: the push failed; pages catch up when they reconnect or reload", what, exc_info=True)
        return False
    return True
