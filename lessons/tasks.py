"""Celery tasks for grading. Each takes ids and owns its retry policy; acknowledged late,
so a killed worker's attempt is graded again (lessons/grading/flow.py makes that harmless)."""

from celery import shared_task

from lessons.grading.flow import attempt_grade, attempts_stalled

# A stalled attempt is one untouched for longer than any countdown plus a grading round.
STALLED_SECONDS = 60


@shared_task(acks_late=True, ignore_result=True)
def grade_attempt(attempt_id: int, round: int = 0) -> None:
    countdown = attempt_grade(attempt_id=attempt_id, round=round)
    if countdown is not None:
        grade_attempt.apply_async((attempt_id, round + 1), countdown=countdown)


@shared_task
def attempts_stalled_requeue() -> int:
    """Queued by beat: picks up attempts whose next round was never queued."""
    stalled = attempts_stalled(older_than_seconds=STALLED_SECONDS)
    for attempt_id, round in stalled:
        grade_attempt.delay(attempt_id, round)
    return len(stalled)
