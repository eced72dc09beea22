"""Provisioning benchmark: how fast labplatform gives N students their environment, against
the kubectl loop an admin would write and a bare concurrent client, on the local cluster.
Every student's workstation pod starts on the cluster's real node; N is capped at what it
has room for.

Phases, in one run, each with its own cohort label and student ids, each waiting until its
namespaces are really gone before the next starts:
  1. platform  cohort_provision() with real Celery workers (one phase per --workers setting),
               timed until every StudentEnvironment is `ready` (workstation pod Ready)
  2. kubectl   `kubectl apply --server-side -f student.yaml` once per student, sequentially
  3. bare      aiohttp, --inflight requests in flight, server-side apply of the same objects
Worker traces and py-spy profiles go to bench/results/provision-<time>/. See bench/README.md.
"""

import argparse
import os
import time

import redis

from bench import cpu, realnode, stores
from bench.cli import Benchmark, at_least_one, say
from bench.kube import ADMIN_KUBECONFIG, Kube
from bench.provision import config
from bench.report import Column, Report, Table, cell, ratio
from bench.workers import settings_parse

DEFAULT_WORKERS = "prefork:2,prefork:8,threads:16x2"
PHASES = ("platform", "kubectl", "bare")


def _phases(text: str) -> list[str]:
    phases = [p.strip() for p in text.split(",") if p.strip()]
    if set(phases) - set(PHASES):
        raise argparse.ArgumentTypeError(f"unknown phases {sorted(set(phases) - set(PHASES))}")
    return phases


def options(parser) -> None:
    parser.add_argument(
        "--students",
        "-n",
        type=at_least_one,
        default=30,
        help="students per phase (30; at most the workstations the node has room for)",
    )
    parser.add_argument(
        "--full", action="store_true", help="as many students per phase as the node has room for (about 100)"
    )
    parser.add_argument(
        "--workers",
        type=settings_parse,
        default=DEFAULT_WORKERS,
        help="Celery worker settings to try, comma-separated POOL:CONCURRENCY[xPROCESSES] "
        f"(default {DEFAULT_WORKERS}); the fastest is compared with the baselines",
    )
    parser.add_argument(
        "--phases", type=_phases, default="platform,kubectl,bare", help="which phases to run (all three, in this order)"
    )
    parser.add_argument(
        "--experiment",
        default="",
        metavar="NAMES",
        help="platform runs try changes the report recommends (db-reuse, no-progress-push; see worker_app.py); "
        "labelled as experiments, never the platform's figure",
    )
    parser.add_argument("--inflight", type=at_least_one, default=48, help="requests in flight for the bare client (48)")
    parser.add_argument(
        "--profile",
        default="",
        metavar="TAGS",
        help="run py-spy on the workers of these platform settings, by tag (e.g. prefork16,threads32x2) "
        "or 'all'; it costs CPU, so profile in a run of its own (default: none)",
    )
    parser.add_argument("--py-spy-rate", type=int, default=50, help="py-spy samples per second (50)")
    parser.add_argument(
        "--no-retry",
        action="store_true",
        help="do not provision the cohort a second time for environments that failed (as an admin would)",
    )
    parser.add_argument("--no-trace", action="store_true", help="run workers as plain `celery -A labplatform`")
    parser.add_argument("--timeout", type=float, help="seconds to wait for a phase (default 120 + 2 per student)")
    parser.add_argument(
        "--idle-seconds", type=float, default=10, help="seconds the idle machine's background CPU is measured (10)"
    )
    parser.add_argument("--cleanup-only", action="store_true", help="remove what an aborted run left, then stop")


def _capacity(admin, node_pool: str) -> dict:
    """The workstation node's room (bench/realnode.py) and the cluster's version."""
    found = realnode.workstation_capacity(lambda path, query=None: admin.json("GET", path, query), node_pool=node_pool)
    found["kube_version"] = admin.json("GET", "/version")["gitVersion"]
    return found


def _fit_node(args, node: dict) -> None:
    """Caps the students at the workstations the node has room for now (each phase's are
    gone before the next starts); records what was asked."""
    node["students_asked"] = "all it has room for" if args.full else args.students
    if args.full or args.students > node["free"]:
        if not args.full:
            say(
                f"the node holds {node['holds']} workstations, {node['free']} free now: "
                f"{node['free']} students per phase, not {args.students}"
            )
        args.students = node["free"]
    if args.students < 1:
        raise SystemExit(f"the node has no room for a workstation now ({node})")
    node["students"] = args.students
    if args.timeout is None:
        args.timeout = 120 + 2 * args.students


