from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from labplatform.classroom.models import Cohort


@database_sync_to_async
def _cohort_group(slug: str) -> str | None:
    cohort = Cohort.objects.filter(slug=slug).first()
    return cohort.progress_group if cohort else None


class CohortProgressConsumer(AsyncJsonWebsocketConsumer):
    """Staff only: live provisioning progress of one cohort."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_staff:
            await self.close(code=4403)
            return
        self.group = await _cohort_group(self.scope["url_route"]["kwargs"]["slug"])
        if self.group is None:
            await self.close(code=4404)
            return
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def progress_update(self, message: dict) -> None:
        await self.send_json({key: value for key, value in message.items() if key != "type"})
