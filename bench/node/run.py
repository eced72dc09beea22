"""Node benchmark: how fast workstation pods start on the local cluster's real node, and
what an idle one costs, against a baseline measured in the same run.

Each round starts --pods pods at once on labplatform-node, waits until all are Ready,
lets them idle, reads each pod's memory from its cgroup, and deletes them; the phases
alternate, so both see the same machine:
  workstation  the platform's own workstation pod (manifests.workstation_pod with the
               node's runtime from node/workstation.json; the kubeconfig Secret replaced
               by an emptyDir, the only change)
  pause        the baseline: a pod of the node's pause image alone, placed the same way
               (user namespace, node pool, no pull), which is what any pod costs there
Figures are per pod: creation request to Ready as this process saw it (p50, p95), and
memory (working set: usage less inactive file pages) after --idle-seconds idle; ratios are
workstation / pause. The capacity table says how many workstations the node holds by the
scheduler's count (requests against allocatable, and maxPods) and by the measured working
set. Run as root, with the cluster up (make cluster-up). Its pods are in the namespace
labplatform-bench-node, deleted after each round.
"""

import json
import statistics
import threading
import time
import uuid

from kubernetes import client, config, watch
from kubernetes.utils import parse_quantity

from bench import realnode
from bench.cli import Benchmark, at_least_one, say
from bench.kube import ADMIN_KUBECONFIG, STATE
from bench.report import Column, Report, Table, summary
from labplatform.cluster import manifests

NODE = "labplatform-node"
NAMESPACE = "labplatform-bench-node"


def options(parser) -> None:
    parser.add_argument("--pods", type=at_least_one, default=20, help="pods started at once per round (20)")
    parser.add_argument("--rounds", type=at_least_one, default=2, help="rounds of each kind of pod (2)")
    parser.add_argument("--idle-seconds", type=float, default=20, help="idle time before memory is read (20)")


def runtime() -> manifests.WorkstationRuntime:
    found = json.loads((STATE / "node" / "workstation.json").read_text())
    return manifests.WorkstationRuntime(
        image=found["image"], pull_policy=found["pull_policy"], node_pool=found["node_pool"]
    )


def workstation_pod(name: str) -> dict:
    pod = manifests.workstation_pod(
        workstation_namespace=NAMESPACE, student_namespace="lab-bench", cohort="bench", student=name, runtime=runtime()
    )
    pod["spec"]["volumes"] = [
        {"name": v["name"], "emptyDir": {}} if "secret" in v else v for v in pod["spec"]["volumes"]
    ]
    return pod


def pause_pod(name: str) -> dict:
    pool = runtime().node_pool
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"ws-{name}", "namespace": NAMESPACE},
        "spec": {
            "hostUsers": False,
            "nodeSelector": {pool: "true"},
            "tolerations": [{"key": pool, "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
            "terminationGracePeriodSeconds": 0,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65535, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "pause",
                    "image": "localhost/labplatform/pause:3.10",
                    "imagePullPolicy": "Never",
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ],
        },
    }


def working_set(uid: str) -> int:
    found = realnode.working_set(uid)
    if found is None:
        raise RuntimeError(f"no cgroup for pod {uid}")
    return found


def pods_delete(core: client.CoreV1Api) -> None:
    core.delete_collection_namespaced_pod(NAMESPACE, grace_period_seconds=0)
    deadline = time.monotonic() + 120
    while core.list_namespaced_pod(NAMESPACE).items and time.monotonic() < deadline:
        time.sleep(1)


def one_round(core: client.CoreV1Api, make, count: int, idle_seconds: float) -> dict:
    names = [uuid.uuid4().hex[:10] for _ in range(count)]
    ready: dict[str, float] = {}
    requested: dict[str, float] = {}
    stop = threading.Event()

    def watch_ready() -> None:
        stream = watch.Watch()
        for event in stream.stream(core.list_namespaced_pod, NAMESPACE, timeout_seconds=300):
            pod = event["object"]
            conditions = pod.status.conditions or []
            if any(c.type == "Ready" and c.status == "True" for c in conditions):
                ready.setdefault(pod.metadata.name, time.monotonic())
            if stop.is_set() or len(ready) == count:
                stream.stop()

    watcher = threading.Thread(target=watch_ready)
    watcher.start()
    time.sleep(0.5)  # the watch is open before the first pod is made

    def create(name: str) -> None:
        requested[f"ws-{name}"] = time.monotonic()
        core.create_namespaced_pod(NAMESPACE, make(name))

    threads = [threading.Thread(target=create, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    watcher.join(timeout=300)
    stop.set()
    if len(ready) < count:
        raise RuntimeError(f"only {len(ready)} of {count} pods became Ready")
    seconds = [ready[name] - requested[name] for name in requested]
    time.sleep(idle_seconds)
    pods = core.list_namespaced_pod(NAMESPACE).items
    memory = [working_set(pod.metadata.uid) for pod in pods]
    pods_delete(core)
    return {"ready_seconds": seconds, "memory_bytes": memory}


def _capacity(allocatable: dict, workstation_mib: float) -> Table:
    cpu, memory = parse_quantity(allocatable["cpu"]), parse_quantity(allocatable["memory"])
    requests = manifests.WORKSTATION_REQUESTS
    table = Table(f"workstations {NODE} holds", [Column("workstations", "workstations")])
    table.add("by maxPods", workstations=int(allocatable["pods"]))
    table.add("by CPU requests", workstations=int(cpu // parse_quantity(requests["cpu"])))
    table.add("by memory requests", workstations=int(memory // parse_quantity(requests["memory"])))
    table.add("by measured working set", workstations=int(float(memory) / 2**20 // workstation_mib))
    return table


def measure(args, report: Report) -> None:
    config.load_kube_config(str(ADMIN_KUBECONFIG))
    core = client.CoreV1Api()
    try:
        core.create_namespace({"metadata": {"name": NAMESPACE}})
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    phases = {"pause": pause_pod, "workstation": workstation_pod}
    measured = {name: {"ready_seconds": [], "memory_bytes": []} for name in phases}
    try:
        for number in range(args.rounds):
            for name, make in phases.items():
                say(f"round {number + 1}: {args.pods} {name} pods")
                for key, values in one_round(core, make, args.pods, args.idle_seconds).items():
                    measured[name][key] += values
    finally:
        pods_delete(core)
    table = Table(
        f"per pod, {args.pods} at once, {args.rounds} round(s) of each kind, alternating",
        [Column("pause", "pause"), Column("workstation", "workstation")],
        ratio_of="workstation",
        against_column="pause",
    )
    ready = {name: summary(values["ready_seconds"]) for name, values in measured.items()}
    table.add("creation to Ready p50 ms", **{name: r["p50_ms"] for name, r in ready.items()})
    table.add("creation to Ready p95 ms", **{name: r["p95_ms"] for name, r in ready.items()})
    table.add(
        f"working set after {args.idle_seconds:g} s idle, median MiB",
        **{name: statistics.median(values["memory_bytes"]) / 2**20 for name, values in measured.items()},
    )
    allocatable = core.read_node(NODE).status.allocatable
    workstation_mib = statistics.median(measured["workstation"]["memory_bytes"]) / 2**20
    report.add(table, _capacity(allocatable, workstation_mib))
    report.details.update(allocatable=allocatable, raw=measured)


BENCHMARK = Benchmark(
    name="node",
    doc=__doc__,
    measure=measure,
    options=options,
    quick={"pods": 2, "rounds": 1, "idle_seconds": 2},
)