def _leftovers(admin, workstation_namespace: str) -> None:
    from bench.provision.pods import cleanup, leftover_cohorts
    from labplatform.cohorts.models import Cohort

    cohorts = leftover_cohorts(admin, config.COHORT_PREFIX, workstation_namespace)
    cohorts |= set(Cohort.objects.filter(slug__startswith=config.COHORT_PREFIX).values_list("slug", flat=True))
    for cohort in sorted(cohorts):
        say(f"removing what an earlier run left: {cohort}")
        cleanup(admin, cohort, workstation_namespace)
        stores.cohort_rows_remove(cohort)


def _pod_start_p50(result: dict | None) -> float | None:
    return ((result or {}).get("pod_start") or {}).get("created_to_ready", {}).get("p50_ms")


def _summary(results: list[dict], students: int, experiment: str) -> dict:
    platform_runs = [r for r in results if r["phase"] == "platform"]
    complete = [r for r in platform_runs if r.get("students_per_s")]
    best = max(complete, key=lambda r: r["students_per_s"], default=None)
    partial = max(platform_runs, key=lambda r: r.get("ready_per_s") or 0, default=None)
    kubectl = next((r for r in results if r["phase"] == "kubectl"), None)
    bare = next((r for r in results if r["phase"] == "bare"), None)
    platform_rate = best["students_per_s"] if best else None
    kubectl_rate = kubectl.get("students_per_s") if kubectl else None
    bare_rate = bare.get("students_per_s") if bare else None
    over_kubectl = ratio(platform_rate, kubectl_rate)
    bare_over = ratio(bare_rate, platform_rate)
    return {
        "students": students,
        "experiment": experiment or None,
        "best_platform_setting": best["setting"] if best else None,
        "platform_students_per_s": platform_rate,
        "platform_all_ready_s": best["all_ready_s"] if best else None,
        "platform_first_ready_s": best["first_ready_s"] if best else None,
        "fastest_platform_setting_incl_failed_runs": (
            {"setting": partial["setting"], "ready_per_s": partial.get("ready_per_s"), "failed": partial.get("failed")}
            if partial
            else None
        ),
        "kubectl_students_per_s": kubectl_rate,
        "kubectl_all_ready_s": kubectl.get("all_ready_s") if kubectl else None,
        "bare_students_per_s": bare_rate,
        "bare_all_ready_s": bare.get("all_ready_s") if bare else None,
        "platform_pod_start_p50_ms": _pod_start_p50(best),
        "bare_pod_start_p50_ms": _pod_start_p50(bare),
        "platform_pod_start_over_bare": ratio(_pod_start_p50(best), _pod_start_p50(bare)),
        "platform_over_kubectl": over_kubectl,
        "bare_over_platform": bare_over,
        "goal": ">= 10x the kubectl loop and within 1.5x of the bare client (complete runs only)",
        "goal_10x_kubectl_met": over_kubectl is not None and over_kubectl >= 10,
        "goal_within_1_5x_bare_met": bare_over is not None and bare_over <= 1.5,
    }


def _name(r: dict) -> str:
    return f"{r['phase']} {r.get('tag', '')}".strip()


def _pod_start(results: list[dict]) -> Table:
    """Each phase's workstation pods starting on the node (created -> Ready, as the watch
    saw it), and its ratio to the bare client's pods of the same run."""
    table = Table(
        "workstation pod start on the node, created -> Ready as one watch saw it (ms; steps' p50)",
        [Column(key, key.replace("_", " "), 0) for key in ("p50", "p95", "scheduled", "container_running", "ready")],
        ratio_of="p50",
        baseline="bare",
    )
    for r in results:
        start = r.get("pod_start") or {}
        total = start.get("created_to_ready") or {}
        if total.get("count"):
            table.add(
                _name(r),
                p50=total["p50_ms"],
                p95=total["p95_ms"],
                scheduled=start["to_scheduled"].get("p50_ms"),
                container_running=start["to_running"].get("p50_ms"),
                ready=start["to_ready"].get("p50_ms"),
            )
    return table


