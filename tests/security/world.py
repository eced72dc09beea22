"""Two cohorts taking one course, with data worth stealing: the victim (a student of
cohort A) has attempts, a quiz submission, hints, an environment, an announcement and an
invite; everyone else is an attacker with a session of their own.

Rows only (no cluster): the victim's environment is `failed`, so no page reads a
namespace. What an attack may not change is `victim_state()`; what it may not show is
`VICTIM_MARKERS`."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.utils import timezone

from labplatform.cohorts.invites import invite_create, invite_token
from labplatform.cohorts.models import Announcement, Cluster, Cohort, Enrollment, Invite
from labplatform.environments.models import StudentEnvironment
from labplatform.terminal.models import ShadowSession
from lessons.models import (
    Attempt,
    Course,
    HintReveal,
    Lesson,
    QuizQuestion,
    QuizSubmission,
    StaffAction,
    Task,
    TaskProgress,
)

COURSE = "sec-course"
LESSON = "1.1-first"
# A second lesson whose quiz nobody has submitted: a quiz takes one submission, and the
# victim's on the first lesson is data to protect, so the rightful submission goes here.
OPEN_QUIZ_LESSON = "1.2-second"
TASK = "make-it"

# Written only into the victim's rows: an attacker's answer containing any is a leak.
VICTIM_NAME = "Victoria Victimova"
VICTIM_ATTEMPT_MESSAGE = "victim-attempt-message-7c1e"
VICTIM_ANSWER = "victim-typed-answer-52ab"
VICTIM_EVIDENCE = "victim-evidence-value-93fd"
VICTIM_ANNOUNCEMENT = "victim-cohort-announcement-0d4a"


@dataclass
class World:
    cohort_a: Cohort
    cohort_b: Cohort
    victim: Enrollment  # a student of cohort A
    classmate: Enrollment  # another student of cohort A
    outsider: Enrollment  # a student of cohort B
    instructor_a: Enrollment
    instructor_b: Enrollment  # teaches cohort B only
    staff: object
    task: Task
    lesson: Lesson
    open_quiz_lesson: Lesson  # its quiz not yet submitted by anyone
    attempt: Attempt  # the victim's
    announcement: Announcement  # cohort A's
    invite: Invite  # the victim's, not yet used
    invite_token: str

    @property
    def markers(self) -> list[str]:
        """What only the victim's data holds."""
        return [
            VICTIM_NAME,
            self.victim.user.username,
            self.victim.student_id,
            self.victim.environment.namespace,
            VICTIM_ATTEMPT_MESSAGE,
            VICTIM_ANSWER,
            VICTIM_EVIDENCE,
        ]


def _user(username: str, **extra):
    # No password: the tests sign in with force_login (hashing one costs a quarter second).
    return get_user_model().objects.create_user(username=username, email=f"{username}@example.com", **extra)


def _quiz_question(lesson: Lesson) -> None:
    QuizQuestion.objects.create(
        lesson=lesson,
        slug="q1",
        order=1,
        kind="single",
        prompt_html="<p>Which?</p>",
        choices=[{"id": "a", "html": "A"}, {"id": "b", "html": "B"}],
        correct=["b"],
    )


def _catalogue() -> tuple[Lesson, Lesson, Task]:
    course = Course.objects.create(slug=COURSE, title="Security course")
    lesson = Lesson.objects.create(
        course=course, slug=LESSON, number="1.1", title="First", order=1, body_html="<p>x</p>"
    )
    task = Task.objects.create(
        lesson=lesson,
        slug=TASK,
        order=1,
        title="Make it",
        instructions_html="<p>Make it.</p>",
        hints_html=["<p>One.</p>", "<p>Two.</p>"],
        spec={"checks": [{"kind": "answer", "prompt": "What?", "expected": "42"}]},
    )
    _quiz_question(lesson)
    open_quiz_lesson = Lesson.objects.create(
        course=course, slug=OPEN_QUIZ_LESSON, number="1.2", title="Second", order=2, body_html="<p>y</p>"
    )
    _quiz_question(open_quiz_lesson)
    return lesson, open_quiz_lesson, task


def _enrol(cohort: Cohort, user, role=Enrollment.Role.STUDENT, *, environment: str | None = None) -> Enrollment:
    enrollment = Enrollment.objects.create(user=user, cohort=cohort, role=role)
    if environment:
        StudentEnvironment.objects.create(
            enrollment=enrollment, namespace=f"lab-{enrollment.student_id}", state=environment
        )
    return enrollment


