"""A real Celery worker takes tasks from the Redis broker, and /healthz sees it."""

import pytest

from labplatform.celery import app
from labplatform.tasks import worker_heartbeat


def test_a_worker_runs_a_task_sent_through_redis(celery_worker_process):
    hostname = worker_heartbeat.delay().get(timeout=30)
    assert hostname.startswith("tests-"), "the test worker ran it"


@pytest.mark.django_db
def test_healthz_reports_the_workers_last_heartbeat(celery_worker_process, admin_client, kube):
    hostname = worker_heartbeat.delay().get(timeout=30)
    workers = admin_client.get("/healthz").json()["workers"]  # staff read the details
    assert workers["ok"] is True
    assert workers["detail"].endswith(f"ago from {hostname}")


def test_tasks_are_acknowledged_late_and_rejected_when_a_worker_is_lost():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.broker_transport_options["visibility_timeout"] >= 60