def _phases_table(results: list[dict]) -> Table:
    def students_per_s(r: dict):
        if r.get("students_per_s") is None and r.get("ready_per_s"):
            return f"({r['ready_per_s']:.2f})"  # only some became ready
        return r.get("students_per_s")

    def failed(r: dict) -> str:
        retried = r.get("failed_then_retried")
        return f"{r.get('failed', 0)} ({retried} retried)" if retried else str(r.get("failed", 0))

    table = Table(
        "students provisioned, each phase timed until every workstation pod is Ready",
        [
            Column("setting", "setting"),
            Column("students", "N"),
            Column("all_ready_s", "all ready s"),
            Column("students_per_s", "students/s", 2),
            Column("first_ready_s", "first ready s", 2),
            Column("failed", "failed"),
        ],
        ratio_of="students_per_s",
        baseline="kubectl",
    )
    for r in results:
        setting = r.get("setting") or (
            f"{r['inflight']} requests in flight" if r["phase"] == "bare" else "1 kubectl apply per student"
        )
        table.add(
            _name(r),
            setting=setting,
            students=r.get("students", 0),
            all_ready_s=r.get("all_ready_s"),
            students_per_s=students_per_s(r),
            first_ready_s=r.get("first_ready_s"),
            failed=failed(r),
        )
    return table


def _lines(results: list[dict], summary: dict) -> list[str]:
    lines = []
    if summary["experiment"]:
        lines.append(f"EXPERIMENT {summary['experiment']}: platform runs are NOT the platform as it is")
    lines.append(
        f"best platform setting (no failures): {summary['best_platform_setting']}; "
        f"platform/kubectl = {cell(summary['platform_over_kubectl'], 2)}x (goal >= 10x: "
        f"{'met' if summary['goal_10x_kubectl_met'] else 'NOT met'}); "
        f"bare/platform = {cell(summary['bare_over_platform'], 2)}x (goal <= 1.5x: "
        f"{'met' if summary['goal_within_1_5x_bare_met'] else 'NOT met'})"
    )
    lines += _trace_lines(results)
    versions = {r["code"]["labplatform_py_sha256"] for r in results if r.get("code")}
    if len(versions) > 1:
        lines.append(f"WARNING: labplatform's code changed during the run ({len(versions)} versions; see 'code')")
    lines += _noisy_lines(results)
    lines.append("CPU ms per student, idle background subtracted (machine busy = everything on the machine):")
    for r in results:
        per_student = r.get("cpu_ms_per_student")
        if per_student:
            lines.append(f"  {_name(r):<20} " + ", ".join(f"{k} {v}" for k, v in per_student.items()))
    lines += _footnotes(results)
    return lines


def _trace_lines(results: list[dict]) -> list[str]:
    """Where the platform's worker slots spent their time, and any trace hook never passed."""
    lines = []
    for r in results:
        trace = r.get("trace")
        if trace and trace.get("tasks"):
            shares = ", ".join(f"{k} {v}%" for k, v in trace["slot_time_share_pct"].items())
            lines.append(
                f"platform [{r['setting']}] worker-slot time ({trace['tasks']} tasks, mean "
                f"{trace['task_duration']['mean_ms']:.0f} ms each): {shares}"
            )
        if trace and trace.get("steps_not_seen"):
            lines.append(
                f"WARNING: platform [{r['setting']}]: the workers never passed these trace hooks "
                f"(labplatform/tracing.py), so their share is missing: {', '.join(trace['steps_not_seen'])}"
            )
    return lines


def _noisy_lines(results: list[dict]) -> list[str]:
    """A warning naming the phases during which other processes used CPU; records each
    phase's share of it in the phase (others_cpu_share_pct)."""
    noisy = []
    for r in results:
        used = r.get("cpu_seconds") or {}
        others = used.get("not benchmark or cluster", 0.0)
        share = 100 * others / ((os.cpu_count() or 1) * used["wall seconds"]) if used.get("wall seconds") else 0.0
        r["others_cpu_share_pct"] = round(share, 1)
        if share >= 5:
            noisy.append(f"{_name(r)} ({share:.0f}%)")
    if not noisy:
        return []
    return [
        "WARNING: other processes on this machine (not the benchmark, not the cluster) used CPU during: "
        + ", ".join(noisy)
        + "; those figures are pessimistic. The API server may have served them too."
    ]


