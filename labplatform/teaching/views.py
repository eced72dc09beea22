"""The instructor's pages: their cohorts, a cohort's live dashboard, one student's
drill-down, the grade export, and the actions on a student. Who may see a cohort is
decided in teaching.py; what each action does, in student_actions.py."""

import functools
from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from labplatform.cohorts.instructors import cohorts_taught, not_teaching, teaching_cohort
from labplatform.cohorts.models import Cohort, Enrollment
from labplatform.teaching import metrics, student_actions
from labplatform.teaching.dashboard import CELL_STATES, cohort_dashboard
from labplatform.teaching.grade_export import grades_csv
from labplatform.teaching.student_drilldown import DrilldownRefused, student_drilldown
from lessons.models import Attempt, Task


def teaching_view(view: Callable) -> Callable:
    """Resolves the cohort in the URL for a user who teaches it; anyone else is told so (403)."""

    @login_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, slug: str, **kwargs) -> HttpResponse:
        cohort = teaching_cohort(request.user, slug=slug)
        if cohort is None:
            return not_teaching(request)
        return view(request, cohort=cohort, **kwargs)

    return wrapper


def _student(cohort: Cohort, student_id: str) -> Enrollment:
    return get_object_or_404(
        Enrollment.objects.select_related("user", "environment", "cohort__cluster"),
        cohort=cohort,
        student_id=student_id,
        role=Enrollment.Role.STUDENT,
    )


@login_required
@require_GET
def teaching_list(request: HttpRequest) -> HttpResponse:
    cohorts = cohorts_taught(request.user).order_by("-starts_at")
    return render(request, "teaching/teaching_list.html", {"cohorts": cohorts})


@require_GET
@teaching_view
def dashboard(request: HttpRequest, *, cohort: Cohort) -> HttpResponse:
    sort = request.GET.get("sort", "name")
    stuck_only = request.GET.get("stuck") == "1"
    board = cohort_dashboard(cohort=cohort, sort=sort, stuck_only=stuck_only)
    return render(
        request,
        "teaching/dashboard.html",
        {
            "cohort": cohort,
            "board": board,
            "cell_states": CELL_STATES,
            "sort": sort,
            "stuck_only": stuck_only,
            "definitions": metrics.DEFINITIONS,
            "stuck_help": board.stuck_rule.help_text(),
            "sort_choices": [("name", "name"), ("progress", "progress"), ("activity", "last activity")],
        },
    )


@require_GET
@teaching_view
def cells(request: HttpRequest, *, cohort: Cohort) -> JsonResponse:
    """Every cell's state, for a dashboard that (re)connects and must catch up on pushes it missed."""
    board = cohort_dashboard(cohort=cohort)
    return JsonResponse(
        {
            "cells": {
                row.student_id: {
                    cell.key: [cell.state, cell.attempts] for cell in row.cells if cell.state != "not_started"
                }
                for row in board.rows
            },
            "passed_pairs": board.passed_pairs,
            "total_pairs": board.total_pairs,
        }
    )


@require_GET
@teaching_view
def grades_export(request: HttpRequest, *, cohort: Cohort) -> HttpResponse:
    board = cohort_dashboard(cohort=cohort)
    response = HttpResponse(grades_csv(board), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="grades-{cohort.slug}-{stamp}.csv"'
    return response


@require_GET
@teaching_view
def student_detail(request: HttpRequest, *, cohort: Cohort, student_id: str) -> HttpResponse:
    enrollment = _student(cohort, student_id)
    try:
        drill = student_drilldown(enrollment=enrollment, page=request.GET.get("page"), task=request.GET.get("task"))
    except DrilldownRefused as refused:
        context = {"cohort": cohort, "enrollment": enrollment, "message": refused.message}
        return render(request, "teaching/drilldown_refused.html", context, status=refused.status)
    return render(
        request, "teaching/dashboard_student.html", {"cohort": cohort, "enrollment": enrollment, "drill": drill}
    )


def student_action(view: Callable) -> Callable:
    """A POST on one student from the drill-down; a refusal is shown as a message, never a trace."""

    @require_POST
    @teaching_view
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *, cohort: Cohort, student_id: str, **kwargs) -> HttpResponse:
        enrollment = _student(cohort, student_id)
        try:
            done = view(request, enrollment=enrollment, **kwargs)
        except student_actions.ActionRefused as refused:
            messages.error(request, str(refused))
        else:
            messages.success(request, done)
        return redirect("teaching-student", slug=cohort.slug, student_id=student_id)

    return wrapper


@student_action
def student_reset(request: HttpRequest, *, enrollment: Enrollment) -> str:
    student_actions.environment_reset(actor=request.user, enrollment=enrollment)
    return f"Resetting {enrollment.environment.namespace}: a fresh namespace and shell in a moment."


@student_action
def attempt_regrade(request: HttpRequest, *, enrollment: Enrollment, attempt_id: int) -> str:
    attempt = get_object_or_404(Attempt, pk=attempt_id, progress__enrollment=enrollment)
    student_actions.attempt_regrade(actor=request.user, attempt=attempt)
    return "Regrading: the new result appears below in a moment."


@student_action
def task_pass(request: HttpRequest, *, enrollment: Enrollment, task_id: int) -> str:
    task = get_object_or_404(Task, pk=task_id, lesson__course__slug=enrollment.cohort.course)
    student_actions.task_mark_passed(
        actor=request.user, enrollment=enrollment, task=task, reason=request.POST.get("reason", "")
    )
    return f"{task.title} is marked passed."
