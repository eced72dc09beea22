"""Grading benchmark: how fast labplatform grades Check, against one kubectl process per
assertion measured in the same run, on the local cluster.

    .venv/bin/python -m bench.grading [--students N] [--quick] [--workers prefork:4,threads:16]

N students (500; --quick: 50) each get a namespace with a Deployment `web` that passes the
task's checks. For each --workers setting, 2 real `celery -A labplatform worker` processes:
  drain     every student's attempt queued at once; click (created_at) to stored result
            (finished_at) p50/p95/max, time until the last is stored, checks/s per process
  burst     --burst (100) Checks through attempt_create at once; p95
then the baseline: the same checks, one kubectl per assertion, sequentially and --parallel
at a time, on --baseline-students namespaces. CPU seconds per process for each phase.
The table is printed and written, with every detail, to bench/results/grading-<time>.json.
See bench/README.md.
"""

import argparse
import fcntl
import json
import os
import platform as host_platform
import signal
import sys
import time

from bench.common import cohort_with_students, database_ensure
from bench.grading import config

DEFAULT_STUDENTS = 500
QUICK_STUDENTS = 50
DEFAULT_WORKERS = "prefork:4,prefork:8,threads:16"
# Pods left free for anyone else using the cluster during a run.
POD_RESERVE = 100
GOAL_RATIO = 20
GOAL_BURST_P95_MS = 1000


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.grading", description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", "-n", type=int, default=DEFAULT_STUDENTS, help=f"students ({DEFAULT_STUDENTS})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_STUDENTS} students, one worker setting")
    parser.add_argument(
        "--workers",
        default=None,
        help="Celery worker settings to try, comma-separated POOL:CONCURRENCY[xPROCESSES], 2 processes unless "
        f"given (default {DEFAULT_WORKERS}; --quick: the first)",
    )
    parser.add_argument("--burst", type=int, default=100, help="Checks pressed at once in the burst (100)")
    parser.add_argument("--burst-threads", type=int, default=16, help="threads calling attempt_create (16)")
    parser.add_argument("--baseline-students", type=int, default=60, help="namespaces the kubectl baseline grades (60)")
    parser.add_argument("--parallel", type=int, default=4, help="kubectl baseline: attempts at a time (4)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the kubectl baseline")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="ATTEMPTS",
        help="also grade this many attempts in the benchmark's process, with the worker's task function under "
        "cProfile, and report where the time goes",
    )
    parser.add_argument("--timeout", type=float, help="seconds to wait for a phase (default 120 + 0.5 per student)")
    parser.add_argument("--cleanup-only", action="store_true", help="remove what an aborted run left, then stop")
    args = parser.parse_args(argv)
    if args.quick:
        args.students = QUICK_STUDENTS
    if args.students < 1:
        parser.error("--students must be at least 1")
    args.workers = args.workers or (DEFAULT_WORKERS.split(",")[0] if args.quick else DEFAULT_WORKERS)
    args.burst = min(args.burst, args.students)
    args.baseline_students = min(args.baseline_students, args.students)
    if args.timeout is None:
        args.timeout = 120 + 0.5 * args.students
    return args


