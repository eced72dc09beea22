"""Terminals into students' workstations. Every connection is its own exec running the
workstation's session command, which attaches to the student's tmux session (starting it
if needed); the session outlives each connection. The command is the workstation image's
(k8s/workstation/labplatform-workstation), in the container, on every cluster."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from labplatform.cluster import manifests
from labplatform.cluster.exec import ExecStream, exec_run, exec_stream, pod_read

SESSION_COMMAND = "/usr/local/libexec/labplatform-workstation"
# Keys the session's tmux binds (see the session command): KEEPALIVE marks the connection
# as alive and does nothing else, DETACH ends this connection and leaves the shell running.
# The process of an exec whose stream closes may live on in the container (the kubelet does
# not always end it), so a connection says goodbye with DETACH, and one that vanished is
# detached by the session once KEEPALIVE_SECONDS * 4 pass in silence.
KEEPALIVE_KEY = b"\x1b[9998~"
DETACH_KEY = b"\x1b[9999~"
KEEPALIVE_SECONDS = 30


def session_command(mode: str, student: str, *, grace_seconds: int | None = None) -> list[str]:
    manifests.workstation_pod_name(student)  # validates the id
    if mode == "attach":
        if grace_seconds is None or grace_seconds < 0:
            raise ValueError(f"attach for {student!r} needs a grace period in seconds, not {grace_seconds!r}")
        return [SESSION_COMMAND, "attach", student, str(grace_seconds)]
    if mode in ("watch", "end"):
        return [SESSION_COMMAND, mode, student]
    raise ValueError(f"unknown terminal mode {mode!r}")


@asynccontextmanager
async def workstation_terminal(
    *, cluster: str, namespace: str, student: str, read_only: bool, grace_seconds: int
) -> AsyncIterator[ExecStream]:
    """The student's shell (read_only: a view of it that cannot type or resize)."""
    if read_only:
        command = session_command("watch", student)
    else:
        command = session_command("attach", student, grace_seconds=grace_seconds)
    async with exec_stream(
        namespace=namespace, pod=manifests.workstation_pod_name(student), command=command, tty=True, cluster=cluster
    ) as stream:
        yield stream


async def workstation_stopped(*, cluster: str, namespace: str, student: str) -> str | None:
    """Why the student's workstation has stopped for good, in its node's words (an
    eviction for using too much disk, say); None while it runs, starts, or is gone."""
    pod = await pod_read(cluster=cluster, namespace=namespace, pod=manifests.workstation_pod_name(student))
    status = pod.status if pod is not None else None
    if status is None or status.phase not in ("Failed", "Succeeded"):
        return None
    said = (status.message or "").strip() or status.reason or f"its pod has {status.phase.lower()}"
    return said if said.endswith((".", "!", "?")) else said + "."


def workstation_session_end(*, cluster: str, namespace: str, student: str) -> None:
    """Ends the student's shell and everything running in it (a reset); the next
    connection starts a fresh one. For synchronous callers (Celery workers)."""
    exec_run(
        cluster=cluster,
        namespace=namespace,
        pod=manifests.workstation_pod_name(student),
        command=session_command("end", student),
    )
