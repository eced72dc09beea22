import asyncio

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from labplatform.cohorts.models import Cohort
from labplatform.environments.progress import cohort_progress
from labplatform.sockets import CLOSE_NOT_ALLOWED, AccessWatched

# The counts are also re-read on a timer and sent when they changed, so a message the
# channel layer dropped (it does at capacity) leaves them stale for seconds at most.
REFRESH_SECONDS = 3


@database_sync_to_async
def _cohort(slug: str) -> Cohort | None:
    return Cohort.objects.filter(slug=slug).first()


@database_sync_to_async
def _progress(cohort: Cohort) -> dict:
    return cohort_progress(cohort=cohort)


class CohortProgressConsumer(AccessWatched, AsyncJsonWebsocketConsumer):
    """Staff only: live provisioning progress of one cohort. It closes (4401, 4403) once
    its user signed out or is no longer staff."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            await self.access_watch(user.pk)
        if user is None or not user.is_authenticated or not user.is_staff:
            await self.close(code=CLOSE_NOT_ALLOWED)
            return
        self.cohort = await _cohort(self.scope["url_route"]["kwargs"]["slug"])
        if self.cohort is None:
            await self.close(code=4404)
            return
        await self.channel_layer.group_add(self.cohort.progress_group, self.channel_name)
        await self.accept()
        self.last_sent: dict | None = None
        self.refresher = asyncio.create_task(self._refresh())

    async def access_recheck(self, user) -> None:
        if not (user.is_active and user.is_staff):
            await self.close(code=CLOSE_NOT_ALLOWED)

    async def disconnect(self, code: int) -> None:
        await self.access_unwatch()
        if getattr(self, "cohort", None):
            await self.channel_layer.group_discard(self.cohort.progress_group, self.channel_name)
        if getattr(self, "refresher", None):
            self.refresher.cancel()

    async def _send_progress(self, environment: dict | None = None) -> None:
        progress = await _progress(self.cohort)
        if environment is None and progress == self.last_sent:
            return
        message = {"progress": progress}
        if environment:
            message["environment"] = environment
        await self.send_json(message)
        self.last_sent = progress

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            await self._send_progress()

    async def progress_update(self, message: dict) -> None:
        await self._send_progress(message.get("environment"))
