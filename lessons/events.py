"""Graded attempts reach the student's page (their user group) and the cohort's
instructors (the cohort's grades group)."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from labplatform.events import push_to_user
from lessons.models import Attempt
from lessons.selectors import attempt_payload


def attempt_push(*, attempt_id: int) -> None:
    attempt = Attempt.objects.select_related("progress__task__lesson", "progress__enrollment__cohort").get(
        pk=attempt_id
    )
    payload = attempt_payload(attempt)
    enrollment = attempt.progress.enrollment
    push_to_user(enrollment.user_id, {"type": "attempt", **payload})
    async_to_sync(get_channel_layer().group_send)(
        enrollment.cohort.grades_group,
        {"type": "grade.update", "student": enrollment.student_id, "attempt": payload},
    )
