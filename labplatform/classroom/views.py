from django.contrib import messages
from django.contrib.auth.decorators import user_passes_test
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from labplatform.classroom import environments
from labplatform.classroom.models import Cohort, Enrollment, StudentEnvironment
from labplatform.classroom.progress import cohort_progress

staff_required = user_passes_test(lambda user: user.is_active and user.is_staff)


@staff_required
def cohort_list(request: HttpRequest) -> HttpResponse:
    cohorts = Cohort.objects.select_related("cluster").order_by("-starts_at")
    return render(request, "classroom/cohort_list.html", {"cohorts": cohorts})


@staff_required
def cohort_detail(request: HttpRequest, slug: str) -> HttpResponse:
    cohort = get_object_or_404(Cohort.objects.select_related("cluster"), slug=slug)
    enrollments = cohort.enrollments.select_related("user", "environment").order_by("role", "user__username")
    return render(
        request,
        "classroom/cohort_detail.html",
        {"cohort": cohort, "enrollments": enrollments, "progress": cohort_progress(cohort=cohort)},
    )


@staff_required
@require_POST
def cohort_action(request: HttpRequest, slug: str, action: str) -> HttpResponse:
    cohort = get_object_or_404(Cohort, slug=slug)
    if action == "provision":
        count = environments.cohort_provision(cohort=cohort)
        messages.success(request, f"Provisioning {count} environment(s).")
    elif action == "reconcile":
        count = environments.cohort_reconcile(cohort=cohort)
        messages.success(request, f"Reconciling {count} ready environment(s).")
    elif action == "teardown":
        count = environments.cohort_teardown(cohort=cohort)
        messages.success(request, f"Tearing down {count} environment(s).")
    else:
        messages.error(request, f"Unknown action {action!r}.")
    return redirect("cohort-detail", slug=slug)


@staff_required
@require_POST
def environment_reset(request: HttpRequest, slug: str, environment_id: int) -> HttpResponse:
    environment = get_object_or_404(StudentEnvironment, pk=environment_id, enrollment__cohort__slug=slug)
    if environments.environment_reset(environment=environment):
        messages.success(request, f"Resetting {environment.namespace}.")
    else:
        messages.error(
            request,
            f"{environment.namespace} is {environment.get_state_display().lower()}; "
            "try again when it is ready or failed.",
        )
    return redirect("cohort-detail", slug=slug)


@staff_required
@require_POST
def enrollment_drop(request: HttpRequest, slug: str, enrollment_id: int) -> HttpResponse:
    enrollment = get_object_or_404(Enrollment, pk=enrollment_id, cohort__slug=slug)
    environments.enrollment_drop(enrollment=enrollment)
    messages.success(
        request, f"Dropped {enrollment.user.username}; their environment is being torn down, their grades kept."
    )
    return redirect("cohort-detail", slug=slug)
