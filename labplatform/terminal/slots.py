"""How many terminal sockets a person holds at once, counted across every web process.

A sorted set per person and kind in Redis: its members are the sockets (their channel
names, unique across processes), each scored with when it lapses. A socket takes a slot
when it opens, renews it every RENEW_SECONDS and gives it back when it closes; one whose
process died without giving it back lapses SLOT_SECONDS after its last renewal, so a
crash never holds a slot for long. Taking is one Lua script (drop the lapsed, count,
add), so two processes cannot both take the last slot, and it keeps time by Redis's
clock, the same for every process. The set itself expires with its last slot.

Redis calls are synchronous (one connection pool per process, safe across threads) and
run off the event loop (asyncio.to_thread): a socket takes, renews and gives back a slot
a few times an hour, and a pool shared by every event loop needs no per-loop care.
"""

import asyncio
import os
import threading

import redis
from django.conf import settings

RENEW_SECONDS = 30
SLOT_SECONDS = 3 * RENEW_SECONDS  # three missed renewals
REDIS_TIMEOUT_SECONDS = 3

OWN = "own"  # a student's own terminal
WATCH = "watch"  # an instructor's read-only watch

# KEYS[1]: the person's set. ARGV: the socket, the limit (0: none), the lifetime in ms.
# Returns 1 if the socket holds a slot now, else 0.
_TAKE = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
local limit = tonumber(ARGV[2])
if limit > 0 and not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= limit then
  return 0
end
redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[3]), ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], math.ceil(tonumber(last[2])))
return 1
"""

# Live slots of the set: those not lapsed by Redis's clock.
_COUNT = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. ms, '+inf')
"""

_client: redis.Redis | None = None
_client_pid = 0
_client_lock = threading.Lock()


def _redis() -> redis.Redis:
    """This process's client; a forked child makes its own."""
    global _client, _client_pid
    with _client_lock:
        if _client is None or _client_pid != os.getpid():
            _client = redis.Redis.from_url(
                settings.REDIS_URL,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            _client_pid = os.getpid()
        return _client


def slot_key(kind: str, user_id: int) -> str:
    return f"labplatform:terminal-sockets:{kind}:{user_id}"


def take(key: str, holder: str, *, limit: int, lifetime: float = SLOT_SECONDS) -> bool:
    """A slot in `key` for `holder`, if fewer than `limit` are held (a holder that has one
    keeps it: this renews it). Raises redis.RedisError if Redis does not answer."""
    return bool(_redis().eval(_TAKE, 1, key, holder, limit, int(lifetime * 1000)))


def renew(key: str, holder: str, *, lifetime: float = SLOT_SECONDS) -> None:
    """Keeps the holder's slot for another `lifetime`, even past the limit: a socket that
    is open stays counted."""
    _redis().eval(_TAKE, 1, key, holder, 0, int(lifetime * 1000))


def give_back(key: str, holder: str) -> None:
    _redis().zrem(key, holder)


def held(key: str) -> int:
    """How many slots of `key` are held now."""
    return int(_redis().eval(_COUNT, 1, key))


async def take_async(key: str, holder: str, *, limit: int) -> bool:
    return await asyncio.to_thread(take, key, holder, limit=limit)


async def renew_async(key: str, holder: str) -> None:
    await asyncio.to_thread(renew, key, holder)


async def give_back_async(key: str, holder: str) -> None:
    await asyncio.to_thread(give_back, key, holder)
