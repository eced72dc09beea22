"""Terminal benchmark: the browser terminal's added latency over the exec stream it
bridges, its behaviour under output floods and a stalled client, and its memory with many
terminals open, against a real daphne process on the local cluster.

Every student's shell runs in their workstation pod on the local cluster's real node
(API server -> node-proxy -> kubelet -> containerd -> runc, `labplatform-workstation
attach`). Run it as root (it reads the pods' cgroups on the node), with the cluster up. In
one run, on one student's shell, alternating between the two paths so that both see the
same machine:
  direct   the bridge's own exec (`workstation_terminal`) opened from this process
  browser  /ws/terminal/ over a real WebSocket to a daphne subprocess (Redis channel layer),
           signed in by a session cookie, acking every output frame as xterm.js does
phases: keystroke echo (one character at the prompt, timed until it comes back), a `yes`
flood (bytes delivered, Ctrl-C until the prompt is back, daphne and redis-server RSS), a
flood with timestamps (how late the screen is), a browser client that stops acking (bytes
beyond the last ack), then --terminals terminals over --students students on a fresh
daphne (daphne's RSS and the workstation pods' working set per terminal beyond none
open, echo p99 while every terminal types, CPU per workstation pod, and one more shell
typed into through both paths: the baseline under that load). The students, one
workstation each, are capped at what the node has room for (by the scheduler's count:
CPU and memory requests, maxPods), and the table says so.

Its own stores: PostgreSQL database `bench_terminal` (created and migrated here) and Redis
database 6 (flushed). Its students are a cohort `bench-term-<time>` provisioned with the
workers' own function and removed afterwards (also what an aborted run left, or with
--cleanup-only). daphne's logs go to bench/results/terminal-<time>/. --experiment runs
daphne with changes the report recommends (experiment_settings.py).
"""

import argparse
import asyncio
import logging

from bench import realnode, stores
from bench.cli import Benchmark, at_least_one, say
from bench.terminal import config

MAX_PER_STUDENT = 50


def _experiments(text: str) -> str:
    unknown = set(filter(None, text.split(","))) - set(config.EXPERIMENTS)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown experiments {sorted(unknown)}")
    return text


def options(parser) -> None:
    parser.add_argument("--keys", type=at_least_one, default=1000, help="keystrokes per path for the echo (1000)")
    parser.add_argument("--rounds", type=at_least_one, default=5, help="alternating rounds the keys are split into (5)")
    parser.add_argument("--key-gap", type=float, default=0.01, help="seconds between keystrokes (0.01)")
    parser.add_argument("--flood-seconds", type=float, default=5.0, help="seconds of each flood (5)")
    parser.add_argument("--stall-seconds", type=float, default=4.0, help="seconds without acks during yes (4)")
    parser.add_argument("--terminals", type=int, default=300, help="terminals open at once on one daphne (300)")
    parser.add_argument(
        "--students",
        type=at_least_one,
        default=30,
        help="students (workstation pods) the terminals are spread over (30; at most what the node has room for, "
        "less the measured student's)",
    )
    parser.add_argument("--open-at-once", type=at_least_one, default=10, help="terminals being opened at a time (10)")
    parser.add_argument(
        "--key-interval", type=float, default=1.0, help="seconds between keys in each terminal under load (1.0)"
    )
    parser.add_argument("--typing-seconds", type=float, default=30.0, help="seconds of typing under load (30)")
    parser.add_argument(
        "--experiment",
        type=_experiments,
        default="",
        metavar="NAMES",
        help=f"run daphne with changes the report recommends: {', '.join(config.EXPERIMENTS)} "
        "(comma-separated; see experiment_settings.py); labelled as experiments",
    )
    parser.add_argument("--cleanup-only", action="store_true", help="remove what an aborted run left, then stop")


