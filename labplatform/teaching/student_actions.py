"""What an instructor may do to one student's work from the dashboard: reset their
environment, regrade an attempt, or mark a task passed with a reason. Each is logged as a
StaffAction, which the student's drill-down lists."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from labplatform.cohorts.models import Enrollment
from labplatform.environments import services as environments
from lessons.events import task_state_push
from lessons.models import Attempt, StaffAction, Task, TaskProgress
from lessons.services import attempt_queue

REASON_MAX = 500


class ActionRefused(Exception):
    """Why the action cannot be done now, in words for the instructor."""


def environment_reset(*, actor: AbstractBaseUser, enrollment: Enrollment) -> None:
    environment = getattr(enrollment, "environment", None)
    if environment is None:
        raise ActionRefused(f"{enrollment.user.get_username()} has no environment yet; provision the cohort first.")
    if not environments.environment_reset(environment=environment):
        raise ActionRefused(environments.environment_busy_message(environment))
    StaffAction.objects.create(enrollment=enrollment, actor=actor, kind=StaffAction.Kind.RESET)


def attempt_regrade(*, actor: AbstractBaseUser, attempt: Attempt) -> Attempt:
    """Grades the task again now, with the answers the student gave then, as a new attempt
    (the old one stays as it was graded). The student's page gets the result as usual."""
    with transaction.atomic():
        progress = TaskProgress.objects.select_for_update().select_related("enrollment").get(pk=attempt.progress_id)
        if progress.attempts.filter(state=Attempt.State.PENDING).exists():
            raise ActionRefused("This task is being checked right now; regrade when that result is in.")
        regrade = attempt_queue(progress=progress, answers=attempt.answers)
        StaffAction.objects.create(
            enrollment=progress.enrollment,
            actor=actor,
            kind=StaffAction.Kind.REGRADE,
            task_id=progress.task_id,
            attempt=regrade,
            reason=f"regrade of attempt {attempt.pk}",
        )
    return regrade


def task_mark_passed(*, actor: AbstractBaseUser, enrollment: Enrollment, task: Task, reason: str) -> TaskProgress:
    reason = reason.strip()
    if not reason:
        raise ActionRefused("Say why the task counts as passed; the reason is kept with the grade.")
    if len(reason) > REASON_MAX:
        raise ActionRefused(f"Keep the reason under {REASON_MAX} characters.")
    with transaction.atomic():
        progress, _ = TaskProgress.objects.select_for_update().get_or_create(enrollment=enrollment, task=task)
        if progress.state == TaskProgress.State.PASSED:
            raise ActionRefused(f"{task.title} has already passed for {enrollment.user.get_username()}.")
        progress.state = TaskProgress.State.PASSED
        progress.first_passed_at = progress.first_passed_at or timezone.now()
        progress.save(update_fields=["state", "first_passed_at", "updated_at"])
        StaffAction.objects.create(
            enrollment=enrollment, actor=actor, kind=StaffAction.Kind.MARK_PASSED, task=task, reason=reason
        )
    progress.task, progress.enrollment = task, enrollment
    task_state_push(progress=progress)
    return progress
