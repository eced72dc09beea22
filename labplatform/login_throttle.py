"""What a locked-out sign-in sees: the sign-in page again, saying that this username is
locked from this address, until when, and who can unlock it (429). django-axes decides
who is locked out (settings: AXES_*, LOGIN_FAILURE_LIMIT, LOGIN_LOCKOUT_MINUTES) and calls
this as its AXES_LOCKOUT_CALLABLE, for the platform's sign-in page and the admin's alike."""

import math

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone


def _minutes_left(username: str, address: str | None) -> int:
    """Whole minutes until the lockout ends: it lasts the cool-off from the last failure."""
    cool_off = settings.AXES_COOLOFF_TIME
    last = (
        AccessAttempt.objects.filter(username=username, ip_address=address)
        .order_by("-attempt_time")
        .values_list("attempt_time", flat=True)
        .first()
    )
    if last is None:
        return math.ceil(cool_off.total_seconds() / 60)
    left = (last + cool_off - timezone.now()).total_seconds()
    return max(1, math.ceil(left / 60))


def lockout_message(username: str, minutes: int) -> str:
    who = f"“{username}”" if username else "this username"
    wait = "1 minute" if minutes == 1 else f"{minutes} minutes"
    return (
        f"Signing in as {who} from your address is locked after {settings.AXES_FAILURE_LIMIT} wrong passwords. "
        f"Try again in {wait}, or ask an admin to unlock it."
    )


def lockout_response(request: HttpRequest, *_: object) -> HttpResponse:
    """The sign-in page with the lockout's reason. axes passes the original response and
    the credentials too (in an order that differs between its sync and async paths), so
    this reads only the request."""
    username = request.POST.get("username", "")[:150]
    address = getattr(request, "axes_ip_address", None) or request.META.get("REMOTE_ADDR")
    context = {
        "form": AuthenticationForm(request, initial={"username": username}),
        "next": request.POST.get("next", ""),
        "locked_out": lockout_message(username, _minutes_left(username, address)),
    }
    return render(request, "registration/login.html", context, status=429)
