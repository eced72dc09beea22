"""Kubernetes API clients, created once per registered cluster.

The sync client serves views and Celery tasks, and defaults every request to a
timeout, so no caller hangs on an unreachable API server. The async WebSocket client
serves exec streams in Channels consumers; exec.py bounds its connection time.
"""

import asyncio
import functools
import weakref

import kubernetes
import kubernetes_asyncio
from django.conf import settings
from kubernetes_asyncio.stream import WsApiClient

from labplatform.cluster.errors import ClusterUnavailable
from labplatform.cluster.registry import LOCAL, ClusterSource, cluster_source


def default_timeout() -> float:
    return float(settings.KUBERNETES_TIMEOUT_SECONDS)


class _SyncApiClient(kubernetes.client.ApiClient):
    def call_api(self, method, url, header_params=None, body=None, post_params=None, _request_timeout=None):
        timeout = default_timeout() if _request_timeout is None else _request_timeout
        return super().call_api(method, url, header_params, body, post_params, _request_timeout=timeout)


def _missing_kubeconfig(source: ClusterSource) -> ClusterUnavailable:
    return ClusterUnavailable(
        f"cluster {source.name!r}: {source.kubeconfig} does not exist; "
        "run `make cluster-up`, or set LABPLATFORM_KUBECONFIG to an existing cluster's kubeconfig"
    )


def sync_client(name: str = LOCAL) -> kubernetes.client.ApiClient:
    return _sync_client_for(cluster_source(name))


# Keyed by where the cluster is, so a changed kubeconfig setting gets a new client.
@functools.cache
def _sync_client_for(source: ClusterSource) -> kubernetes.client.ApiClient:
    configuration = kubernetes.client.Configuration()
    if source.kubeconfig is None:
        kubernetes.config.load_incluster_config(client_configuration=configuration)
    elif not source.kubeconfig.exists():
        raise _missing_kubeconfig(source)
    else:
        kubernetes.config.load_kube_config(config_file=str(source.kubeconfig), client_configuration=configuration)
    return _SyncApiClient(configuration)


async def _async_configuration(source: ClusterSource) -> kubernetes_asyncio.client.Configuration:
    configuration = kubernetes_asyncio.client.Configuration()
    if source.kubeconfig is None:
        kubernetes_asyncio.config.load_incluster_config(client_configuration=configuration)
    elif not source.kubeconfig.exists():
        raise _missing_kubeconfig(source)
    else:
        await kubernetes_asyncio.config.load_kube_config(
            config_file=str(source.kubeconfig), client_configuration=configuration
        )
    return configuration


# aiohttp sessions belong to one event loop, so async clients are cached per loop.
_async_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict]" = weakref.WeakKeyDictionary()


async def _cached(name: str, kind: str, factory):
    source = cluster_source(name)
    per_loop = _async_clients.setdefault(asyncio.get_running_loop(), {})
    key = (source, kind)
    if key not in per_loop:
        per_loop[key] = factory(await _async_configuration(source))
    return per_loop[key]


async def websocket_client(name: str = LOCAL) -> WsApiClient:
    """The client for exec and attach, which speak WebSocket rather than plain HTTP."""

    def make(configuration: kubernetes_asyncio.client.Configuration) -> WsApiClient:
        # Every open terminal holds one connection (its exec stream) for as long as it is
        # open; aiohttp's default limit of 100 would make the 101st wait and time out.
        configuration.connection_pool_maxsize = 0  # no limit
        return WsApiClient(configuration, heartbeat=30)

    return await _cached(name, "ws", make)


async def api_client(name: str = LOCAL) -> kubernetes_asyncio.client.ApiClient:
    """The plain HTTP client, for reads beside an exec stream."""
    return await _cached(name, "rest", kubernetes_asyncio.client.ApiClient)


async def close_async_clients() -> None:
    per_loop = _async_clients.pop(asyncio.get_running_loop(), {})
    for client in per_loop.values():
        await client.close()
