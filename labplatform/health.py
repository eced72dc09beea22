"""What /healthz reports: each dependency, whether it answers, and why not; and when a
Celery worker last ran the heartbeat task that Celery beat schedules. Who sees more than
the status is decided in labplatform/views.py."""

import json
import time
from dataclasses import asdict, dataclass

import redis
from django.conf import settings
from django.db import DatabaseError, connection

from labplatform.cluster.errors import ClusterError
from labplatform.cluster.info import cluster_version

CHECK_TIMEOUT_SECONDS = 3
HEARTBEAT_KEY = "labplatform:worker-heartbeat"
HEARTBEAT_STALE_SECONDS = 120


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return Check(False, f"{connection.vendor}: {str(exc).strip().splitlines()[0]}")
    return Check(True, connection.vendor)


def _redis() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=CHECK_TIMEOUT_SECONDS,
        socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
    )


def check_redis() -> Check:
    client = _redis()
    try:
        client.ping()
    except redis.RedisError as exc:
        return Check(False, str(exc))
    finally:
        client.close()
    return Check(True, "PONG")


def check_cluster() -> Check:
    try:
        version = cluster_version(timeout=CHECK_TIMEOUT_SECONDS)
    except ClusterError as exc:
        return Check(False, str(exc))
    return Check(True, version)


def record_worker_heartbeat(hostname: str) -> None:
    with _redis() as client:
        beat = json.dumps({"hostname": hostname, "at": time.time()})
        client.set(HEARTBEAT_KEY, beat, ex=HEARTBEAT_STALE_SECONDS * 10)


def check_workers() -> Check:
    try:
        with _redis() as client:
            raw = client.get(HEARTBEAT_KEY)
    except redis.RedisError as exc:
        return Check(False, f"unknown: {exc}")
    if raw is None:
        return Check(False, "no worker has run the heartbeat task; are `celery worker` and `celery beat` running?")
    beat = json.loads(raw)
    age = max(0, round(time.time() - beat["at"]))
    if age > HEARTBEAT_STALE_SECONDS:
        return Check(False, f"last heartbeat {age}s ago from {beat['hostname']}; are the workers running?")
    return Check(True, f"heartbeat {age}s ago from {beat['hostname']}")


def health_status() -> bool:
    """Healthy means the web process can serve: its database, Redis and the cluster answer.
    Workers are reported beside that but do not change the status: a web pod should not be
    restarted because the workers are down."""
    return all(check.ok for check in _dependency_checks().values())


def _dependency_checks() -> dict[str, Check]:
    return {"database": check_database(), "redis": check_redis(), "cluster": check_cluster()}


def health_report() -> tuple[bool, dict]:
    """The status and why: each dependency's check with its detail, and the workers'
    heartbeat. The details name hosts, versions and errors, so /healthz shows them only to
    staff and to the bearer of HEALTHZ_TOKEN (labplatform/views.py)."""
    checks = _dependency_checks()
    healthy = all(check.ok for check in checks.values())
    body = {
        "status": "ok" if healthy else "unavailable",
        "down": [name for name, check in checks.items() if not check.ok],
        "checks": {name: asdict(check) for name, check in checks.items()},
        "workers": asdict(check_workers()),
    }
    return healthy, body