def world_make() -> World:
    lesson, open_quiz_lesson, task = _catalogue()
    cluster = Cluster.objects.get_or_create(name="local", defaults={"is_local": True})[0]
    cohort_a = Cohort.objects.create(name="Cohort A", slug="sec-a", course=COURSE, cluster=cluster)
    cohort_b = Cohort.objects.create(name="Cohort B", slug="sec-b", course=COURSE, cluster=cluster)
    failed = StudentEnvironment.State.FAILED
    victim = _enrol(cohort_a, _user("vicky-r9", first_name="Victoria", last_name="Victimova"), environment=failed)
    classmate = _enrol(cohort_a, _user("classmate"), environment=failed)
    outsider = _enrol(cohort_b, _user("outsider"), environment=failed)
    instructor_a = _enrol(cohort_a, _user("teacher-a"), Enrollment.Role.INSTRUCTOR)
    instructor_b = _enrol(cohort_b, _user("teacher-b"), Enrollment.Role.INSTRUCTOR)
    staff = _user("staffer", is_staff=True, is_superuser=True)

    progress = TaskProgress.objects.create(
        enrollment=victim,
        task=task,
        state=TaskProgress.State.FAILED,
        attempts_count=1,
        hints_used=1,
        setup_done_at=timezone.now(),
    )
    HintReveal.objects.create(progress=progress, index=0)
    attempt = Attempt.objects.create(
        progress=progress,
        state=Attempt.State.FAILED,
        answers=[VICTIM_ANSWER],
        message=VICTIM_ATTEMPT_MESSAGE,
        results=[{"title": "Answer", "status": "failed", "message": "wrong", "evidence": {"read": VICTIM_EVIDENCE}}],
        finished_at=timezone.now(),
    )
    QuizSubmission.objects.create(
        enrollment=victim, lesson=lesson, answers={"q1": ["a"]}, results={"q1": False}, score=0, max_score=1
    )
    announcement = Announcement.objects.create(cohort=cohort_a, author=instructor_a.user, text=VICTIM_ANNOUNCEMENT)
    invite = invite_create(user=victim.user, valid_days=7)
    return World(
        cohort_a=cohort_a,
        cohort_b=cohort_b,
        victim=victim,
        classmate=classmate,
        outsider=outsider,
        instructor_a=instructor_a,
        instructor_b=instructor_b,
        staff=staff,
        task=task,
        lesson=lesson,
        open_quiz_lesson=open_quiz_lesson,
        attempt=attempt,
        announcement=announcement,
        invite=invite,
        invite_token=invite_token(invite),
    )


def victim_state(world: World) -> dict:
    """Everything of the victim's and of cohort A's that an attacker must not change."""
    victim = world.victim
    user = get_user_model().objects.get(pk=victim.user_id)
    return {
        "user": (user.password, user.is_active, user.is_staff),
        "progress": list(
            TaskProgress.objects.filter(enrollment=victim)
            .order_by("pk")
            .values_list("pk", "state", "attempts_count", "hints_used", "setup_done_at", "first_passed_at")
        ),
        "attempts": list(
            Attempt.objects.filter(progress__enrollment=victim)
            .order_by("pk")
            .values_list("pk", "state", "message", "results", "round")
        ),
        "quiz": list(QuizSubmission.objects.filter(enrollment=victim).values_list("pk", "answers", "score")),
        "hints": HintReveal.objects.filter(progress__enrollment=victim).count(),
        "staff_actions": StaffAction.objects.filter(enrollment__cohort=world.cohort_a).count(),
        "shadows": ShadowSession.objects.filter(enrollment__cohort=world.cohort_a).count(),
        "environments": list(
            StudentEnvironment.objects.filter(enrollment=victim).values_list("pk", "state", "namespace", "last_error")
        ),
        "enrollments": list(
            Enrollment.objects.filter(cohort=world.cohort_a).order_by("pk").values_list("pk", "dropped_at")
        ),
        "cohorts": list(Cohort.objects.order_by("pk").values_list("pk", "state", "ends_at", "starts_at")),
        "announcements": list(
            Announcement.objects.filter(cohort=world.cohort_a).order_by("pk").values_list("pk", "text", "cleared_at")
        ),
        "invites": list(Invite.objects.filter(user=victim.user).values_list("pk", "used_at", "revoked_at")),
    }
