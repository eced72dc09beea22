"""Real Celery workers grading queued attempts: how they are started, how attempts are
queued (all at once, or through attempt_create as Check does), and what is measured from
the rows the workers store."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.db import close_old_connections, connection
from django.db.models import Count, Max, Min
from django.utils import timezone

from bench import cpu
from bench.cli import say
from bench.grading import cluster
from bench.report import REPO, summary
from bench.spans import recording
from bench.workers import Workers, WorkerSetting
from lessons.models import Attempt, Task, TaskProgress
from lessons.services import attempt_create
from lessons.tasks import grade_attempt


def progress_rows(*, task: Task, enrollments) -> list[TaskProgress]:
    """Each student has opened the task (it has no setup, so opening reads nothing)."""
    now = timezone.now()
    return TaskProgress.objects.bulk_create(
        [TaskProgress(enrollment=e, task=task, opened_at=now, setup_done_at=now) for e in enrollments]
    )


def queue_at_once(progresses: list[TaskProgress]) -> tuple[list[int], float]:
    """One pending attempt per progress, all with the same click time, each queued as
    attempt_create queues it; returns the ids and the seconds queueing took. This leaves
    out attempt_create's own checks and locks (measured in the burst)."""
    clicked = timezone.now()
    ids = queue_rows(progresses, clicked=clicked)
    for attempt_id in ids:
        grade_attempt.delay(attempt_id, 0)
    return ids, (timezone.now() - clicked).total_seconds()


def queue_rows(progresses: list[TaskProgress], *, clicked=None) -> list[int]:
    """Pending attempts, one per progress, as attempt_create leaves them."""
    clicked = clicked or timezone.now()
    attempts = Attempt.objects.bulk_create([Attempt(progress=p, answers=[], created_at=clicked) for p in progresses])
    TaskProgress.objects.filter(pk__in=[p.pk for p in progresses]).exclude(state=TaskProgress.State.PASSED).update(
        state=TaskProgress.State.PENDING
    )
    return [a.pk for a in attempts]