def _per_student(args) -> None:
    args.per_student = -(-args.terminals // args.students) if args.terminals else 0
    if args.per_student > MAX_PER_STUDENT:
        raise SystemExit(
            f"more than {MAX_PER_STUDENT} terminals per student: a workstation pod may run 256 processes "
            "(the node's podPidsLimit), each terminal takes a few"
        )


def _fit_node(args, node: dict) -> None:
    """Caps the students at the workstations the node has room for now (one is the measured
    student's), and the terminals at MAX_PER_STUDENT each; records what was asked."""
    room = node["free"] - 1
    if room < 1:
        raise SystemExit(f"the node has room for {node['free']} workstations now; the benchmark needs at least 2")
    node["students_asked"], node["terminals_asked"] = args.students, args.terminals
    if args.terminals and args.students > room:
        say(f"the node holds {node['holds']} workstations, {node['free']} free: {room} students, not {args.students}")
        args.students = room
        args.terminals = min(args.terminals, MAX_PER_STUDENT * room)
    node["students"], node["terminals"] = args.students, args.terminals
    _per_student(args)


def measure(args, report) -> None:
    if args.keys < args.rounds:
        raise SystemExit("--keys must be at least --rounds")
    _per_student(args)
    env = config.django_start()
    daphne_env = dict(env)
    if args.experiment:
        daphne_env["DJANGO_SETTINGS_MODULE"] = "bench.terminal.experiment_settings"
        daphne_env["BENCH_EXPERIMENTS"] = args.experiment
    realnode.workstations_on_the_node()
    # Provisioning threads share the API client's pool of 10; its warnings are noise here.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)

    import redis
    from django.conf import settings

    from bench.kube import ADMIN_KUBECONFIG, Kube
    from bench.terminal import students
    from bench.terminal.measure import measure as phases
    from bench.terminal.report import blocks

    for slug in students.leftover_cohorts():
        say(f"removing what an earlier run left: {slug}")
        students.cohort_remove(slug)
    if args.cleanup_only:
        return
    admin = Kube(ADMIN_KUBECONFIG)
    node = realnode.workstation_capacity(
        lambda path, query=None: admin.json("GET", path, query), node_pool=settings.WORKSTATION_NODE_POOL
    )
    _fit_node(args, node)
    redis.Redis.from_url(config.REDIS_URL).flushdb()  # the benchmark's own database (6)

    logs = report.logs()
    meta = {
        "database": stores.shown(stores.database_url(config.DATABASE_NAME)),
        "redis": config.REDIS_URL,
        "experiment": args.experiment or None,
        "logs": str(logs),
        "node": node,
        "workstation_image": settings.WORKSTATION_IMAGE,
    }
    slug = f"{config.COHORT_PREFIX}{report.stamp.replace('-', '')}"
    # The first student's shell is measured alone, then probed under the others' load.
    cohort = stores.cohort_with_students(slug=slug, students=1 + (args.students if args.terminals else 0))
    try:
        say(f"provisioning {cohort.enrollments.count()} students ({slug}) with the platform's own code")
        meta["provision_seconds"] = round(students.cohort_provision_here(cohort), 1)
        enrollments = students.students_of(cohort)
        results = asyncio.run(
            phases(
                args=args,
                env=daphne_env,
                logs=logs,
                students=[e.student_id for e in enrollments],
                cookies=students.session_cookies(enrollments),
                workstations=students.workstation_uids(enrollments),
                say=say,
            )
        )
    finally:
        say(f"removing {slug}")
        students.cohort_remove(slug)
    results = {"meta": meta, **results}
    report.add(*blocks(results))
    report.details.update(results)


BENCHMARK = Benchmark(
    name="terminal",
    doc=__doc__,
    measure=measure,
    options=options,
    quick={
        "keys": 20,
        "rounds": 2,
        "flood_seconds": 0.5,
        "stall_seconds": 1.0,
        "terminals": 2,
        "students": 1,
        "open_at_once": 2,
        "typing_seconds": 2.0,
    },
)
