"""Celery tasks for students' environments: each takes an id, and owns its retry policy.
Idempotent and acknowledged late (settings), so a killed worker's task runs again."""

from celery import shared_task

from labplatform.classroom import environment_work
from labplatform.classroom.environment_work import StillDeleting
from labplatform.classroom.models import StudentEnvironment

# A namespace can take a while to terminate; the countdown stays far below the broker's
# visibility_timeout, or Redis would deliver the task twice.
_DELETE_RETRY = {"countdown": 5, "max_retries": 60}


@shared_task
def workstation_tokens_refresh_task() -> int:
    """Queued by beat; fans out one refresh per ready environment."""
    ids = list(StudentEnvironment.objects.filter(state=StudentEnvironment.State.READY).values_list("id", flat=True))
    for environment_id in ids:
        workstation_token_refresh_task.delay(environment_id)
    return len(ids)


@shared_task
def workstation_token_refresh_task(environment_id: int) -> None:
    environment_work.workstation_token_refresh_run(environment_id=environment_id)


@shared_task
def environment_provision_task(environment_id: int) -> None:
    environment_work.environment_provision_run(environment_id=environment_id)


def _retry_while_deleting(task, exc: StillDeleting, environment_id: int, working_state: str) -> None:
    if task.request.retries >= _DELETE_RETRY["max_retries"]:
        waited = _DELETE_RETRY["countdown"] * _DELETE_RETRY["max_retries"]
        environment_work.environment_fail(
            environment_id=environment_id,
            expected=working_state,
            error=f"namespace {exc} was still terminating after {waited}s; retry later",
        )
        return
    raise task.retry(exc=exc, **_DELETE_RETRY)


@shared_task(bind=True)
def environment_reset_task(self, environment_id: int) -> None:
    try:
        environment_work.environment_reset_run(environment_id=environment_id)
    except StillDeleting as exc:
        _retry_while_deleting(self, exc, environment_id, environment_work.State.PROVISIONING)


@shared_task(bind=True)
def environment_teardown_task(self, environment_id: int) -> None:
    try:
        environment_work.environment_teardown_run(environment_id=environment_id)
    except StillDeleting as exc:
        _retry_while_deleting(self, exc, environment_id, environment_work.State.DELETING)


@shared_task
def cohorts_ended_teardown() -> list[int]:
    """Queued by beat: ends every cohort whose end has passed and tears down its
    environments. Each cohort is ended in its own transaction by a conditional update, so
    a second run, or a redelivery after a killed worker, ends nothing twice."""
    # lifecycle -> environments imports this module for the tasks it queues.
    from labplatform.classroom import lifecycle

    return [
        cohort_id for cohort_id in lifecycle.cohorts_due_ids() if lifecycle.cohort_end(cohort_id=cohort_id) is not None
    ]
