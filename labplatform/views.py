import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from labplatform.cohorts.models import Enrollment
from labplatform.health import health_report, health_status
from labplatform.terminal.access import own_enrollment


@require_GET
@never_cache
def livez(request: HttpRequest) -> HttpResponse:
    """Liveness: the process serves requests. It touches no database, Redis or cluster, so
    an outage of one of them never makes Kubernetes restart healthy web pods; /healthz
    (readiness) reports those."""
    return HttpResponse("ok\n", content_type="text/plain")


def health_details_allowed(request: HttpRequest) -> bool:
    """Staff, or `Authorization: Bearer HEALTHZ_TOKEN` (compared in constant time). Never
    the client's address: behind the ingress every caller looks local."""
    if request.user.is_authenticated and request.user.is_staff:
        return True
    token = settings.HEALTHZ_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when the database, Redis and the cluster answer, else 503. The body
    says which and why only to staff and the bearer of HEALTHZ_TOKEN; anyone else (the
    kubelet's probe too) reads the status code and {"status": "ok" | "unavailable"}."""
    if health_details_allowed(request):
        healthy, body = health_report()
    else:
        healthy = health_status()
        body = {"status": "ok" if healthy else "unavailable"}
    return JsonResponse(body, status=200 if healthy else 503)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    enrollments = list(
        request.user.enrollments.active().select_related("cohort", "environment").order_by("-cohort__starts_at")
    )
    # An instructor's cohorts list their students (to watch); a student's do not, so a
    # student's page never loads the roster.
    taught = [e.cohort_id for e in enrollments if e.role == Enrollment.Role.INSTRUCTOR]
    students: dict[int, list[Enrollment]] = {}
    for student in (
        Enrollment.objects.students()
        .filter(cohort_id__in=taught)
        .select_related("user", "environment")
        .order_by("user__username")
    ):
        students.setdefault(student.cohort_id, []).append(student)
    for enrollment in enrollments:
        enrollment.students = students.get(enrollment.cohort_id, [])
    return render(
        request,
        "home.html",
        # The terminal beside the page is the student's own, the one its socket opens.
        {"enrollments": enrollments, "terminal_enrollment": own_enrollment(request.user)},
    )
