from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from labplatform.health import health_report


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    healthy, body = health_report()
    return JsonResponse(body, status=200 if healthy else 503)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    enrollments = (
        request.user.enrollments.filter(dropped_at__isnull=True)
        .select_related("cohort", "environment")
        .order_by("-cohort__starts_at")
    )
    return render(request, "home.html", {"enrollments": enrollments})
