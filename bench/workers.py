"""Real `celery worker` processes for the benchmarks: started on the benchmark's own Redis
database and waited for until each answers a ping; stopped warm."""

import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.common import REPO

CELERY = Path(sys.executable).parent / "celery"


def celery_workers_start(
    *, names: list[str], app: str, pool: str, concurrency: int, env: dict[str, str], log_dir: Path, extra=()
) -> list[subprocess.Popen]:
    from labplatform.celery import app as celery_app

    processes = []
    for name in names:
        log = (log_dir / f"{name.split('@')[0]}.log").open("w")
        command = [
            str(CELERY), "-A", app, "worker", "--pool", pool, "--concurrency", str(concurrency),
            "--loglevel", "WARNING", "--hostname", name, *extra,
        ]  # fmt: skip
        processes.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"a Celery worker exited with {process.returncode}; see {log_dir}")
        answered = {name for reply in celery_app.control.ping(names, timeout=1.0) for name in reply}
        if answered >= set(names):
            return processes
    raise RuntimeError(f"Celery workers {names} did not answer a ping in 90s")


def celery_workers_stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # warm shutdown: finishes the task in hand
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
