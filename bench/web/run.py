"""Web benchmark: requests per second and latency of three pages, served by 1 and then 2
real daphne processes, from a load generator on loopback.

  lesson      GET  /learn/<course>/<lesson>/ as a student (the real Module 15 course)
  check       POST .../tasks/<task>/check, Accept: application/json, as a student
  dashboard   GET  /teach/<cohort>/ as the cohort's instructor (200 students)

Seeded once and reused: the course loaded from lessons/content, a cohort of 200 made-up
students with progress (`cohort_sample_activity`, as bench/dashboard) whose instructor
opens the dashboard, and a second cohort of 200 students for Check (--students). Every Check goes to a
(student, task) pair not checked yet, since a student may have one pending Check per task;
LESSONS_CHECK_INTERVAL_SECONDS=0 lifts the per-student pause between Checks (it limits one
person's clicks, and would only measure the refusal here). No Celery worker runs: what
is measured is the web's share of Check (validate, lock the student's row, write the
attempt, queue the grading); bench/grading measures grading. The Check students'
environments are rows marked ready with no namespace behind them: the web never reads
the cluster on Check, the worker does.

Its own stores: PostgreSQL database `labplatform_bench_web` (created and migrated here) and
Redis database 10 (flushed at the start and after each setting). The machine has 2
cores, shared by the load generator and the servers: the ratio to 1 process is a sanity
check, not a scaling figure.
"""

import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import stores
from bench.cli import Benchmark, at_least_one, say
from bench.cpu import machine_cpu, process_cpu
from bench.report import REPO, Column, Report, Table

DATABASE_NAME = "labplatform_bench_web"
COURSE = "module-15-kubernetes"


def options(parser) -> None:
    parser.add_argument("--seconds", type=float, default=20, help="load per endpoint and setting (20)")
    parser.add_argument("--concurrency", type=at_least_one, default=16, help="connections in flight (16)")
    parser.add_argument("--processes", default="1,2", help="daphne process counts to compare (1,2)")
    parser.add_argument("--students", type=at_least_one, default=200, help="students in each cohort (200)")


def _seed(students: int):
    """The course, the dashboard's cohort and the Check cohort; made once for each size."""
    from django.contrib.auth import get_user_model

    from labplatform.cohorts.models import Cluster, Cohort, Enrollment
    from labplatform.environments.models import StudentEnvironment
    from labplatform.teaching.dashboard import course_tasks
    from labplatform.teaching.sample_activity import cohort_sample_activity
    from lessons.models import Course

    if not Course.objects.filter(slug=COURSE).exists():
        subprocess.run([sys.executable, "manage.py", "load_course", f"lessons/content/{COURSE}"], cwd=REPO, check=True)
    tasks = [t for t in course_tasks(COURSE) if not t.answer_prompts]
    cluster = Cluster.objects.get_or_create(name="local", defaults={"is_local": True})[0]
    instructor, _ = get_user_model().objects.get_or_create(username="bench-web-instructor")
    cohorts = {}
    for slug in (f"bench-web-dash-{students}", f"bench-web-check-{students}"):
        cohort = Cohort.objects.filter(slug=slug).first()
        if cohort is None:
            cohort = Cohort.objects.create(name=slug, slug=slug, course=COURSE, cluster=cluster, lessons_gated=False)
            enrollments = cohort_sample_activity(
                cohort=cohort, students=students, tasks=course_tasks(COURSE) if "-dash-" in slug else []
            )
            StudentEnvironment.objects.bulk_create(
                [StudentEnvironment(enrollment=e, namespace=f"lab-{e.student_id}", state="ready") for e in enrollments]
            )
        Enrollment.objects.get_or_create(user=instructor, cohort=cohort, defaults={"role": Enrollment.Role.INSTRUCTOR})
        cohorts[slug] = cohort
    dash, check = cohorts.values()
    return dash, check, instructor, tasks


def _check_pairs(cohort, tasks) -> list[tuple[int, str]]:
    """Every (student, task) of the Check cohort opened and never checked, shuffled: one
    Check each. Earlier runs' attempts are deleted first."""
    from django.utils import timezone

    from labplatform.cohorts.models import Enrollment
    from lessons.models import Attempt, TaskProgress

    students = list(cohort.enrollments.filter(role=Enrollment.Role.STUDENT).select_related("user"))
    Attempt.objects.filter(progress__enrollment__cohort=cohort).delete()
    TaskProgress.objects.filter(enrollment__cohort=cohort).delete()
    now = timezone.now()
    TaskProgress.objects.bulk_create(
        [TaskProgress(enrollment=e, task=t, opened_at=now, setup_done_at=now) for e in students for t in tasks],
        batch_size=5000,
    )
    pairs = [(e.user_id, f"/learn/{COURSE}/{t.lesson.slug}/tasks/{t.slug}/check") for e in students for t in tasks]
    random.Random(7).shuffle(pairs)
    return pairs


