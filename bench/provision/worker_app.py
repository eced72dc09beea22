"""The benchmark's Celery app: labplatform's own app and tasks, with the platform's trace
hooks recorded (bench/spans.py) and each task's steps written to
BENCH_TRACE_DIR/trace-<pid>.jsonl when it ends. Workers start with
`celery -A bench.provision.worker_app worker`.

BENCH_EXPERIMENTS (comma-separated) tries a change the report recommends, without
touching the platform's code; a run with any of them is labelled as an experiment:
  db-reuse          keep each worker's PostgreSQL connection across tasks
                    (Celery's CELERY_DB_REUSE_MAX; by default its Django fixup closes the
                    connection before and after every task)
  no-progress-push  skip the per-environment progress push (count query + channel send)
"""

import os
from pathlib import Path

import django
from celery.signals import task_postrun, task_prerun, worker_process_shutdown, worker_shutdown

from bench.spans import Recorder, events_append
from labplatform import tracing
from labplatform.celery import app

django.setup()

EXPERIMENTS = {e.strip() for e in os.environ.get("BENCH_EXPERIMENTS", "").split(",") if e.strip()}
if "db-reuse" in EXPERIMENTS:
    app.conf["CELERY_DB_REUSE_MAX"] = 1_000_000
if "no-progress-push" in EXPERIMENTS:
    from labplatform.environments import steps

    if not hasattr(steps, "provisioning_push"):
        raise RuntimeError(
            "no-progress-push: environments.steps no longer calls provisioning_push; update worker_app.py"
        )
    steps.provisioning_push = lambda **_: None

recorder = Recorder()
tracing.recorder_install(recorder)
_TRACE_DIR = Path(os.environ.get("BENCH_TRACE_DIR", "."))


def _flush(**_) -> None:
    events_append(recorder.take(), _TRACE_DIR)


@task_prerun.connect(weak=False)
def _started(task_id=None, args=None, **_) -> None:
    recorder.task_begin(args[0] if args else task_id)


@task_postrun.connect(weak=False)
def _ended(task=None, **_) -> None:
    recorder.task_end(f"task {task.name.rsplit('.', 1)[-1]}")
    _flush()


worker_process_shutdown.connect(_flush, weak=False)
worker_shutdown.connect(_flush, weak=False)

__all__ = ["app"]
