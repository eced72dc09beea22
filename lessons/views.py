"""The student's lesson pages: the course outline, a lesson with its tasks and quiz, and
the task actions the page calls with fetch(). Each view parses the request, calls a
selector or a service, and renders; what a student may do is decided in the services."""

import functools
import logging
from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from labplatform.cohorts.models import Enrollment
from lessons import selectors, services
from lessons.activity import page_seen
from lessons.models import Attempt, Course, Lesson, Task

log = logging.getLogger(__name__)

NOT_ENROLLED = "You are not enrolled as a student in a cohort taking this course."


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _not_found(request: HttpRequest, message: str, *, json: bool = False) -> HttpResponse:
    if json:
        return JsonResponse({"error": message}, status=404)
    return render(request, "lessons/not_found.html", {"message": message}, status=404)


def _lesson_url(lesson: Lesson, anchor: str = "") -> str:
    url = reverse("lesson-detail", args=[lesson.course.slug, lesson.slug])
    return f"{url}#{anchor}" if anchor else url


def student_view(view: Callable) -> Callable:
    """Resolves the course in the URL (and the lesson, when there is one) and the signed-in
    user's student enrollment in it; anything missing is a 404 that says what."""

    @login_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, course: str, lesson: str | None = None, **kwargs) -> HttpResponse:
        enrollment = selectors.student_enrollment(user=request.user, course_slug=course)
        course_row = selectors.course_for(course_slug=course) if enrollment else None
        if enrollment is None or course_row is None:
            message = NOT_ENROLLED if enrollment is None else "This course has not been loaded yet."
            return _not_found(request, message)
        if lesson is not None:
            kwargs["lesson"] = Lesson.objects.filter(course=course_row, slug=lesson, retired_at__isnull=True).first()
            if kwargs["lesson"] is None:
                return _not_found(request, f"There is no lesson {lesson} in {course_row.title}.")
        page_seen(enrollment_id=enrollment.pk)
        return view(request, enrollment=enrollment, course=course_row, **kwargs)

    return wrapper


def task_action(view: Callable) -> Callable:
    """A POST on one task from the lesson page: JSON for fetch(), or a redirect back to the
    task for a plain form. A refusal answers with its message and status, never a trace."""

    @login_required
    @require_POST
    @functools.wraps(view)
    def wrapper(request: HttpRequest, course: str, lesson: str, task: str) -> HttpResponse:
        json = _wants_json(request)
        enrollment = selectors.student_enrollment(user=request.user, course_slug=course)
        if enrollment is None:
            return _not_found(request, NOT_ENROLLED, json=json)
        task_row = (
            Task.objects.filter(lesson__course__slug=course, lesson__slug=lesson, slug=task, retired_at__isnull=True)
            .select_related("lesson__course")
            .first()
        )
        if task_row is None:
            return _not_found(request, f"There is no task {task} in lesson {lesson}.", json=json)
        page_seen(enrollment_id=enrollment.pk)
        try:
            answer = view(request, enrollment=enrollment, task=task_row)
        except services.LessonRefused as refused:
            status, message = refused.status, str(refused)
        except Exception:
            log.exception("%s on task %s failed for %s", view.__name__, task_row.pk, enrollment.student_id)
            status, message = 500, "Something went wrong on our side; nothing you did was lost. Try again in a moment."
        else:
            if json:
                return JsonResponse(answer)
            return redirect(_lesson_url(task_row.lesson, f"task-{task_row.slug}"))
        if json:
            return JsonResponse({"error": message}, status=status)
        messages.error(request, message)
        return redirect(_lesson_url(task_row.lesson, f"task-{task_row.slug}"))

    return wrapper


@require_GET
@student_view
def course_outline(request: HttpRequest, *, enrollment: Enrollment, course: Course) -> HttpResponse:
    outline = selectors.course_outline(enrollment=enrollment)
    resume = next((s for s in outline if not s.locked and not s.completed), None)
    return render(
        request,
        "lessons/outline.html",
        {"course": course, "enrollment": enrollment, "outline": outline, "resume": resume},
    )


