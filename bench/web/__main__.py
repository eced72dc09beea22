"""Web benchmark: requests per second and latency of three pages, served by 1 and then 2
real daphne processes, from a load generator on loopback.

    .venv/bin/python -m bench.web [--quick] [--concurrency 16] [--seconds 20]

  lesson      GET  /learn/<course>/<lesson>/ as a student (the real Module 15 course)
  check       POST .../tasks/<task>/check, Accept: application/json, as a student
  dashboard   GET  /teach/<cohort>/ as the cohort's instructor (200 students)

Seeded once and reused: the course loaded from lessons/content, a cohort of 200 made-up
students with progress (`cohort_sample_activity`, as bench/dashboard) whose instructor
opens the dashboard, and a second cohort of 200 students for Check. Every Check goes to a
(student, task) pair not checked yet, since a student may have one pending Check per task;
LESSONS_CHECK_INTERVAL_SECONDS=0 lifts the per-student pause between Checks (it limits one
person's clicks, and would only measure the refusal here). No Celery worker runs: what
is measured is the web's share of Check (validate, lock the student's row, write the
attempt, queue the grading); bench/grading measures grading. The Check students'
environments are rows marked ready with no namespace behind them: the web never reads
the cluster on Check, the worker does.

Its own stores: PostgreSQL database `labplatform_bench_web` (created and migrated here) and
Redis database 10 (flushed at the start and the end). Results:
bench/results/web-<time>.json and a table on stdout. The machine has 2 cores, shared by
the load generator and the servers: the 1-vs-2 ratio is a sanity check, not a scaling
figure.
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import process_cpu
from bench.provision.config import MAINTENANCE_DATABASE_URL, REPO, RESULTS

DATABASE_NAME = "labplatform_bench_web"
COURSE = "module-15-kubernetes"
STUDENTS = 200


def configure(run_dir: Path) -> dict[str, str]:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "labplatform.settings",
            "DATABASE_URL": f"postgres://labplatform:labplatform@127.0.0.1:5433/{DATABASE_NAME}",
            "REDIS_URL": "redis://127.0.0.1:6379/10",
            "SECRET_KEY": "bench-web-not-secret",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "localhost,127.0.0.1",
            "LESSONS_CHECK_INTERVAL_SECONDS": "0",
            # Under ASGI each request's sync code runs in a thread of its own, and a
            # persistent connection stays with its thread: with the default 60 s the
            # servers hold one connection per request in flight (and more) until
            # PostgreSQL refuses new ones (first run: 500s, "too many clients").
            "DATABASE_CONN_MAX_AGE": os.environ.get("DATABASE_CONN_MAX_AGE", "0"),
            "LABPLATFORM_RUN_DIR": str(run_dir),
        }
    )
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return dict(os.environ)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.web", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 s per measurement (about a minute in all)")
    parser.add_argument("--seconds", type=float, default=20, help="load per endpoint and setting (20)")
    parser.add_argument("--concurrency", type=int, default=16, help="connections in flight (16)")
    parser.add_argument("--processes", default="1,2", help="daphne process counts to compare (1,2)")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 8
    return args


def _seed():
    """The course, the dashboard's cohort and the Check cohort; made once."""
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
    for slug in ("bench-web-dash", "bench-web-check"):
        cohort = Cohort.objects.filter(slug=slug).first()
        if cohort is None:
            cohort = Cohort.objects.create(name=slug, slug=slug, course=COURSE, cluster=cluster, lessons_gated=False)
            enrollments = cohort_sample_activity(
                cohort=cohort, students=STUDENTS, tasks=course_tasks(COURSE) if slug.endswith("dash") else []
            )
            StudentEnvironment.objects.bulk_create(
                [StudentEnvironment(enrollment=e, namespace=f"lab-{e.student_id}", state="ready") for e in enrollments]
            )
        Enrollment.objects.get_or_create(user=instructor, cohort=cohort, defaults={"role": Enrollment.Role.INSTRUCTOR})
        cohorts[slug] = cohort
    return cohorts["bench-web-dash"], cohorts["bench-web-check"], instructor, tasks


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


