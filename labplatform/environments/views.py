from datetime import date, datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, user_passes_test
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import dateformat, timezone
from django.utils.dateparse import parse_date
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from labplatform.cohorts import announcements
from labplatform.cohorts.instructors import not_teaching, teaching_cohort
from labplatform.cohorts.models import Announcement, Cohort, Enrollment
from labplatform.environments import lifecycle
from labplatform.environments import services as environments
from labplatform.environments.capacity import cohort_capacity
from labplatform.environments.cluster_health import cluster_reports
from labplatform.environments.models import StudentEnvironment
from labplatform.environments.progress import cohort_progress

RECENT_ANNOUNCEMENTS = 5

staff_required = user_passes_test(lambda user: user.is_active and user.is_staff)


@staff_required
def cohort_list(request: HttpRequest) -> HttpResponse:
    cohorts = Cohort.objects.select_related("cluster").order_by("-starts_at")
    return render(request, "environments/cohort_list.html", {"cohorts": cohorts})


@staff_required
def cohort_detail(request: HttpRequest, slug: str) -> HttpResponse:
    cohort = get_object_or_404(Cohort.objects.select_related("cluster"), slug=slug)
    enrollments = cohort.enrollments.select_related("user", "environment").order_by("role", "user__username")
    ended = cohort.state == Cohort.State.ENDED
    return render(
        request,
        "environments/cohort_detail.html",
        {
            "cohort": cohort,
            "enrollments": enrollments,
            "progress": cohort_progress(cohort=cohort),
            # Whether its pods fit on its cluster; an ended cohort is not provisioned again.
            "capacity": None if ended else cohort_capacity(cohort=cohort),
            # The state words, for cohort-progress.js to draw pushed changes with.
            "environment_states": dict(StudentEnvironment.State.choices),
            "schedule": lifecycle.cohort_schedule(cohort=cohort),
            "recent_announcements": cohort.announcements.select_related("author")[:RECENT_ANNOUNCEMENTS],
            "announcement_max_length": Announcement.MAX_LENGTH,
            "announcement_days": announcements.LIFETIME.days,
            "warning_hours": settings.ENDING_WARNING_HOURS,
            "now": timezone.now(),
        },
    )


@staff_required
@require_POST
def cohort_action(request: HttpRequest, slug: str, action: str) -> HttpResponse:
    cohort = get_object_or_404(Cohort, slug=slug)
    if action in {"provision", "reconcile"} and cohort.state == Cohort.State.ENDED:
        messages.error(request, f"{cohort.name} has ended; its environments are not provisioned again.")
    elif action == "provision":
        count = environments.cohort_provision(cohort=cohort)
        messages.success(request, f"Provisioning {count} environment(s).")
        capacity = cohort_capacity(cohort=cohort)
        if not capacity.fits:
            messages.warning(request, capacity.message())
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
        messages.error(request, environments.environment_busy_message(environment))
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


def _when(moment: datetime) -> str:
    """As the students' banner says it."""
    return dateformat.format(timezone.localtime(moment), "l j F Y, H:i T")


def _posted_date(request: HttpRequest, name: str) -> date | None:
    try:
        return parse_date(request.POST.get(name, "").strip())
    except ValueError:  # well formed but not a day, like 2026-02-30
        return None


@staff_required
@require_POST
def cohort_extend(request: HttpRequest, slug: str) -> HttpResponse:
    cohort = get_object_or_404(Cohort, slug=slug)
    ends_on = _posted_date(request, "ends_on")
    if ends_on is None:
        messages.error(request, "Choose the new end date, as YYYY-MM-DD.")
        return redirect("cohort-detail", slug=slug)
    try:
        ends_at = lifecycle.cohort_extend(cohort=cohort, ends_on=ends_on)
    except lifecycle.LifecycleRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, f"{cohort.name} now ends on {_when(ends_at)}.")
    return redirect("cohort-detail", slug=slug)


@staff_required
@require_POST
def cohort_end(request: HttpRequest, slug: str) -> HttpResponse:
    cohort = get_object_or_404(Cohort, slug=slug)
    try:
        ends_at = lifecycle.cohort_end_soon(cohort=cohort)
    except lifecycle.LifecycleRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(
            request,
            f"{cohort.name} ends on {_when(ends_at)}: its students are warned now, "
            "and their environments are removed then.",
        )
    return redirect("cohort-detail", slug=slug)


def _back(request: HttpRequest, cohort: Cohort) -> HttpResponse:
    """To the page the form was on (the cohort page, or the instructor's dashboard)."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(target)
    return redirect("cohort-detail", slug=cohort.slug) if request.user.is_staff else redirect("home")


@login_required
@require_POST
def cohort_announce(request: HttpRequest, slug: str) -> HttpResponse:
    """For the cohort's instructors and staff; the form posts `text` (and `next`)."""
    cohort = teaching_cohort(request.user, slug=slug)
    if cohort is None:
        return not_teaching(request)
    try:
        announcements.announcement_post(cohort=cohort, author=request.user, text=request.POST.get("text", ""))
    except announcements.AnnouncementRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, f"Announced to the students of {cohort.name}.")
    return _back(request, cohort)


@login_required
@require_POST
def cohort_announcement_clear(request: HttpRequest, slug: str, announcement_id: int) -> HttpResponse:
    cohort = teaching_cohort(request.user, slug=slug)
    if cohort is None:
        return not_teaching(request)
    if announcements.announcement_clear(cohort=cohort, announcement_id=announcement_id):
        messages.success(request, "The announcement is cleared: students no longer see it.")
    else:
        messages.error(request, "That announcement was already cleared.")
    return _back(request, cohort)


@staff_required
@require_GET
def cluster_health(request: HttpRequest) -> HttpResponse:
    return render(request, "environments/cluster_health.html", {"reports": cluster_reports()})