def queue_via_attempt_create(*, task: Task, enrollments, threads: int) -> tuple[list[int], list[float]]:
    """Check pressed by every student at once: attempt_create from `threads` threads (as
    web workers would run it). Returns the ids and each call's seconds."""
    start = threading.Barrier(threads)

    def check(enrollment) -> tuple[int, float]:
        began = time.monotonic()
        attempt = attempt_create(enrollment=enrollment, task=task, answers=[])
        return attempt.pk, time.monotonic() - began

    def worker(chunk) -> list[tuple[int, float]]:
        close_old_connections()
        connection.ensure_connection()  # a web worker's connection is open before the click
        start.wait()
        try:
            return [check(e) for e in chunk]
        finally:
            connection.close()

    chunks = [enrollments[i::threads] for i in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        done = [pair for chunk in pool.map(worker, chunks) for pair in chunk]
    return [pk for pk, _ in done], [seconds for _, seconds in done]


def wait_finished(ids: list[int], *, timeout: float, label: str) -> bool:
    rows = Attempt.objects.filter(pk__in=ids)
    started, last_report = time.monotonic(), 0.0
    while True:
        done = rows.filter(finished_at__isnull=False).count()
        if done >= len(ids):
            return True
        elapsed = time.monotonic() - started
        if elapsed > timeout:
            say(f"{label}: only {done} of {len(ids)} finished after {timeout:.0f}s")
            return False
        if elapsed - last_report >= 10:
            say(f"  {label}: {done}/{len(ids)} finished after {elapsed:.0f}s")
            last_report = elapsed
        time.sleep(0.1)


def outcome(ids: list[int], *, checks_per_attempt: int, processes: int) -> dict:
    """Latency from click (created_at) to stored result (finished_at), the drain time and
    checks/s per worker process, from the rows the workers stored."""
    rows = Attempt.objects.filter(pk__in=ids)
    window = rows.aggregate(first_click=Min("created_at"), last_done=Max("finished_at"))
    finished = list(rows.filter(finished_at__isnull=False).values_list("created_at", "finished_at"))
    latencies = [(done - clicked).total_seconds() for clicked, done in finished]
    states: dict[str, int] = {}
    for state in rows.values_list("state", flat=True):
        states[state] = states.get(state, 0) + 1
    drain = (window["last_done"] - window["first_click"]).total_seconds() if window["last_done"] else None
    checks = checks_per_attempt * len(finished)
    rounds = rows.aggregate(most=Max("round"))["most"]
    problems = list(rows.exclude(state=Attempt.State.PASSED).values_list("state", "message")[:5])
    return {
        "attempts": len(ids),
        "finished": len(finished),
        "states": states,
        "most_rounds": rounds,
        "not_passed_examples": problems,
        "latency": summary(latencies),
        "drain_s": round(drain, 3) if drain else None,
        "attempts_per_s": round(len(finished) / drain, 2) if drain else None,
        "checks_per_s": round(checks / drain, 2) if drain else None,
        "checks_per_s_per_worker_process": round(checks / drain / processes, 2) if drain else None,
    }


def run_setting(
    *,
    setting: WorkerSetting,
    tag: str,
    task: Task,
    enrollments: list,
    progresses: list[TaskProgress],
    burst: int,
    burst_threads: int,
    admin,
    env: dict[str, str],
    log_dir: Path,
    timeout: float,
) -> dict:
    """Warm-up, then the drain (every student's attempt queued at once), then a burst of
    Checks through attempt_create, on the same workers."""
    checks = len(task.checks)
    result: dict = {"setting": str(setting), "tag": setting.tag}
    workers = Workers(setting, tag=tag, log_dir=log_dir, env=env)
    try:
        workers.start(app="labplatform", extra=("--without-gossip", "--without-mingle"))
        # Every pool slot connects to PostgreSQL and the API server on its first task; a
        # platform's workers have done so long before a class presses Check.
        warm = progresses[: setting.concurrency * setting.processes * 2]
        ids, _ = queue_at_once(warm)
        wait_finished(ids, timeout=timeout, label="warm-up")

        say(f"[{setting.tag}] drain: {len(progresses)} attempts queued at once")
        requests_before = cluster.request_counts(admin)
        cpu_before, workers_before = cpu.snapshot(workers.pids), workers.cpu_seconds()
        began = time.monotonic()
        # The workers stop taking tasks while the benchmark queues them, so the queue holds
        # all of them at once, as if every click had arrived together; the benchmark's one
        # process would otherwise compete for the CPU with the workers it feeds.
        workers.consuming(False)
        ids, queue_s = queue_at_once(progresses)
        workers.consuming(True)
        complete = wait_finished(ids, timeout=timeout, label="drain")
        seconds = time.monotonic() - began
        cpu_after, workers_after = cpu.snapshot(workers.pids), workers.cpu_seconds()
        requests = cluster.request_delta(requests_before, cluster.request_counts(admin))
        drain = outcome(ids, checks_per_attempt=checks, processes=setting.processes)
        drain.update(
            {
                "complete": complete,
                "queue_s": round(queue_s, 3),
                "cpu_seconds": cpu.delta(cpu_before, cpu_after, seconds=seconds),
                "cpu_seconds_per_worker_process": [
                    round(workers_after.get(pid, 0.0) - workers_before.get(pid, 0.0), 2) for pid in workers.pids
                ],
                "api_requests": requests,
            }
        )
        if requests and drain["finished"]:
            drain["api_requests_per_attempt"] = round(requests["total"] / drain["finished"], 2)
        result["drain"] = drain
        say(
            f"[{setting.tag}] drain: {drain['finished']}/{len(ids)} in {drain['drain_s']}s, p50 "
            f"{drain['latency'].get('p50_ms')} ms, p95 {drain['latency'].get('p95_ms')} ms, "
            f"{drain['checks_per_s_per_worker_process']} checks/s per worker process"
        )

        say(f"[{setting.tag}] burst: {burst} Checks through attempt_create from {burst_threads} threads")
        cpu_before = cpu.snapshot(workers.pids)
        began = time.monotonic()
        ids, create_seconds = queue_via_attempt_create(
            task=task, enrollments=enrollments[:burst], threads=burst_threads
        )
        complete = wait_finished(ids, timeout=timeout, label="burst")
        seconds = time.monotonic() - began
        spike = outcome(ids, checks_per_attempt=checks, processes=setting.processes)
        spike.update(
            {
                "complete": complete,
                "attempt_create": summary(create_seconds),
                "cpu_seconds": cpu.delta(cpu_before, cpu.snapshot(workers.pids), seconds=seconds),
            }
        )
        result["burst"] = spike
        say(
            f"[{setting.tag}] burst: p50 {spike['latency'].get('p50_ms')} ms, p95 {spike['latency'].get('p95_ms')} ms, "
            f"all done {spike['drain_s']}s after the first click"
        )
    finally:
        workers.stop()
    return result


# Where a grading's time goes, as cumulative time of these functions (any caller).
_PROFILE_PARTS = [
    ("grading/flow.py", "attempt_grade", "attempt_grade (all of it but Celery)"),
    ("query.py", "first", "  load the attempt (Attempt...first())"),
    ("grading/engine.py", "checks_evaluate", "  checks_evaluate"),
    ("cluster/rest.py", "request", "    of which API requests"),
    ("query.py", "update", "  store the round (conditional UPDATE)"),
    ("base.py", "refresh_from_db", "  refresh_from_db"),
    ("grading/flow.py", "_progress_record", "  _progress_record"),
    ("transaction.py", "__exit__", "  commit (and on_commit: attempt_push)"),
    ("lessons/events.py", "attempt_result_push", "    attempt_push"),
    ("asgiref/sync.py", "__call__", "      of which async_to_sync (channel layer sends)"),
    ("psycopg/connection.py", "wait", "PostgreSQL round trips (waiting)"),
]


def run_profile(*, task: Task, progresses: list[TaskProgress]) -> dict:
    """Grades `progresses`' attempts here, one after another, with the worker's own task
    function under cProfile (Celery's messaging left out), counting SQL queries."""
    import cProfile
    import pstats

    checks = len(task.checks)
    for warm in queue_rows(progresses[:5]):
        grade_attempt(warm, 0)
    ids = queue_rows(progresses)
    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql.split(" ", 1)[0])
        return execute(sql, params, many, context)

    profiler = cProfile.Profile()
    began = time.monotonic()
    with connection.execute_wrapper(count):
        profiler.enable()
        for attempt_id in ids:
            grade_attempt(attempt_id, 0)
        profiler.disable()
    seconds = time.monotonic() - began
    per = 1000 / len(ids)
    table = pstats.Stats(profiler).stats
    parts = {}
    for file_part, function, label in _PROFILE_PARTS:
        cumulative = sum(v[3] for (f, _, name), v in table.items() if name == function and f.endswith(file_part))
        parts[label] = round(cumulative * per, 2)
    own = sorted(table.items(), key=lambda kv: -kv[1][2])[:25]
    timed = _timed_pass(queue_rows(progresses))
    statements: dict[str, int] = {}
    for verb in queries:
        statements[verb] = statements.get(verb, 0) + 1
    return {
        "attempts": len(ids),
        "checks_per_attempt": checks,
        "states": dict(Attempt.objects.filter(pk__in=ids).values_list("state").annotate(n=Count("pk"))),
        "seconds": round(seconds, 2),
        "ms_per_attempt_profiled": round(seconds * per, 1),
        "sql_statements_per_attempt": {k: round(v / len(ids), 1) for k, v in sorted(statements.items())},
        "cumulative_ms_per_attempt": parts,
        "without_profiler_ms_per_attempt": timed,
        "own_ms_per_attempt": [
            {"function": f"{_short(f)}:{line}({name})", "own": round(v[2] * per, 2), "calls": round(v[1] / len(ids), 1)}
            for (f, line, name), v in own
        ],
    }


