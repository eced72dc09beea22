"""A student's environment on the cluster: their namespace and workstation, and where
provisioning has got to (the state machine is in services.py and steps.py)."""

from django.db import models

from labplatform.cohorts.models import Enrollment


class StudentEnvironment(models.Model):
    class State(models.TextChoices):
        # Each label is the name title-cased, Django's default, so none is written: then a
        # type checker, which does not know TextChoices, sees each member as the str it is
        # (services.py is type-checked), not as a (value, label) tuple.
        PENDING = "pending"
        PROVISIONING = "provisioning"
        READY = "ready"
        FAILED = "failed"
        DELETING = "deleting"
        DELETED = "deleted"

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
