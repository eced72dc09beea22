"""Putting a played task's pods into a state (still starting, crash-looping) and watching
the grader's verdict as a student pressing Check again and again would see it.

The states come from KWOK's stages (k8s/local/stages.yaml): a pod annotated
`labplatform.io/ready-delay` becomes Ready that much later; one annotated
`labplatform.io/simulate: crash-loop` starts, exits 1 and stays in CrashLoopBackOff. The
annotations are added at admission, by MutatingAdmissionPolicies that match namespaces
labelled `labplatform.io/test-pods`, so the pods are the ones the student's own
Deployments and manifests make: nothing of the reference solution is changed."""

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from lessons.grading.results import Evaluation
from lessons.loading.data import TaskData
from tests.kube import wait_for
from tests.lessons import OpenTask, Student, describe, task_evaluate, task_evaluate_settled

STATE_LABEL = "labplatform.io/test-pods"
READY_DELAY = "labplatform.io/ready-delay"
SIMULATE = "labplatform.io/simulate"
SLOW, CRASH = "slow", "crash"
# What each state's policy adds to the pods made in a namespace labelled for it.
STATE_ANNOTATIONS = {SLOW: {READY_DELAY: "20s"}, CRASH: {SIMULATE: "crash-loop"}}
INTERVAL = 0.5  # between two evaluations, as a student pressing Check would not be faster

# Targets and check kinds that read pods or what derives from them.
POD_TARGET_KINDS = {
    "Pod",
    "Deployment",
    "ReplicaSet",
    "EndpointSlice",
    "Endpoints",
    "Service",
    "HorizontalPodAutoscaler",
}
POD_CHECK_KINDS = {"pod_replaced", "rollout_to_image", "rolled_back", "service_port"}
SERVICE_TARGET_KINDS = {"Service", "EndpointSlice", "Endpoints"}
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


# What a task's checks read, decided from the course files.


def _targets(task: TaskData) -> list[dict]:
    return [check["target"] for check in task.spec["checks"] if isinstance(check.get("target"), dict)]


def checks_read_pods(task: TaskData) -> bool:
    """Whether a check of the task reads pods or what derives from them (a workload, a
    Service and its EndpointSlices, an autoscaler)."""
    return any(check.get("kind") in POD_CHECK_KINDS for check in task.spec["checks"]) or any(
        target.get("kind") in POD_TARGET_KINDS for target in _targets(task)
    )


def checks_wait_on_pods(task: TaskData) -> bool:
    """Whether a check's verdict depends on pods being Ready, so that it must wait while
    they start: `wait: rollout`, a Python kind about pods, an EndpointSlice (or
    Endpoints), or an assertion on a status field. Other checks read only what the student
    declared (labels, a spec) and have nothing to wait for."""
    for check in task.spec["checks"]:
        target = check.get("target") or {}
        if check.get("kind") in POD_CHECK_KINDS or check.get("wait") == "rollout":
            return True
        if target.get("kind") in {"EndpointSlice", "Endpoints"}:
            return True
        if target.get("kind") in POD_TARGET_KINDS and any(
            str(assertion.get("path", "")).startswith("status") for assertion in check.get("assert") or []
        ):
            return True
    return False


def checks_read_services(task: TaskData) -> bool:
    return any(check.get("kind") == "service_port" for check in task.spec["checks"]) or any(
        target.get("kind") in SERVICE_TARGET_KINDS for target in _targets(task)
    )


def services_checked(task: TaskData, services: list[dict]) -> list[str]:
    """The names of the Services (of `services`, the namespace's) that the task's checks
    read: by name, by labels, or through their EndpointSlices or Endpoints."""
    names: set[str] = set()
    for check in task.spec["checks"]:
        if check.get("kind") == "service_port" and isinstance(check.get("service"), str):
            names.add(check["service"])
    for target in _targets(task):
        kind, selector = target.get("kind"), target.get("selector") or {}
        if kind in {"Service", "Endpoints"} and target.get("name"):
            names.add(target["name"])
        elif kind == "Service":
            names |= {
                svc["metadata"]["name"]
                for svc in services
                if all((svc["metadata"].get("labels") or {}).get(k) == str(v) for k, v in selector.items())
            }
        elif kind == "EndpointSlice" and SERVICE_NAME_LABEL in selector:
            names.add(selector[SERVICE_NAME_LABEL])
    return sorted(names)


