"""Provisioning benchmark: how fast labplatform gives N students their environment, against
the kubectl loop an admin would write and a bare concurrent client, on the local cluster.
Every student's workstation pod starts on the cluster's real node, which holds about 40
(by CPU requests); N is capped at what it has room for.

    .venv/bin/python -m bench.provision.run [--students N] [--full]

Phases, in one run, each with its own cohort label and student ids, each waiting until its
namespaces are really gone before the next starts:
  1. platform  cohort_provision() with real Celery workers (one phase per --workers setting),
               timed until every StudentEnvironment is `ready` (workstation pod Ready)
  2. kubectl   `kubectl apply --server-side -f student.yaml` once per student, sequentially
  3. bare      aiohttp, --inflight requests in flight, server-side apply of the same objects
The table is printed and written, with every detail, to bench/results/provision-<time>.json.
See bench/README.md.
"""

import argparse
import fcntl
import json
import os
import platform as host_platform
import sys
import time

from bench.common import database_ensure
from bench.provision import config

DEFAULT_STUDENTS = 30
DEFAULT_WORKERS = "prefork:2,prefork:8,threads:16x2"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.provision.run", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--students",
        "-n",
        type=int,
        default=DEFAULT_STUDENTS,
        help=f"students per phase ({DEFAULT_STUDENTS}; at most the workstations the node has room for)",
    )
    parser.add_argument(
        "--full", action="store_true", help="as many students per phase as the node has room for (about 40)"
    )
    parser.add_argument(
        "--workers",
        default=DEFAULT_WORKERS,
        help="Celery worker settings to try, comma-separated POOL:CONCURRENCY[xPROCESSES] "
        f"(default {DEFAULT_WORKERS}); the fastest is compared with the baselines",
    )
    parser.add_argument(
        "--phases", default="platform,kubectl,bare", help="which phases to run (default: all three, in this order)"
    )
    parser.add_argument(
        "--experiment",
        default="",
        metavar="NAMES",
        help="platform runs try changes the report recommends (db-reuse, no-progress-push; see worker_app.py); "
        "labelled as experiments, never the platform's figure",
    )
    parser.add_argument("--inflight", type=int, default=48, help="requests in flight for the bare client (48)")
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
    parser.add_argument("--cleanup-only", action="store_true", help="remove what an aborted run left, then stop")
    args = parser.parse_args(argv)
    if args.students < 1:
        parser.error("--students must be at least 1")
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(args.phases) - {"platform", "kubectl", "bare"}
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}")
    return args


def _capacity(admin, node_pool: str) -> dict:
    """The workstation node's room (bench/realnode.py) and the cluster's version."""
    from bench import realnode

    found = realnode.workstation_capacity(lambda path, query=None: admin.json("GET", path, query), node_pool=node_pool)
    found["kube_version"] = admin.json("GET", "/version")["gitVersion"]
    return found


def _fit_node(args: argparse.Namespace, node: dict) -> None:
    """Caps the students at the workstations the node has room for now (each phase's are
    gone before the next starts); records what was asked."""
    node["students_asked"] = "all it has room for" if args.full else args.students
    if args.full or args.students > node["free"]:
        from bench.provision import phases

        if not args.full:
            phases.say(
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
    from bench.provision import phases
    from bench.provision.kube import leftover_cohorts
    from labplatform.cohorts.models import Cohort

    cohorts = leftover_cohorts(admin, config.COHORT_PREFIX, workstation_namespace)
    cohorts |= set(Cohort.objects.filter(slug__startswith=config.COHORT_PREFIX).values_list("slug", flat=True))
    for cohort in sorted(cohorts):
        phases.say(f"removing what an earlier run left: {cohort}")
        phases.cleanup(admin, cohort, workstation_namespace)
        phases.remove_cohort_rows(cohort)


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


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
    over_kubectl = _ratio(platform_rate, kubectl_rate)
    bare_over = _ratio(bare_rate, platform_rate)
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
        "platform_pod_start_over_bare": _ratio(_pod_start_p50(best), _pod_start_p50(bare)),
        "platform_over_kubectl": over_kubectl,
        "bare_over_platform": bare_over,
        "goal": ">= 10x the kubectl loop and within 1.5x of the bare client (complete runs only)",
        "goal_10x_kubectl_met": over_kubectl is not None and over_kubectl >= 10,
        "goal_within_1_5x_bare_met": bare_over is not None and bare_over <= 1.5,
    }


