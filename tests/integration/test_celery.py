"""A real Celery worker takes tasks from the Redis broker."""

from labplatform.celery import app


def test_a_worker_runs_a_task_sent_through_redis(celery_worker_process):
    result = app.send_task("celery.ping")
    assert result.get(timeout=30) == "pong"


def test_tasks_are_acknowledged_late_and_rejected_when_a_worker_is_lost():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.broker_transport_options["visibility_timeout"] >= 60
