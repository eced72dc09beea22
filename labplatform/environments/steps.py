"""The work behind the environment tasks, run by Celery workers. Each function loads its
row, does nothing unless the row is in the state the request side moved it to, and
finishes with a conditional update, so duplicates and races cannot undo each other."""

import logging
import time

from django.conf import settings
from django.utils import timezone

from labplatform.cluster.errors import ClusterError, PodMissing
from labplatform.cluster.manifests import WorkstationRuntime
from labplatform.cluster.students import (
    StudentEnvironmentSpec,
    student_environment_apply,
    student_environment_delete,
    student_namespace_delete,
    student_namespace_gone,
    workstation_kubeconfig_apply,
    workstation_kubeconfig_mounted,
    workstation_ready,
)
from labplatform.cluster.terminals import workstation_session_end
from labplatform.cohorts.presets import PRESETS, QuotaPreset
from labplatform.environments.models import StudentEnvironment
from labplatform.environments.progress import provisioning_push
from labplatform.tracing import traced

State = StudentEnvironment.State
logger = logging.getLogger(__name__)
NAMESPACE_GONE_WAIT_SECONDS = 60
WORKSTATION_READY_WAIT_SECONDS = 120


class StillDeleting(Exception):
    """The namespace is still terminating; the task tries again later."""


def workstation_runtime(preset: QuotaPreset) -> WorkstationRuntime:
    """How the cluster runs workstations (settings), bounded as the cohort's preset says."""
    return WorkstationRuntime(
        image=settings.WORKSTATION_IMAGE,
        pull_policy=settings.WORKSTATION_IMAGE_PULL_POLICY,
        node_pool=settings.WORKSTATION_NODE_POOL,
        api_server=settings.WORKSTATION_API_SERVER,
        requests=dict(preset.workstation_request),
        limits=dict(preset.workstation_limit),
    )


@traced("environment.spec")
def environment_spec(environment: StudentEnvironment) -> StudentEnvironmentSpec:
    cohort = environment.enrollment.cohort
    preset = PRESETS[cohort.quota_preset]
    return StudentEnvironmentSpec(
        cluster=cohort.cluster.name,
        cohort=cohort.slug,
        student=environment.enrollment.student_id,
        ingress_domain=cohort.cluster.ingress_domain,
        quota_hard=preset.hard,
        default_request=preset.default_request,
        default_limit=preset.default_limit,
        workstation_namespace=settings.WORKSTATION_NAMESPACE,
        workstation=workstation_runtime(preset),
        workstation_annotations=settings.WORKSTATION_POD_ANNOTATIONS,
        local=cohort.cluster.is_local,
    )


@traced("environment.load")
def _load(environment_id: int, state: str) -> StudentEnvironment | None:
    environment = (
        StudentEnvironment.objects.select_related("enrollment__cohort__cluster", "enrollment__user")
        .filter(pk=environment_id)
        .first()
    )
    if environment is None or environment.state != state:
        return None
    return environment


@traced("environment.finish")
def _finish(environment: StudentEnvironment, *, expected: str, to: str, error: str = "") -> None:
    fields = {"state": to, "last_error": error, "updated_at": timezone.now()}
    if to == State.READY:
        fields["ready_at"] = timezone.now()
    StudentEnvironment.objects.filter(pk=environment.pk, state=expected).update(**fields)
    environment.refresh_from_db()
    provisioning_push(cohort=environment.enrollment.cohort, environment=environment)


def _guarded(environment: StudentEnvironment, expected: str, work) -> None:
    """Runs `work`; a failure the user can act on is recorded in words, anything else is
    logged and recorded as an internal error, and the row never stays in a working state."""
    try:
        work()
    except StillDeleting:
        raise
    except ClusterError as exc:
        _finish(environment, expected=expected, to=State.FAILED, error=str(exc))
    except Exception:
        logger.exception("environment %s: unexpected error", environment.namespace)
        _finish(environment, expected=expected, to=State.FAILED, error="internal error (logged on the worker)")
    else:
        done = State.DELETED if expected == State.DELETING else State.READY
        _finish(environment, expected=expected, to=done)


def workstation_token_refresh_run(*, environment_id: int) -> None:
    """Tokens last a day; beat refreshes every ready workstation's well before that."""
    environment = _load(environment_id, State.READY)
    if environment is None:
        return
    try:
        workstation_kubeconfig_apply(environment_spec(environment))
    except ClusterError as exc:
        logger.warning("environment %s: token refresh failed: %s", environment.namespace, exc)


def environment_fail(*, environment_id: int, expected: str, error: str) -> None:
    environment = _load(environment_id, expected)
    if environment is not None:
        _finish(environment, expected=expected, to=State.FAILED, error=error)


@traced("environment.provision")
def _provision(spec: StudentEnvironmentSpec) -> None:
    """Applies everything, then waits for the workstation: a student's environment is ready
    when their terminal can start, and a workstation that was running (a reset keeps it)
    reads the new kubeconfig; until then its kubectl would hold a token of the student's
    ServiceAccount as it was before the reset, which the API server no longer accepts."""
    renewed = student_environment_apply(spec)
    deadline = time.monotonic() + WORKSTATION_READY_WAIT_SECONDS
    _wait(lambda: workstation_ready(spec), deadline, f"workstation ws-{spec.student} not Ready")
    if renewed is not None:
        _wait(
            lambda: workstation_kubeconfig_mounted(spec, renewed),
            deadline,
            f"workstation ws-{spec.student} still has its old kubeconfig",
        )


def _wait(done, deadline: float, failure: str) -> None:
    pause = 0.05  # most workstations are Ready at once; slow ones are asked less often
    while not done():
        if time.monotonic() > deadline:
            raise ClusterError(f"{failure} after {WORKSTATION_READY_WAIT_SECONDS}s")
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


def environment_provision_run(*, environment_id: int) -> None:
    environment = _load(environment_id, State.PROVISIONING)
    if environment is not None:
        _guarded(environment, State.PROVISIONING, lambda: _provision(environment_spec(environment)))


def _wait_until_namespace_gone(spec: StudentEnvironmentSpec) -> None:
    deadline = time.monotonic() + NAMESPACE_GONE_WAIT_SECONDS
    while not student_namespace_gone(spec):
        if time.monotonic() > deadline:
            raise StillDeleting(spec.namespace)
        time.sleep(0.5)


def _session_end(spec: StudentEnvironmentSpec) -> None:
    """A reset gives a fresh shell too: the old one, and all it runs, ends."""
    try:
        workstation_session_end(cluster=spec.cluster, namespace=spec.workstation_namespace, student=spec.student)
    except PodMissing:
        pass  # no workstation, no shell; provisioning makes a new one


def environment_reset_run(*, environment_id: int) -> None:
    environment = _load(environment_id, State.PROVISIONING)
    if environment is None:
        return
    spec = environment_spec(environment)

    def reset() -> None:
        _session_end(spec)
        student_namespace_delete(spec)
        _wait_until_namespace_gone(spec)
        _provision(spec)

    _guarded(environment, State.PROVISIONING, reset)


def environment_teardown_run(*, environment_id: int) -> None:
    environment = _load(environment_id, State.DELETING)
    if environment is None:
        return
    spec = environment_spec(environment)

    def teardown() -> None:
        student_environment_delete(spec)
        _wait_until_namespace_gone(spec)

    _guarded(environment, State.DELETING, teardown)
