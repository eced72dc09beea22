"""The socket every page of a signed-in user opens (/ws/events/). It only
authenticates, joins the user's group and forwards what labplatform.push sends there;
it closes (4401) once the user has signed out (labplatform/sockets.py)."""

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from labplatform.push import user_group
from labplatform.sockets import CLOSE_SIGNED_OUT, AccessWatched


class UserEventsConsumer(AccessWatched, AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_SIGNED_OUT)
            return
        await self.access_watch(user.pk)
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.access_unwatch()
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def user_event(self, message: dict) -> None:
        await self.send_json(message["event"])