def main() -> None:
    args = _arguments()
    run_dir = REPO / ".run" / "bench-web"
    run_dir.mkdir(parents=True, exist_ok=True)
    env = configure(run_dir)
    from bench.common import database_ensure, machine_cpu

    database_ensure(env, maintenance_url=MAINTENANCE_DATABASE_URL, name=DATABASE_NAME)
    import django

    django.setup()
    import redis
    from django.conf import settings

    from bench.terminal.server import Daphne
    from labplatform.cohorts.models import Enrollment

    store = redis.Redis.from_url(settings.REDIS_URL)
    store.flushdb()
    print(f"[bench] seeding (first run only): {STUDENTS} students with progress, {STUDENTS} for Check", flush=True)
    dash, check, instructor, tasks = _seed()
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
    for count in [int(n) for n in args.processes.split(",")]:
        pairs = _check_pairs(check, tasks)

        def check_task(n: int, pairs=pairs):
            if n >= len(pairs):
                return None, None, None
            user_id, path = pairs[n]
            return "POST", path, {**cookie(user_id), "Accept": "application/json", "X-CSRFToken": csrf}

        servers = [Daphne(env=env, log=run_dir / f"daphne-{count}-{i}.log") for i in range(count)]
        ports = [server.port for server in servers]
        try:
            print(f"[bench] {count} daphne process(es): warming up", flush=True)
            for measure in (lesson_page, dashboard):
                asyncio.run(_load("warm-up", ports, measure, seconds=2, concurrency=args.concurrency))
            for name, measure in (("lesson", lesson_page), ("check", check_task), ("dashboard", dashboard)):
                busy, total = machine_cpu()
                served = sum(process_cpu(server.pid)[2] for server in servers)
                mine = process_cpu(os.getpid())[2]
                database = _postgres_cpu()
                row = asyncio.run(_load(name, ports, measure, seconds=args.seconds, concurrency=args.concurrency))
                busy, total = machine_cpu()[0] - busy, machine_cpu()[1] - total
                served = sum(process_cpu(server.pid)[2] for server in servers) - served
                mine = process_cpu(os.getpid())[2] - mine
                database = _postgres_cpu() - database
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
                print(f"[bench] {count}x {name}: {row['rps']} req/s, p95 {row['p95_ms']} ms", flush=True)
        finally:
            for server in servers:
                server.stop()
        store.flushdb()  # the grading tasks Check queued: no worker runs here

    by = {(r["measure"], r["processes"]): r for r in rows}
    header = f"{'measure':<11}{'procs':>6}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"
    print(f"\n{header}{'daphne':>8}{'pg':>6}{'rest':>6}  statuses")
    for r in rows:
        print(
            f"{r['measure']:<11}{r['processes']:>6}{r['rps']:>9.1f}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}"
            f"{r['max_ms']:>9.1f}{r['cpu']['daphne']:>8.2f}{r['cpu']['postgres']:>6.2f}{r['cpu']['rest_of_machine']:>6.2f}"
            f"  {r['statuses']}"
        )
    print(
        "daphne, pg (every PostgreSQL process), rest (the machine minus those and the load generator):"
        " CPU seconds per second"
    )
    ratios = {}
    for name in ("lesson", "check", "dashboard"):
        if (name, 1) in by and (name, 2) in by:
            ratios[name] = round(by[(name, 2)]["rps"] / by[(name, 1)]["rps"], 2)
    if ratios:
        print("2 vs 1 process, req/s (sanity check only; 2 shared cores):", ratios)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"web-{stamp}.json"
    cpus = os.cpu_count()
    result = {
        "args": vars(args),
        "students": STUDENTS,
        "lesson": lesson,
        "cpus": cpus,
        "conn_max_age": env["DATABASE_CONN_MAX_AGE"],
        "rows": rows,
        "ratios": ratios,
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
