"""What /healthz reports: each dependency, whether it answers, and why not."""

from dataclasses import asdict, dataclass

import redis
from django.conf import settings
from django.db import DatabaseError, connection

from labplatform.cluster.errors import ClusterError
from labplatform.cluster.info import cluster_version

CHECK_TIMEOUT_SECONDS = 3


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


def check_redis() -> Check:
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=CHECK_TIMEOUT_SECONDS,
        socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
    )
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


def health_report() -> tuple[bool, dict]:
    checks = {"database": check_database(), "redis": check_redis(), "cluster": check_cluster()}
    healthy = all(check.ok for check in checks.values())
    body = {
        "status": "ok" if healthy else "unavailable",
        "down": [name for name, check in checks.items() if not check.ok],
        "checks": {name: asdict(check) for name, check in checks.items()},
    }
    return healthy, body
