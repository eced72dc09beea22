import base64
import csv

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from labplatform.cohorts.invites import cohort_invite_links, invite_regenerate, invite_url, open_invites
from labplatform.cohorts.models import Cluster, Cohort, Enrollment, Invite
from labplatform.cohorts.roster import parse_roster, roster_import

ROSTER_MAX_BYTES = 1024 * 1024
_ROSTER_SESSION_KEY = "cohorts.roster_upload.{cohort_pk}"
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class RosterUploadForm(forms.Form):
    roster = forms.FileField(
        label="Roster CSV",
        allow_empty_file=True,
        help_text='UTF-8 CSV with the columns "email", "full name" and, optionally, "username"; at most 1 MB.',
    )
    role = forms.ChoiceField(
        choices=Enrollment.Role.choices, initial=Enrollment.Role.STUDENT, widget=forms.RadioSelect, label="Enrol as"
    )

    def clean_roster(self):
        upload = self.cleaned_data["roster"]
        if upload.size > ROSTER_MAX_BYTES:
            raise forms.ValidationError(
                f"{upload.name} is {upload.size:,} bytes; a roster can be at most 1 MB ({ROSTER_MAX_BYTES:,} bytes). "
                "Split it into smaller files and import each."
            )
        return upload


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    list_display = ["name", "is_local", "ingress_domain", "kubeconfig_path"]


