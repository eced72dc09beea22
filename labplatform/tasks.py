from celery import shared_task

from labplatform.health import record_worker_heartbeat


@shared_task(ignore_result=False)
def worker_heartbeat() -> str:
    """Celery beat queues this every 30 s; /healthz reports when a worker last ran it."""
    hostname = worker_heartbeat.request.hostname or "unknown"
    record_worker_heartbeat(hostname)
    return hostname
