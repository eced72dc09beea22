"""What instructors use: the cohort dashboard, a student's drill-down, actions on a
student (reset, regrade, pass), the grade export and sample activity for the demo."""

from django.apps import AppConfig


class TeachingConfig(AppConfig):
    name = "labplatform.teaching"
    label = "teaching"
    default_auto_field = "django.db.models.BigAutoField"
