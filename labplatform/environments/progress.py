"""Live provisioning progress for the admin's cohort page. Workers announce each
environment's new state to the cohort's Channels group; the page's consumer counts the
states itself when it forwards one, so counts cannot arrive out of order."""

from django.db.models import Count

from labplatform import push
from labplatform.cohorts.models import Cohort
from labplatform.environments.models import StudentEnvironment
from labplatform.tracing import traced


def cohort_progress(*, cohort: Cohort) -> dict:
    counts = dict(
        StudentEnvironment.objects.filter(enrollment__cohort=cohort)
        .values_list("state")
        .annotate(n=Count("id"))
        .order_by()
    )
    states = {state: counts.get(state, 0) for state in StudentEnvironment.State.values}
    return {"states": states, "total": sum(states.values())}


def environment_event(environment: StudentEnvironment) -> dict:
    return {
        "namespace": environment.namespace,
        "student": environment.enrollment.user.username,
        "state": environment.state,
        "error": environment.last_error,
    }


@traced("progress.push")
def provisioning_push(*, cohort: Cohort, environment: StudentEnvironment | None = None) -> None:
    """The cohort's provisioning page recounts; with `environment`, its row changes too."""
    message = {"type": "progress.update"}
    if environment is not None:
        message["environment"] = environment_event(environment)
    push.send((cohort.progress_group, message), what=f"cohort {cohort.pk} provisioning")
