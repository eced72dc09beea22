from django.contrib import admin

from labplatform.environments.models import StudentEnvironment


@admin.register(StudentEnvironment)
class StudentEnvironmentAdmin(admin.ModelAdmin):
    list_display = ["namespace", "enrollment", "state", "updated_at", "ready_at"]
    list_filter = ["state"]
    search_fields = ["namespace", "enrollment__user__username", "enrollment__user__email"]
    readonly_fields = ["state", "last_error", "created_at", "updated_at", "ready_at"]
    list_select_related = ["enrollment__user", "enrollment__cohort"]
