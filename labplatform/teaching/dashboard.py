"""What an instructor's cohort dashboard shows: every enrolled student against every task
of the course, the summary numbers, and completion over time. Reads only, in a fixed
number of queries whatever the cohort's size (the page's query-count test holds it)."""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from labplatform.cohorts.models import Cohort, Enrollment, enrolled
from labplatform.teaching import metrics
from lessons.models import Attempt, Task, TaskProgress

MOST_FAILED = 5
SORTS = {"name", "progress", "activity"}
CHART_POINTS = 120
CHART_WIDTH, CHART_HEIGHT = 600, 160


@dataclass(frozen=True)
class Column:
    task_id: int
    key: str  # "<lesson slug>/<task slug>": what cell updates name
    title: str
    lesson_number: str


@dataclass
class LessonGroup:
    number: str
    title: str
    columns: list[Column]


@dataclass
class Cell:
    key: str
    state: str  # not_started | open | pending | failed | passed
    attempts: int = 0
    hints: int = 0
    first_passed_at: datetime | None = None

    @property
    def mark(self) -> str:
        return cell_mark(self.state, self.attempts)

    @property
    def words(self) -> str:
        word = CELL_WORDS.get(self.state, CELL_WORDS["not_started"])
        checks = f"{self.attempts} Check{'s' if self.attempts != 1 else ''}"
        if self.state in ("passed", "failed"):
            return f"{word} ({checks}, {self.hints} hints)"
        if self.state == "pending":
            return f"{word} ({checks})"
        return word


# A cell's state in words (its title) and its mark, a failed cell's followed by its Checks
# so far. The page renders both (json_script "cell-states") for dashboard.js, which draws
# live updates with them.
CELL_WORDS = {
    "passed": "passed",
    "failed": "failed",
    "pending": "being checked",
    "open": "opened, not checked yet",
    "not_started": "not started",
}
CELL_MARKS = {"passed": "✓", "failed": "✗", "pending": "…", "open": "○", "not_started": "·"}
CELL_STATES = {"words": CELL_WORDS, "marks": CELL_MARKS}


def cell_mark(state: str, attempts: int) -> str:
    """What a heatmap cell shows; the page's script draws live updates the same way."""
    if state == "failed":
        return f"{CELL_MARKS['failed']}{attempts}"
    return CELL_MARKS.get(state, CELL_MARKS["not_started"])


@dataclass
class StudentRow:
    enrollment: Enrollment
    name: str
    cells: list[Cell]
    passed: int
    last_activity: datetime | None
    stuck_reasons: list[str] = field(default_factory=list)

    @property
    def student_id(self) -> str:
        return self.enrollment.student_id


@dataclass
class TaskSummary:
    column: Column
    passed: int
    median_seconds: float | None
    failed_attempts: int
    top_message: str
    top_message_count: int

    @property
    def median_words(self) -> str:
        return metrics.duration_words(self.median_seconds)


@dataclass
class Dashboard:
    cohort: Cohort
    groups: list[LessonGroup]
    columns: list[Column]
    rows: list[StudentRow]
    passed_pairs: int
    total_pairs: int
    tasks: list[TaskSummary]
    chart: list[tuple[datetime, float]]
    stuck_rule: metrics.StuckRule
    now: datetime

    @property
    def completion_percent(self) -> float:
        return metrics.completion_percent(passed_pairs=self.passed_pairs, total_pairs=self.total_pairs)

    @property
    def most_failed(self) -> list[TaskSummary]:
        failing = [t for t in self.tasks if t.failed_attempts]
        return sorted(failing, key=lambda t: (-t.failed_attempts, t.column.key))[:MOST_FAILED]

    @property
    def stuck_rows(self) -> list[StudentRow]:
        return [row for row in self.rows if row.stuck_reasons]

    @property
    def chart_line(self) -> dict:
        """Completion over time as an SVG step line in a CHART_WIDTH x CHART_HEIGHT box,
        from the cohort's start (or its first pass, if earlier) to now."""
        if not self.chart:
            return {}
        start = min(self.cohort.starts_at, self.chart[0][0])
        span = max((self.now - start).total_seconds(), 1.0)

        def x(moment: datetime) -> float:
            return round(CHART_WIDTH * (moment - start).total_seconds() / span, 1)

        def y(percent: float) -> float:
            return round(CHART_HEIGHT * (1 - percent / 100), 1)

        points, level = [(0.0, y(0))], y(0)
        for moment, percent in self.chart:
            points += [(x(moment), level), (x(moment), y(percent))]
            level = y(percent)
        points.append((float(CHART_WIDTH), level))
        return {
            "points": " ".join(f"{px},{py}" for px, py in points),
            "start": start,
            "end": self.now,
            "last": self.chart[-1][1],
        }


