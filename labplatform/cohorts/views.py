from django.contrib.auth import login
from django.contrib.auth.forms import SetPasswordForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from labplatform.cohorts.invites import InviteError, invite_for_token, invite_redeem


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters("new_password1", "new_password2")
@never_cache
def invite_redeem_view(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invite = invite_for_token(token=token)
    except InviteError as problem:
        return _problem(request, problem)
    form = SetPasswordForm(invite.user, request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            user = invite_redeem(token=token, password=form.cleaned_data["new_password1"])
        except InviteError as problem:
            return _problem(request, problem)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("home")
    return render(request, "cohorts/invite.html", {"invite": invite, "form": form})


def _problem(request: HttpRequest, problem: InviteError) -> HttpResponse:
    return render(request, "cohorts/invite.html", {"problem": problem}, status=problem.status)
