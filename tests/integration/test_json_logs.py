"""LOG_FORMAT=json on real processes: daphne writes JSON lines carrying each request's id,
and a Celery worker's own lines (a task that ran) are JSON too."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.test import Client

from labplatform.tasks import worker_heartbeat
from tests.kube import wait_for
from tests.processes import ROOT, free_port, start_worker, stop, subprocess_environment


def json_lines(log: Path) -> list[dict]:
    lines = []
    for raw in log.read_text().splitlines():
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


def test_every_response_says_its_request_id(client: Client):
    assert len(client.get("/livez")["X-Request-ID"]) == 32
    assert client.get("/livez", HTTP_X_REQUEST_ID="from-the-ingress")["X-Request-ID"] == "from-the-ingress"


@pytest.mark.django_db(transaction=True)
def test_daphne_logs_json_lines_with_the_request_id(tmp_path):
    port = free_port()
    log = tmp_path / "web.log"
    web = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "labplatform.asgi:application"],
        cwd=ROOT,
        env=subprocess_environment(LOG_FORMAT="json"),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:

        def answers() -> bool:
            assert web.poll() is None, log.read_text()
            try:
                return requests.get(f"http://127.0.0.1:{port}/livez", timeout=2).ok
            except requests.RequestException:  # not up yet, slow to start, or answering half-started
                return False

        wait_for(f"daphne on {port}", answers, timeout=60)
        # Django logs every 404 (logger django.request) while the request is served.
        response = requests.get(
            f"http://127.0.0.1:{port}/no-such-page", headers={"X-Request-ID": "ticket-1234"}, timeout=10
        )
        assert response.status_code == 404
        assert response.headers["X-Request-ID"] == "ticket-1234"
        forged = requests.get(f"http://127.0.0.1:{port}/also-missing", headers={"X-Request-ID": "x" * 65}, timeout=10)
        replaced = forged.headers["X-Request-ID"]
        assert replaced != "x" * 65

        def not_found_lines() -> list[dict]:
            return [line for line in json_lines(log) if line["logger"] == "django.request"]

        lines = wait_for("the 404 lines", lambda: len(not_found_lines()) == 2 and not_found_lines())
    finally:
        stop(web)
    assert [(line["level"], line["message"], line["request_id"]) for line in lines] == [
        ("WARNING", "Not Found: /no-such-page", "ticket-1234"),
        ("WARNING", "Not Found: /also-missing", replaced),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_celery_workers_lines_are_json(tmp_path):
    worker = start_worker(name=f"json-logs-{free_port()}", concurrency=1, LOG_FORMAT="json")
    log = Path(settings.RUN_DIR) / f"worker-{worker.args[worker.args.index('--hostname') + 1].split('@')[0]}.log"
    offset = log.stat().st_size
    try:
        worker_heartbeat.delay().get(timeout=30)

        def succeeded() -> list[str]:
            return [line for line in log.read_text()[offset:].splitlines() if "succeeded in" in line]

        (line,) = wait_for("the task's success line", succeeded)
    finally:
        stop(worker)
    record = json.loads(line)
    assert record["logger"] == "celery.app.trace"
    assert record["level"] == "INFO"
    assert record["message"].startswith("Task labplatform.tasks.worker_heartbeat[")
    assert record["request_id"] is None