def stuck_rule() -> metrics.StuckRule:
    return metrics.StuckRule(
        attempts=settings.DASHBOARD_STUCK_ATTEMPTS, idle=timedelta(minutes=settings.DASHBOARD_STUCK_IDLE_MINUTES)
    )


def course_tasks(course_slug: str) -> list[Task]:
    """The course's tasks as students see them, in lesson order."""
    return list(
        Task.objects.filter(lesson__course__slug=course_slug, retired_at__isnull=True, lesson__retired_at__isnull=True)
        .select_related("lesson")
        .order_by("lesson__order", "order")
    )


def enrolled_students(cohort: Cohort):
    """The cohort's students still enrolled, with what the dashboard shows beside them."""
    return (
        Enrollment.objects.students()
        .filter(cohort=cohort)
        .select_related("user", "environment", "terminal_activity", "page_activity")
        .order_by("user__username")
    )


def _columns(tasks: list[Task]) -> tuple[list[LessonGroup], list[Column]]:
    groups: list[LessonGroup] = []
    columns = []
    for task in tasks:
        column = Column(
            task_id=task.pk,
            key=f"{task.lesson.slug}/{task.slug}",
            title=task.title,
            lesson_number=task.lesson.number,
        )
        columns.append(column)
        if not groups or groups[-1].number != task.lesson.number:
            groups.append(LessonGroup(number=task.lesson.number, title=task.lesson.title, columns=[]))
        groups[-1].columns.append(column)
    return groups, columns


def _last_activity(enrollment: Enrollment, opened: list[datetime]) -> datetime | None:
    """The later of the last keystroke in the terminal and the last use of a lesson page
    (opening a task is one)."""
    times = list(opened)
    for related, attribute in (("terminal_activity", "last_input_at"), ("page_activity", "last_seen_at")):
        activity = getattr(enrollment, related, None)
        if activity is not None:
            times.append(getattr(activity, attribute))
    return max(times) if times else None


def _failing_messages(failed_attempts, enrollments: list[Enrollment], task_ids: list[int]) -> dict[int, Counter]:
    """Per task, how often each failing check message came back. Read for the most failed
    tasks only: the results are JSON, and the page names no other task's message."""
    namespaces = {e.pk: getattr(getattr(e, "environment", None), "namespace", "") for e in enrollments}
    messages: dict[int, Counter] = defaultdict(Counter)
    rows = failed_attempts.filter(progress__task_id__in=task_ids).values_list(
        "progress__enrollment_id", "progress__task_id", "results"
    )
    for enrollment_id, task_id, results in rows:
        for result in results or []:
            if result.get("status") == "failed" and result.get("message"):
                normalised = metrics.message_normalised(result["message"], namespace=namespaces[enrollment_id])
                messages[task_id][normalised] += 1
    return messages


def _chart(pass_times: list[datetime], total_pairs: int) -> list[tuple[datetime, float]]:
    """Completion over time: after each first pass, the percent of pairs passed so far
    (thinned to CHART_POINTS, always keeping the last)."""
    pass_times = sorted(pass_times)
    points = [
        (moment, metrics.completion_percent(passed_pairs=index, total_pairs=total_pairs))
        for index, moment in enumerate(pass_times, start=1)
    ]
    if len(points) > CHART_POINTS:
        step = len(points) / CHART_POINTS
        points = [points[int(i * step)] for i in range(CHART_POINTS - 1)] + [points[-1]]
    return points


def _sorted(rows: list[StudentRow], sort: str) -> list[StudentRow]:
    if sort == "progress":
        return sorted(rows, key=lambda r: (-r.passed, r.name.lower()))
    if sort == "activity":
        oldest = datetime.min.replace(tzinfo=timezone.get_current_timezone())
        return sorted(rows, key=lambda r: (r.last_activity or oldest, r.name.lower()), reverse=True)
    return sorted(rows, key=lambda r: r.name.lower())


@dataclass
class _Tally:
    """What the students' rows add up to, per task: the dashboard's summary numbers."""

    durations: dict[int, list[timedelta]] = field(default_factory=lambda: defaultdict(list))
    pass_times: list[datetime] = field(default_factory=list)
    passed: Counter = field(default_factory=Counter)


@dataclass(frozen=True)
class _Course:
    """The course's tasks as the dashboard names them."""

    tasks: list[Task]
    keys: dict[int, str]
    titles: dict[int, str]


def _progress(cohort: Cohort, task_ids: list[int]) -> dict[tuple[int, int], dict]:
    """Each enrolled student's progress on each task, by (enrollment, task)."""
    # Filtered by the same rule as enrolled_students, in SQL: an IN list of 500 model
    # instances cost more Python time than the query itself (bench/dashboard).
    rows = TaskProgress.objects.filter(
        enrolled("enrollment", role=Enrollment.Role.STUDENT), enrollment__cohort=cohort, task_id__in=task_ids
    ).values("enrollment_id", "task_id", "state", "attempts_count", "hints_used", "opened_at", "first_passed_at")
    return {(row["enrollment_id"], row["task_id"]): row for row in rows}


