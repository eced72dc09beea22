from django.urls import path

from labplatform.terminal import views

urlpatterns = [
    path("terminal/reset/", views.reset, name="terminal-reset"),
    path("terminal/watch/<slug:student_id>/", views.watch, name="terminal-watch"),
]
