from django.apps import AppConfig


class TerminalConfig(AppConfig):
    name = "labplatform.terminal"
    default_auto_field = "django.db.models.BigAutoField"
