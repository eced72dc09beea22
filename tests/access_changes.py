"""Helpers for tests of sockets closing when access ends: the person signing out, and an
admin changing an enrollment, each through the real views."""

from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone


def signed_in_client(session: str) -> Client:
    """A browser holding this session's cookie."""
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = session
    return client


def sign_out(session: str) -> None:
    """The Sign out button of a browser holding this session."""
    response = signed_in_client(session).post(reverse("logout"))
    assert response.status_code in (200, 302), response.status_code


def admin_client(django_user_model) -> Client:
    admin = django_user_model.objects.create_superuser(username=f"admin-{timezone.now():%H%M%S%f}", password="x")
    client = Client()
    client.force_login(admin)
    return client


def admin_drops_enrollment(client: Client, enrollment) -> None:
    """The admin's Enrollment change form, saved with a drop date (how an instructor is
    removed from a cohort)."""
    now = timezone.localtime()
    response = client.post(
        reverse("admin:cohorts_enrollment_change", args=[enrollment.pk]),
        {
            "user": enrollment.user_id,
            "cohort": enrollment.cohort_id,
            "role": enrollment.role,
            "dropped_at_0": now.strftime("%Y-%m-%d"),
            "dropped_at_1": now.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    enrollment.refresh_from_db()
    assert enrollment.dropped_at is not None


def staff_drops_student(client: Client, enrollment) -> None:
    """Drop on the admin's cohort page (/staff/cohorts/<slug>/)."""
    response = client.post(
        reverse("enrollment-drop", kwargs={"slug": enrollment.cohort.slug, "enrollment_id": enrollment.pk})
    )
    assert response.status_code == 302, response.status_code
