"""One student as their instructor sees them: every task with its attempts (each check's
message and evidence), the hints they revealed, what staff did, and what is in their
namespace now (read through the gateway)."""

from dataclasses import dataclass

from labplatform.cluster.namespace_summary import NamespaceSummary, namespace_summary
from labplatform.cohorts.models import Enrollment
from labplatform.environments.models import StudentEnvironment
from labplatform.teaching.dashboard import course_tasks
from lessons.models import Attempt, HintReveal, StaffAction, Task, TaskProgress


@dataclass
class TaskHistory:
    task: Task
    progress: TaskProgress | None
    attempts: list[Attempt]
    hints: list[HintReveal]

    @property
    def state(self) -> str:
        return self.progress.state if self.progress else "not_started"


@dataclass
class Drilldown:
    tasks: list[TaskHistory]
    actions: list[StaffAction]
    namespace: NamespaceSummary | None
    watchable: bool


def student_drilldown(*, enrollment: Enrollment) -> Drilldown:
    tasks = course_tasks(enrollment.cohort.course)
    progress = {p.task_id: p for p in TaskProgress.objects.filter(enrollment=enrollment, task__in=tasks)}
    attempts: dict[int, list[Attempt]] = {}
    for attempt in Attempt.objects.filter(progress__in=progress.values()).order_by("-created_at"):
        attempts.setdefault(attempt.progress_id, []).append(attempt)
    hints: dict[int, list[HintReveal]] = {}
    for reveal in HintReveal.objects.filter(progress__in=progress.values()).order_by("revealed_at"):
        hints.setdefault(reveal.progress_id, []).append(reveal)
    histories = []
    for task in tasks:
        found = progress.get(task.pk)
        histories.append(
            TaskHistory(
                task=task,
                progress=found,
                attempts=attempts.get(found.pk, []) if found else [],
                hints=hints.get(found.pk, []) if found else [],
            )
        )
    environment = getattr(enrollment, "environment", None)
    ready = environment is not None and environment.state == StudentEnvironment.State.READY
    return Drilldown(
        tasks=histories,
        actions=list(
            StaffAction.objects.filter(enrollment=enrollment).select_related("actor", "task__lesson", "attempt")
        ),
        namespace=namespace_summary(namespace=environment.namespace, cluster=enrollment.cohort.cluster.name)
        if ready
        else None,
        watchable=ready,
    )
