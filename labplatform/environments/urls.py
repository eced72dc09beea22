from django.urls import path

from labplatform.environments import views

urlpatterns = [
    path("staff/cohorts/", views.cohort_list, name="cohort-list"),
    path("staff/cluster/", views.cluster_health, name="cluster-health"),
    path("staff/cohorts/<slug:slug>/", views.cohort_detail, name="cohort-detail"),
    # Before the cohort actions below, whose <action> would match these too.
    path("staff/cohorts/<slug:slug>/announce/", views.cohort_announce, name="cohort-announce"),
    path(
        "staff/cohorts/<slug:slug>/announcements/<int:announcement_id>/clear/",
        views.cohort_announcement_clear,
        name="announcement-clear",
    ),
    path("staff/cohorts/<slug:slug>/extend/", views.cohort_extend, name="cohort-extend"),
    path("staff/cohorts/<slug:slug>/end/", views.cohort_end, name="cohort-end"),
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
