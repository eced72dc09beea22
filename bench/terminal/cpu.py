"""CPU seconds spent by each part of the path during a phase, from /proc. On a 2-core
machine they compete, and other people's work (a test suite) shows up as `others`."""

import os
import resource
import time

from bench.common import machine_cpu, process_cpu

# comm (as the kernel truncates it) -> part of the terminal path
_PARTS = {
    "kube-apiserver": "kube-apiserver",
    "kwok": "kwok",
    "socat": "socat relays",
    "redis-server": "redis",
    "etcd": "etcd",
}


def _owner(pid: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def snapshot(*, daphne_pids: tuple[int, ...], student_uids: frozenset[int]) -> dict[str, float]:
    """Cumulative CPU seconds per part; the students' sessions (tmux, bash and what it
    runs) are found by their Unix users."""
    totals = dict.fromkeys(["daphne", "benchmark client", *dict.fromkeys(_PARTS.values()), "student sessions"], 0.0)
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        found = process_cpu(int(entry))
        if found is None:
            continue
        comm, _, seconds, _ = found
        if int(entry) in daphne_pids:
            totals["daphne"] += seconds
        elif _owner(entry) in student_uids:
            totals["student sessions"] += seconds
        elif comm in _PARTS:
            totals[_PARTS[comm]] += seconds
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
    """`with CpuMeter(...) as meter:` a phase; then `meter.cores` per part."""

    def __init__(self, *, daphne_pids: tuple[int, ...], student_uids: frozenset[int]) -> None:
        self.daphne_pids, self.student_uids = daphne_pids, student_uids
        self.cores: dict[str, float] = {}

    def _snapshot(self) -> dict[str, float]:
        return snapshot(daphne_pids=self.daphne_pids, student_uids=self.student_uids)

    def __enter__(self) -> "CpuMeter":
        self.before, self.started = self._snapshot(), time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        self.cores = cores_used(self.before, self._snapshot(), seconds=time.monotonic() - self.started)
