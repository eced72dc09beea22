"""One student as their instructor sees them: every task with its state, Checks and the
hints they revealed; their Checks (attempts), newest first, a page at a time, each with
every check's message and evidence, for all tasks or one; what staff did; and what is in
their namespace now (read through the gateway). Reads a fixed number of queries, and a
page holds at most ATTEMPTS_PER_PAGE attempts (each bounded: lessons/grading/evidence.py),
however many Checks the student pressed."""

import re
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import OuterRef, Subquery

from labplatform.cluster.namespace_summary import NamespaceSummary, namespace_summary
from labplatform.cohorts.models import Enrollment
from labplatform.environments.models import StudentEnvironment
from labplatform.teaching.dashboard import course_tasks
from lessons.models import Attempt, HintReveal, StaffAction, Task, TaskProgress

ATTEMPTS_PER_PAGE = 20
ACTIONS_SHOWN = 50
_NUMBER = re.compile(r"[0-9]{1,9}")
_ECHOED = 40  # characters of a bad parameter repeated in the answer


class DrilldownRefused(Exception):
    """A page or task parameter that names nothing: what was wrong, and the status to answer."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.message, self.status = message, status


@dataclass
class TaskHistory:
    task: Task
    progress: TaskProgress | None
    hints: list[HintReveal]
    latest_attempt_id: int | None  # what "Regrade" grades again

    @property
    def state(self) -> str:
        return self.progress.state if self.progress else "not_started"


@dataclass
class AttemptsPage:
    attempts: list[Attempt]  # with progress__task__lesson
    number: int
    pages: int
    count: int  # the Checks listed in all (of the task, when one is chosen)
    task: Task | None  # only this task's Checks, when chosen

    @property
    def first_index(self) -> int:
        return (self.number - 1) * ATTEMPTS_PER_PAGE + 1 if self.count else 0

    @property
    def last_index(self) -> int:
        return self.first_index + len(self.attempts) - 1 if self.count else 0

    def _query(self, number: int) -> str:
        return "?" + urlencode({"task": self.task.pk, "page": number} if self.task else {"page": number})

    @property
    def newer_query(self) -> str:
        return self._query(self.number - 1) if self.number > 1 else ""

    @property
    def older_query(self) -> str:
        return self._query(self.number + 1) if self.number < self.pages else ""


@dataclass
class Drilldown:
    tasks: list[TaskHistory]
    checks: AttemptsPage
    actions: list[StaffAction]  # the latest ACTIONS_SHOWN
    actions_more: bool  # whether there are older ones
    namespace: NamespaceSummary | None
    watchable: bool
    evidence_attempts: int  # how many of a task's latest attempts keep their evidence


def _echo(text: str) -> str:
    return text if len(text) <= _ECHOED else text[:_ECHOED] + "…"


def _chosen_task(tasks: list[Task], text: str | None) -> Task | None:
    if not text:
        return None
    if not _NUMBER.fullmatch(text):
        raise DrilldownRefused(f"Task {_echo(text)!r} is not a task number.", status=400)
    found = next((task for task in tasks if task.pk == int(text)), None)
    if found is None:
        raise DrilldownRefused(f"There is no task {text} in this cohort's course.", status=404)
    return found


def _page_number(text: str | None, *, count: int) -> tuple[int, int]:
    """(the page asked for, the number of pages); page 1 when none is asked for."""
    pages = max(1, -(-count // ATTEMPTS_PER_PAGE))
    if not text:
        return 1, pages
    span = "page 1" if pages == 1 else f"pages 1 to {pages}"
    checks = f"{count} Check{'s' if count != 1 else ''}"
    if not _NUMBER.fullmatch(text):
        raise DrilldownRefused(
            f"Page {_echo(text)!r} is not a page number: the {checks} listed here are on {span}.", status=400
        )
    number = int(text)
    if not 1 <= number <= pages:
        raise DrilldownRefused(f"There is no page {number}: the {checks} listed here are on {span}.", status=404)
    return number, pages


def _attempts_page(enrollment: Enrollment, task: Task | None, page: str | None) -> AttemptsPage:
    attempts = Attempt.objects.filter(progress__enrollment=enrollment)
    if task is not None:
        attempts = attempts.filter(progress__task=task)
    count = attempts.count()
    number, pages = _page_number(page, count=count)
    start = (number - 1) * ATTEMPTS_PER_PAGE
    rows = list(
        attempts.select_related("progress__task__lesson").order_by("-created_at", "-pk")[
            start : start + ATTEMPTS_PER_PAGE
        ]
    )
    return AttemptsPage(attempts=rows, number=number, pages=pages, count=count, task=task)


def student_drilldown(*, enrollment: Enrollment, page: str | None = None, task: str | None = None) -> Drilldown:
    """`page` and `task` as the request gave them; DrilldownRefused when either names nothing."""
    tasks = course_tasks(enrollment.cohort.course)
    checks = _attempts_page(enrollment, _chosen_task(tasks, task), page)
    latest = Attempt.objects.filter(progress=OuterRef("pk")).order_by("-created_at", "-pk").values("pk")[:1]
    progress = {
        p.task_id: p
        for p in TaskProgress.objects.filter(enrollment=enrollment, task__in=tasks).annotate(
            latest_attempt_id=Subquery(latest)
        )
    }
    hints: dict[int, list[HintReveal]] = {}
    for reveal in HintReveal.objects.filter(progress__in=progress.values()).order_by("revealed_at"):
        hints.setdefault(reveal.progress_id, []).append(reveal)
    histories = []
    for item in tasks:
        found = progress.get(item.pk)
        histories.append(
            TaskHistory(
                task=item,
                progress=found,
                hints=hints.get(found.pk, []) if found else [],
                latest_attempt_id=found.latest_attempt_id if found else None,
            )
        )
    actions = list(
        StaffAction.objects.filter(enrollment=enrollment).select_related("actor", "task__lesson", "attempt")[
            : ACTIONS_SHOWN + 1
        ]
    )
    environment = getattr(enrollment, "environment", None)
    ready = environment is not None and environment.state == StudentEnvironment.State.READY
    return Drilldown(
        tasks=histories,
        checks=checks,
        actions=actions[:ACTIONS_SHOWN],
        actions_more=len(actions) > ACTIONS_SHOWN,
        namespace=namespace_summary(namespace=environment.namespace, cluster=enrollment.cohort.cluster.name)
        if ready
        else None,
        watchable=ready,
        evidence_attempts=settings.LESSONS_EVIDENCE_ATTEMPTS,
    )
