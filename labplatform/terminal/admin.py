from django.contrib import admin

from labplatform.terminal.models import ShadowSession, TerminalActivity


@admin.register(ShadowSession)
class ShadowSessionAdmin(admin.ModelAdmin):
    """The log of instructors watching students' terminals: read only, as a log is."""

    list_display = ("watcher", "enrollment", "started_at", "ended_at")
    list_filter = ("enrollment__cohort",)
    search_fields = ("watcher__username", "enrollment__user__username", "enrollment__student_id")
    date_hierarchy = "started_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TerminalActivity)
class TerminalActivityAdmin(admin.ModelAdmin):
    list_display = ("enrollment", "last_input_at")
    list_filter = ("enrollment__cohort",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
