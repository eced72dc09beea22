"""Grading rounds run here, in the test, against the real cluster: stored once, pending
while pods start, an error when the cluster is unreachable, a pass kept. (A real worker
and the push to the page: test_grading_worker.py.)"""

import re
import time

import pytest
from django.utils import timezone
from kubernetes import client

from lessons.grading.flow import attempt_grade
from lessons.models import Attempt, TaskProgress
from lessons.services import LessonRefused, attempt_create, hint_reveal, task_open
from tests.kube import wait_for
from tests.lessons_rows import course_with_task, deployment
from tests.terminals import provision_ready

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.local_cluster]


@pytest.fixture
def student(make_cohort):
    cohort = make_cohort(students=1)
    (enrollment,) = provision_ready(cohort)
    enrollment.refresh_from_db()
    return enrollment


@pytest.fixture
def apps_api(kube) -> client.AppsV1Api:
    return client.AppsV1Api(kube)


@pytest.fixture
def no_rate_limit(settings):
    settings.LESSONS_CHECK_INTERVAL_SECONDS = 0


def grade_here(attempt: Attempt) -> None:
    """Runs every round of the attempt in this process, as the worker would (no countdowns)."""
    while True:
        attempt.refresh_from_db()
        if attempt.state != Attempt.State.PENDING:
            return
        attempt_grade(attempt_id=attempt.pk, round=attempt.round)
        time.sleep(0.5)


@pytest.mark.usefixtures("no_rate_limit")
def test_a_redelivered_round_changes_nothing(student, apps_api):
    task = course_with_task()
    apps_api.create_namespaced_deployment(student.environment.namespace, deployment(replicas=2))
    task_open(enrollment=student, task=task)
    attempt = attempt_create(enrollment=student, task=task, answers=[])
    assert attempt_grade(attempt_id=attempt.pk, round=0) is None
    attempt.refresh_from_db()
    stored = (attempt.state, attempt.results, attempt.finished_at)
    assert attempt.state == Attempt.State.FAILED
    assert "expected spec.replicas == 3, found 2" in attempt.results[0]["message"]

    # The same message delivered again, after the cluster changed: the stored grade stands.
    apps_api.patch_namespaced_deployment("web", student.environment.namespace, {"spec": {"replicas": 3}})
    assert attempt_grade(attempt_id=attempt.pk, round=0) is None
    attempt.refresh_from_db()
    assert (attempt.state, attempt.results, attempt.finished_at) == stored
    assert TaskProgress.objects.get(enrollment=student, task=task).attempts_count == 1


@pytest.mark.usefixtures("no_rate_limit")
def test_a_rollout_in_progress_is_pending_then_passes(student, apps_api):
    task = course_with_task()
    namespace = student.environment.namespace
    apps_api.create_namespaced_deployment(
        namespace, deployment(replicas=3, annotations={"labplatform.io/ready-delay": "4s"})
    )
    task_open(enrollment=student, task=task)
    attempt = attempt_create(enrollment=student, task=task, answers=[])
    countdown = attempt_grade(attempt_id=attempt.pk, round=0)
    attempt.refresh_from_db()
    assert countdown is not None and attempt.state == Attempt.State.PENDING
    assert "waiting for" in attempt.results[0]["message"], attempt.results
    grade_here_from = 1
    while attempt_grade(attempt_id=attempt.pk, round=grade_here_from) is not None:
        grade_here_from += 1
        time.sleep(0.5)
    attempt.refresh_from_db()
    assert attempt.state == Attempt.State.PASSED, attempt.results


@pytest.mark.usefixtures("no_rate_limit")
def test_waiting_too_long_fails_and_says_what_it_waited_for(student, apps_api, settings):
    settings.LESSONS_PENDING_SECONDS = 2
    task = course_with_task()
    apps_api.create_namespaced_deployment(
        student.environment.namespace, deployment(replicas=3, annotations={"labplatform.io/ready-delay": "300s"})
    )
    task_open(enrollment=student, task=task)
    attempt = attempt_create(enrollment=student, task=task, answers=[])
    grade_here(attempt)
    attempt.refresh_from_db()
    assert attempt.state == Attempt.State.FAILED
    message = attempt.results[0]["message"]
    assert re.fullmatch(
        r"Still not ready after \d+ s: Deployment web: waiting for 3 of 3 pods to become Ready", message
    )