def _pod_start_lines(results: list[dict]) -> list[str]:
    """Each phase's workstation pods starting on the node (created -> Ready, as the watch
    saw it), and its ratio to the bare client's pods of the same run."""
    bare = next((r for r in results if r["phase"] == "bare"), None)
    base = (bare or {}).get("pod_start", {}).get("created_to_ready", {}).get("p50_ms")
    lines = ["workstation pod start on the node, created -> Ready as one watch saw it (p50 / p95 ms; steps' p50):"]
    for r in results:
        start = r.get("pod_start") or {}
        total = start.get("created_to_ready") or {}
        if not total.get("count"):
            continue
        name = f"{r['phase']} {r.get('tag', '')}".strip()
        versus = f"; {_ratio(total['p50_ms'], base):.2f}x the bare client's p50" if base and r is not bare else ""
        lines.append(
            f"  {name:<20} {total['p50_ms']:.0f} / {total['p95_ms']:.0f} (scheduled "
            f"{start['to_scheduled'].get('p50_ms', 0):.0f}, container running "
            f"{start['to_running'].get('p50_ms', 0):.0f}, Ready reported "
            f"{start['to_ready'].get('p50_ms', 0):.0f}){versus}"
        )
    return lines if len(lines) > 1 else []


def _table(results: list[dict], summary: dict, node: dict | None = None) -> str:
    def cell(value, digits=2) -> str:
        if value is None:
            return "-"
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    def students_per_s(r: dict) -> str:
        if r.get("students_per_s") is None and r.get("ready_per_s"):
            return f"({r['ready_per_s']:.2f})"  # only some became ready
        return cell(r.get("students_per_s"))

    def failed(r: dict) -> str:
        retried = r.get("failed_then_retried")
        return f"{r.get('failed', 0)} ({retried} retried)" if retried else str(r.get("failed", 0))

    header = (
        f"{'phase':<9} {'setting':<36} {'N':>5} {'all ready s':>11} {'students/s':>10} "
        f"{'first ready s':>13} {'failed':>16}"
    )
    lines = []
    if node:
        asked = node.get("students_asked")
        capped = f"; {asked} asked" if asked != node.get("students") else ""
        lines.append(
            f"{node.get('students')} students per phase (the node holds {node['holds']} workstations by the "
            f"scheduler's count, {node['free']} free at the start{capped})"
        )
    lines += [header, "-" * len(header)]
    for r in results:
        setting = r.get("setting") or (
            f"{r['inflight']} requests in flight" if r["phase"] == "bare" else "1 kubectl apply per student"
        )
        lines.append(
            f"{r['phase']:<9} {setting[:36]:<36} {r.get('students', 0):>5} {cell(r.get('all_ready_s'), 1):>11} "
            f"{students_per_s(r):>10} {cell(r.get('first_ready_s'), 2):>13} {failed(r):>16}"
        )
    lines.append("")
    if summary["experiment"]:
        lines.append(f"EXPERIMENT {summary['experiment']}: platform runs are NOT the platform as it is")
    lines.append(
        f"best platform setting (no failures): {summary['best_platform_setting']}; "
        f"platform/kubectl = {cell(summary['platform_over_kubectl'])}x (goal >= 10x: "
        f"{'met' if summary['goal_10x_kubectl_met'] else 'NOT met'}); "
        f"bare/platform = {cell(summary['bare_over_platform'])}x (goal <= 1.5x: "
        f"{'met' if summary['goal_within_1_5x_bare_met'] else 'NOT met'})"
    )
    for r in results:
        trace = r.get("trace")
        if trace and trace.get("tasks"):
            shares = ", ".join(f"{k} {v}%" for k, v in trace["slot_time_share_pct"].items())
            lines.append(
                f"platform [{r['setting']}] worker-slot time ({trace['tasks']} tasks, mean "
                f"{trace['task_duration']['mean_ms']:.0f} ms each): {shares}"
            )
    lines += _pod_start_lines(results)
    versions = {r["code"]["labplatform_py_sha256"] for r in results if r.get("code")}
    if len(versions) > 1:
        lines.append(f"WARNING: labplatform's code changed during the run ({len(versions)} versions; see 'code')")
    noisy = []
    for r in results:
        used = r.get("cpu_seconds") or {}
        others = used.get("not benchmark or cluster", 0.0)
        share = 100 * others / ((os.cpu_count() or 1) * used["wall seconds"]) if used.get("wall seconds") else 0.0
        r["others_cpu_share_pct"] = round(share, 1)
        if share >= 5:
            noisy.append(f"{r['phase']} {r.get('tag', '')}".strip() + f" ({share:.0f}%)")
    if noisy:
        lines.append(
            "WARNING: other processes on this machine (not the benchmark, not the cluster) used CPU during: "
            + ", ".join(noisy)
            + "; those figures are pessimistic. The API server may have served them too."
        )
    lines.append("CPU ms per student, idle background subtracted (machine busy = everything on the machine):")
    for r in results:
        per_student = r.get("cpu_ms_per_student")
        if per_student:
            name = f"{r['phase']} {r.get('tag', '')}".strip()
            lines.append(f"  {name:<20} " + ", ".join(f"{k} {v}" for k, v in per_student.items()))
    if any(r.get("failed_then_retried") for r in results):
        lines.append(
            "(n retried): n environments failed on the first pass (see failed_examples in the JSON) and the cohort "
            "was provisioned again for them, as an admin would; the time includes that"
        )
    if any(r.get("students_per_s") is None and r.get("ready_per_s") for r in results):
        lines.append(
            "(x.xx): students/s of those that became ready; the others failed (see failed_examples in the JSON)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    config.RESULTS.mkdir(parents=True, exist_ok=True)
    # One run at a time: a run removes whatever an earlier one left, by cohort prefix.
    lock = (config.RESULTS / ".provision.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("another provisioning benchmark is running; wait for it to finish", file=sys.stderr)
        return 3
    env = config.configure()
    if args.experiment:
        env["BENCH_EXPERIMENTS"] = args.experiment
    database_ensure(env, maintenance_url=config.MAINTENANCE_DATABASE_URL, name=config.DATABASE_NAME)

    import django

    django.setup()
    config.workstations_on_the_node()

    import redis
    from django.conf import settings

    from bench.provision import cpu, phases
    from bench.provision.kube import Kube

    admin = Kube(config.ADMIN_KUBECONFIG)
    workstation_namespace = settings.WORKSTATION_NAMESPACE
    _leftovers(admin, workstation_namespace)
    if args.cleanup_only:
        return 0
    redis.Redis.from_url(config.REDIS_URL).flushdb()  # the benchmark's own database (5): stale tasks
    cluster = _capacity(admin, settings.WORKSTATION_NODE_POOL)
    _fit_node(args, cluster)
    phases.say("measuring the idle machine's background CPU for 10s")
    idle = cpu.idle_rates(10.0)
    settings_to_try = [phases.WorkerSetting.parse(s) for s in args.workers.split(",") if s.strip()]
    profile_tags = {t.strip() for t in args.profile.split(",") if t.strip()}
    profiler = config.py_spy() if profile_tags else None
    if profile_tags and not profiler:
        phases.say("py-spy not found (see bench/README.md); profiling skipped")
    run_id = time.strftime("%m%d%H%M%S")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    keep_dir = config.RESULTS / f"provision-{stamp}"
    keep_dir.mkdir()
    results: list[dict] = []
    meta = {
        "command": " ".join(["python -m bench.provision.run", *(argv if argv is not None else sys.argv[1:])]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "students": args.students,
        "machine": {"cpus": os.cpu_count(), "python": host_platform.python_version()},
        "cluster": cluster,
        "workstation_image": settings.WORKSTATION_IMAGE,
        "workstation_node_pool": settings.WORKSTATION_NODE_POOL,
        "database": config.DATABASE_URL.replace("labplatform:labplatform@", "labplatform:***@"),
        "redis": config.REDIS_URL,
        "idle_cpu_per_second": idle,
        "code": config.code_identity(),
        "experiments": args.experiment or None,
    }
    try:
        if "platform" in args.phases:
            for setting in settings_to_try:
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
        table = _table(results, summary, cluster)
        output = config.RESULTS / f"provision-{stamp}.json"
        output.write_text(
            json.dumps({"meta": meta, "summary": summary, "table": table, "phases": results}, indent=2, default=str)
        )
        print()
        print(table)
        print(
            f"\nresults: {output.relative_to(config.REPO)} (traces and profiles in {keep_dir.relative_to(config.REPO)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
