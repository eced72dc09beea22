"""Cohorts and who is in them: clusters, cohorts, enrollments, rosters, invites,
quota presets, announcements and the banners students see."""

from django.apps import AppConfig


class CohortsConfig(AppConfig):
    name = "labplatform.cohorts"
    label = "cohorts"
    default_auto_field = "django.db.models.BigAutoField"
