"""Cohorts on the local cluster for tests: waiting on their environments, and removing
what provisioning made for them."""

import time

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.kube import KWOK_GROUP, KWOK_VERSION


def delete_namespace(core: client.CoreV1Api, name: str) -> None:
    try:
        core.delete_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise


def delete_labelled(kube: client.ApiClient, cohort_slug: str) -> None:
    """Deletes what provisioning made for a test cohort, as cluster-admin."""
    selector = f"labplatform.io/cohort={cohort_slug}"
    core, rbac, custom = client.CoreV1Api(kube), client.RbacAuthorizationV1Api(kube), client.CustomObjectsApi(kube)
    for ns in core.list_namespace(label_selector=selector).items:
        delete_namespace(core, ns.metadata.name)
    for binding in rbac.list_cluster_role_binding(label_selector=selector).items:
        rbac.delete_cluster_role_binding(binding.metadata.name)
    flow_control = client.FlowcontrolApiserverV1Api(kube)
    for schema in flow_control.list_flow_schema(label_selector=selector).items:
        flow_control.delete_flow_schema(schema.metadata.name)
    for rule in custom.list_cluster_custom_object(KWOK_GROUP, KWOK_VERSION, "clusterexecs", label_selector=selector)[
        "items"
    ]:
        custom.delete_cluster_custom_object(KWOK_GROUP, KWOK_VERSION, "clusterexecs", rule["metadata"]["name"])
    core.delete_collection_namespaced_pod("labplatform-workstations", label_selector=selector)
    core.delete_collection_namespaced_secret("labplatform-workstations", label_selector=selector)
    client.NetworkingV1Api(kube).delete_collection_namespaced_network_policy(
        "labplatform-workstations", label_selector=selector
    )


def wait_for_environments(cohort, state: str, count: int, *, timeout: float = 120) -> None:
    from labplatform.environments.models import StudentEnvironment

    deadline = time.monotonic() + timeout
    while True:
        rows = list(
            StudentEnvironment.objects.filter(enrollment__cohort=cohort).values_list("namespace", "state", "last_error")
        )
        if sum(1 for _, s, _ in rows if s == state) == count:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout}s, {count} environments of {cohort.slug} are not {state}: {rows}")
        time.sleep(0.2)


def local_student_spec(student: str, *, cohort: str):
    """A student's environment on the local cluster, as the platform would specify it,
    for tests that provision with the gateway directly (no database rows)."""
    from labplatform.cluster.students import StudentEnvironmentSpec
    from labplatform.cohorts.presets import PRESETS
    from labplatform.environments.steps import workstation_runtime

    preset = PRESETS["standard"]
    return StudentEnvironmentSpec(
        cluster="local",
        cohort=cohort,
        student=student,
        ingress_domain="labs.example.test",
        quota_hard=preset.hard,
        default_request=preset.default_request,
        default_limit=preset.default_limit,
        workstation_namespace="labplatform-workstations",
        workstation=workstation_runtime(preset),
        local=True,
    )


def workstation_ready_within(spec, *, timeout: float = 120) -> None:
    """Waits for the student's workstation to be Ready; if it is not, fails saying what the
    cluster says of the pod (its phase, conditions, container states and events)."""
    from kubernetes import client

    from labplatform.cluster.clients import sync_client
    from labplatform.cluster.students import workstation_ready
    from tests.kube import wait_for

    try:
        wait_for(f"workstation of {spec.student} Ready", lambda: workstation_ready(spec), timeout=timeout)
    except AssertionError as exc:
        core = client.CoreV1Api(sync_client(spec.cluster))
        name = f"ws-{spec.student}"
        try:
            pod = core.read_namespaced_pod(name, spec.workstation_namespace)
            said = f"phase {pod.status.phase}, node {pod.spec.node_name}, conditions " + "; ".join(
                f"{c.type}={c.status} {c.reason or ''} {c.message or ''}".strip() for c in pod.status.conditions or []
            )
            said += "; containers " + "; ".join(str(s.state) for s in pod.status.container_statuses or [])
        except client.ApiException as read:
            said = f"the pod cannot be read: {read.status} {read.reason}"
        events = core.list_namespaced_event(spec.workstation_namespace, field_selector=f"involvedObject.name={name}")
        said += "; events " + "; ".join(f"{e.reason}: {e.message}" for e in events.items)
        raise AssertionError(f"{exc}: {said}") from None
