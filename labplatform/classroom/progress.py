"""Live provisioning progress for the admin's cohort page. Workers announce each
environment's new state to the cohort's Channels group; the page's consumer counts the
states itself when it forwards one, so counts cannot arrive out of order."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db.models import Count

from labplatform.classroom.models import Cohort, StudentEnvironment
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
def progress_push(*, cohort: Cohort, environment: StudentEnvironment | None = None) -> None:
    message = {"type": "progress.update"}
    if environment is not None:
        message["environment"] = environment_event(environment)
    async_to_sync(get_channel_layer().group_send)(cohort.progress_group, message)
