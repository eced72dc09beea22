from django.urls import path

from labplatform.classroom import invite_views

urlpatterns = [
    path("invite/<str:token>/", invite_views.invite_redeem_view, name="invite-redeem"),
]
