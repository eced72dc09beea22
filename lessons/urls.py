from django.urls import path

from lessons import views

# Lesson folders are named like "15.7-deployments": not a slug, hence <str:lesson>.
urlpatterns = [
    path("learn/attempts/<int:attempt_id>", views.attempt_detail, name="attempt-detail"),
    path("learn/<str:course>/", views.course_outline, name="course-outline"),
    path("learn/<str:course>/<str:lesson>/", views.lesson_detail, name="lesson-detail"),
    path("learn/<str:course>/<str:lesson>/quiz", views.quiz_submit, name="quiz-submit"),
    path("learn/<str:course>/<str:lesson>/tasks/<slug:task>/open", views.task_open, name="task-open"),
    path("learn/<str:course>/<str:lesson>/tasks/<slug:task>/hint", views.task_hint, name="task-hint"),
    path("learn/<str:course>/<str:lesson>/tasks/<slug:task>/check", views.task_check, name="task-check"),
]
