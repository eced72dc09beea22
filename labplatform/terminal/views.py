"""Pages around the terminal: the student's own reset, and an instructor's read-only view.
The sockets authorise again on their own; these views only decide what page to show."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from labplatform.cohorts.models import Enrollment
from labplatform.environments.models import StudentEnvironment
from labplatform.environments.services import environment_busy_message, environment_reset
from labplatform.terminal import access


def _own_environment(user, *, cohort_slug: str | None) -> StudentEnvironment | None:
    enrollment = access.own_enrollment(user, cohort_slug=cohort_slug)
    return getattr(enrollment, "environment", None) if enrollment else None


def _reset_answer(environment: StudentEnvironment | None) -> tuple[int, str]:
    if environment is None:
        return 404, "You have no environment to reset yet."
    if environment_reset(environment=environment):
        return 202, (
            f"Resetting your environment: everything in namespace {environment.namespace} is deleted and set up "
            "afresh, and your shell starts anew. The terminal reconnects when it is ready."
        )
    return 409, environment_busy_message(environment)


@login_required
@require_POST
def reset(request: HttpRequest) -> HttpResponse:
    status, message = _reset_answer(_own_environment(request.user, cohort_slug=request.POST.get("cohort") or None))
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"resetting": status == 202, "message": message}, status=status)
    (messages.success if status == 202 else messages.error)(request, message)
    return redirect("home")


@login_required
@require_GET
def watch(request: HttpRequest, student_id: str) -> HttpResponse:
    try:
        access.watcher_target(request.user, student=student_id)
    except access.TerminalRefused as refused:
        # 4409: allowed to watch, but the environment is not ready; the panel says so.
        if refused.code != 4409:
            return render(request, "terminal/watch.html", {"refused": str(refused)}, status=403)
    student = Enrollment.objects.select_related("user", "cohort", "environment").get(
        student_id=student_id, role=Enrollment.Role.STUDENT
    )
    return render(request, "terminal/watch.html", {"student": student})
