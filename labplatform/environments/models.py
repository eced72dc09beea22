"""A student's environment on the cluster: their namespace and workstation, and where
provisioning has got to (the state machine is in services.py and steps.py)."""

from django.db import models

from labplatform.cohorts.models import Enrollment


class StudentEnvironment(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        PROVISIONING = "provisioning", "Provisioning"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        DELETING = "deleting", "Deleting"
        DELETED = "deleted", "Deleted"

    enrollment = models.OneToOneField(Enrollment, on_delete=models.CASCADE, related_name="environment")
    namespace = models.CharField(max_length=63, unique=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["namespace"]

    def __str__(self) -> str:
        return f"{self.namespace} ({self.state})"
