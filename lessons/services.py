"""What a student does in a lesson: open a task (its setup runs), reveal a hint, press
Check, submit a quiz. Grading itself is in lessons/grading/flow.py, run by the worker."""

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from labplatform.cluster.errors import ClusterError
from labplatform.cluster.students import student_token
from labplatform.cohorts.models import Enrollment
from labplatform.environments.models import StudentEnvironment
from labplatform.environments.steps import environment_spec
from lessons.events import task_state_push
from lessons.grading.setup import task_setup_run
from lessons.models import Attempt, HintReveal, Lesson, QuizSubmission, Task, TaskProgress
from lessons.selectors import lesson_locked_reason
from lessons.tasks import grade_attempt


class LessonRefused(Exception):
    """What a student may not do now, in words for them, with the HTTP status that fits."""

    def __init__(self, message: str, *, status: int = 409) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _require_lesson_open(enrollment: Enrollment, lesson: Lesson) -> None:
    reason = lesson_locked_reason(enrollment=enrollment, lesson=lesson)
    if reason:
        raise LessonRefused(reason, status=403)


def _require_environment_ready(enrollment: Enrollment) -> StudentEnvironment:
    environment = getattr(enrollment, "environment", None)
    if environment is None or environment.state != StudentEnvironment.State.READY:
        raise LessonRefused("Your Kubernetes environment is not ready yet; try again when it is.", status=409)
    return environment


def _require_active_task(task: Task) -> None:
    if task.retired_at is not None or task.lesson.retired_at is not None:
        raise LessonRefused("This task is no longer part of the course.", status=404)


def task_open(*, enrollment: Enrollment, task: Task) -> TaskProgress:
    """Records that the student opened the task and runs its setup once (baselines,
    per-student values, pre-created objects). Opening again changes nothing; a setup that
    failed (cluster unreachable) runs again."""
    _require_active_task(task)
    _require_lesson_open(enrollment, task.lesson)
    progress, created = TaskProgress.objects.get_or_create(enrollment=enrollment, task=task)
    if created:
        task_state_push(progress=progress)  # the dashboard's cell: opened
    if progress.setup_done_at is not None:
        return progress
    environment = _require_environment_ready(enrollment)
    claim = _setup_claim(progress)
    if claim is None:
        # Another tab is running it: wait for that one instead of running it twice.
        return _setup_awaited(progress)
    setup = task.spec.get("setup") or {}
    # The cluster is called with no row locked: the claim keeps a second run out.
    try:
        data = (
            task_setup_run(
                setup=setup,
                cluster=enrollment.cohort.cluster.name,
                namespace=environment.namespace,
                local_kwok=enrollment.cohort.cluster.is_local,
                # Objects a task starts with are made as the student (the shortest token there is).
                student_token=student_token(environment_spec(environment), seconds=600)
                if setup.get("objects")
                else None,
            )
            if setup
            else {}
        )
    except ClusterError as exc:
        error = f"The task could not be prepared: {exc}. Press Start task again."
        _setup_finish(progress, claim, setup_error=error, setup_claimed_at=None)
    else:
        _setup_finish(progress, claim, setup_data=data, setup_done_at=timezone.now(), setup_error="")
    progress.refresh_from_db()
    return progress


# How long a claim on a task's setup holds: far longer than a setup takes (its cluster
# calls give up within seconds), so only a request that died leaves one to expire.
SETUP_CLAIM = timedelta(seconds=60)
# How long a second tab waits for the first one's setup before showing the task as it is.
SETUP_AWAIT_SECONDS = 20


def _setup_claim(progress: TaskProgress) -> datetime | None:
    """Claims the setup for this request (one conditional UPDATE, no lock held after it);
    None if it is done or another request holds a live claim."""
    now = timezone.now()
    claimed = (
        TaskProgress.objects.filter(pk=progress.pk, setup_done_at__isnull=True)
        .filter(Q(setup_claimed_at__isnull=True) | Q(setup_claimed_at__lt=now - SETUP_CLAIM))
        .update(setup_claimed_at=now, updated_at=now)
    )
    return now if claimed else None


def _setup_finish(progress: TaskProgress, claim: datetime, **fields) -> None:
    """Stores the outcome, unless the claim expired and another request took over."""
    TaskProgress.objects.filter(pk=progress.pk, setup_claimed_at=claim).update(**fields, updated_at=timezone.now())


def _setup_awaited(progress: TaskProgress) -> TaskProgress:
    deadline = time.monotonic() + SETUP_AWAIT_SECONDS
    while True:
        progress.refresh_from_db()
        if progress.setup_done_at is not None or progress.setup_claimed_at is None or time.monotonic() > deadline:
            return progress
        time.sleep(0.2)


def _opened_progress(enrollment: Enrollment, task: Task, *, for_update: bool = False) -> TaskProgress:
    rows = TaskProgress.objects.select_for_update() if for_update else TaskProgress.objects
    progress = rows.filter(enrollment=enrollment, task=task).first()
    if progress is None or progress.setup_done_at is None:
        message = progress.setup_error if progress and progress.setup_error else "Start the task first."
        raise LessonRefused(message, status=409)
    return progress


