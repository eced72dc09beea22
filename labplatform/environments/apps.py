"""Students' environments on the cluster: the state machine, its services and worker
steps, the provisioning progress socket, a cohort's end, and the admin's cohort pages."""

from django.apps import AppConfig


class EnvironmentsConfig(AppConfig):
    name = "labplatform.environments"
    label = "environments"
    default_auto_field = "django.db.models.BigAutoField"
