"""Memory of what is under test: the host processes' resident set size from /proc
(sampled, so peaks are seen), the kernel's high-water mark, Redis's own accounting, and
the workstation pods' working set from their cgroups on the real node."""

import asyncio
import contextlib
import statistics
from pathlib import Path

import redis

from bench import realnode


def status_kb(pid: int, field: str) -> int | None:
    """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM), or None if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def mb(kb: float | None) -> float | None:
    return round(kb / 1024, 1) if kb is not None else None


class RssSampler:
    """Samples the RSS of named processes every `interval` seconds while in use."""

    label = "rss"

    def __init__(self, pids: dict[str, int], *, interval: float = 0.05) -> None:
        self.pids = pids
        self.interval = interval
        self.first: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.last: dict[str, int] = {}
        self._task: asyncio.Task | None = None

    def _read(self, pid) -> int | None:
        return status_kb(pid, "VmRSS")

    def _sample(self) -> None:
        for name, pid in self.pids.items():
            rss = self._read(pid)
            if rss is None:
                continue
            self.first.setdefault(name, rss)
            self.peak[name] = max(self.peak.get(name, 0), rss)
            self.last[name] = rss

    async def _run(self) -> None:
        while True:
            self._sample()
            await asyncio.sleep(self.interval)

    async def __aenter__(self) -> "RssSampler":
        self._sample()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._sample()

    def result(self) -> dict[str, dict]:
        return {
            name: {
                f"{self.label}_start_mb": mb(self.first.get(name)),
                f"{self.label}_peak_mb": mb(self.peak.get(name)),
                f"{self.label}_end_mb": mb(self.last.get(name)),
                f"{self.label}_growth_mb": mb(self.peak[name] - self.first[name]) if name in self.peak else None,
            }
            for name in self.pids
        }


class WorkingSetSampler(RssSampler):
    """The same for workstation pods (name -> pod uid): their memory working set (usage
    less inactive file pages)."""

    label = "working_set"

    def __init__(self, uids: dict[str, str], *, interval: float = 0.25) -> None:
        super().__init__(uids, interval=interval)

    def _read(self, uid) -> int | None:
        found = realnode.working_set(uid)
        return found // 1024 if found is not None else None


def working_sets_kb(uids: dict[str, str]) -> dict[str, int]:
    """Each pod's working set now, in KiB (pods whose cgroup is gone are left out)."""
    found = {name: realnode.working_set(uid) for name, uid in uids.items()}
    return {name: value // 1024 for name, value in found.items() if value is not None}


def working_set_summary(kb: dict[str, int]) -> dict:
    if not kb:
        return {"pods": 0}
    return {"pods": len(kb), "median_mb": mb(statistics.median(kb.values())), "total_mb": mb(sum(kb.values()))}


class RedisMemory:
    """The Redis server the channel layer uses (shared with others on this machine, so
    its figures include their use)."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.pid = int(self.client.info("server")["process_id"])

    def used_mb(self) -> dict[str, float]:
        info = self.client.info("memory")
        return {
            "used_memory_mb": round(info["used_memory"] / 2**20, 1),
            "used_memory_peak_mb": round(info["used_memory_peak"] / 2**20, 1),
        }
