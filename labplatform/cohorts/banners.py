"""What banners a student sees on every page: their cohorts' latest announcements, and a
warning when a cohort is about to end (or has ended) and their environment goes with it."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q
from django.utils import timezone

from labplatform.cohorts.models import Announcement, Cohort, Enrollment, enrolled

LATEST_ANNOUNCEMENTS = 3
# After a cohort ended its students are told why their terminal is gone, for a while.
ENDED_NOTICE = timedelta(days=7)


@dataclass(frozen=True)
class CohortEnding:
    cohort: Cohort
    ends_at: datetime
    ended: bool


@dataclass
class StudentBanners:
    announcements: list[Announcement] = field(default_factory=list)
    endings: list[CohortEnding] = field(default_factory=list)
    # Whether the page listens for announcements: the user is a student of some cohort.
    live: bool = False

    def __bool__(self) -> bool:
        return bool(self.announcements or self.endings)


def ending_warning_window() -> timedelta:
    return timedelta(hours=settings.ENDING_WARNING_HOURS)


def cohort_ending(cohort: Cohort, *, now: datetime) -> CohortEnding | None:
    """The cohort's ending, if its students should be warned of it now."""
    if cohort.ends_at is None:
        return None
    if cohort.state == Cohort.State.ENDED:
        return CohortEnding(cohort, cohort.ends_at, ended=True) if now < cohort.ends_at + ENDED_NOTICE else None
    if now >= cohort.ends_at - ending_warning_window():
        return CohortEnding(cohort, cohort.ends_at, ended=False)
    return None


def student_banners(*, user: AbstractBaseUser | AnonymousUser) -> StudentBanners:
    if not user.is_authenticated:
        return StudentBanners()
    cohorts = list(
        Cohort.objects.filter(enrolled("enrollments", role=Enrollment.Role.STUDENT), enrollments__user=user).order_by(
            "ends_at"
        )
    )
    if not cohorts:
        return StudentBanners()
    now = timezone.now()
    announcements = list(
        Announcement.objects.filter(cohort__in=cohorts, cleared_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .select_related("cohort", "author")[:LATEST_ANNOUNCEMENTS]
    )
    endings = [ending for cohort in cohorts if (ending := cohort_ending(cohort, now=now))]
    return StudentBanners(announcements=announcements, endings=endings, live=True)