def hint_reveal(*, enrollment: Enrollment, task: Task) -> TaskProgress:
    """Reveals the task's next hint, and records when."""
    _require_active_task(task)
    with transaction.atomic():
        progress = _opened_progress(enrollment, task, for_update=True)
        if progress.hints_used >= len(task.hints_html):
            raise LessonRefused("This task has no more hints.", status=409)
        HintReveal.objects.create(progress=progress, index=progress.hints_used)
        progress.hints_used += 1
        progress.save(update_fields=["hints_used", "updated_at"])
    return progress


def _answers_clean(task: Task, answers: list[str]) -> list[str]:
    prompts = task.answer_prompts
    answers = [str(answer).strip() for answer in answers]
    for index, prompt in enumerate(prompts):
        if index >= len(answers) or not answers[index]:
            raise LessonRefused(f"Type your answer first: {prompt}", status=400)
    if len(answers) > len(prompts):
        raise LessonRefused("This task takes no typed answer.", status=400)
    if any(len(answer) > 500 for answer in answers):
        raise LessonRefused("That answer is too long (500 characters at most).", status=400)
    return answers


def attempt_create(*, enrollment: Enrollment, task: Task, answers: list[str]) -> Attempt:
    """Check: records a pending attempt and queues its grading once the row is committed."""
    _require_active_task(task)
    _require_lesson_open(enrollment, task.lesson)
    _require_environment_ready(enrollment)
    answers = _answers_clean(task, answers)
    with transaction.atomic():
        # One Check at a time per student: the enrollment row serialises their clicks.
        Enrollment.objects.select_for_update().get(pk=enrollment.pk)
        progress = _opened_progress(enrollment, task, for_update=True)
        interval = timedelta(seconds=settings.LESSONS_CHECK_INTERVAL_SECONDS)
        latest = Attempt.objects.filter(progress__enrollment=enrollment).order_by("-created_at").first()
        now = timezone.now()
        if latest is not None and now - latest.created_at < interval:
            wait = (interval - (now - latest.created_at)).total_seconds()
            raise LessonRefused(f"You just checked; wait {max(1, round(wait))} s before checking again.", status=429)
        if progress.attempts.filter(state=Attempt.State.PENDING).exists():
            raise LessonRefused("This task is still being checked; its result is on its way.", status=409)
        return attempt_queue(progress=progress, answers=answers, now=now)


def attempt_queue(*, progress: TaskProgress, answers: list[str], now=None) -> Attempt:
    """In the caller's transaction, with the progress row locked: a pending attempt, counted
    on the task, whose grading is queued once the transaction commits. A student's Check
    and an instructor's regrade both come here."""
    attempt = Attempt.objects.create(progress=progress, answers=answers, created_at=now or timezone.now())
    progress.attempts_count += 1
    if progress.state != TaskProgress.State.PASSED:
        progress.state = TaskProgress.State.PENDING
    progress.save(update_fields=["attempts_count", "state", "updated_at"])
    transaction.on_commit(lambda: grade_attempt.delay(attempt.pk, 0))
    return attempt


QUIZ_TAKEN = "You have already submitted this quiz: a quiz takes one submission, and your first is your score."


def _quiz_taken(enrollment: Enrollment, lesson: Lesson) -> bool:
    return QuizSubmission.objects.filter(enrollment=enrollment, lesson=lesson, counts=True).exists()


def quiz_submit(*, enrollment: Enrollment, lesson: Lesson, answers: dict[str, list[str]]) -> QuizSubmission:
    """Grades a quiz on the server: a question is right when the chosen set is exactly
    the correct set. A quiz takes one submission, and it is the score: a second one is
    refused (409) and changes nothing. The database's unique index on the counted
    submission decides between two that race."""
    _require_lesson_open(enrollment, lesson)
    questions = list(lesson.questions.filter(retired_at__isnull=True).order_by("order"))
    if not questions:
        raise LessonRefused("This lesson has no quiz.", status=404)
    if _quiz_taken(enrollment, lesson):
        raise LessonRefused(QUIZ_TAKEN, status=409)
    chosen: dict[str, list[str]] = {}
    for number, question in enumerate(questions, start=1):
        picked = sorted(set(answers.get(question.slug, [])))
        valid = {choice["id"] for choice in question.choices}
        if not picked:
            raise LessonRefused(f"Answer question {number} first.", status=400)
        if not set(picked) <= valid:
            raise LessonRefused(f"Question {number}: that choice does not exist.", status=400)
        if question.kind == question.Kind.SINGLE and len(picked) != 1:
            raise LessonRefused(f"Question {number}: choose one answer.", status=400)
        chosen[question.slug] = picked
    results = {q.slug: chosen[q.slug] == sorted(q.correct) for q in questions}
    try:
        with transaction.atomic():  # a savepoint: the caller's transaction survives a refusal
            return QuizSubmission.objects.create(
                enrollment=enrollment,
                lesson=lesson,
                answers=chosen,
                results=results,
                score=sum(results.values()),
                max_score=len(questions),
            )
    except IntegrityError:
        # Another request's submission landed between the check above and this insert.
        if _quiz_taken(enrollment, lesson):
            raise LessonRefused(QUIZ_TAKEN, status=409) from None
        raise
