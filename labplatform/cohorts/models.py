import secrets
import string
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from labplatform import push
from labplatform.cohorts.presets import DEFAULT_PRESET, preset_choices

_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_student_id() -> str:
    """An opaque, DNS-safe id: it names a student's namespace and Unix user, never an email."""
    return "s" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(9))


class Cluster(models.Model):
    name = models.SlugField(max_length=40, unique=True)
    is_local = models.BooleanField(
        default=False, help_text="The local KWOK cluster: exec rules and Unix users are made on this host."
    )
    kubeconfig_path = models.CharField(
        max_length=500, blank=True, help_text="Empty: the platform's own (LABPLATFORM_KUBECONFIG, or in-cluster)."
    )
    ingress_domain = models.CharField(
        max_length=200, default="labs.localhost", help_text="Students' Ingress hosts are <namespace>.<this domain>."
    )

    def __str__(self) -> str:
        return self.name


class Cohort(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        ENDED = "ended", "Ended"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=40, unique=True)
    course = models.CharField(max_length=100, default="module-15-kubernetes")
    cluster = models.ForeignKey(Cluster, on_delete=models.PROTECT, related_name="cohorts")
    quota_preset = models.CharField(max_length=40, choices=preset_choices, default=DEFAULT_PRESET)
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    lessons_gated = models.BooleanField(
        default=False, help_text="A lesson opens only when every task of the lesson before it has passed."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def progress_group(self) -> str:
        """Where its environments' provisioning progress is pushed for the admin."""
        return push.cohort_progress_group(self.pk)

    @property
    def grades_group(self) -> str:
        """Where its students' task states are pushed for its instructors."""
        return push.cohort_grades_group(self.pk)


class EnrollmentQuerySet(models.QuerySet):
    """The rules about who is in a cohort, written once: a dropped enrollment keeps its
    grades but counts for nothing else."""

    def active(self) -> "EnrollmentQuerySet":
        return self.filter(dropped_at__isnull=True)

    def students(self) -> "EnrollmentQuerySet":
        return self.active().filter(role=Enrollment.Role.STUDENT)

    def instructors(self) -> "EnrollmentQuerySet":
        return self.active().filter(role=Enrollment.Role.INSTRUCTOR)


def enrolled(path: str, *, role: str | None = None) -> models.Q:
    """The same rules across a relation: `enrolled("enrollment", role=STUDENT)` for a row
    that belongs to an active student's enrollment."""
    lookups = {f"{path}__dropped_at__isnull": True}
    if role is not None:
        lookups[f"{path}__role"] = role
    return models.Q(**lookups)


class Enrollment(models.Model):
    class Role(models.TextChoices):
        STUDENT = "student", "Student"
        INSTRUCTOR = "instructor", "Instructor"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrollments")
    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="enrollments")
    role = models.CharField(max_length=12, choices=Role.choices, default=Role.STUDENT)
    student_id = models.CharField(max_length=16, unique=True, default=new_student_id, editable=False)
    dropped_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = EnrollmentQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "cohort"], name="one_enrollment_per_cohort")]
        ordering = ["cohort", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.cohort} ({self.role})"

    @property
    def is_active(self) -> bool:
        return self.dropped_at is None


class Invite(models.Model):
    """A one-time link to set a password. The link carries this row's id, signed with the
    secret key, so it can be shown again and exported while it is valid; it is spent when
    used, and revoked when regenerated."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invites")
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"invite for {self.user}"


class Announcement(models.Model):
    """A short message from a cohort's instructor to its students, shown as a banner on
    their pages until it expires or is cleared."""

    MAX_LENGTH = 500

    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="announcements")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="announcements")
    text = models.CharField(max_length=MAX_LENGTH)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["cohort", "-created_at"], name="announcement_cohort_latest")]

    def __str__(self) -> str:
        return f"{self.cohort}: {self.text[:40]}"