def _footnotes(results: list[dict]) -> list[str]:
    """What the table's (n retried) and (x.xx) mean, when it shows them."""
    lines = []
    if any(r.get("failed_then_retried") for r in results):
        lines.append(
            "(n retried): n environments failed on the first pass (see failed_examples in the JSON) and the cohort "
            "was provisioned again for them, as an admin would; the time includes that"
        )
    if any(r.get("students_per_s") is None and r.get("ready_per_s") for r in results):
        lines.append(
            "(x.xx): students/s of those that became ready; the others failed (see failed_examples in the JSON)"
        )
    return lines


def measure(args, report: Report) -> None:
    env = config.django_start()
    if args.experiment:
        env["BENCH_EXPERIMENTS"] = args.experiment
    realnode.workstations_on_the_node()

    from django.conf import settings

    from bench.provision import phases

    admin = Kube(ADMIN_KUBECONFIG)
    workstation_namespace = settings.WORKSTATION_NAMESPACE
    _leftovers(admin, workstation_namespace)
    if args.cleanup_only:
        return
    redis.Redis.from_url(config.REDIS_URL).flushdb()  # the benchmark's own database (5): stale tasks
    cluster = _capacity(admin, settings.WORKSTATION_NODE_POOL)
    _fit_node(args, cluster)
    say(f"measuring the idle machine's background CPU for {args.idle_seconds:g}s")
    idle = cpu.idle_rates(args.idle_seconds)
    profile_tags = {t.strip() for t in args.profile.split(",") if t.strip()}
    profiler = config.py_spy() if profile_tags else None
    if profile_tags and not profiler:
        say("py-spy not found (see bench/README.md); profiling skipped")
    run_id = time.strftime("%m%d%H%M%S")
    keep_dir = report.logs()
    results: list[dict] = []
    meta = {
        "students": args.students,
        "cluster": cluster,
        "workstation_image": settings.WORKSTATION_IMAGE,
        "workstation_node_pool": settings.WORKSTATION_NODE_POOL,
        "database": stores.shown(stores.database_url(config.DATABASE_NAME)),
        "redis": config.REDIS_URL,
        "idle_cpu_per_second": idle,
        "experiments": args.experiment or None,
    }
    try:
        if "platform" in args.phases:
            for setting in args.workers:
                profile = profiler if "all" in profile_tags or setting.tag in profile_tags else None
                results.append(
                    phases.run_platform(
                        students=args.students,
                        setting=setting,
                        cohort_slug=f"{config.COHORT_PREFIX}{run_id}-p-{setting.tag}",
                        admin=admin,
                        env=env,
                        timeout=args.timeout,
                        traced=not args.no_trace,
                        py_spy=profile,
                        py_spy_rate=args.py_spy_rate,
                        keep_dir=keep_dir,
                        retry_failed=0 if args.no_retry else 1,
                    )
                )
        if "kubectl" in args.phases:
            results.append(
                phases.run_kubectl(
                    students=args.students,
                    cohort_slug=f"{config.COHORT_PREFIX}{run_id}-kubectl",
                    admin=admin,
                    timeout=args.timeout,
                )
            )
        if "bare" in args.phases:
            results.append(
                phases.run_bare(
                    students=args.students,
                    cohort_slug=f"{config.COHORT_PREFIX}{run_id}-bare",
                    admin=admin,
                    inflight=args.inflight,
                    timeout=args.timeout,
                )
            )
    finally:
        for result in results:
            if "cpu_seconds" in result:
                result["cpu_ms_per_student"] = cpu.per_student_ms(result["cpu_seconds"], idle, students=args.students)
        summary = _summary(results, args.students, args.experiment)
        asked = cluster.get("students_asked")
        capped = f"; {asked} asked" if asked != cluster.get("students") else ""
        report.add(
            f"{cluster.get('students')} students per phase (the node holds {cluster['holds']} workstations by the "
            f"scheduler's count, {cluster['free']} free at the start{capped})",
            _phases_table(results),
            "",
            *_lines(results, summary),
            _pod_start(results),
        )
        report.details.update(provision=meta, summary=summary, phases=results)


BENCHMARK = Benchmark(
    name="provision",
    doc=__doc__,
    measure=measure,
    options=options,
    quick={"students": 2, "workers": "prefork:2", "idle_seconds": 1},
)