def _failed_attempts(cohort: Cohort, task_ids: list[int]):
    return Attempt.objects.filter(
        enrolled("progress__enrollment", role=Enrollment.Role.STUDENT),
        progress__enrollment__cohort=cohort,
        progress__task_id__in=task_ids,
        state=Attempt.State.FAILED,
    )


def _student_row(
    enrollment: Enrollment,
    course: _Course,
    progress: dict[tuple[int, int], dict],
    tally: _Tally,
    *,
    rule: metrics.StuckRule,
    now: datetime,
) -> StudentRow:
    """One student's cells, counted into the tally as they are read."""
    cells, opened, unpassed, open_tasks = [], [], {}, []
    for task in course.tasks:
        found = progress.get((enrollment.pk, task.pk))
        key, title = course.keys[task.pk], course.titles[task.pk]
        if found is None:
            cells.append(Cell(key=key, state="not_started"))
            continue
        cells.append(
            Cell(
                key=key,
                state=found["state"],
                attempts=found["attempts_count"],
                hints=found["hints_used"],
                first_passed_at=found["first_passed_at"],
            )
        )
        opened.append(found["opened_at"])
        if found["first_passed_at"] is not None:
            tally.durations[task.pk].append(found["first_passed_at"] - found["opened_at"])
            tally.pass_times.append(found["first_passed_at"])
        if found["state"] == TaskProgress.State.PASSED:
            tally.passed[task.pk] += 1
        else:
            open_tasks.append(title)
            if found["attempts_count"]:
                unpassed[title] = found["attempts_count"]
    last_activity = _last_activity(enrollment, opened)
    return StudentRow(
        enrollment=enrollment,
        name=enrollment.user.get_full_name() or enrollment.user.get_username(),
        cells=cells,
        passed=sum(cell.state == TaskProgress.State.PASSED for cell in cells),
        last_activity=last_activity,
        stuck_reasons=rule.reasons(
            now=now, unpassed_attempts=unpassed, open_tasks=open_tasks, last_activity=last_activity
        ),
    )


def _task_summaries(
    columns: list[Column], tally: _Tally, failed_counts: Counter, messages: dict[int, Counter]
) -> list[TaskSummary]:
    summaries = []
    for column in columns:
        message, count = metrics.most_common(messages[column.task_id])
        summaries.append(
            TaskSummary(
                column=column,
                passed=tally.passed[column.task_id],
                median_seconds=metrics.median_seconds(tally.durations[column.task_id]),
                failed_attempts=failed_counts[column.task_id],
                top_message=message,
                top_message_count=count,
            )
        )
    return summaries


def cohort_dashboard(*, cohort: Cohort, sort: str = "name", stuck_only: bool = False) -> Dashboard:
    now = timezone.now()
    rule = stuck_rule()
    tasks = course_tasks(cohort.course)
    groups, columns = _columns(tasks)
    course = _Course(
        tasks=tasks,
        keys={column.task_id: column.key for column in columns},
        titles={task.pk: f"{task.lesson.number} {task.title}" for task in tasks},
    )
    enrollments = list(enrolled_students(cohort))
    task_ids = [task.pk for task in tasks]
    progress = _progress(cohort, task_ids)

    failed_attempts = _failed_attempts(cohort, task_ids)
    failed_counts = Counter(
        dict(failed_attempts.values("progress__task_id").annotate(n=Count("id")).values_list("progress__task_id", "n"))
    )
    # The same order as Dashboard.most_failed: most failures first, then by the task's key.
    most_failed = sorted(failed_counts, key=lambda task_id: (-failed_counts[task_id], course.keys[task_id]))
    messages = _failing_messages(failed_attempts, enrollments, most_failed[:MOST_FAILED])

    tally = _Tally()
    rows = [_student_row(enrollment, course, progress, tally, rule=rule, now=now) for enrollment in enrollments]
    total_pairs = len(rows) * len(columns)
    rows = _sorted(rows, sort if sort in SORTS else "name")
    if stuck_only:
        rows = [row for row in rows if row.stuck_reasons]
    return Dashboard(
        cohort=cohort,
        groups=groups,
        columns=columns,
        rows=rows,
        passed_pairs=sum(tally.passed.values()),
        total_pairs=total_pairs,
        tasks=_task_summaries(columns, tally, failed_counts, messages),
        chart=_chart(tally.pass_times, total_pairs),
        stuck_rule=rule,
        now=now,
    )
