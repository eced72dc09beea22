from django.urls import path

from labplatform.environments.consumers import CohortProgressConsumer
from labplatform.events import UserEventsConsumer
from labplatform.teaching.consumers import DashboardConsumer
from labplatform.terminal.consumers import TerminalConsumer

websocket_urlpatterns = [
    path("ws/events/", UserEventsConsumer.as_asgi()),
    path("ws/cohorts/<slug:slug>/progress/", CohortProgressConsumer.as_asgi()),
    path("ws/teach/<slug:slug>/", DashboardConsumer.as_asgi()),
    path("ws/terminal/", TerminalConsumer.as_asgi()),
    path("ws/terminal/watch/<slug:student>/", TerminalConsumer.as_asgi()),
]
