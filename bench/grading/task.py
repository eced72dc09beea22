"""The task the benchmark grades: the pilot lesson's "create a Deployment with 3 replicas"
when lessons/content has it, else an equivalent spec built here; its rows in the
benchmark's database; and what each student's namespace holds so that every check passes."""

import copy
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.report import REPO

PILOT_TASKS = REPO / "lessons" / "content" / "module-15-kubernetes" / "15.7-deployments" / "tasks.yaml"
PILOT_TASK_IDS = ("create-deployment", "create-a-deployment", "deployment-3-replicas")
DEPLOYMENT = "web"
IMAGE = "nginx:1.27"


@dataclass(frozen=True)
class TaskSpec:
    source: str  # where the checks came from
    slug: str
    title: str
    spec: dict  # setup, checks, solution, as Task.spec holds them
    manifests: list[dict]  # what each student's namespace gets, so the checks pass
    replicas: int


def deployment_manifest(replicas: int) -> dict:
    """What `kubectl create deployment web --image=nginx:1.27 --replicas=N` makes."""
    labels = {"app": DEPLOYMENT}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "nginx", "image": IMAGE}]},
            },
        },
    }


def builtin_task(replicas: int) -> TaskSpec:
    """The pilot task's checks as FORMAT.md writes them: the Deployment declares N replicas
    and the image, and all N pods are Ready (waiting while they start)."""
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": DEPLOYMENT}
    checks = [
        {
            "title": f"Deployment {DEPLOYMENT} declares {replicas} replicas",
            "target": target,
            "assert": [{"path": "spec.replicas", "op": "==", "value": replicas}],
        },
        {
            "title": f"It runs {IMAGE}",
            "target": target,
            "assert": [{"path": "spec.template.spec.containers[0].image", "op": "==", "value": IMAGE}],
        },
        {
            "title": f"All {replicas} replicas are Ready",
            "target": target,
            "wait": "rollout",
            "assert": [{"path": "status.readyReplicas", "op": "==", "value": replicas}],
        },
    ]
    manifest = deployment_manifest(replicas)
    solution = {
        "commands": f"kubectl create deployment {DEPLOYMENT} --image={IMAGE} --replicas={replicas}\n",
        "manifests": [manifest],
    }
    return TaskSpec(
        source="built into bench/grading/task.py",
        slug="create-deployment",
        title=f"Create a Deployment with {replicas} replicas",
        spec={"setup": {}, "checks": checks, "solution": solution},
        manifests=[manifest],
        replicas=replicas,
    )


def _pilot_task(path: Path) -> dict | None:
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    tasks = (document or {}).get("tasks") or []
    by_id = {task.get("id"): task for task in tasks if isinstance(task, dict)}
    for task_id in PILOT_TASK_IDS:
        if task_id in by_id:
            return by_id[task_id]
    # Else the first task whose checks read a Deployment and whose title says 3 replicas.
    for task in by_id.values():
        reads_deployment = any((c.get("target") or {}).get("kind") == "Deployment" for c in task.get("checks") or [])
        if reads_deployment and "3" in task.get("title", ""):
            return task
    return None


def _solution_manifests(task: dict) -> list[dict]:
    """The solution's manifests; for a solution given as `kubectl create deployment web
    --image=nginx:1.27 --replicas=N` only, the Deployment that command makes."""
    solution = task.get("solution") or {}
    if solution.get("manifests"):
        return copy.deepcopy(solution["manifests"])
    command = re.search(
        rf"kubectl create deployment {DEPLOYMENT} --image={re.escape(IMAGE)} --replicas=(\d+)",
        solution.get("commands", ""),
    )
    return [deployment_manifest(int(command.group(1)))] if command else []


def _pods_of(manifests: list[dict]) -> int:
    workloads = ("Deployment", "ReplicaSet", "StatefulSet")
    return sum((m.get("spec") or {}).get("replicas", 1) for m in manifests if m.get("kind") in workloads) + sum(
        1 for m in manifests if m.get("kind") == "Pod"
    )


def _with_replicas(checks: list[dict], *, was: int, now: int) -> list[dict]:
    """The checks with every assertion that a Deployment has `was` replicas saying `now`."""
    checks = copy.deepcopy(checks)
    for check in checks:
        for assertion in check.get("assert") or []:
            if assertion.get("path") in _REPLICA_PATHS and assertion.get("value") == was:
                assertion["value"] = now
        if isinstance(check.get("title"), str):
            check["title"] = check["title"].replace(f"{was} replicas", f"{now} replicas")
    return checks


_REPLICA_PATHS = ("spec.replicas", "status.readyReplicas", "status.availableReplicas", "status.replicas")


def task_choose(*, max_pods_per_student: int) -> tuple[TaskSpec, list[str]]:
    """The pilot task if it exists and has no setup, with its solution in each namespace;
    if its pods do not all fit on the cluster, its checks with fewer replicas. Else the
    built-in task. Returns the task and notes on what was chosen and why."""
    notes = []
    pilot = _pilot_task(PILOT_TASKS)
    where = f"{PILOT_TASKS.relative_to(REPO)} task {pilot['id']!r}" if pilot else ""
    manifests = _solution_manifests(pilot) if pilot else []
    if pilot and pilot.get("setup"):
        notes.append(f"{where} has a setup; using the built-in task instead")
    elif pilot and not manifests:
        notes.append(f"{where}: its solution is not a Deployment the benchmark can make; using the built-in task")
    elif pilot:
        spec = {key: copy.deepcopy(pilot.get(key) or {}) for key in ("setup", "checks", "solution")}
        pods = _pods_of(manifests)
        if pods <= max_pods_per_student or len(manifests) != 1 or manifests[0]["kind"] != "Deployment":
            return TaskSpec(where, pilot["id"], pilot["title"], spec, manifests, pods), notes
        replicas = max(1, max_pods_per_student)
        notes.append(
            f"{pods} pods per student do not fit on the cluster's free pod capacity; the Deployment has "
            f"{replicas} replicas and the task's checks expect {replicas} (one pod fewer to list per namespace; "
            "grading's work is the same otherwise)"
        )
        spec["checks"] = _with_replicas(spec["checks"], was=pods, now=replicas)
        manifests = [deployment_manifest(replicas)]
        return TaskSpec(
            f"{where}, with {replicas} replicas", pilot["id"], pilot["title"], spec, manifests, replicas
        ), notes
    replicas = min(3, max_pods_per_student)
    if replicas < 1:
        raise SystemExit("the cluster has no free pod capacity for the benchmark's students")
    if replicas < 3:
        notes.append(f"3 pods per student do not fit on the cluster's free pod capacity; using {replicas}")
    return builtin_task(replicas), notes


def task_rows(*, spec: TaskSpec, slug: str):
    """A course, lesson and task of the benchmark's own, in its own database."""
    from lessons.models import Course, Lesson, Task

    course = Course.objects.create(slug=slug, title=f"Grading benchmark {slug}")
    lesson = Lesson.objects.create(
        course=course, slug="15.7-deployments", number="15.7", title="Deployments", order=1, body_html=""
    )
    return Task.objects.create(
        lesson=lesson, slug=spec.slug, order=1, title=spec.title, instructions_html="", spec=spec.spec
    )


def task_rows_remove(slug: str) -> None:
    from lessons.models import Course

    Course.objects.filter(slug=slug).delete()