# The admission policies that put pods into a state.


def _policy(name: str, annotations: dict[str, str]) -> dict:
    literal = ", ".join(f"{json.dumps(key)}: {json.dumps(value)}" for key, value in annotations.items())
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": name, "labels": {"labplatform.io/test": "true"}},
        "spec": {
            "matchConstraints": {
                "resourceRules": [
                    {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}
                ]
            },
            "failurePolicy": "Fail",
            "reinvocationPolicy": "Never",
            "mutations": [
                {
                    "patchType": "ApplyConfiguration",
                    "applyConfiguration": {
                        "expression": f"Object{{metadata: Object.metadata{{annotations: {{{literal}}}}}}}"
                    },
                }
            ],
        },
    }


def _binding(name: str, state: str) -> dict:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingAdmissionPolicyBinding",
        "metadata": {"name": name, "labels": {"labplatform.io/test": "true"}},
        "spec": {"policyName": name, "matchResources": {"namespaceSelector": {"matchLabels": {STATE_LABEL: state}}}},
    }


@contextmanager
def pod_state_policies(api: client.ApiClient) -> Iterator[None]:
    """For as long as the block runs, pods created in a namespace labelled
    `labplatform.io/test-pods: slow` are Ready 20 s after they start, and those in one
    labelled `labplatform.io/test-pods: crash` crash-loop (one MutatingAdmissionPolicy and
    binding each, as cluster-admin, named uniquely so that two runs do not remove each
    other's)."""
    admission = client.AdmissionregistrationV1Api(api)
    suffix = uuid.uuid4().hex[:6]
    made: list[str] = []
    try:
        for state, annotations in STATE_ANNOTATIONS.items():
            name = f"labplatform-test-pods-{state}-{suffix}"
            admission.create_mutating_admission_policy(body=_policy(name, annotations))
            made.append(name)
            admission.create_mutating_admission_policy_binding(body=_binding(name, state))
        yield
    finally:
        for name in made:
            for delete in (
                admission.delete_mutating_admission_policy_binding,
                admission.delete_mutating_admission_policy,
            ):
                try:
                    delete(name)
                except ApiException as exc:
                    if exc.status != 404:
                        raise


def _probe_annotations(core: client.CoreV1Api, namespace: str) -> dict[str, str]:
    """The annotations a pod created in the namespace now gets at admission (a dry run)."""
    probe = {
        "metadata": {"generateName": "admission-probe-"},
        "spec": {"containers": [{"name": "probe", "image": "nginx:1.27"}]},
    }
    created = core.create_namespaced_pod(namespace, probe, dry_run="All")
    return created.metadata.annotations or {}


def namespace_pod_state(core: client.CoreV1Api, namespace: str, state: str | None) -> None:
    """Labels the namespace for a state's policy (None: for none), as cluster-admin, and
    waits until admission acts on it (the API server learns of the policy and of the
    namespace's labels a moment later)."""
    core.patch_namespace(namespace, {"metadata": {"labels": {STATE_LABEL: state}}})
    wanted = STATE_ANNOTATIONS.get(state or "", {})

    def effective() -> bool:
        annotations = _probe_annotations(core, namespace)
        added = {key: annotations.get(key) for key in (READY_DELAY, SIMULATE) if key in annotations}
        return added == wanted

    wait_for(f"admission to annotate new pods in {namespace} with {wanted or 'nothing'}", effective, timeout=30)


# The namespace's pods.


def pods_read(api: client.ApiClient, namespace: str) -> list[dict]:
    """The namespace's pods not being deleted, as the API server sent them (camelCase
    dicts), read as cluster-admin."""
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace).items
    return [api.sanitize_for_serialization(pod) for pod in pods if pod.metadata.deletion_timestamp is None]


