"""Fill benchmark: the largest cohort the local cluster admits, every namespace at its
object caps, and students writing as fast as they can: does etcd stay well inside its
quota, what do the other students' requests feel, and does provisioning still work?

1. capacity: the cohort's size is what the platform's own capacity check admits
   (labplatform/cluster/capacity.py: the student nodes' allocatable pods, less what other
   cohorts' quotas claim, over the standard preset's pods), unless --students says;
2. fill: each student's namespace as provisioning makes it (without a workstation), then,
   as the student (their ServiceAccount's token), every kind they may create up to their
   quota (ConfigMaps, Secrets, Pods, Services, Deployments), each at the size caps
   (--data-kib of ConfigMap/Secret data, --annotation-kib of annotations);
3. baseline: --probe-students other students each read their quota object in a loop
   (a GET served by etcd), --baseline-seconds;
4. writes: --writers students rewrite their ConfigMaps with new data (each write a whole
   new version in etcd), --writer-concurrency requests at once each, for --write-seconds,
   while the probes go on; etcd's status is read throughout;
5. after: the history the writes left is compacted (what the API server does every 5
   minutes; --no-compact leaves it, as the quick run does on a shared cluster) and etcd
   defragmented (what k8s/local/etcd-maintenance.sh does): the file against the quota
   must be under 50 %;
6. provisioning: one new student's environment, provisioned by the worker's own code
   (steps.environment_provision_run), workstation Ready on the real node included.

The full run fills every pod slot and writes gigabytes: run it on a cluster of its own,
LABPLATFORM_CLUSTER_STATE=~/.local/state/lp-fill k8s/local/cluster.sh up and the same
variable for the benchmark; it refuses the default cluster unless --quick. Its stores:
PostgreSQL labplatform_bench_fill and Redis database 12 (BENCH_FILL_REDIS_URL). Its
namespaces and rows are removed at the end, or with --cleanup-only.
"""

import time
from concurrent.futures import ThreadPoolExecutor

from bench.cli import Benchmark, at_least_one, say
from bench.fill import students as fill_students
from bench.fill.etcd import MIB, Etcd, Watch
from bench.fill.objects import Caps
from bench.kube import ADMIN_KUBECONFIG, DEFAULT_STATE, STATE, Kube
from bench.report import Column, Report, Table, summary
from bench.stores import CLUSTER_OVERRIDES, django_start

REDIS = "redis://127.0.0.1:6379/12"
LIMIT_SHARE = 0.5  # etcd's file after defragmentation must be under this share of its quota


def options(parser) -> None:
    parser.add_argument("--students", type=int, default=0, help="students (0: as many as the cluster admits)")
    parser.add_argument("--writers", type=at_least_one, default=5, help="students writing (5)")
    parser.add_argument("--writer-concurrency", type=at_least_one, default=4, help="requests at once per writer (4)")
    parser.add_argument("--write-seconds", type=float, default=900, help="how long they write (900)")
    parser.add_argument("--probe-students", type=at_least_one, default=5, help="students whose requests are timed (5)")
    parser.add_argument("--baseline-seconds", type=float, default=60, help="probes before the writes (60)")
    parser.add_argument("--data-kib", type=at_least_one, default=64, help="ConfigMap/Secret data cap, KiB (64)")
    parser.add_argument("--annotation-kib", type=at_least_one, default=192, help="annotations cap, KiB (192)")
    parser.add_argument("--no-compact", dest="compact", action="store_false", help="defragment without compacting")
    parser.add_argument("--cleanup-only", action="store_true", help="remove what an earlier run left, and stop")


def _stores() -> None:
    import os

    redis = os.environ.get("BENCH_FILL_REDIS_URL", REDIS)
    # The platform's settings take the cluster from LABPLATFORM_CLUSTER_STATE (kept).
    django_start(database="labplatform_bench_fill", redis=redis, settings={}, drop=CLUSTER_OVERRIDES)


def _etcd_table(rows: list[tuple[str, dict]]) -> Table:
    table = Table(
        "etcd's database (the quota counts the file)",
        [
            Column("file_mib", "file MiB"),
            Column("in_use_mib", "in use MiB"),
            Column("quota_mib", "quota MiB", 0),
            Column("quota_pct", "% of quota", 2),
        ],
    )
    for label, values in rows:
        table.add(label, **values, quota_pct=round(100 * values["file_mib"] / values["quota_mib"], 2))
    return table


def _latency_table(baseline: list[float], during: list[float], probes: int) -> Table:
    table = Table(
        f"other students' requests ({probes} students, GET of their quota, one at a time each)",
        [Column("ms", "ms", 2), Column("count", "requests", 0)],
        ratio_of="ms",
    )
    before, under = summary(baseline), summary(during)
    # A baseline row's ratio is to itself (1.00x), so every row has one.
    table.add("baseline p50 ms", baseline="baseline p50 ms", ms=before.get("p50_ms"), count=before["count"])
    table.add("during writes p50 ms", baseline="baseline p50 ms", ms=under.get("p50_ms"), count=under["count"])
    table.add("baseline p99 ms", baseline="baseline p99 ms", ms=before.get("p99_ms"), count=before["count"])
    table.add("during writes p99 ms", baseline="baseline p99 ms", ms=under.get("p99_ms"), count=under["count"])
    return table


def _writes_table(writes: dict, seconds: float) -> Table:
    table = Table(
        f"writes ({writes['writers']} students x {writes['concurrency']} at once, {seconds:.0f} s)",
        [Column("per_s", "writes/s"), Column("mib_s", "MiB/s", 2), Column("refused", "refused", 0)],
    )
    done = writes["latencies"]
    table.add(
        "ConfigMap rewrites",
        per_s=len(done) / seconds if seconds else None,
        mib_s=writes["bytes"] / MIB / seconds if seconds else None,
        refused=sum(count for status, count in writes["statuses"].items() if status != 200),
    )
    return table