def _lesson_response(
    request: HttpRequest, *, enrollment: Enrollment, course: Course, lesson: Lesson, status: int | None = None
) -> HttpResponse:
    page = selectors.lesson_page(enrollment=enrollment, lesson=lesson)
    lessons = selectors.course_lessons(course_slug=course.slug)
    index = next(i for i, row in enumerate(lessons) if row.pk == lesson.pk)
    quiz_done = page.quiz is not None and page.quiz.submission is not None
    context = {
        "course": course,
        "enrollment": enrollment,
        "page": page,
        "previous": lessons[index - 1] if index > 0 else None,
        "next": lessons[index + 1] if index + 1 < len(lessons) else None,
        # Each question beside its feedback, once the quiz is submitted.
        "quiz_feedback": list(zip(page.quiz.questions, page.quiz.feedback, strict=True)) if quiz_done else [],
    }
    return render(request, "lessons/lesson.html", context, status=status or (403 if page.locked else 200))


@require_GET
@student_view
def lesson_detail(request: HttpRequest, *, enrollment: Enrollment, course: Course, lesson: Lesson) -> HttpResponse:
    return _lesson_response(request, enrollment=enrollment, course=course, lesson=lesson)


@student_view
@require_POST
def quiz_submit(request: HttpRequest, *, enrollment: Enrollment, course: Course, lesson: Lesson) -> HttpResponse:
    """A quiz's one submission. A refusal (a second submission, a question left out) is
    the lesson page with the reason at its top, answered with the refusal's status (409
    for a quiz already submitted), or {"error": ...} to a client that asks for JSON."""
    answers = {key.removeprefix("q-"): request.POST.getlist(key) for key in request.POST if key.startswith("q-")}
    json = _wants_json(request)
    try:
        submission = services.quiz_submit(enrollment=enrollment, lesson=lesson, answers=answers)
    except services.LessonRefused as refused:
        if json:
            return JsonResponse({"error": str(refused)}, status=refused.status)
        messages.error(request, str(refused))
        return _lesson_response(request, enrollment=enrollment, course=course, lesson=lesson, status=refused.status)
    if json:
        return JsonResponse({"score": submission.score, "max_score": submission.max_score})
    messages.success(request, f"Quiz submitted: {submission.score} of {submission.max_score} right.")
    return redirect(_lesson_url(lesson, "quiz"))


def _task_card(request: HttpRequest, *, enrollment: Enrollment, task: Task) -> dict:
    """The task's card as the lesson page draws it, to replace the one on the page."""
    page = selectors.lesson_page(enrollment=enrollment, lesson=task.lesson)
    number, view = next((n, t) for n, t in enumerate(page.tasks, start=1) if t.task.pk == task.pk)
    context = {"item": view, "lesson": task.lesson, "number": number}
    html = render_to_string("lessons/_task.html", context, request=request)
    return {"task": task.slug, "state": view.state, "html": html}


@task_action
def task_open(request: HttpRequest, *, enrollment: Enrollment, task: Task) -> dict:
    services.task_open(enrollment=enrollment, task=task)
    return _task_card(request, enrollment=enrollment, task=task)


@task_action
def task_hint(request: HttpRequest, *, enrollment: Enrollment, task: Task) -> dict:
    services.hint_reveal(enrollment=enrollment, task=task)
    return _task_card(request, enrollment=enrollment, task=task)


@task_action
def task_check(request: HttpRequest, *, enrollment: Enrollment, task: Task) -> dict:
    attempt = services.attempt_create(enrollment=enrollment, task=task, answers=request.POST.getlist("answer"))
    return {"attempt": selectors.attempt_payload(attempt)}


@login_required
@require_GET
@never_cache
def attempt_detail(request: HttpRequest, attempt_id: int) -> JsonResponse:
    """One of the student's own attempts; anyone else's is "not found", like a missing one."""
    attempt = (
        Attempt.objects.filter(pk=attempt_id, progress__enrollment__user=request.user)
        .select_related("progress__task__lesson")
        .first()
    )
    if attempt is None:
        return JsonResponse({"error": "No such attempt."}, status=404)
    return JsonResponse(selectors.attempt_payload(attempt))
