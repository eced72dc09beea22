from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from labplatform.classroom.models import Enrollment
from labplatform.health import health_report
from labplatform.terminal.access import own_enrollment


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, body = health_report()
    return JsonResponse(body, status=200 if healthy else 503)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    teaching = Enrollment.objects.filter(role=Enrollment.Role.STUDENT, dropped_at__isnull=True).select_related(
        "user", "environment"
    )
    enrollments = (
        request.user.enrollments.filter(dropped_at__isnull=True)
        .select_related("cohort", "environment")
        .prefetch_related(Prefetch("cohort__enrollments", queryset=teaching, to_attr="students"))
        .order_by("-cohort__starts_at")
    )
    return render(
        request,
        "home.html",
        # The terminal beside the page is the student's own, the one its socket opens.
        {"enrollments": enrollments, "terminal_enrollment": own_enrollment(request.user)},
    )
