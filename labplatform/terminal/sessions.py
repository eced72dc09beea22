"""Terminal bookkeeping: the student's last activity (throttled) and instructors' shadow
sessions, whose count the student's own terminal shows."""

from datetime import timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db.models import Q
from django.utils import timezone

from labplatform.terminal.models import ShadowSession, TerminalActivity

ACTIVITY_WRITE_INTERVAL = timedelta(minutes=1)


def terminal_group(student: str) -> str:
    return f"terminal.{student}"


def activity_record(*, enrollment_id: int) -> bool:
    """Notes that the student typed. At most one write a minute, whichever process asks:
    the update is conditional on the last write being older. True if it wrote."""
    now = timezone.now()
    updated = TerminalActivity.objects.filter(
        Q(last_input_at__lt=now - ACTIVITY_WRITE_INTERVAL), enrollment_id=enrollment_id
    ).update(last_input_at=now)
    if updated:
        return True
    _, created = TerminalActivity.objects.get_or_create(enrollment_id=enrollment_id, defaults={"last_input_at": now})
    return created


def watchers_count(*, enrollment_id: int) -> int:
    return ShadowSession.objects.filter(enrollment_id=enrollment_id, ended_at__isnull=True).count()


def _announce_watchers(*, enrollment_id: int, student: str) -> None:
    count = watchers_count(enrollment_id=enrollment_id)
    message = {"type": "terminal.watchers", "count": count}
    async_to_sync(get_channel_layer().group_send)(terminal_group(student), message)


def shadow_start(*, watcher_id: int, enrollment_id: int, student: str) -> int:
    session = ShadowSession.objects.create(watcher_id=watcher_id, enrollment_id=enrollment_id)
    _announce_watchers(enrollment_id=enrollment_id, student=student)
    return session.pk


def shadow_end(*, session_id: int, enrollment_id: int, student: str) -> None:
    ShadowSession.objects.filter(pk=session_id, ended_at__isnull=True).update(ended_at=timezone.now())
    _announce_watchers(enrollment_id=enrollment_id, student=student)
