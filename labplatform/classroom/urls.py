from django.urls import path

from labplatform.classroom import views

urlpatterns = [
    path("staff/cohorts/", views.cohort_list, name="cohort-list"),
    path("staff/cohorts/<slug:slug>/", views.cohort_detail, name="cohort-detail"),
    path("staff/cohorts/<slug:slug>/<str:action>/", views.cohort_action, name="cohort-action"),
    path(
        "staff/cohorts/<slug:slug>/environments/<int:environment_id>/reset/",
        views.environment_reset,
        name="environment-reset",
    ),
    path(
        "staff/cohorts/<slug:slug>/enrollments/<int:enrollment_id>/drop/",
        views.enrollment_drop,
        name="enrollment-drop",
    ),
]
