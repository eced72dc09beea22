"""Playing lesson content on the local cluster as a student would: a freshly provisioned
namespace, the student's own token, each task's setup, its reference solution typed into a
shell, and its checks evaluated by the grading engine with the platform's identity."""

import datetime
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from labplatform.cluster.students import (
    StudentEnvironmentSpec,
    student_environment_apply,
    student_environment_delete,
    student_kubeconfig,
    student_token,
)
from lessons.grading.engine import checks_evaluate
from lessons.grading.results import Evaluation
from lessons.grading.setup import task_setup_run
from lessons.loading import course_read
from lessons.loading.data import CourseData, LessonData, TaskData
from tests.cohorts import local_student_spec
from tests.kube import KUBECTL

CONTENT = Path(__file__).resolve().parent.parent / "lessons" / "content"
COURSE = CONTENT / "module-15-kubernetes"
CLUSTER = "local"
# A shell with this cluster's kubectl first, as the workstation image has it.
STUDENT_PATH = f"{KUBECTL.parent}:/usr/local/bin:/usr/bin:/bin"
# A check still pending after this long (pods that never become Ready) is a failure.
SETTLE_SECONDS = 30
# A fence (whose contents may hold lines starting with "#") or a heading, in document order.
_FENCE_OR_HEADING = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$|^#{1,6} +([^\n]+)$", re.MULTILINE | re.DOTALL)


def course() -> CourseData:
    """The course as the loader validates it; an invalid course fails collection loudly."""
    return course_read(path=COURSE)


def lesson(slug: str) -> LessonData:
    return next(item for item in course().lessons if item.slug == slug)


def task_cases() -> list[tuple[LessonData, int]]:
    """(lesson, index of the task in it) for every task of the course."""
    return [(item, index) for item in course().lessons for index in range(len(item.tasks))]


@dataclass(frozen=True)
class RunBlock:
    section: str  # the heading the block is under
    commands: str


def run_blocks(item: LessonData) -> list[RunBlock]:
    """The commands of a lesson's ```bash run fences, in order, from its Markdown file."""
    blocks, section = [], ""
    for info, body, heading in _FENCE_OR_HEADING.findall((COURSE / item.slug / "lesson.md").read_text()):
        if heading:
            section = heading.strip()
        elif "run" in info.split():
            blocks.append(RunBlock(section=section, commands=body))
    return blocks


@dataclass
class Student:
    """A provisioned student: their namespace and a kubeconfig holding only their token."""

    spec: StudentEnvironmentSpec
    kubeconfig: Path
    workdir: Path
    # What the student typed into each task's answer checks (task slug: answers), once its
    # solution has found them.
    answers: dict[str, list[str]] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return self.spec.namespace

    def shell(self, script: str, *, timeout: float = 120) -> subprocess.CompletedProcess:
        """Runs `script` in bash with what the student's terminal has: their kubeconfig (their
        own token), this cluster's kubectl, a home of their own. It runs here, beside the
        cluster (a harness of the lesson's commands, never something a student starts)."""
        environment = {"PATH": STUDENT_PATH, "KUBECONFIG": str(self.kubeconfig), "HOME": str(self.workdir)}
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=self.workdir,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def run(self, script: str) -> str:
        result = self.shell(script)
        assert result.returncode == 0, (
            f"as the student in {self.namespace}:\n{script}\nexit {result.returncode}\n{result.stdout}{result.stderr}"
        )
        return result.stdout

    def settle(self) -> None:
        """Waits, as a student reading the output would, until every Deployment has rolled
        out: a lesson's next command may rely on the pods the previous one asked for."""
        self.run(
            "for deployment in $(kubectl get deployments -o name); do "
            'kubectl rollout status "$deployment" --timeout=60s >/dev/null; done'
        )

    def apply(self, manifest: dict) -> None:
        path = self.workdir / f"manifest-{uuid.uuid4().hex[:8]}.yaml"
        path.write_text(yaml.safe_dump(manifest))
        self.run(f"kubectl apply -f {path.name}")


@contextmanager
def provisioned_student(tmp_path: Path, *, cohort: str = "lesson-tests") -> Iterator[Student]:
    """A fresh student environment with the default ("standard") quota preset, removed after."""
    spec = local_student_spec("s" + uuid.uuid4().hex[:10], cohort=cohort)
    student_environment_apply(spec)
    try:
        workdir = tmp_path / spec.student
        workdir.mkdir()
        kubeconfig = workdir / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(student_kubeconfig(spec, student_token(spec, seconds=3600))))
        yield Student(spec=spec, kubeconfig=kubeconfig, workdir=workdir)
    finally:
        student_environment_delete(spec)


@dataclass
class OpenTask:
    """A task as a student has it open: what its setup made, and when it was opened."""

    task: TaskData
    setup_data: dict
    opened_at: datetime.datetime


def task_open(student: Student, task: TaskData) -> OpenTask:
    opened_at = datetime.datetime.now(datetime.UTC)
    setup_data = task_setup_run(
        setup=task.spec.get("setup") or {},
        cluster=CLUSTER,
        namespace=student.namespace,
        local_kwok=True,
        student_token=student_token(student.spec, seconds=600),
    )
    return OpenTask(task=task, setup_data=setup_data, opened_at=opened_at)


def task_evaluate(student: Student, opened: OpenTask) -> Evaluation:
    return checks_evaluate(
        checks=opened.task.spec["checks"],
        cluster=CLUSTER,
        namespace=student.namespace,
        setup_data=opened.setup_data,
        answers=student.answers.get(opened.task.slug, []),
        opened_at=opened.opened_at,
    )


def task_evaluate_settled(student: Student, opened: OpenTask, *, seconds: float = SETTLE_SECONDS) -> Evaluation:
    """Evaluates again while the result is pending (pods still starting), as grading does."""
    deadline = time.monotonic() + seconds
    while True:
        evaluation = task_evaluate(student, opened)
        if evaluation.status != "pending" or time.monotonic() > deadline:
            return evaluation
        time.sleep(0.5)


def solution_apply(student: Student, task: TaskData) -> None:
    """The task's reference solution, as the student: its commands typed into the shell,
    then its manifests applied with `kubectl apply -f`, then its answers found by running
    each answer's command and typed in."""
    solution = task.spec["solution"]
    if solution.get("commands"):
        student.run(solution["commands"])
    for manifest in solution.get("manifests") or []:
        student.apply(manifest)
    if solution.get("answers"):
        student.answers[task.slug] = [student.run(command).strip() for command in solution["answers"]]


def describe(evaluation: Evaluation) -> str:
    return "\n".join(f"  [{result.status}] {result.title}: {result.message}" for result in evaluation.results)


def task_play(student: Student, task: TaskData) -> Evaluation:
    """Opens the task, applies its solution and returns the settled evaluation."""
    opened = task_open(student, task)
    solution_apply(student, task)
    return task_evaluate_settled(student, opened)


def failure_messages(evaluation: Evaluation) -> list[str]:
    return [result.message for result in evaluation.results if result.status == "failed"]
