"""A student's use of the lesson pages, recorded at most once a minute (whichever web
process asks): with the terminal's activity, what tells the dashboard who is idle."""

from datetime import timedelta

from django.utils import timezone

from lessons.models import PageActivity

WRITE_INTERVAL = timedelta(minutes=1)


def page_seen(*, enrollment_id: int) -> None:
    now = timezone.now()
    if PageActivity.objects.filter(enrollment_id=enrollment_id, last_seen_at__lt=now - WRITE_INTERVAL).update(
        last_seen_at=now
    ):
        return
    PageActivity.objects.get_or_create(enrollment_id=enrollment_id, defaults={"last_seen_at": now})
