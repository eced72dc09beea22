"""The catalogue comes from files (`load_course`) and attempts from the grader: the admin
shows both, read only."""

from django.contrib import admin

from lessons.models import Attempt, Course, Lesson, QuizSubmission, Task, TaskProgress


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Course)
class CourseAdmin(ReadOnlyAdmin):
    list_display = ("slug", "title", "loaded_at")


@admin.register(Lesson)
class LessonAdmin(ReadOnlyAdmin):
    list_display = ("number", "title", "course", "retired_at")
    list_filter = ("course",)


@admin.register(Task)
class TaskAdmin(ReadOnlyAdmin):
    list_display = ("title", "slug", "lesson", "retired_at")
    list_filter = ("lesson__course", "lesson")


@admin.register(TaskProgress)
class TaskProgressAdmin(ReadOnlyAdmin):
    list_display = ("enrollment", "task", "state", "attempts_count", "hints_used", "opened_at", "first_passed_at")
    list_filter = ("state", "enrollment__cohort", "task__lesson")
    search_fields = ("enrollment__user__username", "enrollment__student_id", "task__slug")


@admin.register(Attempt)
class AttemptAdmin(ReadOnlyAdmin):
    list_display = ("pk", "progress", "state", "message", "created_at", "finished_at")
    list_filter = ("state", "progress__enrollment__cohort", "progress__task__lesson")
    search_fields = ("progress__enrollment__user__username", "progress__enrollment__student_id")
    date_hierarchy = "created_at"


@admin.register(QuizSubmission)
class QuizSubmissionAdmin(ReadOnlyAdmin):
    list_display = ("enrollment", "lesson", "score", "max_score", "counts", "created_at")
    list_filter = ("enrollment__cohort", "lesson", "counts")
