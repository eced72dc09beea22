"""The local cluster's real node, as the benchmarks see it from the host: which processes
are this cluster's (others may run clusters of their own on the same machine), each
workstation pod's cgroups (the kubelet's cgroupRoot `/labplatform-<id>` in every v1
hierarchy), and how many workstations the node holds by the scheduler's count."""

import functools
from decimal import Decimal
from pathlib import Path

import yaml
from kubernetes.utils import parse_quantity

from bench.kube import STATE
from labplatform.cluster import manifests

CGROUP = Path("/sys/fs/cgroup")
# Pod cgroups under kubepods: Burstable and BestEffort pods one level down, Guaranteed ones
# right there. Workstations are Burstable (requests below limits).
_QOS = ("burstable", "besteffort", "")


@functools.cache
def cgroup_root() -> str:
    """The node's cgroupRoot without slashes, e.g. labplatform-9c52853379."""
    kubelet = yaml.safe_load((STATE / "node" / "kubelet" / "config.yaml").read_text())
    return kubelet["cgroupRoot"].strip("/")


def node_id() -> str:
    return cgroup_root().removeprefix("labplatform-")


def _markers() -> tuple[str, ...]:
    # This cluster's processes name its state folder (its kwok cluster, node, relays) or,
    # for the containerd shims and runc, the node's run folder.
    return (f"{STATE}/", f"/run/labplatform/node-{node_id()}/")


def ours(pid: int) -> bool:
    """Whether the process belongs to this local cluster (not to another one on the host)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return any(marker in command for marker in _markers())


def pod_cgroup(uid: str, controller: str) -> Path | None:
    """The pod's cgroup folder in one v1 hierarchy (memory, cpuacct, pids), or None."""
    base = CGROUP / controller / cgroup_root() / "kubepods"
    for qos in _QOS:
        folder = base / qos / f"pod{uid}" if qos else base / f"pod{uid}"
        if folder.is_dir():
            return folder
    return None


def working_set(uid: str) -> int | None:
    """The pod's memory working set in bytes (usage less inactive file pages, as the
    kubelet counts it for eviction), or None if its cgroup is gone."""
    folder = pod_cgroup(uid, "memory")
    if folder is None:
        return None
    try:
        usage = int((folder / "memory.usage_in_bytes").read_text())
        stat = dict(line.split() for line in (folder / "memory.stat").read_text().splitlines())
    except OSError:
        return None
    return usage - int(stat.get("total_inactive_file", 0))


def cpu_seconds(uid: str) -> float | None:
    """CPU seconds used by everything that ran in the pod (cpuacct.usage), or None."""
    folder = pod_cgroup(uid, "cpuacct")
    if folder is None:
        return None
    try:
        return int((folder / "cpuacct.usage").read_text()) / 1e9
    except OSError:
        return None


def _requests(pod: dict) -> tuple[Decimal, Decimal]:
    cpu = memory = Decimal(0)
    for container in pod["spec"].get("containers", []):
        requested = (container.get("resources") or {}).get("requests") or {}
        cpu += parse_quantity(requested.get("cpu", "0"))
        memory += parse_quantity(requested.get("memory", "0"))
    return cpu, memory


def workstation_capacity(get, *, node_pool: str) -> dict:
    """How many workstations the workstation nodes hold by the scheduler's count (CPU and
    memory requests against allocatable, and maxPods), and how many more fit now beside
    the pods already there (someone's tests may have some). `get(path, query)` returns the
    API server's JSON."""
    selector = {"labelSelector": f"{node_pool}=true"} if node_pool else None
    # Decimals, as the API's quantities are: 2 // 0.05 is 39 in floats.
    cpu_each = parse_quantity(manifests.WORKSTATION_REQUESTS["cpu"])
    memory_each = parse_quantity(manifests.WORKSTATION_REQUESTS["memory"])
    found = {"nodes": [], "holds": 0, "free": 0}
    for node in get("/api/v1/nodes", selector)["items"]:
        name, allocatable = node["metadata"]["name"], node["status"]["allocatable"]
        cpu, memory = parse_quantity(allocatable["cpu"]), parse_quantity(allocatable["memory"])
        pods = int(allocatable["pods"])
        running = get(
            "/api/v1/pods", {"fieldSelector": f"spec.nodeName={name},status.phase!=Succeeded,status.phase!=Failed"}
        )["items"]
        used_cpu = sum(_requests(pod)[0] for pod in running)
        used_memory = sum(_requests(pod)[1] for pod in running)
        by = {
            "max_pods": pods,
            "cpu_requests": int(cpu // cpu_each),
            "memory_requests": int(memory // memory_each),
        }
        holds = min(by.values())
        room = (pods - len(running), int((cpu - used_cpu) // cpu_each), int((memory - used_memory) // memory_each))
        free = max(0, min(room))
        found["nodes"].append({"name": name, "holds_by": by, "holds": holds, "pods_there": len(running), "free": free})
        found["holds"] += holds
        found["free"] += free
    return found


def workstations_on_the_node() -> None:
    """Refuses to run when the settings would not put workstations on the real node (a
    KWOK node runs nothing, and answers an exec with "no exec found"). Needs Django."""
    from django.conf import settings

    if not settings.WORKSTATION_NODE_POOL:
        raise SystemExit(
            f"no workstation node pool: {STATE}/node/workstation.json is missing or empty; "
            "is the local cluster up with its node (make cluster-up)?"
        )
