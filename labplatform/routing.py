from django.urls import path

from labplatform.classroom.consumers import CohortProgressConsumer
from labplatform.events import UserEventsConsumer

websocket_urlpatterns = [
    path("ws/events/", UserEventsConsumer.as_asgi()),
    path("ws/cohorts/<slug:slug>/progress/", CohortProgressConsumer.as_asgi()),
]
