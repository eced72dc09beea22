"""The local cluster's etcd as the fill benchmark reads it: its status (the database file,
what is in use, the quota) and the two upkeep steps, through etcd's grpc-gateway on its
client URL on 127.0.0.1 (no etcdctl is built here), as k8s/local/etcd-maintenance.sh does."""

import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import urllib3

from bench.kube import STATE

MIB = 1024 * 1024


def client_url(state: Path = STATE) -> str:
    config = (state / "kwok" / "clusters" / "labplatform" / "kwok.yaml").read_text()
    found = re.search(r"--listen-client-urls=(http://127\.0\.0\.1:\d+)$", config, re.MULTILINE)
    if not found:
        raise SystemExit(f"no etcd client URL on 127.0.0.1 in {state}/kwok/clusters/labplatform/kwok.yaml")
    return found.group(1)


@dataclass(frozen=True)
class Status:
    file: int  # dbSize: the database file, which the quota counts
    in_use: int  # dbSizeInUse: its live pages
    quota: int
    revision: int

    def row(self) -> dict:
        return {
            "file_mib": round(self.file / MIB, 1),
            "in_use_mib": round(self.in_use / MIB, 1),
            "quota_mib": round(self.quota / MIB, 1),
        }


class Etcd:
    def __init__(self, url: str | None = None) -> None:
        self.url = url or client_url()
        self.http = urllib3.PoolManager(maxsize=2, retries=False)

    def call(self, path: str, body: dict, *, timeout: float = 10) -> dict:
        response = self.http.request(
            "POST", self.url + path, body=json.dumps(body).encode(), timeout=urllib3.Timeout(total=timeout)
        )
        if response.status != 200:
            raise RuntimeError(f"etcd {path}: {response.status} {response.data[:200]!r}")
        return json.loads(response.data)

    def status(self) -> Status:
        said = self.call("/v3/maintenance/status", {})
        return Status(
            file=int(said["dbSize"]),
            in_use=int(said["dbSizeInUse"]),
            quota=int(said["dbSizeQuota"]),
            revision=int(said["header"]["revision"]),
        )

    def alarms(self) -> list[str]:
        return [a.get("alarm", "?") for a in self.call("/v3/maintenance/alarm", {"action": "GET"}).get("alarms", [])]

    def compact(self, revision: int) -> None:
        """What the API server does every minute here: drops every version older than `revision`."""
        self.call("/v3/kv/compaction", {"revision": str(revision), "physical": True}, timeout=300)

    def defragment(self) -> None:
        """What etcd-maintenance.sh does when the file is much larger than what is in use."""
        self.call("/v3/maintenance/defragment", {}, timeout=300)


@dataclass
class Watch:
    """Reads etcd's status every `every` seconds in a thread, keeping the largest file seen."""

    etcd: Etcd
    every: float
    seen: list[tuple[float, Status]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            try:
                self.seen.append((time.monotonic() - started, self.etcd.status()))
            except (OSError, RuntimeError, urllib3.exceptions.HTTPError) as exc:
                self.failures.append(str(exc))
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)

    def peak(self) -> Status | None:
        return max((status for _, status in self.seen), key=lambda s: s.file, default=None)
