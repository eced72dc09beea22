"""Graded attempts reach the student's page (their user group) and the cohort's
instructors (the cohort's grades group).

Workers send from one event loop per process, kept running in a thread: async_to_sync
would start a loop and a Redis connection for every push, which the grading benchmark
measured as a third of a grading round's CPU."""

import asyncio
import logging
import os
import threading

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from labplatform.events import user_group
from labplatform.tracing import traced
from lessons.models import Attempt, TaskProgress
from lessons.selectors import attempt_payload

logger = logging.getLogger(__name__)

PUSH_TIMEOUT_SECONDS = 10

_loop: asyncio.AbstractEventLoop | None = None
_loop_pid = 0
_loop_lock = threading.Lock()


def _sending_loop() -> asyncio.AbstractEventLoop:
    """This process's sending loop; a forked pool child starts its own."""
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid():
            _loop, _loop_pid = asyncio.new_event_loop(), os.getpid()
            threading.Thread(target=_loop.run_forever, name="lessons-push", daemon=True).start()
        return _loop


async def _send_both(user_id: int, student_event: dict, cohort_group: str, cohort_event: dict) -> None:
    layer = get_channel_layer()
    await layer.group_send(user_group(user_id), {"type": "user.event", "event": student_event})
    await layer.group_send(cohort_group, cohort_event)


def cell_event(progress: TaskProgress) -> dict:
    """A task's state for one student, as the cohort dashboard's cell shows it."""
    task = progress.task
    return {
        "type": "grade.update",
        "student": progress.enrollment.student_id,
        "task": f"{task.lesson.slug}/{task.slug}",
        "state": progress.state,
        "attempts": progress.attempts_count,
    }


def _run(sending, what: str) -> None:
    try:
        asyncio.run_coroutine_threadsafe(sending, _sending_loop()).result(timeout=PUSH_TIMEOUT_SECONDS)
    except Exception:
        logger.warning("%s: the push failed; pages will catch up when reloaded or polled", what, exc_info=True)


@traced("grading.attempt_push")
def attempt_push(*, attempt: Attempt) -> None:
    """Best effort: the result is already stored, and a page that misses the push polls."""
    payload = attempt_payload(attempt)
    enrollment = attempt.progress.enrollment
    sending = _send_both(
        enrollment.user_id, {"type": "attempt", **payload}, enrollment.cohort.grades_group, cell_event(attempt.progress)
    )
    _run(sending, f"attempt {attempt.pk}")


def progress_push(*, progress: TaskProgress) -> None:
    """A change made outside grading (the student opened the task, an instructor marked it
    passed) reaches the dashboards. Called from web requests: async_to_sync sends from the
    server's own event loop (the workers' sending loop above is theirs alone)."""
    try:
        async_to_sync(get_channel_layer().group_send)(progress.enrollment.cohort.grades_group, cell_event(progress))
    except Exception:
        logger.warning(
            "progress %s: the push failed; dashboards catch up when they reconnect", progress.pk, exc_info=True
        )
