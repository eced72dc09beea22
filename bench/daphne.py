"""A real daphne process serving labplatform's ASGI application on a free loopback port,
as `make up` runs it, with the Redis channel layer of the benchmark's environment:
`Daphne(...)` starts it, `.serving()` waits until it answers."""

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

from bench.report import REPO


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Daphne:
    def __init__(self, *, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
                   "labplatform.asgi:application"]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def websocket_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def serving(self, timeout: float = 60) -> "Daphne":
        """Waits until it answers; returns it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited with {self.process.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.base}/login/", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"daphne on {self.base} did not answer in {timeout}s; see {self.log}")

    def application_errors(self) -> dict[str, int]:
        """Exceptions that ended a connection's application, as daphne logged them."""
        found: Counter = Counter()
        for line in self.log.read_text(errors="replace").splitlines():
            if "Exception inside application:" in line:
                found[line.split("Exception inside application:", 1)[1].strip()[:160]] += 1
        return dict(found)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
