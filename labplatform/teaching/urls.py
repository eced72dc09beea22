from django.urls import path

from labplatform.teaching import views

urlpatterns = [
    path("teach/", views.teaching_list, name="teaching-list"),
    path("teach/<slug:slug>/", views.dashboard, name="teaching-dashboard"),
    path("teach/<slug:slug>/grades.csv", views.grades_export, name="teaching-grades"),
    path("teach/<slug:slug>/cells.json", views.cells, name="teaching-cells"),
    path("teach/<slug:slug>/students/<slug:student_id>/", views.student_detail, name="teaching-student"),
    path("teach/<slug:slug>/students/<slug:student_id>/reset/", views.student_reset, name="teaching-reset"),
    path(
        "teach/<slug:slug>/students/<slug:student_id>/attempts/<int:attempt_id>/regrade/",
        views.attempt_regrade,
        name="teaching-regrade",
    ),
    path(
        "teach/<slug:slug>/students/<slug:student_id>/tasks/<int:task_id>/pass/",
        views.task_pass,
        name="teaching-pass",
    ),
]
