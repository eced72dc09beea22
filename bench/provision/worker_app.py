"""The benchmark's Celery app: labplatform's own app and tasks, traced (see tracing.py).
Workers start with `celery -A bench.provision.worker_app worker`.

BENCH_EXPERIMENTS (comma-separated) tries a change the report recommends, without
touching the platform's code; a run with any of them is labelled as an experiment:
  db-reuse          keep each worker's PostgreSQL connection across tasks
                    (Celery's CELERY_DB_REUSE_MAX; by default its Django fixup closes the
                    connection before and after every task)
  no-progress-push  skip the per-environment progress push (count query + channel send)
"""

import os

import django

from labplatform.celery import app

django.setup()

from bench.provision import tracing  # noqa: E402 (needs Django's apps loaded)

EXPERIMENTS = {e.strip() for e in os.environ.get("BENCH_EXPERIMENTS", "").split(",") if e.strip()}
if "db-reuse" in EXPERIMENTS:
    app.conf["CELERY_DB_REUSE_MAX"] = 1_000_000
if "no-progress-push" in EXPERIMENTS:
    from labplatform.environments import steps as environment_work

    environment_work.provisioning_push = lambda **_: None

tracing.install()

__all__ = ["app"]
