"""The Celery app. Workers: `celery -A labplatform worker`; configuration is in settings
under the CELERY_ prefix."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labplatform.settings")

app = Celery("labplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