READY_PODS_CHECK = {
    "title": "Three pods app=slow are Ready",
    "target": {"kind": "Pod", "selector": {"app": "slow"}},
    "match": "count",
    "count": {"op": "==", "value": 3},
    "assert": [{"path": "status.conditions[?type=='Ready'].status | [0]", "op": "==", "value": "True"}],
}


def slow_pod(name: str, delay: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "slow"}, "annotations": {"labplatform.io/ready-delay": delay}},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
    }


def graded_on_slow_pods(student, kube, delays: list[str]) -> Attempt:
    """Pods app=slow, each Ready after its delay, and an attempt at READY_PODS_CHECK graded
    to the end here."""
    core = client.CoreV1Api(kube)
    for index, delay in enumerate(delays):
        core.create_namespaced_pod(student.environment.namespace, slow_pod(f"slow-{index}", delay))
    task = course_with_task(checks=[READY_PODS_CHECK])
    task_open(enrollment=student, task=task)
    attempt = attempt_create(enrollment=student, task=task, answers=[])
    grade_here(attempt)
    attempt.refresh_from_db()
    return attempt


@pytest.mark.usefixtures("no_rate_limit")
def test_waiting_goes_on_while_the_cluster_gets_further(student, kube, settings):
    """Pods that turn Ready one after another, each within the wait without progress, though
    all of them take longer than that: the attempt keeps waiting and passes."""
    settings.LESSONS_PENDING_SECONDS = 6
    attempt = graded_on_slow_pods(student, kube, ["3s", "7s", "11s"])
    assert attempt.state == Attempt.State.PASSED, attempt.results
    assert (attempt.finished_at - attempt.created_at).total_seconds() > settings.LESSONS_PENDING_SECONDS
    assert attempt.progress_mark >= 2


@pytest.mark.usefixtures("no_rate_limit")
def test_waiting_ends_at_the_ceiling_even_while_the_cluster_gets_further(student, kube, settings):
    settings.LESSONS_PENDING_SECONDS, settings.LESSONS_PENDING_CEILING_SECONDS = 6, 5
    attempt = graded_on_slow_pods(student, kube, ["2s", "300s", "300s"])
    assert attempt.state == Attempt.State.FAILED
    assert re.fullmatch(
        r"Still not ready after \d+ s: Pod slow-[12]: waiting for it to become Ready", attempt.results[0]["message"]
    ), attempt.results


@pytest.mark.usefixtures("no_rate_limit")
def test_an_unreachable_cluster_is_an_error_not_a_failure(student, settings, tmp_path):
    task = course_with_task()
    task_open(enrollment=student, task=task)
    dead = tmp_path / "kubeconfig"
    dead.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: dead\n"
        "clusters: [{name: dead, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: dead, user: {token: x}}]\n"
        "contexts: [{name: dead, context: {cluster: dead, user: dead}}]\n"
    )
    settings.LABPLATFORM_KUBECONFIG = dead
    attempt = attempt_create(enrollment=student, task=task, answers=[])
    assert attempt_grade(attempt_id=attempt.pk, round=0) is None
    attempt.refresh_from_db()
    assert attempt.state == Attempt.State.ERROR
    assert "could not reach the cluster" in attempt.message
    assert TaskProgress.objects.get(enrollment=student, task=task).state == TaskProgress.State.OPEN


