"""Real processes for tests: Celery workers and the ASGI server, on the test database."""

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from tests.kube import wait_for

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_database_url() -> str:
    database = settings.DATABASES["default"]
    return (
        f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    )


def subprocess_environment(**overrides: str) -> dict[str, str]:
    """The test process's environment, pointed at the test database; without the e2e
    tests' permission for ORM calls beside an event loop."""
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return {**environment, "DATABASE_URL": test_database_url(), **overrides}


def start_worker(*, name: str, concurrency: int = 8, **environment: str) -> subprocess.Popen:
    """A worker; with REDIS_URL in `environment` it serves that broker instead of the tests'."""
    from celery import Celery

    # Not the current app: shared tasks in this process must keep the project's app.
    app = Celery(broker=environment.get("REDIS_URL", settings.REDIS_URL), set_as_current=False)
    log = Path(settings.RUN_DIR) / f"worker-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "labplatform", "worker", "--hostname", f"{name}@%h",
         "--pool", "threads", "--concurrency", str(concurrency), "--loglevel", "INFO"],
        cwd=ROOT,
        env=subprocess_environment(**environment),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip

    def answers():
        replies = app.control.ping(timeout=0.5)
        return any(name in host for reply in replies for host in reply)

    wait_for(f"Celery worker {name} (log: {log})", answers, timeout=60)
    app.close()
    return worker


def manage(*args: str, **environment: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=subprocess_environment(**environment),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def start_web(*, port: int, name: str = "web", **environment: str) -> subprocess.Popen:
    """daphne serving the project on 127.0.0.1:port, answering before this returns;
    `environment` overrides settings read from it."""
    import requests

    log = Path(settings.RUN_DIR) / f"{name}-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "labplatform.asgi:application"],
        cwd=ROOT,
        env=subprocess_environment(**environment),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )

    def answers():
        try:
            return requests.get(f"http://127.0.0.1:{port}/login/", timeout=2).status_code == 200
        except requests.RequestException:
            return server.poll() is not None and _raise(f"daphne on port {port} exited; log: {log}")

    wait_for(f"daphne on port {port} (log: {log})", answers, timeout=60)
    return server


def _raise(message: str):
    raise RuntimeError(message)


class WebServer:
    """daphne on a port of its own, which a test may stop and start again (the pages'
    sockets then have to reconnect)."""

    def __init__(self, name: str = "e2e-web") -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = start_web(port=self.port, name=self.name)

    def stop(self) -> None:
        stop(self.process)


@contextmanager
def restartable_web(name: str) -> Iterator[WebServer]:
    """A WebServer, started; stopped at the end unless the test left it stopped."""
    server = WebServer(name)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.stop()
