"""Exec streams into pods over the Kubernetes WebSocket protocol (v4.channel.k8s.io).

One frame carries one channel byte then data: 0 stdin, 1 stdout, 2 stderr, 3 the exit
status (a Status object), 4 terminal resize.

This is the one module that does not go through rest.py: an exec is a WebSocket
stream, which only kubernetes_asyncio's WsApiClient speaks, and it runs in Channels
consumers on the event loop, where rest.py's blocking requests would stall every other
terminal. The pod read beside it (pod_read) is on the same event loop, so it uses the
same async client's CoreV1Api rather than a blocking request.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypedDict, cast

import aiohttp
from kubernetes_asyncio.client import CoreV1Api, V1Pod
from kubernetes_asyncio.client.exceptions import ApiException

from labplatform.cluster.clients import api_client, close_async_clients, default_timeout, websocket_client
from labplatform.cluster.errors import ClusterUnavailable, PodMissing
from labplatform.cluster.registry import LOCAL

STDIN, STDOUT, STDERR, STATUS, RESIZE = range(5)


@dataclass(frozen=True)
class ExecOutput:
    channel: int
    data: bytes


class ExecStream:
    def __init__(self, websocket: aiohttp.ClientWebSocketResponse) -> None:
        self._websocket = websocket
        self.exit_status: dict | None = None

    async def write(self, data: bytes) -> None:
        await self._websocket.send_bytes(bytes([STDIN]) + data)

    async def resize(self, *, cols: int, rows: int) -> None:
        message = json.dumps({"Width": cols, "Height": rows}).encode()
        await self._websocket.send_bytes(bytes([RESIZE]) + message)

    async def read(self, timeout: float | None = None) -> ExecOutput | None:
        """The next stdout or stderr chunk; None once the command has ended."""
        while True:
            message = await self._websocket.receive(timeout=timeout)
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                return None
            if message.type == aiohttp.WSMsgType.ERROR:
                raise ClusterUnavailable(f"exec stream failed: {self._websocket.exception()}")
            payload = message.data if isinstance(message.data, bytes) else message.data.encode()
            if not payload:
                continue
            channel, data = payload[0], payload[1:]
            if channel == STATUS:
                self.exit_status = json.loads(data) if data else None
                continue
            if data:
                return ExecOutput(channel, data)

    @property
    def closed(self) -> bool:
        return self._websocket.closed

    async def close(self) -> None:
        await self._websocket.close()


async def pod_read(*, cluster: str, namespace: str, pod: str) -> V1Pod | None:
    """The pod as the API server has it (a V1Pod), None if it is not there. Async, for
    consumers on the event loop (see the module's docstring)."""
    try:
        return await CoreV1Api(await api_client(cluster)).read_namespaced_pod(
            pod, namespace, _request_timeout=default_timeout()
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise ClusterUnavailable(f"pod {namespace}/{pod}: {exc.status} {exc.reason}") from exc
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise ClusterUnavailable(f"pod {namespace}/{pod}: {exc}") from exc


async def _pod_exists(cluster: str, namespace: str, pod: str) -> bool:
    """False only when the API server says the pod is not there."""
    try:
        return await pod_read(cluster=cluster, namespace=namespace, pod=pod) is not None
    except ClusterUnavailable:
        return True


class _Container(TypedDict, total=False):
    container: str


@asynccontextmanager
async def exec_stream(
    *,
    namespace: str,
    pod: str,
    command: list[str],
    tty: bool = True,
    container: str | None = None,
    cluster: str = LOCAL,
) -> AsyncIterator[ExecStream]:
    api = CoreV1Api(await websocket_client(cluster))
    kwargs: _Container = {"container": container} if container else {}
    try:
        # With _preload_content=False the WebSocket client answers with the connection
        # still to be made (aiohttp's ws_connect), not the str the stubs declare.
        connecting = await api.connect_get_namespaced_pod_exec(
            pod,
            namespace,
            # The stubs say str; the WebSocket client sends a list as one `command`
            # query parameter per argument, which is what exec needs (argv, no shell).
            command=command,  # type: ignore[arg-type]
            stdin=True,
            stdout=True,
            stderr=not tty,
            tty=tty,
            _preload_content=False,
            **kwargs,
        )
        websocket = await asyncio.wait_for(
            cast("Awaitable[aiohttp.ClientWebSocketResponse]", connecting), timeout=default_timeout()
        )
    except aiohttp.WSServerHandshakeError as exc:
        if exc.status == 404:
            if not await _pod_exists(cluster, namespace, pod):
                raise PodMissing(f"pod {namespace}/{pod} does not exist") from exc
            # The kubelet's 404: a kubelet that has just started does not know its pods
            # until it has synced them from the API server. The pod is there; so is its shell.
            raise ClusterUnavailable(f"exec into {namespace}/{pod}: its node does not serve it yet (HTTP 404)") from exc
        raise ClusterUnavailable(f"exec into {namespace}/{pod} refused: HTTP {exc.status} {exc.message}") from exc
    except (ApiException, aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise ClusterUnavailable(f"exec into {namespace}/{pod} failed: {exc}") from exc
    stream = ExecStream(websocket)
    try:
        yield stream
    finally:
        await stream.close()


async def _exec_run(*, cluster: str, namespace: str, pod: str, command: list[str], timeout: float) -> bool:
    try:
        async with exec_stream(namespace=namespace, pod=pod, command=command, tty=False, cluster=cluster) as stream:
            while await stream.read(timeout=timeout) is not None:
                pass  # what the command prints is not read: the pod may be a student's
            return (stream.exit_status or {}).get("status") == "Success"
    finally:
        await close_async_clients()


def exec_run(*, cluster: str, namespace: str, pod: str, command: list[str], timeout: float = 30) -> bool:
    """Runs a command in the pod until it ends; whether it exited 0, as the kubelet
    reports it. Its output is discarded unread. For synchronous callers (Celery workers)."""
    return asyncio.run(_exec_run(cluster=cluster, namespace=namespace, pod=pod, command=command, timeout=timeout))
