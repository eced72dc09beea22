"""CPU seconds from /proc: of one process, of the whole machine, and of each part of the
system during a phase: the cluster's components (this local cluster's only: others may run
clusters of their own on the machine), its real node (kubelet, containerd and its shims,
node-proxy), the pods on the node (their cgroups), the stores, the Celery workers the
benchmark started, kubectl and the benchmark itself. On a 2-core machine they all compete,
so this shows who is busy."""

import os
import resource
import time
from pathlib import Path

from bench import realnode

_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> tuple[str, int, float, float] | None:
    """(comm, ppid, own CPU seconds, waited-for children's CPU seconds); None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is state (field 3); utime is field 14, stime 15, cutime 16, cstime 17.
    ppid = int(fields[1])
    own = (int(fields[11]) + int(fields[12])) / _TICK
    children = (int(fields[13]) + int(fields[14])) / _TICK
    return comm, ppid, own, children


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / _TICK, total / _TICK


# comm (truncated to 15 characters by the kernel) -> component
_COMPONENTS = {
    "kube-apiserver": "kube-apiserver",
    "etcd": "etcd",
    "kwok": "kwok",
    "kube-scheduler": "kube-scheduler",
    "kube-controller": "kube-controller-manager",
    "kubelet": "node: kubelet",
    "containerd": "node: containerd",
    "containerd-shim": "node: containerd shims",
    "runc": "node: runc",
    "node-proxy": "node-proxy",
}
# Shared with everyone on the machine.
_SHARED = {"postgres": "postgres", "redis-server": "redis"}
WORKSTATIONS = "node: pods (kubepods cgroup: workstations, and anyone else's)"


def _node_pods_cpu() -> float:
    """CPU seconds of every pod on the real node so far (its kubepods cgroup): the
    workstations' shells starting, and whatever else runs there (someone's tests)."""
    try:
        usage = Path(realnode.CGROUP / "cpuacct" / realnode.cgroup_root() / "kubepods" / "cpuacct.usage")
        return int(usage.read_text()) / 1e9
    except OSError:
        return 0.0


def descendants(pids: list[int]) -> set[int]:
    """`pids` and every process below them."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := process_cpu(int(entry))) is not None:
            parents[int(entry)] = stat[1]
    found = set(pids)
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in found and pid not in found:
                found.add(pid)
                changed = True
    return found


def snapshot(worker_pids: list[int] | tuple[int, ...] = ()) -> dict[str, float]:
    processes = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := process_cpu(int(entry))) is not None:
            processes[int(entry)] = stat
    parts = [*dict.fromkeys(_COMPONENTS.values()), *_SHARED.values(), WORKSTATIONS]
    totals: dict[str, float] = dict.fromkeys([*parts, "celery workers", "workers' children"], 0.0)
    workers = set(worker_pids)
    # Descendants of the workers (prefork children).
    changed = True
    while changed:
        changed = False
        for pid, (_, ppid, _, _) in processes.items():
            if ppid in workers and pid not in workers:
                workers.add(pid)
                changed = True
    for pid, (comm, _, own, children) in processes.items():
        if pid in workers:
            # Python in the workers; what they ran and waited for apart.
            totals["celery workers"] += own
            totals["workers' children"] += children
        elif comm in _SHARED:
            totals[_SHARED[comm]] += own
        elif comm in _COMPONENTS and realnode.ours(pid):
            totals[_COMPONENTS[comm]] += own
    totals[WORKSTATIONS] = _node_pods_cpu()
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    totals["benchmark process"] = me.ru_utime + me.ru_stime
    # Children the benchmark waited for: kubectl (and finished Celery workers, subtracted in delta()).
    totals["waited children"] = kids.ru_utime + kids.ru_stime
    busy, total = machine_cpu()
    totals["machine busy"] = busy
    totals["machine total"] = total
    return totals


def idle_rates(seconds: float = 5.0) -> dict[str, float]:
    """CPU seconds per second each component uses with no benchmark running (leases,
    controllers, anyone else's work): the background a phase's figures include."""
    before, started = snapshot(), time.monotonic()
    time.sleep(seconds)
    after, elapsed = snapshot(), time.monotonic() - started
    return {
        key: round(max(0.0, after[key] - before[key]) / elapsed, 4)
        for key in after
        if key not in ("machine total", "waited children", "benchmark process")
    }


def per_student_ms(used: dict[str, float], idle: dict[str, float], *, students: int) -> dict[str, float]:
    """CPU milliseconds per student, with the idle background subtracted."""
    seconds = used["wall seconds"]
    out = {}
    for key, value in used.items():
        if key in ("wall seconds", "machine busy %"):
            continue
        net = value - idle.get(key, 0.0) * seconds
        if net > 0.005:
            out[key] = round(1000 * net / students, 1)
    outside = ("machine busy", "not benchmark or cluster")
    out["benchmark + cluster total"] = round(sum(v for k, v in out.items() if k not in outside), 1)
    return out


def delta(before: dict[str, float], after: dict[str, float], *, seconds: float) -> dict[str, float]:
    # A process that exits during the phase (a database connection closed) takes its CPU
    # time with it; such a component's delta is clamped at 0.
    out = {key: round(max(0.0, after.get(key, 0.0) - before.get(key, 0.0)), 2) for key in after}
    machine_total = out.pop("machine total")
    # Everyone else on the machine (another user's tests, the kernel): noise in this phase.
    known = sum(v for k, v in out.items() if k != "machine busy")
    out["not benchmark or cluster"] = round(max(0.0, out["machine busy"] - known), 2)
    out["machine busy %"] = round(100 * out["machine busy"] / machine_total, 1) if machine_total else 0.0
    out["wall seconds"] = round(seconds, 2)
    return out
