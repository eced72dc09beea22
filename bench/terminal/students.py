"""The benchmark's students: a cohort provisioned by the platform's own code (as a Celery
worker would run it), their workstation pods on the real node, their session cookies, and
their removal afterwards."""

import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from bench.terminal.config import COHORT_PREFIX
from labplatform.cluster.apply import object_exists, object_get
from labplatform.cluster.manifests import student_namespace_name, workstation_pod_name
from labplatform.cluster.students import student_environment_delete
from labplatform.cohorts.models import Cohort, Enrollment
from labplatform.environments.models import StudentEnvironment
from labplatform.environments.steps import environment_provision_run, environment_spec

State = StudentEnvironment.State
# Provisioning is mostly waiting on the API server and for each workstation pod to start on
# the node; a few at a time is enough.
PROVISION_THREADS = 8
POD_GONE_SECONDS = 90


def _provision_one(environment_id: int) -> None:
    try:
        environment_provision_run(environment_id=environment_id)
    finally:
        connection.close()  # this thread's own connection


def cohort_provision_here(cohort: Cohort) -> float:
    """Provisions every student now, in this process, with the workers' own function;
    returns the seconds it took. Raises if any environment did not become ready."""
    started = time.monotonic()
    environments = [
        StudentEnvironment.objects.create(
            enrollment=enrollment,
            namespace=student_namespace_name(enrollment.student_id),
            state=State.PROVISIONING,
        )
        for enrollment in cohort.enrollments.order_by("pk")
    ]
    with ThreadPoolExecutor(PROVISION_THREADS) as pool:
        list(pool.map(_provision_one, [e.pk for e in environments]))
    failed = StudentEnvironment.objects.filter(enrollment__cohort=cohort).exclude(state=State.READY)
    if failed.exists():
        details = "; ".join(f"{e.namespace}: {e.state} {e.last_error}" for e in failed[:5])
        raise RuntimeError(f"{failed.count()} of {len(environments)} environments not ready: {details}")
    return time.monotonic() - started


def _pod_ref(student: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"namespace": settings.WORKSTATION_NAMESPACE, "name": workstation_pod_name(student)},
    }


def workstation_uids(enrollments: list[Enrollment]) -> list[str]:
    """The uid of each student's workstation pod (its cgroups on the node are named by it)."""
    uids = []
    for enrollment in enrollments:
        pod = object_get(_pod_ref(enrollment.student_id), cluster="local")
        if pod is None or pod["spec"].get("nodeName") is None:
            raise RuntimeError(f"no scheduled workstation pod for {enrollment.student_id}")
        uids.append(pod["metadata"]["uid"])
    return uids


def students_of(cohort: Cohort) -> list[Enrollment]:
    return list(cohort.enrollments.order_by("pk").select_related("user"))


def session_cookies(enrollments: list[Enrollment]) -> list[str]:
    """Each student's session cookie value, as signing in gives it to the browser."""
    cookies = []
    for enrollment in enrollments:
        client = Client()
        client.force_login(enrollment.user)
        cookies.append(client.cookies[settings.SESSION_COOKIE_NAME].value)
    return cookies


def cohort_remove(slug: str) -> None:
    """Everything provisioning made for the cohort (namespace, bindings, workstation pod
    with its shell), waiting until the pods are gone from the node, then its rows."""
    cohort = Cohort.objects.filter(slug=slug).first()
    if cohort is not None:
        for environment in StudentEnvironment.objects.filter(enrollment__cohort=cohort).select_related(
            "enrollment__cohort__cluster"
        ):
            student_environment_delete(environment_spec(environment))
        pods = [_pod_ref(student) for student in cohort.enrollments.values_list("student_id", flat=True)]
        deadline = time.monotonic() + POD_GONE_SECONDS
        while (left := [p for p in pods if object_exists(p, cluster="local")]) and time.monotonic() < deadline:
            time.sleep(1)
        if left:
            raise RuntimeError(f"{len(left)} workstation pods of {slug} still there after {POD_GONE_SECONDS}s")
        cohort.delete()
    get_user_model().objects.filter(username__startswith=f"{slug}-").delete()


def leftover_cohorts() -> list[str]:
    return list(Cohort.objects.filter(slug__startswith=COHORT_PREFIX).values_list("slug", flat=True))