def _after(etcd: Etcd, compact: bool) -> tuple[dict, dict]:
    status = etcd.status()
    if compact:
        say(f"compacting etcd's history to revision {status.revision}")
        etcd.compact(status.revision)
    say("defragmenting etcd")
    started = time.monotonic()
    etcd.defragment()
    took = time.monotonic() - started
    after = etcd.status()
    return after.row(), {"defragment_seconds": round(took, 2), "revision": after.revision, "alarms": etcd.alarms()}


def _phase_fill(args, run: fill_students.Run, etcd: Etcd, report: Report) -> dict:
    before = etcd.status()
    started = time.monotonic()
    made = run.fill()
    run.wait_pods_running()
    seconds = time.monotonic() - started
    filled = etcd.status()
    per_namespace = (filled.in_use - before.in_use) / max(1, len(run.students))
    report.add(
        f"Filled {len(run.students)} namespaces in {seconds:.0f} s: {made} objects at the caps "
        f"(data {args.data_kib} KiB, annotations {args.annotation_kib} KiB); etcd holds "
        f"{per_namespace / MIB:.1f} MiB more per namespace (in use, before and after)."
    )
    return {
        "before": before.row(),
        "filled": filled.row(),
        "per_namespace_bytes": int(per_namespace),
        "seconds": seconds,
    }


def _phase_writes(args, run: fill_students.Run, etcd: Etcd) -> dict:
    say(f"baseline: {len(run.probes)} students' requests for {args.baseline_seconds:g} s")
    baseline = run.probe_for(args.baseline_seconds)
    watch = Watch(etcd, every=min(5.0, max(0.5, args.write_seconds / 20)))
    watch.start()
    say(f"{len(run.writers)} writers for {args.write_seconds:g} s")
    with ThreadPoolExecutor(max_workers=1) as pool:
        probing = pool.submit(run.probe_for, args.write_seconds)
        writes = run.write_for(args.write_seconds, concurrency=args.writer_concurrency)
        during = probing.result()
    watch.stop()
    peak = watch.peak()
    return {
        "baseline": baseline,
        "during": during,
        "writes": writes,
        "peak": peak.row() if peak else None,
        "watch": [(round(t, 1), s.row()) for t, s in watch.seen],
        "watch_failures": watch.failures[:20],
    }


def _verdict(after: dict) -> str:
    share = after["file_mib"] / after["quota_mib"]
    verdict = "PASS" if share < LIMIT_SHARE else "FAIL"
    return (
        f"etcd after defragmentation: {after['file_mib']:.1f} MiB, {share:.1%} of its quota "
        f"({after['quota_mib']:.0f} MiB; must be under {LIMIT_SHARE:.0%}): {verdict}"
    )


def measure(args, report: Report) -> None:
    if not args.quick and not args.cleanup_only and STATE == DEFAULT_STATE:
        raise SystemExit(
            "the full fill benchmark fills every pod slot and writes gigabytes into etcd: run it on a cluster of "
            "its own (LABPLATFORM_CLUSTER_STATE=~/.local/state/lp-fill k8s/local/cluster.sh up, and the same "
            "variable here), or --quick"
        )
    _stores()
    admin = Kube(ADMIN_KUBECONFIG)
    fill_students.cleanup(admin)
    if args.cleanup_only:
        return
    etcd = Etcd()
    caps = Caps(data_bytes=args.data_kib * 1024, annotation_bytes=args.annotation_kib * 1024)
    run = fill_students.Run.admitted(
        admin, caps=caps, students=args.students, writers=args.writers, probes=args.probe_students
    )
    report.add(run.capacity_words)
    try:
        say(f"{len(run.students)} students' namespaces")
        run.namespaces()
        fill = _phase_fill(args, run, etcd, report)
        writes = _phase_writes(args, run, etcd)
        after, defragmented = _after(etcd, args.compact)
        say("a new student's environment")
        provisioning = fill_students.provision_one(run)
    finally:
        fill_students.cleanup(admin)
    rows = [("before the fill", fill["before"]), ("filled", fill["filled"])]
    if writes["peak"]:
        rows.append(("largest during writes", writes["peak"]))
    rows.append((f"after {'compaction and ' if args.compact else ''}defragmentation", after))
    report.add(
        _etcd_table(rows),
        _latency_table(writes["baseline"], writes["during"], len(run.probes)),
        _writes_table(writes["writes"], args.write_seconds),
        _verdict(after),
        provisioning["words"],
    )
    report.details.update(
        fill=fill,
        writes={k: v for k, v in writes.items() if k not in ("baseline", "during", "writes")},
        writer_requests={
            **{k: v for k, v in writes["writes"].items() if k != "latencies"},
            "latency": summary(writes["writes"]["latencies"]),
        },
        latency={"baseline": summary(writes["baseline"]), "during": summary(writes["during"])},
        after=after,
        defragmented=defragmented,
        provisioning=provisioning,
        state=str(STATE),
    )


BENCHMARK = Benchmark(
    name="fill",
    doc=__doc__,
    measure=measure,
    options=options,
    quick={
        "students": 2,
        "writers": 1,
        "writer_concurrency": 2,
        "write_seconds": 3,
        "probe_students": 1,
        "baseline_seconds": 2,
        "data_kib": 4,
        "annotation_kib": 8,
        "compact": False,
    },
)
