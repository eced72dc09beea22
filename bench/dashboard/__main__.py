"""Dashboard benchmark: server time of the instructor's cohort dashboard (and its CSV export
and cells feed) on seeded cohorts, against baselines measured in the same run.

    .venv/bin/python -m bench.dashboard [--students 50,500] [--tasks 40] [--repeats 15]

In-process through Django's test client (the whole request: session, permission check,
queries, template), on its own PostgreSQL database `labplatform_bench_dashboard` (created
and migrated here; its sample cohorts are made once and reused by later runs). Baselines:
  list      the instructor's list of cohorts (/teach/): what a small signed-in page costs
  per-row   the dashboard's data read the straightforward way, one progress query per
            student (data only, no page): what the fixed-query selector replaces
Each measurement alternates with the others, so all see the same machine. Results:
bench/results/dashboard-<time>.json.
"""

import argparse
import json
import os
import statistics
import time
from datetime import UTC, datetime

from bench.provision.config import MAINTENANCE_DATABASE_URL, REPO, RESULTS

DATABASE_NAME = "labplatform_bench_dashboard"


def configure() -> dict[str, str]:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "labplatform.settings",
            "DATABASE_URL": f"postgres://labplatform:labplatform@127.0.0.1:5433/{DATABASE_NAME}",
            "REDIS_URL": "redis://127.0.0.1:6379/9",
            "SECRET_KEY": "bench-dashboard-not-secret",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
        }
    )
    return dict(os.environ)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", default="50,500", help="cohort sizes, comma-separated (50,500)")
    parser.add_argument("--tasks", type=int, default=40, help="tasks in the course (40, as 8 lessons of 5)")
    parser.add_argument("--repeats", type=int, default=15, help="requests per measurement (15)")
    return parser.parse_args()


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


def _timed(action, counter) -> tuple[float, int]:
    from django.db import connection

    start_queries = len(connection.queries)
    started = time.perf_counter()
    action()
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, len(connection.queries) - start_queries


def main() -> None:
    args = _arguments()
    env = configure()
    from bench.common import database_ensure

    database_ensure(env, maintenance_url=MAINTENANCE_DATABASE_URL, name=DATABASE_NAME)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    connection.force_debug_cursor = True  # count queries
    instructor, _ = get_user_model().objects.get_or_create(username="bench-dashboard-instructor")
    client = Client()
    client.force_login(instructor)
    course = _course(args.tasks)
    sizes = [int(n) for n in args.students.split(",")]
    print(f"[bench] seeding (first run only): {sizes} students x {args.tasks} tasks", flush=True)
    cohorts = {n: _cohort(n, course, instructor) for n in sizes}

    def get(url):
        def action():
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        return action

    measures = {"list": get("/teach/")}
    for n, cohort in cohorts.items():
        measures[f"dashboard {n}"] = get(f"/teach/{cohort.slug}/")
        measures[f"csv {n}"] = get(f"/teach/{cohort.slug}/grades.csv")
        measures[f"cells {n}"] = get(f"/teach/{cohort.slug}/cells.json")
        measures[f"per-row data {n}"] = lambda cohort=cohort: _per_row(cohort)
    for action in measures.values():  # warm up: templates compiled, connections open
        action()
    times: dict[str, list[float]] = {name: [] for name in measures}
    queries: dict[str, int] = {}
    for _ in range(args.repeats):
        for name, action in measures.items():
            connection.queries_log.clear()
            elapsed, count = _timed(action, None)
            times[name].append(elapsed)
            queries[name] = count
    connection.force_debug_cursor = False

    def p95(values):
        return sorted(values)[max(0, round(0.95 * len(values)) - 1)]

    small = statistics.median(times["list"])
    rows = []
    print(f"\n{'measure':<22}{'median ms':>11}{'p95 ms':>9}{'queries':>9}{'x list':>9}")
    for name, values in times.items():
        median = statistics.median(values)
        rows.append({"measure": name, "median_ms": median, "p95_ms": p95(values), "queries": queries[name]})
        print(f"{name:<22}{median:>11.1f}{p95(values):>9.1f}{queries[name]:>9}{median / small:>9.1f}")
    for n in sizes:
        ratio = statistics.median(times[f"per-row data {n}"]) / statistics.median(times[f"dashboard {n}"])
        print(f"at {n} students: the per-row data read alone takes {ratio:.2f}x the whole dashboard request")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"dashboard-{stamp}.json"
    out.write_text(
        json.dumps({"args": vars(args), "tasks": args.tasks, "rows": rows, "repo": str(REPO)}, indent=2) + "\n"
    )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