def _postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process on the machine (all databases: others' too)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = process_cpu(int(entry.name))
            if stat is not None and stat[0] == "postgres":
                total += stat[2]
    return total


def _sessions(users) -> dict[int, str]:
    from django.conf import settings
    from django.test import Client

    sessions = {}
    for user in users:
        client = Client()
        client.force_login(user)
        sessions[user.pk] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return sessions


async def _load(name: str, ports: list[int], requests, *, seconds: float, concurrency: int) -> dict:
    """`concurrency` clients, each sending its next request when the last one answered,
    spread over the processes in turn (as a Service would); latencies of the answers that
    came within the window."""
    import aiohttp

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    turn = iter(range(10**9))
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as http:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds

        async def client() -> None:
            while loop.time() < end:
                n = next(turn)
                method, path, headers = requests(n)
                if method is None:
                    return
                url = f"http://127.0.0.1:{ports[n % len(ports)]}{path}"
                started = time.perf_counter()
                async with http.request(method, url, headers=headers, allow_redirects=False) as response:
                    await response.read()
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[response.status] = statuses.get(response.status, 0) + 1

        started = loop.time()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = loop.time() - started
    ordered = sorted(latencies)
    return {
        "measure": name,
        "processes": len(ports),
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[max(0, round(0.95 * len(ordered)) - 1)], 1),
        "max_ms": round(ordered[-1], 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def _cpu_now(servers) -> tuple[float, float, float, float, float]:
    """(machine busy, machine total, daphne, this process, PostgreSQL) CPU seconds so far."""
    busy, total = machine_cpu()
    served = sum(process_cpu(server.pid)[2] for server in servers)
    return busy, total, served, process_cpu(os.getpid())[2], _postgres_cpu()


def _setting(count: int, *, env, run_dir: Path, loads: dict, args) -> list[dict]:
    """Each load on `count` fresh daphne processes, after a warm-up."""
    from bench.daphne import Daphne

    servers = [Daphne(env=env, log=run_dir / f"daphne-{count}-{i}.log") for i in range(count)]
    ports = [server.port for server in servers]
    rows = []
    try:
        for server in servers:
            server.serving()
        say(f"{count} daphne process(es): warming up")
        for name in ("lesson", "dashboard"):
            warm = min(2, args.seconds)
            asyncio.run(_load("warm-up", ports, loads[name], seconds=warm, concurrency=args.concurrency))
        for name, requests in loads.items():
            before = _cpu_now(servers)
            row = asyncio.run(_load(name, ports, requests, seconds=args.seconds, concurrency=args.concurrency))
            busy, total, served, mine, database = (b - a for a, b in zip(before, _cpu_now(servers), strict=True))
            # CPU seconds per second of the window: servers, this load generator, and
            # everything else on the machine (PostgreSQL, Redis, other people's work).
            row["cpu"] = {
                "daphne": round(served / row["seconds"], 2),
                "load_generator": round(mine / row["seconds"], 2),
                "postgres": round(database / row["seconds"], 2),
                "rest_of_machine": round((busy - served - mine - database) / row["seconds"], 2),
                "machine_busy_pct": round(100 * busy / total, 1),
            }
            rows.append(row)
            say(f"{count}x {name}: {row['rps']} req/s, p95 {row['p95_ms']} ms")
    finally:
        for server in servers:
            server.stop()
    return rows


def measure(args, report: Report) -> None:
    counts = [int(n) for n in args.processes.split(",")]
    run_dir = REPO / ".run" / "bench-web"
    run_dir.mkdir(parents=True, exist_ok=True)
    env = stores.django_start(
        database=DATABASE_NAME,
        redis="redis://127.0.0.1:6379/10",
        settings={
            "ALLOWED_HOSTS": "localhost,127.0.0.1",
            "LESSONS_CHECK_INTERVAL_SECONDS": "0",
            # Under ASGI each request's sync code runs in a thread of its own, and a
            # persistent connection stays with its thread: with the default 60 s the
            # servers hold one connection per request in flight (and more) until
            # PostgreSQL refuses new ones (first run: 500s, "too many clients").
            "DATABASE_CONN_MAX_AGE": os.environ.get("DATABASE_CONN_MAX_AGE", "0"),
            "LABPLATFORM_RUN_DIR": str(run_dir),
        },
        drop=("DJANGO_ALLOW_ASYNC_UNSAFE",),
    )
    import redis
    from django.conf import settings

    from labplatform.cohorts.models import Enrollment

    store = redis.Redis.from_url(settings.REDIS_URL)
    store.flushdb()
    say(f"seeding (first run of this size only): {args.students} students with progress, {args.students} for Check")
    dash, check, instructor, tasks = _seed(args.students)
    lesson = tasks[0].lesson.slug
    readers = [e.user for e in dash.enrollments.filter(role=Enrollment.Role.STUDENT).select_related("user")]
    readers = readers[: args.concurrency]
    checkers = [e.user for e in check.enrollments.filter(role=Enrollment.Role.STUDENT).select_related("user")]
    sessions = _sessions([instructor, *readers, *checkers])
    csrf = "b" * 32  # CSRF compares the cookie with the header; any 32 letters will do.

    def cookie(user_id: int) -> dict[str, str]:
        return {
            "Cookie": f"{settings.SESSION_COOKIE_NAME}={sessions[user_id]}; {settings.CSRF_COOKIE_NAME}={csrf}",
        }

    def lesson_page(n: int):
        return "GET", f"/learn/{COURSE}/{lesson}/", cookie(readers[n % len(readers)].pk)

    def dashboard(n: int):
        return "GET", f"/teach/{dash.slug}/", cookie(instructor.pk)

    rows = []
    for count in counts:
        pairs = _check_pairs(check, tasks)

        def check_task(n: int, pairs=pairs):
            if n >= len(pairs):
                return None, None, None
            user_id, path = pairs[n]
            return "POST", path, {**cookie(user_id), "Accept": "application/json", "X-CSRFToken": csrf}

        loads = {"lesson": lesson_page, "check": check_task, "dashboard": dashboard}
        rows += _setting(count, env=env, run_dir=run_dir, loads=loads, args=args)
        store.flushdb()  # the grading tasks Check queued: no worker runs here

    base = 1 if 1 in counts else counts[0]
    table = Table(
        f"{args.concurrency} connections, {args.seconds:g} s per page and setting ({args.students} students)",
        [
            Column("rps", "req/s"),
            Column("p50_ms", "p50 ms"),
            Column("p95_ms", "p95 ms"),
            Column("max_ms", "max ms"),
            Column("daphne", "daphne", 2),
            Column("postgres", "pg", 2),
            Column("rest", "rest", 2),
            Column("statuses", "statuses"),
        ],
        ratio_of="rps",
        ratio_title=f"x {base} process{'es' if base > 1 else ''}",
    )
    for r in rows:
        statuses = " ".join(f"{code}:{n}" for code, n in r["statuses"].items())
        table.add(
            _label(r["measure"], r["processes"]),
            baseline=_label(r["measure"], base),
            **{k: r[k] for k in ("rps", "p50_ms", "p95_ms", "max_ms")},
            daphne=r["cpu"]["daphne"],
            postgres=r["cpu"]["postgres"],
            rest=r["cpu"]["rest_of_machine"],
            statuses=statuses,
        )
    report.add(
        table,
        "daphne, pg (every PostgreSQL process), rest (the machine less those and the load generator): CPU seconds "
        f"per second. The ratio is a sanity check only: the servers and the load generator share {os.cpu_count()} "
        "cores.",
    )
    report.details.update(lesson=lesson, conn_max_age=env["DATABASE_CONN_MAX_AGE"], rows=rows)
    refused = {_label(r["measure"], r["processes"]): r["statuses"] for r in rows if set(r["statuses"]) - {"200"}}
    if refused:
        raise SystemExit(f"pages answered other than 200, so the figures are of errors: {refused}")


def _label(measure: str, processes: int) -> str:
    return f"{measure}, {processes} process{'es' if processes > 1 else ''}"


BENCHMARK = Benchmark(
    name="web",
    doc=__doc__,
    measure=measure,
    options=options,
    quick={"seconds": 1, "students": 10, "concurrency": 4},
)
