"""What a student's lesson pages show: reads only, one student at a time."""

from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q

from labplatform.cluster.manifests import student_ingress_host
from labplatform.cohorts.models import Enrollment
from lessons.models import Attempt, Course, Lesson, QuizQuestion, QuizSubmission, Task, TaskProgress

RECENT_ATTEMPTS = 5


@dataclass
class LessonSummary:
    lesson: Lesson
    locked: bool
    tasks_total: int
    tasks_passed: int
    completed: bool
    quiz_score: tuple[int, int] | None


@dataclass
class TaskView:
    task: Task
    progress: TaskProgress | None
    state: str  # not_started | open | pending | failed | passed
    hints_revealed: list[str]
    hints_left: int
    attempts: list[dict]
    answer_prompts: list[str]


@dataclass
class QuizView:
    questions: list[QuizQuestion]
    submission: QuizSubmission | None
    # Per question, only once submitted: {"question", "chosen", "correct", "right", "explanation_html"}.
    feedback: list[dict] = field(default_factory=list)


@dataclass
class LessonPage:
    lesson: Lesson
    locked: bool
    locked_reason: str
    tasks: list[TaskView]
    quiz: QuizView | None
    # What lessons ask students to type: their namespace and the host their Ingresses may use.
    namespace: str = ""
    ingress_host: str = ""


def student_enrollment(*, user: AbstractBaseUser | AnonymousUser, course_slug: str) -> Enrollment | None:
    """The user's active student enrollment in a cohort taking this course (the latest)."""
    if not user.is_authenticated:
        return None
    return (
        Enrollment.objects.students()
        .filter(user=user, cohort__course=course_slug)
        .select_related("cohort__cluster", "environment", "user")
        .order_by("-cohort__starts_at", "-pk")
        .first()
    )


def course_lessons(*, course_slug: str) -> list[Lesson]:
    return list(
        Lesson.objects.filter(course__slug=course_slug, retired_at__isnull=True)
        .select_related("course")
        .order_by("order")
    )


def course_for(*, course_slug: str) -> Course | None:
    return Course.objects.filter(slug=course_slug).first()


def _task_counts(enrollment: Enrollment, lessons: list[Lesson]) -> dict[int, tuple[int, int]]:
    """Per lesson: (active tasks, of them passed by this student), in one query."""
    rows = (
        Task.objects.filter(lesson__in=lessons, retired_at__isnull=True)
        .values("lesson_id")
        .annotate(
            total=Count("id", distinct=True),
            passed=Count(
                "progress",
                filter=Q(progress__enrollment=enrollment, progress__state=TaskProgress.State.PASSED),
                distinct=True,
            ),
        )
    )
    return {row["lesson_id"]: (row["total"], row["passed"]) for row in rows}


def course_outline(*, enrollment: Enrollment) -> list[LessonSummary]:
    lessons = course_lessons(course_slug=enrollment.cohort.course)
    counts = _task_counts(enrollment, lessons)
    scored_quiz = {
        submission.lesson_id: submission
        for submission in QuizSubmission.objects.filter(enrollment=enrollment, lesson__in=lessons, counts=True)
    }
    has_quiz = set(
        QuizQuestion.objects.filter(lesson__in=lessons, retired_at__isnull=True).values_list("lesson_id", flat=True)
    )
    summaries = []
    previous_done = True
    for lesson in lessons:
        total, passed = counts.get(lesson.pk, (0, 0))
        submission = scored_quiz.get(lesson.pk)
        tasks_done = passed == total
        summaries.append(
            LessonSummary(
                lesson=lesson,
                # Gating: a lesson opens when every task of the lesson before it has passed.
                locked=enrollment.cohort.lessons_gated and not previous_done,
                tasks_total=total,
                tasks_passed=passed,
                completed=tasks_done and (lesson.pk not in has_quiz or submission is not None),
                quiz_score=(submission.score, submission.max_score) if submission else None,
            )
        )
        previous_done = tasks_done
    return summaries


def lesson_locked_reason(*, enrollment: Enrollment, lesson: Lesson) -> str:
    """Why this lesson is closed to the student, or "" when it is open."""
    if not enrollment.cohort.lessons_gated:
        return ""
    outline = course_outline(enrollment=enrollment)
    for index, summary in enumerate(outline):
        if summary.lesson.pk == lesson.pk and summary.locked:
            before = outline[index - 1].lesson
            return f"This lesson opens when every task of {before.number} {before.title} has passed."
    return ""


def attempt_payload(attempt: Attempt) -> dict:
    """An attempt as the student's page shows it (also what the worker pushes)."""
    progress = attempt.progress
    return {
        "id": attempt.pk,
        "task": progress.task.slug,
        "lesson": progress.task.lesson.slug,
        "state": attempt.state,
        "message": attempt.message,
        "results": [
            {"title": r.get("title", ""), "status": r.get("status", ""), "message": r.get("message", "")}
            for r in attempt.results
        ],
        "created_at": attempt.created_at.isoformat(),
        "progress": {
            "state": progress.state,
            "attempts_count": progress.attempts_count,
            "first_passed_at": progress.first_passed_at.isoformat() if progress.first_passed_at else None,
        },
    }


def _task_state(progress: TaskProgress | None) -> str:
    return "not_started" if progress is None else progress.state


def _quiz_view(enrollment: Enrollment, lesson: Lesson) -> QuizView | None:
    questions = list(lesson.questions.filter(retired_at__isnull=True).order_by("order"))
    if not questions:
        return None
    # The one that counts: the student's first (lessons/services.py quiz_submit).
    submission = QuizSubmission.objects.filter(enrollment=enrollment, lesson=lesson, counts=True).first()
    feedback = []
    if submission is not None:
        for question in questions:
            feedback.append(
                {
                    "question": question.slug,
                    "chosen": submission.answers.get(question.slug, []),
                    "correct": question.correct,
                    "right": bool(submission.results.get(question.slug)),
                    "explanation_html": question.explanation_html,
                }
            )
    return QuizView(questions=questions, submission=submission, feedback=feedback)


def lesson_page(*, enrollment: Enrollment, lesson: Lesson) -> LessonPage:
    tasks = list(lesson.tasks.filter(retired_at__isnull=True).order_by("order"))
    progress_by_task = {
        p.task_id: p
        for p in TaskProgress.objects.filter(enrollment=enrollment, task__in=tasks).select_related("task__lesson")
    }
    views = []
    for task in tasks:
        progress = progress_by_task.get(task.pk)
        attempts = []
        if progress is not None:
            attempts = [
                attempt_payload(a)
                for a in progress.attempts.select_related("progress__task__lesson").order_by("-created_at")[
                    :RECENT_ATTEMPTS
                ]
            ]
        used = progress.hints_used if progress else 0
        views.append(
            TaskView(
                task=task,
                progress=progress,
                state=_task_state(progress),
                hints_revealed=task.hints_html[:used],
                hints_left=max(len(task.hints_html) - used, 0),
                attempts=attempts,
                answer_prompts=task.answer_prompts,
            )
        )
    reason = lesson_locked_reason(enrollment=enrollment, lesson=lesson)
    environment = getattr(enrollment, "environment", None)
    namespace = environment.namespace if environment else ""
    return LessonPage(
        lesson=lesson,
        locked=bool(reason),
        locked_reason=reason,
        tasks=views,
        quiz=_quiz_view(enrollment, lesson),
        namespace=namespace,
        ingress_host=student_ingress_host(namespace=namespace, ingress_domain=enrollment.cohort.cluster.ingress_domain)
        if namespace
        else "",
    )
