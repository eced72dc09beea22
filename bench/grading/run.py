"""Grading benchmark: how fast labplatform grades Check, against one kubectl process per
assertion measured in the same run, on the local cluster.

N students (--students) each get a namespace with a Deployment `web` that passes the
task's checks. For each --workers setting, 2 real `celery -A labplatform worker` processes:
  drain     every student's attempt queued at once; click (created_at) to stored result
            (finished_at) p50/p95/max, time until the last is stored, checks/s per process
  burst     --burst (100) Checks through attempt_create at once; p95
then the baseline: the same checks, one kubectl per assertion, sequentially and --parallel
at a time, on --baseline-students namespaces. CPU seconds per process for each phase.
See bench/README.md.
"""

import time

from bench import stores
from bench.cli import Benchmark, at_least_one, say
from bench.grading import config
from bench.kube import ADMIN_KUBECONFIG, Kube, cohort_selector
from bench.report import Column, Report, Table, cell
from bench.workers import settings_parse

DEFAULT_WORKERS = "prefork:4,prefork:8,threads:16"
# Pods left free for anyone else using the cluster during a run.
POD_RESERVE = 100
GOAL_RATIO = 20
GOAL_BURST_P95_MS = 1000


def options(parser) -> None:
    parser.add_argument("--students", "-n", type=at_least_one, default=500, help="students (500)")
    parser.add_argument(
        "--workers",
        type=lambda text: settings_parse(text, processes=2),
        default=DEFAULT_WORKERS,
        help="Celery worker settings to try, comma-separated POOL:CONCURRENCY[xPROCESSES], 2 processes unless "
        f"given ({DEFAULT_WORKERS})",
    )
    parser.add_argument("--burst", type=at_least_one, default=100, help="Checks pressed at once in the burst (100)")
    parser.add_argument("--burst-threads", type=at_least_one, default=16, help="threads calling attempt_create (16)")
    parser.add_argument(
        "--baseline-students", type=at_least_one, default=60, help="namespaces the kubectl baseline grades (60)"
    )
    parser.add_argument("--parallel", type=at_least_one, default=4, help="kubectl baseline: attempts at a time (4)")
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


def _leftovers(admin) -> None:
    from bench.grading import cluster, task
    from labplatform.cohorts.models import Cohort
    from lessons.models import Course

    for cohort in sorted(cluster.leftover_cohorts(admin, config.COHORT_PREFIX)):
        say(f"removing namespaces an earlier run left: {cohort}")
        cluster.namespaces_delete(admin, selector=cohort_selector(cohort), wait=False)
    for slug in Cohort.objects.filter(slug__startswith=config.COHORT_PREFIX).values_list("slug", flat=True):
        stores.cohort_rows_remove(slug)
    for slug in Course.objects.filter(slug__startswith=config.COHORT_PREFIX).values_list("slug", flat=True):
        task.task_rows_remove(slug)


def _cleanup(admin, slug: str) -> float:
    from bench.grading import cluster, task

    say(f"cleaning up {slug}: its namespaces (waiting until they are gone) and its rows")
    seconds = cluster.namespaces_delete(admin, selector=cohort_selector(slug))
    stores.cohort_rows_remove(slug)
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


def _table(meta: dict, settings_run: list[dict], baselines: list[dict]) -> Table:
    table = Table(
        f"task: {meta['task']['source']} ({meta['task']['checks']} checks)",
        [
            Column("attempts", "N"),
            Column("p50_ms", "p50 ms", 0),
            Column("p95_ms", "p95 ms", 0),
            Column("max_ms", "max ms", 0),
            Column("done_s", "done s"),
            Column("checks_per_s", "checks/s"),
            Column("per_process", "/process"),
            Column("states", "states"),
        ],
        ratio_of="checks_per_s",
        baseline="kubectl x1",
    )
    for run in settings_run:
        for phase in ("drain", "burst"):
            r = run.get(phase)
            if r:
                table.add(
                    f"{phase} {run['tag']}",
                    attempts=r["attempts"],
                    **{key: r["latency"].get(key) for key in ("p50_ms", "p95_ms", "max_ms")},
                    done_s=r["drain_s"],
                    checks_per_s=r["checks_per_s"],
                    per_process=r["checks_per_s_per_worker_process"],
                    states=",".join(f"{k} {v}" for k, v in sorted(r["states"].items())),
                )
    for b in baselines:
        per = b["per_attempt"]
        table.add(
            f"kubectl x{b['parallel']}",
            attempts=b["attempts"],
            **{key: per.get(key) for key in ("p50_ms", "p95_ms", "max_ms")},
            done_s=b["seconds"],
            checks_per_s=b["checks_per_s"],
            states=f"passed {b['passed']}",
        )
    return table


def _lines(meta: dict, settings_run: list[dict], baselines: list[dict], summary: dict) -> list[str]:
    lines = [
        "(drain/burst: click to stored result; kubectl: one attempt's kubectl processes, in sequence)",
        "",
        f"best setting {summary['best_setting']}: {cell(summary['checks_per_s_per_worker_process'])} checks/s per "
        f"worker process = {cell(summary['per_worker_process_over_kubectl_sequential'])}x the sequential kubectl "
        f"loop (goal >= {GOAL_RATIO}x: {'met' if summary['goal_ratio_met'] else 'NOT met'}); both processes "
        f"{cell(summary['all_workers_over_kubectl_parallel'])}x kubectl with {meta['parallel']} in parallel",
        f"burst of {meta['burst']}: p95 {cell(summary['burst_p95_ms'], 0)} ms (goal <= {GOAL_BURST_P95_MS} ms: "
        f"{'met' if summary['goal_burst_met'] else 'NOT met'}); {summary['students']} drained in "
        f"{cell(summary['drain_s'])} s",
        "CPU seconds during each phase (idle background not subtracted):",
    ]
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
    return lines + [f"NOTE: {note}" for note in meta["notes"]]


