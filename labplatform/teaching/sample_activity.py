"""A cohort full of made-up students and their work on the course, written in bulk: what
`make up`'s sample cohort, the dashboard's benchmark and its query-count test show. The
students get no environment (nothing is provisioned for them), only rows."""

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from labplatform.cohorts.models import Cohort, Enrollment
from labplatform.terminal.models import TerminalActivity
from lessons.models import Attempt, PageActivity, Task, TaskProgress

FIRST_NAMES = ["Ada", "Bo", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivo", "Jun", "Kofi", "Lena", "Mateo"]
FAILURES = [
    "Deployment web: expected spec.replicas == 3, found 2",
    "Deployment web: not found in namespace {namespace}",
    "Service rag-api: targetPort is 80, but the container listens on 8000",
    "Pod nginx: waiting for 1 of 1 pods to become Ready",
]


def cohort_sample_activity(*, cohort: Cohort, students: int, tasks: list[Task], seed: int = 15) -> list[Enrollment]:
    """Adds `students` students to the cohort, each having worked part of the way through
    `tasks` in order: passed, failed or just opened, with a few Checks each."""
    rng = random.Random(seed)  # noqa: S311 (made-up sample data, repeatable by seed; nothing secret)
    now = timezone.now()
    users = get_user_model().objects.bulk_create([_sample_user(cohort, i, rng) for i in range(students)])
    enrollments = Enrollment.objects.bulk_create(
        [Enrollment(user=user, cohort=cohort, role=Enrollment.Role.STUDENT) for user in users]
    )
    progress_rows, histories = [], []
    for enrollment in enrollments:
        for row, history in _sample_progress(enrollment, tasks, rng, start=now - timedelta(hours=6), now=now):
            progress_rows.append(row)
            histories.append(history)
    progress_rows = TaskProgress.objects.bulk_create(progress_rows, batch_size=2000)
    attempts = []
    for progress, history in zip(progress_rows, histories, strict=True):
        attempts.extend(_sample_attempts(progress, history, rng))
    Attempt.objects.bulk_create(attempts, batch_size=2000)
    TerminalActivity.objects.bulk_create(
        [
            TerminalActivity(enrollment=e, last_input_at=now - timedelta(minutes=rng.randint(0, 90)))
            for e in enrollments
            if rng.random() < 0.8
        ]
    )
    PageActivity.objects.bulk_create(
        [PageActivity(enrollment=e, last_seen_at=now - timedelta(minutes=rng.randint(0, 90))) for e in enrollments]
    )
    return enrollments


def _sample_user(cohort: Cohort, i: int, rng: random.Random):
    return get_user_model()(
        username=f"{cohort.slug}-s{i:04d}",
        first_name=rng.choice(FIRST_NAMES),
        last_name=f"Sample{i:04d}",
        email=f"{cohort.slug}-s{i:04d}@example.com",
    )


@dataclass(frozen=True)
class _History:
    """How one student's work on one task went: failed Checks, then perhaps a pass."""

    fails: int
    passed: bool
    opened: datetime
    finished: datetime


def _sample_progress(
    enrollment: Enrollment, tasks: list[Task], rng: random.Random, *, start: datetime, now: datetime
) -> Iterator[tuple[TaskProgress, _History]]:
    """The tasks one student reached, in order, each opened when the last one finished."""
    reached = rng.randint(0, len(tasks))
    moment = start + timedelta(minutes=rng.randint(0, 60))
    for index, task in enumerate(tasks[: reached + 1]):
        opened = moment
        fails = rng.choice([0, 0, 0, 1, 1, 2, 4]) if index < reached else rng.choice([0, 1, 3])
        passed = index < reached
        moment = opened + timedelta(minutes=rng.randint(2, 20))
        if moment > now:
            return
        state = TaskProgress.State.PASSED if passed else (TaskProgress.State.FAILED if fails else "open")
        row = TaskProgress(
            enrollment=enrollment,
            task=task,
            state=state,
            opened_at=opened,
            first_passed_at=moment if passed else None,
            attempts_count=fails + (1 if passed else 0),
            hints_used=rng.choice([0, 0, 1, 2]),
            setup_done_at=opened,
        )
        yield row, _History(fails=fails, passed=passed, opened=opened, finished=moment)


def _sample_attempts(progress: TaskProgress, history: _History, rng: random.Random) -> list[Attempt]:
    """The Checks behind one progress row: its failures spread over the time it took."""
    attempts = []
    opened, finished = history.opened, history.finished
    for n in range(history.fails):
        message = rng.choice(FAILURES).format(namespace=f"lab-{progress.enrollment.student_id}")
        at = opened + (finished - opened) * (n + 1) / (history.fails + 2)
        attempts.append(
            Attempt(
                progress=progress,
                state=Attempt.State.FAILED,
                results=[{"title": "check", "status": "failed", "message": message, "evidence": {}}],
                message="1 of 1 checks failed.",
                created_at=at,
                finished_at=at,
            )
        )
    if history.passed:
        attempts.append(
            Attempt(
                progress=progress,
                state=Attempt.State.PASSED,
                results=[{"title": "check", "status": "passed", "message": "", "evidence": {}}],
                message="Every check passed.",
                created_at=finished,
                finished_at=finished,
            )
        )
    return attempts
