"""Announcements: an instructor's short message to a cohort, shown as a banner on every
page of its students, and pushed to the pages they already have open."""

import logging
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from labplatform import push
from labplatform.cohorts.models import Announcement, Cohort, Enrollment

logger = logging.getLogger(__name__)

# Announcements are about the days they are made in; an instructor can clear one sooner.
LIFETIME = timedelta(days=7)


class AnnouncementRefused(ValueError):
    """An announcement that cannot be posted, in words for the instructor."""


def announcement_event(announcement: Announcement) -> dict:
    """What the banner script receives on /ws/events/; the same fields the page renders."""
    author = announcement.author
    return {
        "type": "announcement",
        "id": announcement.pk,
        "cohort": announcement.cohort.name,
        "author": author.get_full_name() or author.get_username(),
        "text": announcement.text,
        "created_at": announcement.created_at.isoformat(),
    }


def announcement_post(*, cohort: Cohort, author: AbstractBaseUser, text: str) -> Announcement:
    """Saves the announcement and, once saved, pushes it to the cohort's students.
    Raises AnnouncementRefused for an empty or too long text; nothing is saved then."""
    text = (text or "").strip()
    if not text:
        raise AnnouncementRefused("Write the announcement first: it is empty.")
    if len(text) > Announcement.MAX_LENGTH:
        raise AnnouncementRefused(
            f"An announcement may be at most {Announcement.MAX_LENGTH} characters; this one has {len(text)}."
        )
    now = timezone.now()
    with transaction.atomic():
        announcement = Announcement.objects.create(
            cohort=cohort, author=author, text=text, created_at=now, expires_at=now + LIFETIME
        )
        transaction.on_commit(lambda: announcement_push(announcement=announcement))
    return announcement


def announcement_clear(*, cohort: Cohort, announcement_id: int) -> bool:
    """Takes an announcement off students' pages (from their next page load). False if it
    was not this cohort's, or already cleared."""
    return bool(
        Announcement.objects.filter(pk=announcement_id, cohort=cohort, cleared_at__isnull=True).update(
            cleared_at=timezone.now()
        )
    )


def announcement_push(*, announcement: Announcement) -> None:
    """Best effort: the announcement is saved, so a page that misses the push shows it
    when it is next loaded."""
    students = list(
        Enrollment.objects.students().filter(cohort_id=announcement.cohort_id).values_list("user_id", flat=True)
    )
    event = announcement_event(announcement)
    push.send(*(push.to_user(user_id, event) for user_id in students), what=f"announcement {announcement.pk}")
