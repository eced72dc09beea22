"""Real `celery worker` processes for the benchmarks, in a setting given as
POOL:CONCURRENCY[xPROCESSES]: started on the benchmark's own Redis database and waited
for until each answers a ping; stopped warm."""

import argparse
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import cpu
from bench.report import REPO

CELERY = Path(sys.executable).parent / "celery"


@dataclass(frozen=True)
class WorkerSetting:
    pool: str  # prefork | threads | solo
    concurrency: int
    processes: int = 1

    @classmethod
    def parse(cls, text: str, *, processes: int = 1) -> "WorkerSetting":
        """POOL:CONCURRENCY[xPROCESSES], e.g. prefork:8, threads:16x2; `processes` unless given."""
        pool, _, rest = text.strip().partition(":")
        concurrency, _, given = rest.partition("x")
        if pool not in ("prefork", "threads", "solo") or not concurrency.isdigit() or not (given or "1").isdigit():
            raise ValueError(f"worker setting {text!r}: expected POOL:CONCURRENCY[xPROCESSES]")
        return cls(pool, int(concurrency), int(given or processes))

    @property
    def tag(self) -> str:
        return f"{self.pool}{self.concurrency}" + (f"x{self.processes}" if self.processes > 1 else "")

    def __str__(self) -> str:
        processes = f" x{self.processes} processes" if self.processes > 1 else ""
        return f"--pool {self.pool} -c {self.concurrency}{processes}"


def settings_parse(text: str, *, processes: int = 1) -> list[WorkerSetting]:
    """Comma-separated settings (an argparse type: a mistake is a usage error)."""
    try:
        return [WorkerSetting.parse(s, processes=processes) for s in text.split(",") if s.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


class Workers:
    """`celery -A APP worker` processes in one setting, named <tag>-<i>@bench; their logs go
    to `log_dir`."""

    def __init__(self, setting: WorkerSetting, *, tag: str, log_dir: Path, env: dict[str, str]) -> None:
        self.setting, self.log_dir, self.env = setting, log_dir, env
        self.names = [f"{tag}-{i}@bench" for i in range(setting.processes)]
        self.processes: list[subprocess.Popen] = []

    def start(self, *, app: str, extra: tuple[str, ...] = ()) -> None:
        from labplatform.celery import app as celery_app

        for name in self.names:
            log = (self.log_dir / f"{name.split('@')[0]}.log").open("w")
            command = [
                str(CELERY), "-A", app, "worker", "--pool", self.setting.pool,
                "--concurrency", str(self.setting.concurrency), "--loglevel", "WARNING", "--hostname", name, *extra,
            ]  # fmt: skip
            process = subprocess.Popen(command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
            self.processes.append(process)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a Celery worker exited with {process.returncode}; see {self.log_dir}")
            answered = {name for reply in celery_app.control.ping(self.names, timeout=1.0) for name in reply}
            if answered >= set(self.names):
                return
        raise RuntimeError(f"Celery workers {self.names} did not answer a ping in 90s")

    def consuming(self, on: bool) -> None:
        """Starts or stops the workers taking tasks from the queue."""
        from labplatform.celery import app as celery_app

        queue = celery_app.conf.task_default_queue
        control = celery_app.control.add_consumer if on else celery_app.control.cancel_consumer
        replies = control(queue, destination=self.names, reply=True, timeout=10)
        if len(replies) < len(self.names):
            raise RuntimeError(f"only {len(replies)} of {len(self.names)} workers answered {control.__name__}")

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def cpu_seconds(self) -> dict[int, float]:
        """CPU seconds of each worker process with its pool's children."""
        below = {pid: cpu.descendants([pid]) for pid in self.pids}
        return {
            pid: sum(stat[2] for p in pids if (stat := cpu.process_cpu(p)) is not None) for pid, pids in below.items()
        }

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # warm shutdown: finishes the task in hand
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