# The platform's steps (its trace hooks) timed without the profiler, as the table names them.
_TIMED_STEPS = {
    "grading.checks_evaluate": "checks_evaluate",
    "cluster.request": "API requests (in checks_evaluate)",
    "grading.attempt_push": "attempt_push",
}


def _timed_pass(ids: list[int]) -> dict:
    """Grades `ids` again without the profiler, timing the parts of each grading in CPU
    (the process's: the channel layer's sends run in a thread of their own) and wall
    milliseconds: what a worker spends per attempt apart from Celery."""
    with recording() as recorder:

        def sql(execute, sql, params, many, context):
            with recorder("SQL statements", ""):
                return execute(sql, params, many, context)

        with connection.execute_wrapper(sql):
            for attempt_id in ids:
                with recorder("grade_attempt (all but Celery)", ""):
                    grade_attempt(attempt_id, 0)
    totals: dict[str, list[float]] = {}
    for event in recorder.take():
        spent = totals.setdefault(_TIMED_STEPS.get(event["l"], event["l"]), [0.0, 0.0])
        spent[0] += event["cpu"]
        spent[1] += event["t1"] - event["t0"]
    return {name: {"cpu": round(1000 * c / len(ids), 2), "wall": round(1000 * w / len(ids), 2)}
            for name, (c, w) in totals.items()}  # fmt: skip


def _short(filename: str) -> str:
    return filename.replace(str(REPO) + "/", "").split("site-packages/")[-1]