@pytest.mark.usefixtures("no_rate_limit")
def test_a_passed_task_stays_passed_when_the_cluster_changes(student, apps_api):
    task = course_with_task()
    namespace = student.environment.namespace
    apps_api.create_namespaced_deployment(namespace, deployment(replicas=3))
    task_open(enrollment=student, task=task)
    wait_for("3 ready", lambda: apps_api.read_namespaced_deployment("web", namespace).status.ready_replicas == 3)
    grade_here(first := attempt_create(enrollment=student, task=task, answers=[]))
    first.refresh_from_db()
    assert first.state == Attempt.State.PASSED, first.results

    # The next task scales the same Deployment: checking this one again fails, but the pass stays.
    apps_api.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 5}})
    grade_here(second := attempt_create(enrollment=student, task=task, answers=[]))
    second.refresh_from_db()
    assert second.state == Attempt.State.FAILED
    progress = TaskProgress.objects.get(enrollment=student, task=task)
    assert progress.state == TaskProgress.State.PASSED
    assert progress.first_passed_at == first.finished_at


def test_check_is_rate_limited_per_student_with_a_clear_message(student, settings):
    settings.LESSONS_CHECK_INTERVAL_SECONDS = 30
    first_task, second_task = course_with_task(), course_with_task()
    task_open(enrollment=student, task=first_task)
    task_open(enrollment=student, task=second_task)
    attempt_create(enrollment=student, task=first_task, answers=[])
    with pytest.raises(LessonRefused) as refused:
        attempt_create(enrollment=student, task=second_task, answers=[])
    assert refused.value.status == 429
    assert refused.value.message.startswith("You just checked; wait ")
    assert Attempt.objects.filter(progress__enrollment=student).count() == 1


def test_a_task_must_be_opened_before_it_is_checked_and_hints_come_one_at_a_time(student):
    task = course_with_task()
    with pytest.raises(LessonRefused, match="Start the task first"):
        attempt_create(enrollment=student, task=task, answers=[])
    opened = task_open(enrollment=student, task=task)
    assert opened.setup_done_at is not None and opened.opened_at <= timezone.now()
    assert task_open(enrollment=student, task=task).opened_at == opened.opened_at
    assert hint_reveal(enrollment=student, task=task).hints_used == 1
    progress = hint_reveal(enrollment=student, task=task)
    assert progress.hints_used == 2
    assert list(progress.hint_reveals.values_list("index", flat=True)) == [0, 1]
    with pytest.raises(LessonRefused, match="no more hints"):
        hint_reveal(enrollment=student, task=task)


def test_opening_a_task_runs_its_setup_as_the_student_with_the_platforms_rights(student, kube):
    """The platform only reads students' namespaces: setup's objects go in with the
    student's own token, and the pod's log through KWOK's Logs, which the platform may write."""
    task = course_with_task(
        setup={
            "values": {"code": {"generate": "word"}},
            "objects": [
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "logger", "labels": {"app": "logger"}},
                    "spec": {"containers": [{"name": "logger", "image": "busybox:1.36"}]},
                },
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": "broken"},
                    "spec": {"selector": {"app": "{{ values.code }}"}, "ports": [{"port": 80}]},
                },
            ],
            "pod_logs": [{"pod": "logger", "text": "your code is {{ values.code }}\n"}],
        }
    )
    progress = task_open(enrollment=student, task=task)
    assert progress.setup_error == "" and progress.setup_done_at is not None
    code = progress.setup_data["values"]["code"]
    core = client.CoreV1Api(kube)
    namespace = student.environment.namespace
    service = core.read_namespaced_service("broken", namespace)
    assert service.spec.selector == {"app": code}
    assert service.metadata.managed_fields[0].manager == "labplatform"
    # The platform itself could not have made it.
    review = client.AuthorizationV1Api(kube).create_subject_access_review(
        {
            "spec": {
                "user": "system:serviceaccount:labplatform-system:labplatform",
                "resourceAttributes": {"namespace": namespace, "verb": "create", "resource": "services"},
            }
        }
    )
    assert not review.status.allowed
    assert wait_for("the pod's log", lambda: core.read_namespaced_pod_log("logger", namespace)) == (
        f"your code is {code}\n"
    )
    # Opening again changes nothing.
    assert task_open(enrollment=student, task=task).setup_data == progress.setup_data