def pod_is_ready(pod: dict) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def pod_crash_looping(pod: dict) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return any(((s.get("state") or {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff" for s in statuses)


def pod_manifest(pod: dict) -> dict:
    """A pod the student made (no owner), as a manifest that makes it again: what they
    declared and what admission added to it, without what the cluster assigned it (uid,
    status, its node, its service account token volume) or a test state's annotations."""
    metadata = pod["metadata"]
    annotations = {
        key: value for key, value in (metadata.get("annotations") or {}).items() if key not in (READY_DELAY, SIMULATE)
    }
    spec = json.loads(json.dumps(pod["spec"]))
    for key in ("nodeName", "priority", "preemptionPolicy"):
        spec.pop(key, None)
    token_volumes = {v["name"] for v in spec.get("volumes") or [] if v["name"].startswith("kube-api-access-")}
    spec["volumes"] = [v for v in spec.get("volumes") or [] if v["name"] not in token_volumes]
    for container in spec.get("initContainers", []) + spec.get("containers", []):
        mounts = [m for m in container.get("volumeMounts") or [] if m["name"] not in token_volumes]
        container["volumeMounts"] = mounts
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": metadata["name"], "labels": metadata.get("labels") or {}, "annotations": annotations},
        "spec": spec,
    }
    return manifest


def pods_restart(student: Student, api: client.ApiClient) -> list[dict]:
    """Starts the namespace's pods again, as the student: deletes them all; a workload's
    pods are made again by their ReplicaSet, and each pod the student made themselves is
    created again from its own manifest (pod_manifest). Returns the new pods once as many
    exist as before (not Ready yet, perhaps)."""
    before = pods_read(api, student.namespace)
    bare = [pod_manifest(pod) for pod in before if not pod["metadata"].get("ownerReferences")]
    old = {pod["metadata"]["uid"] for pod in before}
    student.run("kubectl delete pods --all --wait=true >/dev/null")
    for manifest in bare:
        path = student.workdir / f"pod-{manifest['metadata']['name']}-{uuid.uuid4().hex[:6]}.json"
        path.write_text(json.dumps(manifest))
        student.run(f"kubectl create -f {path.name} >/dev/null")

    def replaced() -> list[dict] | None:
        pods = pods_read(api, student.namespace)
        fresh = [pod for pod in pods if pod["metadata"]["uid"] not in old]
        return fresh if len(fresh) == len(before) == len(pods) else None

    return wait_for(f"the {len(before)} pods of {student.namespace} to be made again", replaced)


def pods_describe(pods: list[dict]) -> str:
    """`web-abc Ready; web-def Running CrashLoopBackOff`."""
    parts = []
    for pod in pods:
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        waiting = sorted({((s.get("state") or {}).get("waiting") or {}).get("reason") or "" for s in statuses} - {""})
        state = "Ready" if pod_is_ready(pod) else ((pod.get("status") or {}).get("phase") or "?")
        parts.append(f"{pod['metadata']['name']} {state}{' ' + ','.join(waiting) if waiting else ''}")
    return "; ".join(parts) or "no pods"


# Pressing Check again and again.


@dataclass(frozen=True)
class Round:
    """One evaluation, `at` seconds after the rounds began; `before` and `after`: what
    `read` found just before and just after it (None without a `read`)."""

    at: float
    evaluation: Evaluation
    before: Any = None
    after: Any = None

    @property
    def status(self) -> str:
        return self.evaluation.status


def evaluate_until(
    student: Student,
    opened: OpenTask,
    *,
    done: Callable[[Round], bool],
    seconds: float,
    read: Callable[[], Any] | None = None,
) -> list[Round]:
    """Evaluates the task every INTERVAL seconds until `done(round)` holds or `seconds`
    have passed; returns every round (the caller asserts on them)."""
    rounds: list[Round] = []
    start = time.monotonic()
    while True:
        began = time.monotonic()
        before = read() if read else None
        evaluation = task_evaluate(student, opened)
        after = read() if read else None
        rounds.append(Round(round(began - start, 1), evaluation, before, after))
        if done(rounds[-1]) or time.monotonic() - start > seconds:
            return rounds
        time.sleep(max(0.0, INTERVAL - (time.monotonic() - began)))


def rounds_describe(rounds: list[Round], *, context: Callable[[Round], str] | None = None) -> str:
    """The rounds as a student would have seen them, identical ones in a row told once:
    `3.0-9.5 s (x14): pending`, what `context` says of the first of them (what was read
    before it), then each check's status, title and message."""
    lines: list[str] = []
    groups: list[list[Round]] = []
    for item in rounds:
        key = [(r.status, r.title, r.message) for r in item.evaluation.results]
        if groups and [(r.status, r.title, r.message) for r in groups[-1][0].evaluation.results] == key:
            groups[-1].append(item)
        else:
            groups.append([item])
    for group in groups:
        first, last = group[0], group[-1]
        span = f"{first.at:.1f} s" if len(group) == 1 else f"{first.at:.1f}-{last.at:.1f} s (x{len(group)})"
        lines.append(f"{span}: {first.status}")
        if context is not None:
            lines.append(f"  {context(first)}")
        lines.append(describe(first.evaluation))
    return "\n".join(lines)


@dataclass
class PlayedTask:
    """A task whose reference solution a student has applied and which passed, with the
    lesson's earlier tasks played before it; states are put on it and taken off again."""

    student: Student
    opened: OpenTask
    api: client.ApiClient

    @property
    def task(self) -> TaskData:
        return self.opened.task

    @property
    def namespace(self) -> str:
        return self.student.namespace

    def pods(self) -> list[dict]:
        return pods_read(self.api, self.namespace)

    def into(self, state: str) -> list[dict]:
        """Labels the namespace for `state` and starts its pods again; returns the new
        pods, each of which admission gave the state's annotations."""
        namespace_pod_state(client.CoreV1Api(self.api), self.namespace, state)
        pods = pods_restart(self.student, self.api)
        for pod in pods:
            annotations = pod["metadata"].get("annotations") or {}
            missing = {k: v for k, v in STATE_ANNOTATIONS[state].items() if annotations.get(k) != v}
            assert not missing, f"pod {pod['metadata']['name']} was made without {missing}"
        return pods

    def restore(self) -> None:
        """Back to the solution applied and passed: the namespace labelled for no state,
        its pods started again if one is not Ready (a crash loop left), and the task's
        checks passed once settled."""
        namespace_pod_state(client.CoreV1Api(self.api), self.namespace, None)
        if not all(pod_is_ready(pod) for pod in self.pods()):
            pods_restart(self.student, self.api)
        evaluation = task_evaluate_settled(self.student, self.opened)
        assert evaluation.status == "passed", f"{self.task.slug} before the state:\n{describe(evaluation)}"

    def services(self) -> list[dict]:
        services = client.CoreV1Api(self.api).list_namespaced_service(self.namespace).items
        return [self.api.sanitize_for_serialization(service) for service in services]


# What a message says it read.

_COUNT_CLAIM = re.compile(
    r"\b(?P<n>\d+) (?:of (?:the )?(?P<of>\d+) )?(?P<adjective>Ready |ready |old )?(?P<noun>pod|endpoint|replica)s?\b"
)


@dataclass(frozen=True)
class Counts:
    """What was there: pods, those Ready, ready endpoints listed, old pods (of an older
    template), the replicas asked for."""

    pods: int
    ready: int
    endpoints: int
    old: int = 0
    replicas: int | None = None


def count_claims(message: str) -> list[tuple[str, str, int]]:
    """Each count a message states, as (what it counts, the words, the number): 'waiting
    for 2 of 2 pods' says 0 are Ready of 2 pods; '2 Ready pods' says 2 are Ready;
    '1 ready endpoint(s)' says 1 endpoint is listed ready."""
    claims = []
    for match in _COUNT_CLAIM.finditer(message):
        n, of, adjective, noun = int(match["n"]), match["of"], (match["adjective"] or "").strip().lower(), match["noun"]
        words = match.group(0)
        if noun == "endpoint":
            claims.append(("endpoints", words, n))
        elif noun == "replica":
            claims.append(("replicas", words, n))
        elif of is not None:
            claims += [("pods", words, int(of)), ("ready", words, int(of) - n)]
        elif adjective == "ready":
            claims.append(("ready", words, n))
        elif adjective == "old":
            claims.append(("old", words, n))
        else:
            claims.append(("pods", words, n))
    return claims


def unread_claims(message: str, before: Counts, after: Counts) -> list[str]:
    """The counts in the message that are not what was there, between just before and just
    after the evaluation that wrote it (things only converge meanwhile)."""
    wrong = []
    for what, words, n in count_claims(message):
        seen = (getattr(before, what), getattr(after, what))
        if None in seen or not min(seen) <= n <= max(seen):
            wrong.append(f"{words!r}: {what} was {seen[0]} just before and {seen[1]} just after")
    return wrong
