"""A cohort's end: extending it, ending it after a warning, and, once `ends_at` has
passed, marking it ended and tearing down its students' environments (grades stay).

The beat task and an admin's extend can meet on the same row, and its lock decides: an
extend that commits first moves `ends_at` out of the task's conditional UPDATE, and one
that comes after the task finds the cohort torn down and says so.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from labplatform.cohorts.banners import ending_warning_window
from labplatform.cohorts.models import Cohort, enrolled
from labplatform.environments import services as environments
from labplatform.environments.models import StudentEnvironment

ENDED = Cohort.State.ENDED
# An end date means the end of that day, where the platform keeps time (TIME_ZONE).
END_OF_DAY = time(23, 59)


def end_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, END_OF_DAY))


class LifecycleRefused(ValueError):
    """A change to a cohort's dates that cannot be made, in words for the admin."""


def _ended_message(cohort: Cohort) -> str:
    return f"{cohort.name} has ended and its environments were removed; it can no longer be changed."


def _torn_down(cohort: Cohort) -> bool:
    """The cohort was ended and its students' environments went (or are going) with it."""
    return cohort.state == ENDED and (
        StudentEnvironment.objects.filter(
            enrolled("enrollment"),
            enrollment__cohort=cohort,
            state__in=[StudentEnvironment.State.DELETING, StudentEnvironment.State.DELETED],
        ).exists()
    )


@transaction.atomic
def cohort_extend(*, cohort: Cohort, ends_on: date) -> datetime:
    """Moves the cohort's end to the end of `ends_on`; returns the new `ends_at`. Works
    until the cohort has been torn down: also when its old end has passed, or when it was
    marked ended by hand with its environments still there (it is active again)."""
    ends_at = end_of(ends_on)
    if ends_at <= timezone.now():
        raise LifecycleRefused(f"The new end date must be in the future; {ends_on:%Y-%m-%d} is not.")
    # The lock first, then the reads: a conditional UPDATE alone would re-check the row
    # after waiting on the beat task's lock, but judge the environments as they were
    # before it, and reopen a cohort the task had just torn down.
    locked = Cohort.objects.select_for_update().get(pk=cohort.pk)
    if _torn_down(locked):
        raise LifecycleRefused(_ended_message(cohort))
    locked.ends_at = ends_at
    if locked.state == ENDED:
        locked.state = Cohort.State.ACTIVE
    locked.save(update_fields=["ends_at", "state"])
    cohort.ends_at, cohort.state = locked.ends_at, locked.state
    return ends_at


@transaction.atomic
def cohort_end_soon(*, cohort: Cohort) -> datetime:
    """Ends the cohort after the warning period, so its students are warned first; an end
    already sooner than that stays. Returns the `ends_at` it now has."""
    locked = Cohort.objects.select_for_update().get(pk=cohort.pk)
    if locked.state == ENDED:
        raise LifecycleRefused(f"{cohort.name} has already ended.")
    ends_at = timezone.now() + ending_warning_window()
    if locked.ends_at is not None and locked.ends_at < ends_at:
        ends_at = locked.ends_at
    locked.ends_at = ends_at
    locked.save(update_fields=["ends_at"])
    cohort.ends_at = ends_at
    return ends_at


def cohorts_due_ids() -> list[int]:
    return list(Cohort.objects.filter(ends_at__lte=timezone.now()).exclude(state=ENDED).values_list("id", flat=True))


@transaction.atomic
def cohort_end(*, cohort_id: int) -> int | None:
    """Marks a cohort whose end has passed ended and tears its environments down, in one
    transaction. Returns how many environments were queued for teardown, or None when
    the cohort was not due (extended meanwhile, or already ended by an earlier run)."""
    if not Cohort.objects.filter(pk=cohort_id, ends_at__lte=timezone.now()).exclude(state=ENDED).update(state=ENDED):
        return None
    return environments.cohort_teardown(cohort=Cohort.objects.get(pk=cohort_id))


@shared_task
def cohorts_ended_teardown() -> list[int]:
    """Queued by beat: ends every cohort whose end has passed and tears down its
    environments. Each cohort is ended in its own transaction by a conditional update, so
    a second run, or a redelivery after a killed worker, ends nothing twice."""
    return [cohort_id for cohort_id in cohorts_due_ids() if cohort_end(cohort_id=cohort_id) is not None]


@dataclass(frozen=True)
class CohortSchedule:
    """What the admin's cohort page says about the cohort's dates."""

    starts_at: datetime
    ends_at: datetime | None
    warning_from: datetime | None
    warning_now: bool  # students see the ending banner
    overdue: bool  # the end has passed; the next beat run ends it
    ended: bool
    torn_down: bool  # ended, and the students' environments went with it
    earliest_end: date  # the earliest date an extension may name


def cohort_schedule(*, cohort: Cohort) -> CohortSchedule:
    now = timezone.now()
    ends_at = cohort.ends_at
    warning_from = ends_at - ending_warning_window() if ends_at else None
    ended = cohort.state == ENDED
    today = timezone.localdate(now)
    return CohortSchedule(
        starts_at=cohort.starts_at,
        ends_at=ends_at,
        warning_from=warning_from,
        warning_now=bool(warning_from and warning_from <= now and not ended),
        overdue=bool(ends_at and ends_at <= now and not ended),
        ended=ended,
        torn_down=_torn_down(cohort),
        earliest_end=today if end_of(today) > now else today + timedelta(days=1),
    )
