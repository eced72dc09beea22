"""Who may open which terminal. Decided before any exec is opened, and again whenever the
consumer is told that someone's access changed; the consumer only speaks the protocol."""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from labplatform.cohorts.models import Enrollment
from labplatform.environments.models import StudentEnvironment

CLOSE_SIGNED_OUT = 4401
CLOSE_NOT_ALLOWED = 4403
CLOSE_NOT_READY = 4409
CLOSE_REMOVED = 4410

_GONE = (StudentEnvironment.State.DELETING, StudentEnvironment.State.DELETED)


class TerminalRefused(Exception):
    """Why a terminal cannot be opened, in words for the person asking."""

    def __init__(self, message: str, *, code: int, offer_reset: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.offer_reset = offer_reset


@dataclass(frozen=True)
class TerminalTarget:
    enrollment_id: int
    student: str
    student_user_id: int
    cluster: str
    namespace: str  # the workstation's namespace
    read_only: bool


def _target(enrollment: Enrollment, *, read_only: bool) -> TerminalTarget:
    return TerminalTarget(
        enrollment_id=enrollment.pk,
        student=enrollment.student_id,
        student_user_id=enrollment.user_id,
        cluster=enrollment.cohort.cluster.name,
        namespace=settings.WORKSTATION_NAMESPACE,
        read_only=read_only,
    )


def _require_live(enrollment: Enrollment, *, whose: str) -> None:
    """Refuses an environment that was torn down (the student dropped, the cohort ended):
    it will not come back, so the terminal says so and stops."""
    environment = getattr(enrollment, "environment", None)
    if environment is not None and environment.state in _GONE:
        raise TerminalRefused(f"{whose} environment has been removed, so the terminal is closed.", code=CLOSE_REMOVED)


def _require_ready(enrollment: Enrollment, *, whose: str) -> None:
    _require_live(enrollment, whose=whose)
    environment = getattr(enrollment, "environment", None)
    if environment is None or environment.state != StudentEnvironment.State.READY:
        state = "not set up yet" if environment is None else environment.get_state_display().lower()
        raise TerminalRefused(
            f"{whose} environment is {state}; the terminal opens when it is ready.",
            code=CLOSE_NOT_READY,
            offer_reset=environment is not None and environment.state == StudentEnvironment.State.FAILED,
        )


def _students():
    """Active students' enrollments, with what a terminal needs loaded."""
    return Enrollment.objects.students().select_related("cohort__cluster", "environment", "user")


def own_enrollment(user: AbstractBaseUser, *, cohort_slug: str | None = None) -> Enrollment | None:
    """The student enrollment behind the user's own terminal: in the given cohort, else
    their latest."""
    enrollments = _students().filter(user=user)
    if cohort_slug:
        enrollments = enrollments.filter(cohort__slug=cohort_slug)
    return enrollments.order_by("-cohort__starts_at", "-pk").first()


def _no_longer_enrolled(dropped: Enrollment | None, *, default: str) -> TerminalRefused:
    if dropped is None:
        return TerminalRefused(default, code=CLOSE_NOT_ALLOWED)
    return TerminalRefused(
        f"You are no longer enrolled in {dropped.cohort.name}, so your terminal there is closed.",
        code=CLOSE_NOT_ALLOWED,
    )


def _dropped(**lookups) -> Enrollment | None:
    return (
        Enrollment.objects.filter(role=Enrollment.Role.STUDENT, dropped_at__isnull=False, **lookups)
        .select_related("cohort", "user")
        .first()
    )


def owner_target(user: AbstractBaseUser | AnonymousUser, *, cohort_slug: str | None = None) -> TerminalTarget:
    """The signed-in student's own terminal."""
    if not user.is_authenticated:
        raise TerminalRefused("Sign in to open your terminal.", code=CLOSE_SIGNED_OUT)
    enrollment = own_enrollment(user, cohort_slug=cohort_slug)
    if enrollment is None:
        dropped = _dropped(user=user, cohort__slug=cohort_slug) if cohort_slug else None
        raise _no_longer_enrolled(dropped, default="You have no student enrollment with a terminal.")
    _require_ready(enrollment, whose="Your")
    return _target(enrollment, read_only=False)


def _watched(user: AbstractBaseUser, *, student: str) -> Enrollment:
    """The student enrollment the user may watch, or why not."""
    enrollment = _students().filter(student_id=student).first()
    teaches = Enrollment.objects.instructors().filter(user=user)
    if enrollment is None:
        dropped = _dropped(student_id=student)
        if dropped is not None and teaches.filter(cohort=dropped.cohort).exists():
            # Only to those who teach the cohort, who saw the student there.
            raise TerminalRefused(
                f"{dropped.user.get_username()} is no longer enrolled in {dropped.cohort.name}.",
                code=CLOSE_NOT_ALLOWED,
            )
    if enrollment is None or not teaches.filter(cohort=enrollment.cohort).exists():
        # The same answer whether the student exists or not.
        raise TerminalRefused(
            "Only the instructors of this student's cohort may watch this terminal.", code=CLOSE_NOT_ALLOWED
        )
    return enrollment


def watcher_target(user: AbstractBaseUser | AnonymousUser, *, student: str) -> TerminalTarget:
    """A read-only view of a student's terminal, for the instructors of that student's cohort."""
    if not user.is_authenticated:
        raise TerminalRefused("Sign in to watch a terminal.", code=CLOSE_SIGNED_OUT)
    enrollment = _watched(user, student=student)
    _require_ready(enrollment, whose=f"{enrollment.user.get_username()}'s")
    return _target(enrollment, read_only=True)


def target_recheck(user: AbstractBaseUser, target: TerminalTarget) -> None:
    """For an open terminal, told that someone's access changed: raises TerminalRefused if
    `user` (read again from their session) may no longer hold it. The same enrollment as
    when it opened, still active; and its environment not torn down (an environment being
    reconciled or reset is still the student's: its terminal is not closed for that)."""
    if target.read_only:
        enrollment = _watched(user, student=target.student)
        _require_live(enrollment, whose=f"{enrollment.user.get_username()}'s")
        return
    enrollment = _students().filter(user=user, pk=target.enrollment_id).first()
    if enrollment is None:
        raise _no_longer_enrolled(
            _dropped(user=user, pk=target.enrollment_id), default="You have no student enrollment with a terminal."
        )
    _require_live(enrollment, whose="Your")
