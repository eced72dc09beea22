"""History only. The models that were here moved to `cohorts` and `environments`
(their tables kept their `classroom_` names); the migrations stay so that a database
made before the move upgrades in place. Nothing imports this app."""

from django.apps import AppConfig


class ClassroomConfig(AppConfig):
    name = "labplatform.classroom"
    label = "classroom"
    default_auto_field = "django.db.models.BigAutoField"
