"""scripts/entrypoint.sh, the image's command, started on this host with production-like
settings (DEBUG off, a secret key, the test PostgreSQL and Redis): each role starts and
does its job, and stops on SIGTERM."""

import subprocess
from pathlib import Path

import pytest
import requests
from celery import Celery
from django.conf import settings

from tests.kube import wait_for
from tests.processes import ROOT, free_port, stop, subprocess_environment

ENTRYPOINT = ROOT / "scripts" / "entrypoint.sh"
HEALTHZ_TOKEN = "entrypoint-test-healthz-token-0123456789ab"


def production_environment(**overrides: str) -> dict[str, str]:
    return subprocess_environment(
        DEBUG="false",
        SECRET_KEY="entrypoint-test-not-secret",
        HEALTHZ_TOKEN=HEALTHZ_TOKEN,
        ALLOWED_HOSTS="localhost,127.0.0.1",
        BIND="127.0.0.1",
        **overrides,
    )


def start(role: str, log: Path, *args: str, **environment: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(ENTRYPOINT), role, *args],
        cwd="/",
        env=production_environment(**environment),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def livez_answers(port: int, process: subprocess.Popen, log: Path) -> bool:
    assert process.poll() is None, f"the web role exited:\n{log.read_text()}"
    try:
        return requests.get(f"http://127.0.0.1:{port}/livez", timeout=2).status_code == 200
    except requests.RequestException:  # not up yet, slow to start, or answering half-started
        return False


@pytest.fixture
def log(tmp_path) -> Path:
    return tmp_path / "entrypoint.log"


def test_migrate_applies_migrations_and_exits_0(django_db_setup):
    result = subprocess.run(
        [str(ENTRYPOINT), "migrate"],
        cwd="/",
        env=production_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Operations to perform" in result.stdout


def test_web_serves_livez_on_its_port(django_db_setup, log):
    port = free_port()
    web = start("web", log, PORT=str(port))
    try:
        wait_for(f"/livez on port {port}", lambda: livez_answers(port, web, log), timeout=60)
        healthz = f"http://127.0.0.1:{port}/healthz"
        details = requests.get(healthz, headers={"Authorization": f"Bearer {HEALTHZ_TOKEN}"}, timeout=10).json()
        assert details["checks"]["database"]["ok"]
        # Anyone else, however local they look (daphne runs with --proxy-headers), reads the status alone.
        local = requests.get(healthz, headers={"X-Forwarded-For": "127.0.0.1"}, timeout=10).json()
        assert set(local) == {"status"}
    finally:
        stop(web)
    assert web.returncode is not None


def test_worker_answers_a_ping(django_db_setup, log):
    name = f"entrypoint-{free_port()}"
    worker = start("worker", log, "--hostname", f"{name}@%h", CELERY_CONCURRENCY="2")
    app = Celery(broker=settings.REDIS_URL, set_as_current=False)
    try:

        def answers() -> bool:
            assert worker.poll() is None, f"the worker role exited:\n{log.read_text()}"
            return any(name in host for reply in app.control.ping(timeout=0.5) for host in reply)

        wait_for(f"a ping reply from worker {name}", answers, timeout=60)
    finally:
        app.close()
        stop(worker)


def test_beat_starts(django_db_setup, log, tmp_path):
    beat = start("beat", log, LABPLATFORM_RUN_DIR=str(tmp_path / "run"))
    try:
        wait_for("beat to say it started", lambda: "beat: Starting" in log.read_text(), timeout=60)
        assert beat.poll() is None, log.read_text()
        assert list((tmp_path / "run").glob("celerybeat-schedule*")), "beat keeps its schedule in LABPLATFORM_RUN_DIR"
    finally:
        stop(beat)


def test_an_unknown_role_is_refused_with_the_usage():
    result = subprocess.run(
        [str(ENTRYPOINT), "serve"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
        env=production_environment(),
    )
    assert result.returncode == 2
    assert "usage:" in result.stderr
    assert "web|worker|beat|migrate" in result.stderr
