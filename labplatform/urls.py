from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from labplatform import views

urlpatterns = [
    path("", views.home, name="home"),
    path("livez", views.livez, name="livez"),
    path("healthz", views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("labplatform.environments.urls")),
    path("", include("labplatform.cohorts.urls")),
    path("", include("labplatform.teaching.urls")),
    path("", include("labplatform.terminal.urls")),
    path("", include("lessons.urls")),
]
