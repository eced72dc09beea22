"""Celery tasks for students' environments: each takes an id, and owns its retry policy.
Idempotent and acknowledged late (settings), so a killed worker's task runs again."""

from celery import shared_task

from labplatform.environments import steps
from labplatform.environments.models import StudentEnvironment
from labplatform.environments.steps import StillDeleting

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
    steps.workstation_token_refresh_run(environment_id=environment_id)


@shared_task
def environment_provision_task(environment_id: int) -> None:
    steps.environment_provision_run(environment_id=environment_id)


def _retry_while_deleting(task, exc: StillDeleting, environment_id: int, working_state: str) -> None:
    if task.request.retries >= _DELETE_RETRY["max_retries"]:
        waited = _DELETE_RETRY["countdown"] * _DELETE_RETRY["max_retries"]
        steps.environment_fail(
            environment_id=environment_id,
            expected=working_state,
            error=f"namespace {exc} was still terminating after {waited}s; retry later",
        )
        return
    raise task.retry(exc=exc, **_DELETE_RETRY)


@shared_task(bind=True)
def environment_reset_task(self, environment_id: int) -> None:
    try:
        steps.environment_reset_run(environment_id=environment_id)
    except StillDeleting as exc:
        _retry_while_deleting(self, exc, environment_id, steps.State.PROVISIONING)


@shared_task(bind=True)
def environment_teardown_task(self, environment_id: int) -> None:
    try:
        steps.environment_teardown_run(environment_id=environment_id)
    except StillDeleting as exc:
        _retry_while_deleting(self, exc, environment_id, steps.State.DELETING)