def _interrupt_on_signals() -> None:
    """SIGTERM cleans up as Ctrl-C does; so does SIGINT when a shell started the run in the
    background with it ignored."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _leftovers(admin) -> None:
    from django.contrib.auth import get_user_model

    from bench.grading import cluster, task
    from bench.grading.phases import say
    from labplatform.cohorts.models import Cohort
    from lessons.models import Course

    for cohort in sorted(cluster.leftover_cohorts(admin, config.COHORT_PREFIX)):
        say(f"removing namespaces an earlier run left: {cohort}")
        cluster.namespaces_delete(admin, selector=cluster.cohort_selector(cohort), wait=False)
    for slug in Cohort.objects.filter(slug__startswith=config.COHORT_PREFIX).values_list("slug", flat=True):
        Cohort.objects.filter(slug=slug).delete()
        get_user_model().objects.filter(username__startswith=f"{slug}-").delete()
    for slug in Course.objects.filter(slug__startswith=config.COURSE_PREFIX).values_list("slug", flat=True):
        task.task_rows_remove(slug)


def _cleanup(admin, slug: str) -> float:
    from django.contrib.auth import get_user_model

    from bench.grading import cluster, task
    from bench.grading.phases import say
    from labplatform.cohorts.models import Cohort

    say(f"cleaning up {slug}: its namespaces (waiting until they are gone) and its rows")
    seconds = cluster.namespaces_delete(admin, selector=cluster.cohort_selector(slug))
    Cohort.objects.filter(slug=slug).delete()
    get_user_model().objects.filter(username__startswith=f"{slug}-").delete()
    task.task_rows_remove(slug)
    say(f"cleaned up in {seconds:.0f}s")
    return round(seconds, 1)


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 1) if a and b else None


def _summary(settings_run: list[dict], baselines: list[dict], students: int) -> dict:
    complete = [r for r in settings_run if r.get("drain", {}).get("complete")]
    best = max(complete, key=lambda r: r["drain"]["checks_per_s"] or 0, default=None)
    sequential = next((b for b in baselines if b["parallel"] == 1), None)
    parallel = max((b for b in baselines if b["parallel"] > 1), key=lambda b: b["parallel"], default=None)
    drain = best["drain"] if best else {}
    burst = best.get("burst", {}) if best else {}
    platform_rate = drain.get("checks_per_s")
    # The goal compares a worker process's checks/s with one kubectl loop's.
    per_process = drain.get("checks_per_s_per_worker_process")
    over_sequential = _ratio(per_process, sequential and sequential["checks_per_s"])
    burst_p95 = (burst.get("latency") or {}).get("p95_ms")
    return {
        "students": students,
        "best_setting": best["setting"] if best else None,
        "drain_s": drain.get("drain_s"),
        "latency_p50_ms": (drain.get("latency") or {}).get("p50_ms"),
        "latency_p95_ms": (drain.get("latency") or {}).get("p95_ms"),
        "latency_max_ms": (drain.get("latency") or {}).get("max_ms"),
        "checks_per_s": platform_rate,
        "checks_per_s_per_worker_process": per_process,
        "burst_p95_ms": burst_p95,
        "kubectl_sequential_checks_per_s": sequential and sequential["checks_per_s"],
        "kubectl_parallel_checks_per_s": parallel and parallel["checks_per_s"],
        "per_worker_process_over_kubectl_sequential": over_sequential,
        "all_workers_over_kubectl_sequential": _ratio(platform_rate, sequential and sequential["checks_per_s"]),
        "all_workers_over_kubectl_parallel": _ratio(platform_rate, parallel and parallel["checks_per_s"]),
        "goal": f"checks/s per worker process >= {GOAL_RATIO}x the sequential kubectl loop; burst p95 <= "
        f"{GOAL_BURST_P95_MS} ms",
        "goal_ratio_met": over_sequential is not None and over_sequential >= GOAL_RATIO,
        "goal_burst_met": burst_p95 is not None and burst_p95 <= GOAL_BURST_P95_MS,
    }


_CPU_KEYS = ("celery workers", "kube-apiserver", "etcd", "postgres", "redis", "kwok", "kube-controller-manager",
             "benchmark process", "waited children", "not benchmark or cluster")  # fmt: skip


def _cpu_line(used: dict) -> str:
    return ", ".join(f"{key} {used[key]:.1f}" for key in _CPU_KEYS if used.get(key, 0) >= 0.05)


def _table(meta: dict, settings_run: list[dict], baselines: list[dict], summary: dict, profile: dict | None) -> str:
    def cell(value, digits=0) -> str:
        if value is None:
            return "-"
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    header = (
        f"{'phase':<24} {'N':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'done s':>7} "
        f"{'checks/s':>9} {'/process':>9} {'states':<20}"
    )
    lines = [f"task: {meta['task']['source']} ({meta['task']['checks']} checks)", header, "-" * len(header)]
    for run in settings_run:
        for phase in ("drain", "burst"):
            r = run.get(phase)
            if not r:
                continue
            latency = r["latency"]
            states = ",".join(f"{k} {v}" for k, v in sorted(r["states"].items()))
            lines.append(
                f"{phase + ' ' + run['tag']:<24} {r['attempts']:>5} {cell(latency.get('p50_ms')):>8} "
                f"{cell(latency.get('p95_ms')):>8} {cell(latency.get('max_ms')):>8} {cell(r['drain_s'], 1):>7} "
                f"{cell(r['checks_per_s'], 1):>9} {cell(r['checks_per_s_per_worker_process'], 1):>9} {states:<20}"
            )
    for b in baselines:
        per = b["per_attempt"]
        lines.append(
            f"{'kubectl x' + str(b['parallel']):<24} {b['attempts']:>5} {cell(per.get('p50_ms')):>8} "
            f"{cell(per.get('p95_ms')):>8} {cell(per.get('max_ms')):>8} {cell(b['seconds'], 1):>7} "
            f"{cell(b['checks_per_s'], 1):>9} {'':>9} passed {b['passed']}"
        )
    lines.append("(drain/burst: click to stored result; kubectl: one attempt's kubectl processes, in sequence)")
    lines.append("")
    lines.append(
        f"best setting {summary['best_setting']}: {cell(summary['checks_per_s_per_worker_process'], 1)} checks/s per "
        f"worker process = {cell(summary['per_worker_process_over_kubectl_sequential'], 1)}x the sequential kubectl "
        f"loop (goal >= {GOAL_RATIO}x: {'met' if summary['goal_ratio_met'] else 'NOT met'}); both processes "
        f"{cell(summary['all_workers_over_kubectl_parallel'], 1)}x kubectl with {meta['parallel']} in parallel"
    )
    lines.append(
        f"burst of {meta['burst']}: p95 {cell(summary['burst_p95_ms'])} ms (goal <= {GOAL_BURST_P95_MS} ms: "
        f"{'met' if summary['goal_burst_met'] else 'NOT met'}); {summary['students']} drained in "
        f"{cell(summary['drain_s'], 1)} s"
    )
    lines.append("CPU seconds during each phase (2 cores; idle background not subtracted):")
    for run in settings_run:
        for phase in ("drain", "burst"):
            if run.get(phase):
                used = run[phase]["cpu_seconds"]
                lines.append(
                    f"  {phase + ' ' + run['tag']:<22} {used['wall seconds']:.1f}s wall, machine "
                    f"{used['machine busy %']:.0f}% busy: {_cpu_line(used)}"
                )
        per_process = run.get("drain", {}).get("cpu_seconds_per_worker_process")
        if per_process:
            lines.append(f"  {'':<22} per worker process (with its pool children): {per_process}")
    for b in baselines:
        used = b["cpu_seconds"]
        lines.append(f"  {'kubectl x' + str(b['parallel']):<22} {used['wall seconds']:.1f}s wall: {_cpu_line(used)}")
    for run in settings_run:
        requests = run.get("drain", {}).get("api_requests")
        if requests:
            top = ", ".join(f"{k} {v}" for k, v in list(requests["by_verb_resource"].items())[:6])
            lines.append(
                f"API requests during drain {run['tag']}: {requests['total']} "
                f"({run['drain'].get('api_requests_per_attempt')} per attempt, background included): {top}"
            )
    if profile:
        lines.append(
            f"profile ({profile['attempts']} attempts graded one by one in the benchmark's process, under cProfile): "
            f"{profile['ms_per_attempt_profiled']} ms per attempt; SQL statements per attempt "
            f"{profile['sql_statements_per_attempt']}"
        )
        for label, ms in profile["cumulative_ms_per_attempt"].items():
            lines.append(f"  {label:<52} {ms:7.1f} ms")
        lines.append("  the same, without the profiler, per attempt (CPU of the process / wall):")
        for label, spent in profile["without_profiler_ms_per_attempt"].items():
            lines.append(f"    {label:<50} {spent['cpu']:6.1f} / {spent['wall']:6.1f} ms")
    for note in meta["notes"]:
        lines.append(f"NOTE: {note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    config.RESULTS.mkdir(parents=True, exist_ok=True)
    lock = (config.RESULTS / ".grading.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("another grading benchmark is running; wait for it to finish", file=sys.stderr)
        return 3
    _interrupt_on_signals()
    env = config.configure()
    database_ensure(env, maintenance_url=config.MAINTENANCE_DATABASE_URL, name=config.DATABASE_NAME)

    import django

    django.setup()

    import redis
    from django.utils import timezone

    from bench.grading import baseline, cluster, phases, task
    from bench.grading.phases import say
    from bench.provision.kube import Kube
    from labplatform.cluster.manifests import student_namespace_name
    from labplatform.environments.models import StudentEnvironment

    admin = Kube(config.ADMIN_KUBECONFIG, pool=cluster.SETUP_THREADS + 4)
    _leftovers(admin)
    if args.cleanup_only:
        return 0
    broker = redis.Redis.from_url(config.REDIS_URL)
    broker.flushdb()  # the benchmark's own database (8): stale tasks of an aborted run

    settings_to_try = [phases.WorkerSetting.parse(s) for s in args.workers.split(",") if s.strip()]
    capacity, pods_now = cluster.free_pods(admin)
    spec, notes = task.task_choose(max_pods_per_student=(capacity - pods_now - POD_RESERVE) // args.students)
    run_id = time.strftime("%m%d%H%M%S")
    slug = f"{config.COHORT_PREFIX}{run_id}"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_dir = config.RESULTS / f"grading-{stamp}"
    log_dir.mkdir()
    meta = {
        "command": " ".join(["python -m bench.grading", *(argv if argv is not None else sys.argv[1:])]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "students": args.students,
        "machine": {"cpus": os.cpu_count(), "python": host_platform.python_version()},
        "cluster": {"pod_capacity": capacity, "pods_before": pods_now},
        "task": {"source": spec.source, "slug": spec.slug, "checks": len(spec.spec["checks"]), "spec": spec.spec},
        "replicas_per_student": spec.replicas,
        "database": config.DATABASE_URL.replace("labplatform:labplatform@", "labplatform:***@"),
        "redis": config.REDIS_URL,
        "burst": args.burst,
        "parallel": args.parallel,
        "queueing": "drain: Attempt rows bulk-created with one click time, then grade_attempt.delay per row "
        "(attempt_create's own checks and locks left out); burst: attempt_create per student from "
        f"{args.burst_threads} threads",
        "code": config.code_identity(),
        "notes": notes,
    }
    settings_run: list[dict] = []
    baselines: list[dict] = []
    profile = None
    try:
        say(f"task: {spec.source}; {args.students} students, {spec.replicas} pods each")
        began = time.monotonic()
        cohort = cohort_with_students(slug=slug, students=args.students)
        cohort.course, cohort.lessons_gated = slug, False
        cohort.save(update_fields=["course", "lessons_gated"])
        task_row = task.task_rows(spec=spec, slug=slug)
        enrollments = list(cohort.enrollments.order_by("pk").select_related("cohort__cluster"))
        namespaces = {e.pk: student_namespace_name(e.student_id) for e in enrollments}
        now = timezone.now()
        StudentEnvironment.objects.bulk_create(
            [
                StudentEnvironment(
                    enrollment=e, namespace=namespaces[e.pk], state=StudentEnvironment.State.READY, ready_at=now
                )
                for e in enrollments
            ]
        )
        progresses = phases.progress_rows(task=task_row, enrollments=enrollments)
        meta["db_setup_s"] = round(time.monotonic() - began, 1)
        say(f"making {args.students} namespaces with the task's solution, as cluster-admin")
        seconds = cluster.namespaces_create(
            admin,
            cohort=slug,
            students=[(e.student_id, namespaces[e.pk]) for e in enrollments],
            objects=spec.manifests,
        )
        meta["namespaces_create_s"] = round(seconds, 1)
        say(f"  made in {seconds:.0f}s; waiting for every Deployment to be ready")
        seconds = cluster.deployments_wait_ready(
            admin, namespaces=set(namespaces.values()), replicas=spec.replicas, timeout=args.timeout + 300
        )
        meta["deployments_ready_s"] = round(seconds, 1)
        say(f"  ready after {seconds:.0f}s more")
        for setting in settings_to_try:
            settings_run.append(
                phases.run_setting(
                    setting=setting,
                    tag=f"{slug}-{setting.tag}",
                    task=task_row,
                    enrollments=enrollments,
                    progresses=progresses,
                    burst=args.burst,
                    burst_threads=args.burst_threads,
                    admin=admin,
                    env=env,
                    log_dir=log_dir,
                    timeout=args.timeout,
                )
            )
        if not args.no_baseline:
            sample = [namespaces[e.pk] for e in enrollments[: args.baseline_students]]
            for parallel in sorted({1, args.parallel}):
                say(f"kubectl baseline: {len(sample)} attempts, {parallel} at a time")
                baselines.append(baseline.run(checks=spec.spec["checks"], namespaces=sample, parallel=parallel))
                say(f"  {baselines[-1]['checks_per_s']} checks/s")
        if args.profile:
            say(f"profile: one solo worker under cProfile grades {args.profile} attempts")
            profile = phases.run_profile(task=task_row, progresses=progresses[: args.profile])
    except KeyboardInterrupt:
        say("interrupted; cleaning up")
        meta["interrupted"] = True
    finally:
        try:
            meta["cleanup_s"] = _cleanup(admin, slug)
        finally:
            broker.flushdb()
        summary = _summary(settings_run, baselines, args.students)
        table = _table(meta, settings_run, baselines, summary, profile)
        output = config.RESULTS / f"grading-{stamp}.json"
        document = {"meta": meta, "summary": summary, "table": table, "settings": settings_run,
                    "baselines": baselines, "profile": profile}  # fmt: skip
        output.write_text(json.dumps(document, indent=2, default=str))
        print()
        print(table)
        print(f"\nresults: {output.relative_to(config.REPO)} (worker logs in {log_dir.relative_to(config.REPO)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
