"""The local cluster's real node: how fast workstation pods start there, and what an idle
one costs, against a baseline measured in the same run.

    .venv/bin/python -m bench.node [--pods 20] [--rounds 2]

Each round starts --pods pods at once on labplatform-node, waits until all are Ready,
lets them idle, reads each pod's memory from its cgroup, and deletes them; the phases
alternate, so both see the same machine:
  workstation  the platform's own workstation pod (manifests.workstation_pod with the
               node's runtime from node/workstation.json; the kubeconfig Secret replaced
               by an emptyDir, the only change)
  pause        the baseline: a pod of the node's pause image alone, placed the same way
               (user namespace, node pool, no pull), which is what any pod costs there
Figures are per pod: creation request to Ready as this process saw it (p50, p95), and
memory (working set: usage less inactive file pages) after 20 s idle; ratios are
workstation / pause. The capacity line says how many workstations the node holds by the
scheduler's count (requests against allocatable, and maxPods) and by the measured working
set. Run as root, with the cluster up (make cluster-up). Results: bench/results/node-<time>.json.
"""

import argparse
import json
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from kubernetes import client, config, watch

from bench import realnode
from labplatform.cluster import manifests

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"
STATE = Path.home() / ".local" / "state" / "labplatform" / "cluster"
NODE = "labplatform-node"
NAMESPACE = "labplatform-bench-node"
IDLE_SECONDS = 20


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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def one_round(core: client.CoreV1Api, make, count: int) -> dict:
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
    time.sleep(IDLE_SECONDS)
    pods = core.list_namespaced_pod(NAMESPACE).items
    memory = [working_set(pod.metadata.uid) for pod in pods]
    core.delete_collection_namespaced_pod(NAMESPACE, grace_period_seconds=0)
    deadline = time.monotonic() + 120
    while core.list_namespaced_pod(NAMESPACE).items and time.monotonic() < deadline:
        time.sleep(1)
    return {"ready_seconds": seconds, "memory_bytes": memory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    arguments = parser.parse_args()
    config.load_kube_config(str(STATE / "kubeconfig"))
    core = client.CoreV1Api()
    try:
        core.create_namespace({"metadata": {"name": NAMESPACE}})
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    phases = {"pause": pause_pod, "workstation": workstation_pod}
    measured = {name: {"ready_seconds": [], "memory_bytes": []} for name in phases}
    for _ in range(arguments.rounds):
        for name, make in phases.items():
            found = one_round(core, make, arguments.pods)
            for key, values in found.items():
                measured[name][key] += values
    node = core.read_node(NODE)
    allocatable = node.status.allocatable
    summary = {}
    for name, values in measured.items():
        summary[name] = {
            "ready_p50_s": statistics.median(values["ready_seconds"]),
            "ready_p95_s": percentile(values["ready_seconds"], 0.95),
            "memory_median_mib": statistics.median(values["memory_bytes"]) / 2**20,
        }
    ratios = {key: summary["workstation"][key] / summary["pause"][key] for key in summary["pause"]}
    requests = manifests.WORKSTATION_REQUESTS
    mib = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    allocatable_mib = int(allocatable["memory"][:-2]) * mib[allocatable["memory"][-2:]]
    capacity = {
        "max_pods": int(allocatable["pods"]),
        "by_cpu_requests": int(float(allocatable["cpu"]) * 1000 // int(requests["cpu"][:-1])),
        "by_memory_requests": int(allocatable_mib // int(requests["memory"][:-2])),
        "by_measured_memory": int(allocatable_mib // summary["workstation"]["memory_median_mib"]),
    }
    result = {
        "pods": arguments.pods,
        "rounds": arguments.rounds,
        "summary": summary,
        "ratios_workstation_over_pause": ratios,
        "capacity": capacity,
        "allocatable": allocatable,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"node-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps({**result, "raw": measured}, indent=2))
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
