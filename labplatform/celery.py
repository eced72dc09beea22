"""The Celery app. Workers: `celery -A labplatform worker`; configuration is in settings
under the CELERY_ prefix."""

import logging.config
import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labplatform.settings")

app = Celery("labplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# A cohort's scheduled end sits with the rest of its lifecycle (tasks.py is imported by
# the services that queue its tasks, which lifecycle uses).
app.autodiscover_tasks(related_name="lifecycle")


@setup_logging.connect
def logging_from_django_settings(*, loglevel: int | None = None, **_) -> None:
    """Workers and beat log as the web does (settings.LOGGING, so LOG_FORMAT=json gives JSON
    lines), instead of Celery replacing the root logger's handlers with its own format;
    `--loglevel` still sets the level."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)
