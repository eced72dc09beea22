"""The benchmark's Celery app: labplatform's own app and tasks, traced (see tracing.py).
Workers start with `celery -A bench.provision.worker_app worker`."""

import django

from labplatform.celery import app

django.setup()

from bench.provision import tracing  # noqa: E402 (needs Django's apps loaded)

tracing.install()

__all__ = ["app"]
