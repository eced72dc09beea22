"""Dashboard benchmark: server time of the instructor's cohort dashboard (and its CSV export
and cells feed) on seeded cohorts, against baselines measured in the same run.

In-process through Django's test client (the whole request: session, permission check,
queries, template), on its own PostgreSQL database `labplatform_bench_dashboard` (created
and migrated here; its sample cohorts are made once and reused by later runs). Baselines:
  list      the instructor's list of cohorts (/teach/): what a small signed-in page costs
  per-row   the dashboard's data read the straightforward way, one progress query per
            student (data only, no page): what the fixed-query selector replaces
Each measurement alternates with the others, so all see the same machine.
"""

import statistics
import time

from bench import stores
from bench.cli import Benchmark, at_least_one, say
from bench.report import Column, Report, Table, ratio, times

DATABASE_NAME = "labplatform_bench_dashboard"


def options(parser) -> None:
    parser.add_argument("--students", default="50,500", help="cohort sizes, comma-separated (50,500)")
    parser.add_argument("--tasks", type=at_least_one, default=40, help="tasks in the course (40, as 8 lessons of 5)")
    parser.add_argument("--repeats", type=at_least_one, default=15, help="requests per measurement (15)")


def _course(tasks: int):
    from lessons.models import Course, Lesson, Task

    slug = f"bench-dashboard-{tasks}"
    course, created = Course.objects.get_or_create(slug=slug, defaults={"title": f"Benchmark course, {tasks} tasks"})
    if created:
        per_lesson = 5
        for n in range(-(-tasks // per_lesson)):
            lesson = Lesson.objects.create(
                course=course, slug=f"l{n}", number=f"9.{n}", title=f"Lesson {n}", order=n, body_html=""
            )
            for m in range(min(per_lesson, tasks - n * per_lesson)):
                Task.objects.create(lesson=lesson, slug=f"t{m}", order=m, title=f"Task {n}.{m}", instructions_html="")
    return slug


def _cohort(students: int, course: str, instructor):
    from labplatform.cohorts.models import Cluster, Cohort, Enrollment
    from labplatform.teaching.dashboard import course_tasks
    from labplatform.teaching.sample_activity import cohort_sample_activity

    slug = f"bench-dash-{students}-{course.rsplit('-', 1)[1]}"
    cohort = Cohort.objects.filter(slug=slug).first()
    if cohort is None:
        cohort = Cohort.objects.create(
            name=slug, slug=slug, course=course, cluster=Cluster.objects.get_or_create(name="local")[0]
        )
        cohort_sample_activity(cohort=cohort, students=students, tasks=course_tasks(course))
    Enrollment.objects.get_or_create(user=instructor, cohort=cohort, defaults={"role": Enrollment.Role.INSTRUCTOR})
    return cohort


def _per_row(cohort) -> int:
    """The baseline: the same cells, read one student at a time."""
    from labplatform.teaching.dashboard import course_tasks, enrolled_students
    from lessons.models import TaskProgress

    tasks = course_tasks(cohort.course)
    cells = 0
    for enrollment in enrolled_students(cohort):
        states = dict(
            TaskProgress.objects.filter(enrollment=enrollment, task__in=tasks).values_list("task_id", "state")
        )
        cells += sum(1 for task in tasks if task.pk in states)
    return cells


def measure(args, report: Report) -> None:
    sizes = [int(n) for n in args.students.split(",")]
    stores.django_start(
        database=DATABASE_NAME,
        redis="redis://127.0.0.1:6379/9",
        settings={"ALLOWED_HOSTS": "testserver,localhost,127.0.0.1"},
    )
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    instructor, _ = get_user_model().objects.get_or_create(username="bench-dashboard-instructor")
    client = Client()
    client.force_login(instructor)
    course = _course(args.tasks)
    say(f"seeding (first run of these sizes only): {sizes} students x {args.tasks} tasks")
    cohorts = {n: _cohort(n, course, instructor) for n in sizes}

    def get(url):
        def action():
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"GET {url}: {response.status_code}")

        return action

    measures = {"list": get("/teach/")}
    for n, cohort in cohorts.items():
        measures[f"dashboard {n}"] = get(f"/teach/{cohort.slug}/")
        measures[f"csv {n}"] = get(f"/teach/{cohort.slug}/grades.csv")
        measures[f"cells {n}"] = get(f"/teach/{cohort.slug}/cells.json")
        measures[f"per-row data {n}"] = lambda cohort=cohort: _per_row(cohort)
    for action in measures.values():  # warm up: templates compiled, connections open
        action()
    elapsed: dict[str, list[float]] = {name: [] for name in measures}
    queries: dict[str, int] = {}
    connection.force_debug_cursor = True  # count queries
    for _ in range(args.repeats):
        for name, action in measures.items():
            connection.queries_log.clear()
            started = time.perf_counter()
            action()
            elapsed[name].append(time.perf_counter() - started)
            queries[name] = len(connection.queries)
    connection.force_debug_cursor = False

    table = Table(
        f"server time per request, {args.repeats} of each, alternating ({args.tasks} tasks)",
        [Column("median_ms", "median ms"), Column("p95_ms", "p95 ms"), Column("queries", "queries")],
        ratio_of="median_ms",
        baseline="list",
    )
    for name, values in elapsed.items():
        ordered = sorted(values)
        p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
        table.add(name, median_ms=1000 * statistics.median(ordered), p95_ms=1000 * p95, queries=queries[name])
    report.add(table, "")
    for n in sizes:
        alone = ratio(statistics.median(elapsed[f"per-row data {n}"]), statistics.median(elapsed[f"dashboard {n}"]))
        report.add(f"at {n} students the per-row data read alone takes {times(alone)} the whole dashboard request")


BENCHMARK = Benchmark(
    name="dashboard",
    doc=__doc__,
    measure=measure,
    options=options,
    quick={"students": "5", "tasks": 4, "repeats": 2},
)