@admin.register(Cohort)
class CohortAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "course", "cluster", "state", "starts_at", "ends_at"]
    list_filter = ["state", "cluster"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/roster/",
                self.admin_site.admin_view(self.roster_import_view),
                name="{}_{}_roster_import".format(*info),
            ),
            path(
                "<path:object_id>/invites/",
                self.admin_site.admin_view(self.invite_links_view),
                name="{}_{}_invite_links".format(*info),
            ),
            path(
                "<path:object_id>/invites/export.csv",
                self.admin_site.admin_view(self.invite_links_export_view),
                name="{}_{}_invite_links_export".format(*info),
            ),
            path(
                "<path:object_id>/invites/<int:user_id>/regenerate/",
                self.admin_site.admin_view(self.invite_regenerate_view),
                name="{}_{}_invite_regenerate".format(*info),
            ),
            *super().get_urls(),
        ]

    @method_decorator(require_http_methods(["GET", "POST"]))
    def roster_import_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Upload, then preview (nothing written), then confirm. The uploaded bytes wait in
        the session between the two posts, so the import reads exactly what was previewed."""
        cohort = self._cohort_to_change(request, object_id)
        session_key = _ROSTER_SESSION_KEY.format(cohort_pk=cohort.pk)
        if request.method == "POST" and request.POST.get("action") == "confirm":
            return self._roster_confirm(request, cohort, session_key)
        if request.method == "POST":
            # A new upload replaces any earlier preview, even when it fails.
            request.session.pop(session_key, None)
        form = RosterUploadForm(request.POST or None, request.FILES or None)
        if form.is_valid():
            upload = form.cleaned_data["roster"]
            data = upload.read()
            parse = parse_roster(data, filename=upload.name)
            if parse.file_error:
                form.add_error("roster", parse.file_error)
            else:
                role = form.cleaned_data["role"]
                request.session[session_key] = {
                    "filename": upload.name,
                    "role": role,
                    "data": base64.b64encode(data).decode("ascii"),
                }
                return self._render(
                    request,
                    "roster_preview.html",
                    cohort,
                    title=f"Preview {upload.name}",
                    parse=parse,
                    role_label=Enrollment.Role(role).label.lower(),
                )
        return self._render(request, "roster_upload.html", cohort, title="Import roster", form=form)

    def _roster_confirm(self, request: HttpRequest, cohort: Cohort, session_key: str) -> HttpResponse:
        pending = request.session.get(session_key)
        if pending is None:
            messages.error(
                request,
                "There is no previewed roster to import: it was imported already, or your session ended. "
                "Upload the file again.",
            )
            return redirect(self._tool_url("roster_import", cohort))
        parse = parse_roster(base64.b64decode(pending["data"]), filename=pending["filename"])
        result = roster_import(
            cohort=cohort, rows=parse.rows, role=pending["role"], valid_days=settings.INVITE_VALID_DAYS
        )
        del request.session[session_key]
        return self._render(
            request,
            "roster_result.html",
            cohort,
            title=f"Imported {pending['filename']}",
            filename=pending["filename"],
            result=result,
            errors=sorted(parse.errors + result.errors, key=lambda error: error.line),
        )

    @method_decorator(require_GET)
    def invite_links_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        cohort = self._cohort_to_change(request, object_id)
        base_url = request.build_absolute_uri("/")
        rows = [
            (link, invite_url(link.invite, base_url=base_url) if link.invite else None)
            for link in cohort_invite_links(cohort=cohort)
        ]
        return self._render(request, "invite_links.html", cohort, title="Invite links", rows=rows)

    @method_decorator(require_GET)
    def invite_links_export_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        cohort = self._cohort_to_change(request, object_id)
        base_url = request.build_absolute_uri("/")
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{cohort.slug}-invite-links.csv"'
        writer = csv.writer(response)
        writer.writerow(["username", "email", "full name", "link", "expires_at"])
        seen_users = set()
        for invite in open_invites(cohort):
            if invite.user_id in seen_users:
                continue
            seen_users.add(invite.user_id)
            user = invite.user
            writer.writerow(
                [
                    _spreadsheet_safe(user.username),
                    _spreadsheet_safe(user.email),
                    _spreadsheet_safe(user.get_full_name()),
                    invite_url(invite, base_url=base_url),
                    timezone.localtime(invite.expires_at).isoformat(timespec="seconds"),
                ]
            )
        return response

    @method_decorator(require_POST)
    def invite_regenerate_view(self, request: HttpRequest, object_id: str, user_id: int) -> HttpResponse:
        cohort = self._cohort_to_change(request, object_id)
        enrollment = get_object_or_404(
            Enrollment.objects.active().select_related("user"), cohort=cohort, user_id=user_id
        )
        invite = invite_regenerate(user=enrollment.user, valid_days=settings.INVITE_VALID_DAYS)
        messages.success(
            request,
            f"New invite link for {enrollment.user.username}, valid until "
            f"{timezone.localtime(invite.expires_at):%d %B %Y %H:%M %Z}; their earlier links no longer work.",
        )
        return redirect(self._tool_url("invite_links", cohort))

    def _cohort_to_change(self, request: HttpRequest, object_id: str) -> Cohort:
        cohort = self.get_object(request, unquote(object_id))
        if cohort is None:
            raise Http404(f"There is no cohort with id {object_id}.")
        if not self.has_change_permission(request, cohort):
            raise PermissionDenied
        return cohort

    def _tool_url(self, name: str, cohort: Cohort) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}", args=[cohort.pk])

    def _render(self, request: HttpRequest, template: str, cohort: Cohort, **context) -> TemplateResponse:
        return TemplateResponse(
            request,
            f"admin/{self.opts.app_label}/{self.opts.model_name}/{template}",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": cohort,
                "has_view_permission": self.has_view_permission(request, cohort),
                **context,
            },
        )


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ["user", "cohort", "role", "student_id", "dropped_at", "created_at"]
    list_filter = ["cohort", "role"]
    search_fields = ["user__username", "user__email"]
    readonly_fields = ["student_id", "created_at"]
    autocomplete_fields = ["user"]
    list_select_related = ["user", "cohort"]


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    """Read-only: invites are made by roster imports and regenerated from a cohort's Invite links page."""

    list_display = ["user", "created_at", "expires_at", "used_at", "revoked_at"]
    list_filter = [("used_at", admin.EmptyFieldListFilter), ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__username", "user__email"]
    list_select_related = ["user"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Invite | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Invite | None = None) -> bool:
        return False


def _spreadsheet_safe(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value
