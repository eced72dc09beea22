"""Grading an attempt, in the worker: evaluate the task's checks against the student's
namespace, store the outcome once, update progress, push the result to the page.

A check that is only waiting (pods still becoming Ready) leaves the attempt pending: the
round's results are stored and the caller re-queues the next round with a countdown. It
waits as long as the cluster gets further (more pods Ready, more endpoints listed than at
any round before), until LESSONS_PENDING_SECONDS pass without that or
LESSONS_PENDING_CEILING_SECONDS in all; then the waiting checks fail, saying what was
still not ready.
Each round is stored by a conditional UPDATE on (state=pending, round=N): a redelivered
or duplicated task finds its round gone and changes nothing, so an attempt is graded once.
What is stored of each check is bounded there (evidence.py), and the attempt's first
round drops the evidence of the task's attempts past the latest few (retention.py).
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from labplatform.cluster.errors import ClusterUnavailable
from lessons.events import attempt_result_push
from lessons.grading.engine import checks_evaluate
from lessons.grading.evidence import results_stored
from lessons.grading.retention import evidence_drop_older
from lessons.models import Attempt, TaskProgress

logger = logging.getLogger(__name__)

# Seconds before re-checking a pending attempt, by round; the last repeats.
PENDING_BACKOFF = (0.5, 1, 1, 2, 2, 3, 3, 5)

UNREACHABLE = "The platform could not reach the cluster to check your work; try again in a moment."
BROKEN = "The platform could not check this task (an error on our side, not in your work); try again."


@dataclass
class RoundOutcome:
    state: str
    results: list[dict]
    message: str
    progress: int = 0


def _evaluate(attempt: Attempt) -> RoundOutcome:
    progress = attempt.progress
    enrollment = progress.enrollment
    try:
        evaluation = checks_evaluate(
            checks=progress.task.checks,
            cluster=enrollment.cohort.cluster.name,
            namespace=enrollment.environment.namespace,
            setup_data=progress.setup_data,
            answers=attempt.answers,
            opened_at=progress.opened_at,
        )
    except ClusterUnavailable as exc:
        logger.warning("attempt %s: cluster unavailable: %s", attempt.pk, exc)
        return RoundOutcome(Attempt.State.ERROR, [], UNREACHABLE)
    except Exception:
        logger.exception("attempt %s: grading failed", attempt.pk)
        return RoundOutcome(Attempt.State.ERROR, [], BROKEN)
    results = [result.as_dict() for result in evaluation.results]
    failed = sum(1 for r in results if r["status"] == "failed")
    if evaluation.status == "passed":
        return RoundOutcome(Attempt.State.PASSED, results, "Every check passed.")
    if evaluation.status == "pending":
        return RoundOutcome(Attempt.State.PENDING, results, "Waiting for the cluster to catch up…", evaluation.progress)
    return RoundOutcome(Attempt.State.FAILED, results, f"{failed} of {len(results)} checks failed.")


def _give_up_waiting(outcome: RoundOutcome, waited: float) -> RoundOutcome:
    results = [
        r | {"status": "failed", "message": f"Still not ready after {waited:.0f} s: {r['message']}"}
        if r["status"] == "pending"
        else r
        for r in outcome.results
    ]
    failed = sum(1 for r in results if r["status"] == "failed")
    return RoundOutcome(Attempt.State.FAILED, results, f"{failed} of {len(results)} checks failed.")


def _progress_record(attempt: Attempt, state: str) -> None:
    """The task's state follows its latest finished attempt, except that a pass is kept."""
    progress = TaskProgress.objects.select_for_update().get(pk=attempt.progress_id)
    if state == Attempt.State.PASSED and progress.first_passed_at is None:
        progress.first_passed_at = attempt.finished_at
    if progress.state != TaskProgress.State.PASSED:
        progress.state = {
            Attempt.State.PASSED: TaskProgress.State.PASSED,
            Attempt.State.FAILED: TaskProgress.State.FAILED,
        }.get(state, TaskProgress.State.OPEN)
    progress.save(update_fields=["state", "first_passed_at", "updated_at"])
    # The attempt's own progress (with its task and student loaded) is what gets pushed.
    attempt.progress.state, attempt.progress.first_passed_at = progress.state, progress.first_passed_at


def attempt_grade(*, attempt_id: int, round: int) -> float | None:
    """Grades one round of an attempt. Returns the countdown before the next round when the
    attempt is still pending, else None (finished, or this round was not ours to grade)."""
    attempt = (
        Attempt.objects.select_related(
            "progress__task__lesson", "progress__enrollment__cohort__cluster", "progress__enrollment__environment"
        )
        .filter(pk=attempt_id, state=Attempt.State.PENDING, round=round)
        .first()
    )
    if attempt is None:
        return None
    outcome = _evaluate(attempt)
    now = timezone.now()
    progress_mark, progressed_at = attempt.progress_mark, attempt.progressed_at or attempt.created_at
    if outcome.state == Attempt.State.PENDING:
        if outcome.progress > progress_mark:
            progress_mark, progressed_at = outcome.progress, now
        waited = (now - attempt.created_at).total_seconds()
        stalled = (now - progressed_at).total_seconds()
        if stalled >= settings.LESSONS_PENDING_SECONDS or waited >= settings.LESSONS_PENDING_CEILING_SECONDS:
            outcome = _give_up_waiting(outcome, waited)
    finished = outcome.state != Attempt.State.PENDING
    results = results_stored(outcome.results)
    with transaction.atomic():
        stored = Attempt.objects.filter(pk=attempt.pk, state=Attempt.State.PENDING, round=round).update(
            state=outcome.state,
            results=results,
            message=outcome.message,
            round=round + 1,
            progress_mark=progress_mark,
            progressed_at=progressed_at,
            finished_at=now if finished else None,
            updated_at=now,
        )
        if not stored:
            return None
        if round == 0:
            # This attempt now holds evidence: an older one of the task may have to let go.
            evidence_drop_older(progress_id=attempt.progress_id)
        attempt.state, attempt.results, attempt.message = outcome.state, results, outcome.message
        attempt.round, attempt.finished_at, attempt.updated_at = round + 1, now if finished else None, now
        attempt.progress_mark, attempt.progressed_at = progress_mark, progressed_at
        if finished:
            _progress_record(attempt, outcome.state)
        transaction.on_commit(lambda: attempt_result_push(attempt=attempt))
    if finished:
        return None
    return PENDING_BACKOFF[min(round, len(PENDING_BACKOFF) - 1)]


def attempts_stalled(*, older_than_seconds: float) -> list[tuple[int, int]]:
    """Pending attempts that nobody has touched for a while (a worker died between storing
    a round and queueing the next): (id, round) to queue again."""
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    return list(
        Attempt.objects.filter(state=Attempt.State.PENDING, updated_at__lt=cutoff).values_list("pk", "round")[:1000]
    )