def _profile(profile: dict) -> list:
    lines = [
        f"profile ({profile['attempts']} attempts graded one by one in the benchmark's process, under cProfile): "
        f"{profile['ms_per_attempt_profiled']} ms per attempt; SQL statements per attempt "
        f"{profile['sql_statements_per_attempt']}",
        *(f"  {label:<52} {ms:7.1f} ms" for label, ms in profile["cumulative_ms_per_attempt"].items()),
    ]
    timed = Table(
        "the same without the profiler, per attempt (the platform's steps, from its trace hooks)",
        [Column("cpu", "CPU ms"), Column("wall", "wall ms")],
    )
    for label, spent in profile["without_profiler_ms_per_attempt"].items():
        timed.add(label, **spent)
    return ["", *lines, timed]


def _cohort_rows(*, spec, slug: str, students: int) -> tuple:
    """The benchmark's cohort of `students`, on a course of its one task, each with a ready
    environment: (the task's row, the enrollments, their namespaces by enrollment, their
    progress rows)."""
    from django.utils import timezone

    from bench.grading import phases, task
    from labplatform.cluster.manifests import student_namespace_name
    from labplatform.environments.models import StudentEnvironment

    cohort = stores.cohort_with_students(slug=slug, students=students)
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
    return task_row, enrollments, namespaces, progresses


def _namespaces_make(
    admin: Kube, meta: dict, *, spec, slug: str, enrollments: list, namespaces: dict, timeout: float
) -> None:
    """Each student's namespace with the task's solution in it, every Deployment ready."""
    from bench.grading import cluster

    seconds = cluster.namespaces_create(
        admin,
        cohort=slug,
        students=[(e.student_id, namespaces[e.pk]) for e in enrollments],
        objects=spec.manifests,
    )
    meta["namespaces_create_s"] = round(seconds, 1)
    say(f"  made in {seconds:.0f}s; waiting for every Deployment to be ready")
    seconds = cluster.deployments_wait_ready(
        admin, namespaces=set(namespaces.values()), replicas=spec.replicas, timeout=timeout + 300
    )
    meta["deployments_ready_s"] = round(seconds, 1)
    say(f"  ready after {seconds:.0f}s more")


def measure(args, report: Report) -> None:
    args.burst = min(args.burst, args.students)
    args.baseline_students = min(args.baseline_students, args.students)
    timeout = args.timeout or 120 + 0.5 * args.students
    env = config.django_start()

    import redis

    from bench.grading import baseline, cluster, phases, task

    admin = Kube(ADMIN_KUBECONFIG, pool=cluster.SETUP_THREADS + 4)
    _leftovers(admin)
    if args.cleanup_only:
        return
    broker = redis.Redis.from_url(config.REDIS_URL)
    broker.flushdb()  # the benchmark's own database (8): stale tasks of an aborted run

    capacity, pods_now = cluster.free_pods(admin)
    spec, notes = task.task_choose(max_pods_per_student=(capacity - pods_now - POD_RESERVE) // args.students)
    slug = f"{config.COHORT_PREFIX}{time.strftime('%m%d%H%M%S')}"
    meta = {
        "students": args.students,
        "cluster": {"pod_capacity": capacity, "pods_before": pods_now},
        "task": {"source": spec.source, "slug": spec.slug, "checks": len(spec.spec["checks"]), "spec": spec.spec},
        "replicas_per_student": spec.replicas,
        "database": stores.shown(stores.database_url(config.DATABASE_NAME)),
        "redis": config.REDIS_URL,
        "burst": args.burst,
        "parallel": args.parallel,
        "queueing": "drain: Attempt rows bulk-created with one click time, then grade_attempt.delay per row "
        "(attempt_create's own checks and locks left out); burst: attempt_create per student from "
        f"{args.burst_threads} threads",
        "notes": notes,
    }
    settings_run: list[dict] = []
    baselines: list[dict] = []
    profile = None
    try:
        say(f"task: {spec.source}; {args.students} students, {spec.replicas} pods each")
        began = time.monotonic()
        task_row, enrollments, namespaces, progresses = _cohort_rows(spec=spec, slug=slug, students=args.students)
        meta["db_setup_s"] = round(time.monotonic() - began, 1)
        say(f"making {args.students} namespaces with the task's solution, as cluster-admin")
        _namespaces_make(
            admin, meta, spec=spec, slug=slug, enrollments=enrollments, namespaces=namespaces, timeout=timeout
        )
        for setting in args.workers:
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
                    log_dir=report.logs(),
                    timeout=timeout,
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
    finally:
        try:
            meta["cleanup_s"] = _cleanup(admin, slug)
        finally:
            broker.flushdb()
        summary = _summary(settings_run, baselines, args.students)
        report.add(_table(meta, settings_run, baselines), *_lines(meta, settings_run, baselines, summary))
        if profile:
            report.add(*_profile(profile))
        report.details.update(
            grading=meta, summary=summary, settings=settings_run, baselines=baselines, profile=profile
        )


BENCHMARK = Benchmark(
    name="grading",
    doc=__doc__,
    measure=measure,
    options=options,
    quick={
        "students": 3,
        "workers": "prefork:2",
        "burst": 3,
        "burst_threads": 3,
        "baseline_students": 2,
        "parallel": 2,
        "profile": 3,
    },
)
