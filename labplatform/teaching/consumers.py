from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from labplatform.cohorts.instructors import teaching_cohort
from labplatform.sockets import CLOSE_NOT_ALLOWED, CLOSE_SIGNED_OUT, AccessWatched


class DashboardConsumer(AccessWatched, AsyncJsonWebsocketConsumer):
    """A cohort's grade updates, live, for those who teach it. The page fetches every cell
    when it (re)connects, so a message the channel layer dropped is caught up then. It
    closes (4403) once its user no longer teaches the cohort, nor is staff."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_SIGNED_OUT)
            return
        await self.access_watch(user.pk)
        cohort = await self._cohort(user)
        if cohort is None:
            await self.close(code=CLOSE_NOT_ALLOWED)
            return
        self.group = cohort.grades_group
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def _cohort(self, user):
        return await database_sync_to_async(teaching_cohort)(user, slug=self.scope["url_route"]["kwargs"]["slug"])

    async def access_recheck(self, user) -> None:
        if await self._cohort(user) is None:
            await self.close(code=CLOSE_NOT_ALLOWED)

    async def disconnect(self, code: int) -> None:
        await self.access_unwatch()
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        """The page only listens."""

    async def grade_update(self, message: dict) -> None:
        await self.send_json(
            {
                "type": "cell",
                "student": message["student"],
                "task": message["task"],
                "state": message["state"],
                "attempts": message["attempts"],
            }
        )
