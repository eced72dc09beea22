"""Students' environments: provisioning, reset, teardown and reconcile.

The state machine is pending -> provisioning -> ready | failed -> deleting -> deleted.
Rows move into a working state here, in the request's transaction, and a Celery task is
queued only for the rows this call moved; so a double-clicked button does the work
once. Tasks re-check the state, so a duplicate or late delivery does nothing, and a task
redelivered after a killed worker finds its row still in the working state and redoes
the (idempotent) work.
"""

from django.db import transaction
from django.utils import timezone

from labplatform.cluster.manifests import student_namespace_name
from labplatform.cohorts.access_changes import access_changed_push
from labplatform.cohorts.models import Cohort, Enrollment, enrolled
from labplatform.environments.models import StudentEnvironment
from labplatform.environments.progress import provisioning_push
from labplatform.environments.tasks import environment_provision_task, environment_reset_task, environment_teardown_task

State = StudentEnvironment.State


def _environments(cohort: Cohort):
    return StudentEnvironment.objects.filter(enrollment__cohort=cohort).select_related(
        "enrollment__cohort__cluster", "enrollment__user"
    )


def _move(rows, *, to: str, task) -> list[int]:
    """Moves the locked rows to `to` and queues `task` for each once the move commits.
    A concurrent call waits on the locks, then finds the rows no longer match its filter."""
    ids = list(rows.select_for_update(of=("self",)).values_list("id", flat=True))
    StudentEnvironment.objects.filter(id__in=ids).update(state=to, last_error="", updated_at=timezone.now())
    for environment_id in ids:
        transaction.on_commit(lambda environment_id=environment_id: task.delay(environment_id))
    return ids


@transaction.atomic
def cohort_provision(*, cohort: Cohort) -> int:
    """Gives every active student an environment; queues the ones pending or failed.
    Returns how many were queued."""
    students = Enrollment.objects.students().filter(cohort=cohort, environment__isnull=True)
    StudentEnvironment.objects.bulk_create(
        [StudentEnvironment(enrollment=e, namespace=student_namespace_name(e.student_id)) for e in students],
        ignore_conflicts=True,
    )
    waiting = _environments(cohort).filter(enrolled("enrollment"), state__in=[State.PENDING, State.FAILED])
    queued = _move(waiting, to=State.PROVISIONING, task=environment_provision_task)
    transaction.on_commit(lambda: provisioning_push(cohort=cohort))
    return len(queued)


@transaction.atomic
def environment_reset(*, environment: StudentEnvironment) -> bool:
    """Deletes everything the student made (their namespace) and provisions it afresh;
    the workstation stays. False if the environment was busy."""
    rows = StudentEnvironment.objects.filter(pk=environment.pk, state__in=[State.READY, State.FAILED])
    return bool(_move(rows, to=State.PROVISIONING, task=environment_reset_task))


def environment_busy_message(environment: StudentEnvironment) -> str:
    """Why a reset was refused, in the same words for the student, their instructor and
    the admin: the state it is in now (read again; the caller's copy may be older)."""
    environment.refresh_from_db(fields=["state"])
    state = environment.get_state_display().lower()
    return (
        f"The environment {environment.namespace} is {state} right now; it can be reset once it is ready or has failed."
    )


@transaction.atomic
def cohort_reconcile(*, cohort: Cohort) -> int:
    """Re-applies every ready environment, repairing drift (a deleted RoleBinding, a
    changed quota). Returns how many were queued."""
    return len(
        _move(_environments(cohort).filter(state=State.READY), to=State.PROVISIONING, task=environment_provision_task)
    )


@transaction.atomic
def cohort_teardown(*, cohort: Cohort) -> int:
    live = _environments(cohort).exclude(state__in=[State.DELETING, State.DELETED])
    queued = _move(live, to=State.DELETING, task=environment_teardown_task)
    transaction.on_commit(lambda: provisioning_push(cohort=cohort))
    # Their terminals, and the watches of them, close now rather than when the
    # workstation goes.
    access_changed_push(StudentEnvironment.objects.filter(id__in=queued).values_list("enrollment__user_id", flat=True))
    return len(queued)


@transaction.atomic
def enrollment_drop(*, enrollment: Enrollment) -> None:
    """Drops a student from a running cohort: their environment is torn down; their
    enrollment, attempts and grades stay."""
    Enrollment.objects.active().filter(pk=enrollment.pk).update(dropped_at=timezone.now())
    live = StudentEnvironment.objects.filter(enrollment=enrollment).exclude(state__in=[State.DELETING, State.DELETED])
    _move(live, to=State.DELETING, task=environment_teardown_task)
    # An UPDATE sends no signal: their sockets (and watches of their terminal) are told here.
    access_changed_push([enrollment.user_id])
