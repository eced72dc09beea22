"""CPU seconds spent by each part of the path during a phase: host processes from /proc
(only this local cluster's, as others may run clusters of their own here), and the
students' workstations from their pods' cgroups on the real node (cpuacct.usage: tmux,
bash and whatever the shell runs). On a 2-core machine they compete, and other people's
work (a test suite, their clusters) shows up as `others`."""

import os
import resource
import time

from bench import realnode
from bench.cpu import machine_cpu, process_cpu

# comm (as the kernel truncates it) -> part of the terminal path: API server -> node-proxy
# -> kubelet -> containerd (its shim, runc) -> the workstation's container.
_PARTS = {
    "kube-apiserver": "kube-apiserver",
    "node-proxy": "node-proxy",
    "socat": "socat relays",
    "kubelet": "kubelet",
    "containerd": "containerd",
    "containerd-shim": "containerd shims",
    "runc": "runc",
    "kwok": "kwok",
    "etcd": "etcd",
}
_SHARED = {"redis-server": "redis"}  # one server for everyone on the machine
WORKSTATIONS = "workstations (pod cgroups)"


def snapshot(*, daphne_pids: tuple[int, ...], workstations: dict[str, str]) -> dict[str, float]:
    """Cumulative CPU seconds per part; `workstations` maps each student to the uid of
    their workstation pod, whose cgroup holds everything their shell runs. A process that
    lives less than a snapshot's interval (a runc call) is seen only if it is still
    running; the rest lands in `others`."""
    parts = [*dict.fromkeys(_PARTS.values()), *_SHARED.values()]
    totals = dict.fromkeys(["daphne", "benchmark client", *parts, WORKSTATIONS], 0.0)
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        pid = int(entry)
        found = process_cpu(pid)
        if found is None:
            continue
        comm, _, seconds, _ = found
        if pid in daphne_pids:
            totals["daphne"] += seconds
        elif comm in _SHARED:
            totals[_SHARED[comm]] += seconds
        elif comm in _PARTS and realnode.ours(pid):
            totals[_PARTS[comm]] += seconds
    for uid in workstations.values():
        totals[WORKSTATIONS] += realnode.cpu_seconds(uid) or 0.0
    me = resource.getrusage(resource.RUSAGE_SELF)
    totals["benchmark client"] = me.ru_utime + me.ru_stime
    totals["machine busy"] = machine_cpu()[0]
    return totals


def cores_used(before: dict[str, float], after: dict[str, float], *, seconds: float) -> dict[str, float]:
    """Average cores each part used over the phase; `others` is everyone else (other
    people's work, the rest of the cluster, the kernel)."""
    used = {key: max(0.0, after.get(key, 0.0) - value) for key, value in before.items()}
    busy = used.pop("machine busy")
    used["others"] = max(0.0, busy - sum(used.values()))
    used["machine"] = busy
    return {key: round(value / seconds, 2) for key, value in used.items() if seconds > 0}


class CpuMeter:
    """`with CpuMeter(...) as meter:` a phase; then `meter.cores` per part, and
    `meter.per_workstation` (cores each workstation pod used)."""

    def __init__(self, *, daphne_pids: tuple[int, ...], workstations: dict[str, str]) -> None:
        self.daphne_pids, self.workstations = daphne_pids, workstations
        self.cores: dict[str, float] = {}
        self.per_workstation: dict[str, float] = {}

    def _snapshot(self) -> dict[str, float]:
        return snapshot(daphne_pids=self.daphne_pids, workstations=self.workstations)

    def _pods(self) -> dict[str, float | None]:
        return {student: realnode.cpu_seconds(uid) for student, uid in self.workstations.items()}

    def __enter__(self) -> "CpuMeter":
        self.pods_before = self._pods()
        self.before, self.started = self._snapshot(), time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        seconds = time.monotonic() - self.started
        self.cores = cores_used(self.before, self._snapshot(), seconds=seconds)
        after = self._pods()
        self.per_workstation = {
            student: round((after[student] - before) / seconds, 3)
            for student, before in self.pods_before.items()
            if before is not None and after.get(student) is not None and seconds > 0
        }
