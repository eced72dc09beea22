"""What every signed-in socket shares: when told that access changed, it checks again
whether the person holding it may still hold it, and closes if not.

A consumer joins `push.user_access_group` of its user (and of anyone else its right
depends on: a watcher, of the student watched) with `access_watch`, before it checks
access at connect, so that a change made meanwhile is not missed. On `access.changed`
(which says nothing else, and is never taken at its word) it reads the session it was
opened with again: gone (signed out, flushed, expired), or its user deactivated or
their password changed, and `access_signed_out` closes the socket (4401); otherwise the
consumer's own `access_recheck(user)` decides, with the user read afresh.
"""

from importlib import import_module

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model, load_backend
from django.core.exceptions import ValidationError
from django.utils.crypto import constant_time_compare

from labplatform import push

CLOSE_SIGNED_OUT = 4401
CLOSE_NOT_ALLOWED = 4403


def session_user(session_key: str | None):
    """The user that session is signed in as now, read from the session store and the
    database afresh; None if it is signed in as nobody. As django.contrib.auth.get_user
    decides, but changing nothing (a session whose password hash no longer verifies is
    flushed by the next request; SECRET_KEY_FALLBACKS, unused here, are not tried)."""
    if not session_key:
        return None
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    try:
        user_id = get_user_model()._meta.pk.to_python(store[SESSION_KEY])
        backend_path = store[BACKEND_SESSION_KEY]
    except (KeyError, ValidationError):
        return None
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    user = load_backend(backend_path).get_user(user_id)  # None for an inactive user
    if user is None:
        return None
    session_hash = store.get(HASH_SESSION_KEY)
    if not session_hash or not constant_time_compare(session_hash, user.get_session_auth_hash()):
        return None
    return user


def scope_session_key(scope: dict) -> str | None:
    session = scope.get("session")
    return None if session is None else session.session_key


class AccessWatched:
    """A mixin for a Channels consumer that may hold a socket only while its user may."""

    access_groups: tuple[str, ...] = ()

    async def access_watch(self, *user_ids: int) -> None:
        """Hears of access changes of these users (besides those already watched)."""
        for group in dict.fromkeys(push.user_access_group(user_id) for user_id in user_ids):
            if group not in self.access_groups:
                await self.channel_layer.group_add(group, self.channel_name)
                self.access_groups = (*self.access_groups, group)

    async def access_unwatch(self) -> None:
        for group in self.access_groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.access_groups = ()

    async def access_changed(self, message: dict) -> None:
        holder = self.scope.get("user")
        user = await database_sync_to_async(session_user)(scope_session_key(self.scope))
        if user is None or holder is None or user.pk != holder.pk:
            await self.access_signed_out()
            return
        await self.access_recheck(user)

    async def access_signed_out(self) -> None:
        await self.close(code=CLOSE_SIGNED_OUT)

    async def access_recheck(self, user) -> None:
        """The consumer's own rule, with `user` read afresh: close if it no longer holds.
        Signed in is all the base asks."""
