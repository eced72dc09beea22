"""Graded attempts reach the student's page (their user group) and the cohort's
instructors (the cohort's grades group)."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from labplatform.events import user_group
from lessons.models import Attempt
from lessons.selectors import attempt_payload


async def _send_both(user_id: int, student_event: dict, cohort_group: str, cohort_event: dict) -> None:
    layer = get_channel_layer()
    await layer.group_send(user_group(user_id), {"type": "user.event", "event": student_event})
    await layer.group_send(cohort_group, cohort_event)


def attempt_push(*, attempt: Attempt) -> None:
    """Both sends in one event loop: each async_to_sync call starts a loop and a Redis
    connection, which was a third of a grading round's CPU."""
    payload = attempt_payload(attempt)
    enrollment = attempt.progress.enrollment
    async_to_sync(_send_both)(
        enrollment.user_id,
        {"type": "attempt", **payload},
        enrollment.cohort.grades_group,
        {"type": "grade.update", "student": enrollment.student_id, "attempt": payload},
    )
