"""Terminal bookkeeping: the student's last activity (throttled) and instructors' shadow
sessions, whose count the student's own terminal shows. Database work only: the consumer
sends the messages these return (sending from a worker thread could hang a shutting-down
event loop)."""

from datetime import timedelta

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


# A watch renews last_seen_at every KEEPALIVE_SECONDS (30); three missed renewals and it
# no longer counts (its web process died without recording the end).
WATCH_STALE_AFTER = timedelta(seconds=90)


def watchers_count(*, enrollment_id: int) -> int:
    return ShadowSession.objects.filter(
        enrollment_id=enrollment_id, ended_at__isnull=True, last_seen_at__gte=timezone.now() - WATCH_STALE_AFTER
    ).count()


def shadow_seen(*, session_id: int) -> None:
    ShadowSession.objects.filter(pk=session_id, ended_at__isnull=True).update(last_seen_at=timezone.now())


def watchers_message(*, enrollment_id: int) -> dict:
    """What the student's terminal is told about who watches it, sent to terminal_group."""
    return {"type": "terminal.watchers", "count": watchers_count(enrollment_id=enrollment_id)}


def shadow_start(*, watcher_id: int, enrollment_id: int) -> tuple[int, dict]:
    """Logs a watch beginning; returns its id and the message for the student's terminal."""
    session = ShadowSession.objects.create(watcher_id=watcher_id, enrollment_id=enrollment_id)
    return session.pk, watchers_message(enrollment_id=enrollment_id)


def shadow_end(*, session_id: int, enrollment_id: int) -> dict:
    """Logs a watch ending; returns the message for the student's terminal."""
    ShadowSession.objects.filter(pk=session_id, ended_at__isnull=True).update(ended_at=timezone.now())
    return watchers_message(enrollment_id=enrollment_id)
