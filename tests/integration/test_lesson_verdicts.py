"""No state of a reference solution gets a false verdict. For every task whose checks read
pods or what derives from them (decided from the course files, so a new task is covered
without touching this file), its solution is applied and passes (the lesson's earlier
tasks played first, one student per task), and then:

- its pods start again slowly: the verdict is pending until it is passed, never failed;
- its pods crash-loop: failed before the grader's waiting limit, saying the container
  keeps crashing, and never passed once the crash loop is visible;
- (tasks that check a Service) its Services select `app: wrong-...`: failed, naming the
  wrong selector.

And the issue's own case, by name: lesson 15.8's frontend, whose two pods exist but are not
yet Ready when Check is pressed, is pending (its messages saying only what was read), then
passed. Pod states come from admission policies (tests/verdicts.py)."""

import json
import re

import pytest
from django.conf import settings
from kubernetes import client

from tests.kube import wait_for
from tests.lessons import (
    describe,
    failure_messages,
    lesson,
    provisioned_student,
    solution_apply,
    task_cases,
    task_evaluate_settled,
    task_open,
    task_play,
)
from tests.verdicts import (
    CRASH,
    SLOW,
    Counts,
    PlayedTask,
    checks_read_pods,
    checks_read_services,
    checks_wait_on_pods,
    count_claims,
    evaluate_until,
    namespace_pod_state,
    pod_crash_looping,
    pod_is_ready,
    pod_state_policies,
    pods_describe,
    pods_read,
    rounds_describe,
    services_checked,
    unread_claims,
)

pytestmark = [pytest.mark.usefixtures("kube"), pytest.mark.local_cluster, pytest.mark.timeout(600)]

# Pods are Ready 20 s after they start (tests/verdicts.py); a right answer passes well within this.
STARTING_SECONDS = 90
CASES = {
    f"{item.slug}/{item.tasks[index].slug}": (item, index)
    for item, index in task_cases()
    if checks_read_pods(item.tasks[index])
}
SERVICE_CASES = [case for case, (item, index) in CASES.items() if checks_read_services(item.tasks[index])]


@pytest.fixture(scope="module")
def pod_states(kube):
    """The admission policies that slow pods down or make them crash, for this module."""
    with pod_state_policies(kube):
        yield


@pytest.fixture(scope="module")
def played(request, pod_states, kube, tmp_path_factory):
    """The task named by the parameter, its solution applied and passed, the lesson's
    earlier tasks played before it; shared by the states tested on it."""
    item, index = CASES[request.param]
    with provisioned_student(tmp_path_factory.mktemp("verdicts")) as student:
        for earlier in item.tasks[:index]:
            evaluation = task_play(student, earlier)
            assert evaluation.status == "passed", f"earlier task {earlier.slug}:\n{describe(evaluation)}"
        task = item.tasks[index]
        opened = task_open(student, task)
        solution_apply(student, task)
        evaluation = task_evaluate_settled(student, opened)
        assert evaluation.status == "passed", f"{task.slug} after its solution:\n{describe(evaluation)}"
        yield PlayedTask(student=student, opened=opened, api=kube)


def pods_before(item) -> str:
    return f"pods before: {pods_describe(item.before)}"


def statuses(rounds) -> list[str]:
    return [item.status for item in rounds]


@pytest.mark.parametrize("played", list(CASES), indirect=True)
def test_pods_still_starting_are_pending_then_passed_never_failed(played):
    played.restore()
    played.into(SLOW)
    rounds = evaluate_until(
        played.student,
        played.opened,
        done=lambda item: item.status != "pending",
        seconds=STARTING_SECONDS,
        read=played.pods,
    )
    story = f"{played.task.slug}, its pods starting again (Ready 20 s after they start):\n" + rounds_describe(
        rounds, context=pods_before
    )
    seen = statuses(rounds)
    assert not all(pod_is_ready(pod) for pod in rounds[0].before), f"the pods were Ready at once:\n{story}"
    assert "failed" not in seen, story
    assert seen[-1] == "passed", f"not passed within {STARTING_SECONDS} s:\n{story}"
    if checks_wait_on_pods(played.task):
        assert "pending" in seen, f"passed while its pods were not Ready:\n{story}"


@pytest.mark.parametrize("played", list(CASES), indirect=True)
def test_crash_looping_pods_fail_at_once_saying_so(played):
    played.restore()
    played.into(CRASH)
    limit = settings.LESSONS_PENDING_SECONDS

    def crash_visible(item) -> bool:
        """Whether a pod was crash-looping before the evaluation began."""
        return any(pod_crash_looping(pod) for pod in item.before)

    rounds = evaluate_until(
        played.student,
        played.opened,
        done=lambda item: item.status == "failed" or (item.status == "passed" and crash_visible(item)),
        seconds=limit,
        read=played.pods,
    )
    story = f"{played.task.slug}, its pods crash-looping:\n" + rounds_describe(rounds, context=pods_before)
    crashed = any(pod_crash_looping(pod) for item in rounds for pod in item.before + item.after)
    assert crashed, f"no pod was seen crash-looping within {limit} s:\n{story}"
    seen = statuses(rounds)
    if not checks_wait_on_pods(played.task):
        # Its checks read only what the student declared (labels, a spec), which a crash
        # loop does not change: the verdict stays what it was.
        assert seen[-1] == "passed" and "failed" not in seen, story
        return
    passed_while_crashing = [item.at for item in rounds if crash_visible(item) and item.status == "passed"]
    assert not passed_while_crashing, f"passed at {passed_while_crashing} s while a pod crash-looped:\n{story}"
    assert seen[-1] == "failed", f"not failed within {limit} s, the grader's waiting limit:\n{story}"
    # The crash loop is all that changed: each check it fails says so.
    assert all(
        "keeps crashing" in message and "CrashLoopBackOff" in message
        for message in failure_messages(rounds[-1].evaluation)
    ), f"a failed check does not say that a container keeps crashing:\n{story}"


