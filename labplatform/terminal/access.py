"""Who may open which terminal. Decided before any exec is opened; the consumer only
speaks the protocol."""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from labplatform.cohorts.models import Enrollment
from labplatform.environments.models import StudentEnvironment


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
    cluster: str
    namespace: str  # the workstation's namespace
    read_only: bool


def _target(enrollment: Enrollment, *, read_only: bool) -> TerminalTarget:
    return TerminalTarget(
        enrollment_id=enrollment.pk,
        student=enrollment.student_id,
        cluster=enrollment.cohort.cluster.name,
        namespace=settings.WORKSTATION_NAMESPACE,
        read_only=read_only,
    )


def _require_ready(enrollment: Enrollment, *, whose: str) -> None:
    environment = getattr(enrollment, "environment", None)
    if environment is None or environment.state != StudentEnvironment.State.READY:
        state = "not set up yet" if environment is None else environment.get_state_display().lower()
        raise TerminalRefused(
            f"{whose} environment is {state}; the terminal opens when it is ready.",
            code=4409,
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


def owner_target(user: AbstractBaseUser | AnonymousUser, *, cohort_slug: str | None = None) -> TerminalTarget:
    """The signed-in student's own terminal."""
    if not user.is_authenticated:
        raise TerminalRefused("Sign in to open your terminal.", code=4401)
    enrollment = own_enrollment(user, cohort_slug=cohort_slug)
    if enrollment is None:
        raise TerminalRefused("You have no student enrollment with a terminal.", code=4403)
    _require_ready(enrollment, whose="Your")
    return _target(enrollment, read_only=False)


def watcher_target(user: AbstractBaseUser | AnonymousUser, *, student: str) -> TerminalTarget:
    """A read-only view of a student's terminal, for the instructors of that student's cohort."""
    if not user.is_authenticated:
        raise TerminalRefused("Sign in to watch a terminal.", code=4401)
    enrollment = _students().filter(student_id=student).first()
    teaches = (
        enrollment is not None and Enrollment.objects.instructors().filter(user=user, cohort=enrollment.cohort).exists()
    )
    if not teaches:
        # The same answer whether the student exists or not.
        raise TerminalRefused("Only the instructors of this student's cohort may watch this terminal.", code=4403)
    _require_ready(enrollment, whose=f"{enrollment.user.get_username()}'s")
    return _target(enrollment, read_only=True)
