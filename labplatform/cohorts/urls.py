from django.urls import path

from labplatform.cohorts import views

urlpatterns = [
    path("invite/<str:token>/", views.invite_redeem_view, name="invite-redeem"),
]