@pytest.mark.parametrize("played", SERVICE_CASES, indirect=True)
def test_a_service_selecting_no_pod_fails_naming_its_selector(played):
    played.restore()
    services = {svc["metadata"]["name"]: svc for svc in played.services()}
    names = services_checked(played.task, list(services.values()))
    assert names and set(names) <= set(services), (
        f"{played.task.slug} checks Services {names}; found {sorted(services)}"
    )
    wrong = {name: f"wrong-{name}" for name in names}
    limit = settings.LESSONS_PENDING_SECONDS

    def selector_set(name: str, selector: dict) -> None:
        patch = json.dumps([{"op": "replace", "path": "/spec/selector", "value": selector}])
        played.student.run(f"kubectl patch service {name} --type=json -p '{patch}' >/dev/null")

    try:
        for name in names:
            selector_set(name, {"app": wrong[name]})
        rounds = evaluate_until(
            played.student, played.opened, done=lambda item: item.status != "pending", seconds=limit
        )
    finally:
        for name in names:
            selector_set(name, services[name]["spec"]["selector"])
    story = f"{played.task.slug}, Services {names} selecting app=wrong-<name>:\n" + rounds_describe(rounds)
    seen = statuses(rounds)
    assert "passed" not in seen, story
    assert seen[-1] == "failed", f"not failed within {limit} s, the grader's waiting limit:\n{story}"
    final = rounds[-1].evaluation
    assert not [result for result in final.results if result.status == "pending"], f"a check still waits:\n{story}"
    # `app=wrong-frontend`, `app="wrong-frontend"` or `{"app": "wrong-frontend"}`.
    named = {name: re.compile(rf"app\W{{0,4}}{re.escape(wrong[name])}\b") for name in names}
    messages = failure_messages(final)
    for name in names:
        assert any(named[name].search(message) for message in messages), (
            f"no failed check names Service {name}'s selector app={wrong[name]}:\n{story}"
        )
    # The selectors are all that changed: each check they fail names one.
    assert all(any(pattern.search(message) for pattern in named.values()) for message in messages), (
        f"a failed check does not name the wrong selector:\n{story}"
    )


# Lesson 15.8, task clusterip-service, as the issue reported it.
FRONTEND = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "frontend"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "frontend"}},
        "template": {
            "metadata": {"labels": {"app": "frontend"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]},
        },
    },
}
FRONTEND_SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "frontend"},
    "spec": {"selector": {"app": "frontend"}, "ports": [{"port": 80, "targetPort": 80}]},
}


def test_two_frontend_pods_not_yet_ready_are_pending_then_passed_saying_only_what_was_read(pod_states, kube, tmp_path):
    task = next(task for task in lesson("15.8-services").tasks if task.slug == "clusterip-service")
    discovery = client.DiscoveryV1Api(kube)
    with provisioned_student(tmp_path) as student:
        opened = task_open(student, task)
        namespace_pod_state(client.CoreV1Api(kube), student.namespace, SLOW)
        student.apply(FRONTEND)
        student.apply(FRONTEND_SERVICE)

        def counts() -> Counts:
            pods = [
                pod for pod in pods_read(kube, student.namespace) if pod["metadata"]["labels"].get("app") == "frontend"
            ]
            slices = discovery.list_namespaced_endpoint_slice(
                student.namespace, label_selector="kubernetes.io/service-name=frontend"
            ).items
            endpoints = sum(1 for piece in slices for e in piece.endpoints or [] if e.conditions and e.conditions.ready)
            return Counts(pods=len(pods), ready=sum(map(pod_is_ready, pods)), endpoints=endpoints, replicas=2)

        wait_for("both pods of Deployment frontend to exist", lambda: counts().pods == 2)
        rounds = evaluate_until(
            student, opened, done=lambda item: item.status != "pending", seconds=STARTING_SECONDS, read=counts
        )
        story = "frontend, Check pressed once both pods exist:\n" + rounds_describe(
            rounds, context=lambda item: f"read before: {item.before}, after: {item.after}"
        )
        first, seen = rounds[0].before, statuses(rounds)
        assert (first.pods, first.ready) == (2, 0), f"not 2 pods, none Ready, at the first Check:\n{story}"
        assert seen[0] == "pending", story
        assert "failed" not in seen, story
        assert seen[-1] == "passed", f"not passed within {STARTING_SECONDS} s:\n{story}"
        pending = [
            (item, result) for item in rounds for result in item.evaluation.results if result.status == "pending"
        ]
        assert any(count_claims(result.message) for _, result in pending), f"no pending message says a count:\n{story}"
        unread = [
            f"{item.at:.1f} s, {result.title}: {result.message} ({', '.join(wrong)})"
            for item, result in pending
            if (wrong := unread_claims(result.message, item.before, item.after))
        ]
        assert not unread, "pending messages claim counts that were not there:\n" + "\n".join(unread) + f"\n{story}"
