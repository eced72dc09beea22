from django.conf import settings
from django.db import models
from django.utils import timezone

from labplatform.cohorts.models import Enrollment


class ShadowSession(models.Model):
    """An instructor watching a student's terminal, read-only: who, whom, when."""

    watcher = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="shadow_sessions")
    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="shadow_sessions")
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # Renewed while the watch is open: a web process that dies cannot record the end, and
    # a watch not seen for a while no longer counts as watching.
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["enrollment", "ended_at"])]

    def __str__(self) -> str:
        return f"{self.watcher} watching {self.enrollment} from {self.started_at:%Y-%m-%d %H:%M}"


class TerminalActivity(models.Model):
    """When the student last typed, written at most once a minute, so that the dashboard can
    tell idle students from busy ones."""

    enrollment = models.OneToOneField(Enrollment, on_delete=models.CASCADE, related_name="terminal_activity")
    last_input_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.enrollment}: last typed {self.last_input_at:%Y-%m-%d %H:%M}"
