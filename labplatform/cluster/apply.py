"""Idempotent writes: server-side apply of manifests, and deletes where 404 is success.

Manifests are plain dicts (see manifests.py). Each is applied with field manager
`labplatform` and `force`, so applying the same objects twice changes nothing and a
drifted field is put back.
"""

import json

import urllib3

from labplatform.cluster.clients import sync_client
from labplatform.cluster.errors import ClusterError, ClusterUnavailable
from labplatform.cluster.manifests import FIELD_MANAGER
from labplatform.cluster.registry import LOCAL
from labplatform.tracing import span

# (apiVersion, kind) -> (plural, namespaced), for the kinds the platform writes.
_RESOURCES: dict[tuple[str, str], tuple[str, bool]] = {
    ("v1", "Namespace"): ("namespaces", False),
    ("v1", "ServiceAccount"): ("serviceaccounts", True),
    ("v1", "ResourceQuota"): ("resourcequotas", True),
    ("v1", "LimitRange"): ("limitranges", True),
    ("v1", "Secret"): ("secrets", True),
    ("v1", "Pod"): ("pods", True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("rolebindings", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): ("clusterrolebindings", False),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("networkpolicies", True),
}


class ObjectRefused(ClusterError):
    """The API server refused an object (403, 422, a policy); the message names it."""


class ObjectMissing(ClusterError):
    pass


def object_name(obj: dict) -> str:
    metadata = obj["metadata"]
    where = f"{metadata['namespace']}/" if "namespace" in metadata else ""
    return f"{obj['kind']} {where}{metadata['name']}"


def object_path(obj: dict) -> str:
    api_version, kind = obj["apiVersion"], obj["kind"]
    plural, namespaced = _RESOURCES[(api_version, kind)]
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    scope = f"/namespaces/{obj['metadata']['namespace']}" if namespaced else ""
    return f"{prefix}{scope}/{plural}/{obj['metadata']['name']}"


def _call(obj: dict, cluster: str, method: str, *, query=None, headers=None, body=None) -> dict | None:
    """One request about `obj`; failures come back as ClusterErrors that name it."""
    client = sync_client(cluster)
    serialized = client.param_serialize(
        method,
        object_path(obj),
        query_params=query or [],
        header_params={"Accept": "application/json", **(headers or {})},
        body=body,
        auth_settings=["BearerToken"],
    )
    try:
        response = client.call_api(*serialized)
        response.read()
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ClusterUnavailable(f"{object_name(obj)}: cluster {cluster!r} unreachable: {exc}") from exc
    if response.status == 404:
        raise ObjectMissing(f"{object_name(obj)} does not exist")
    if not 200 <= response.status <= 299:
        raise ObjectRefused(f"{object_name(obj)}: {response.status} {_message(response.data)}")
    return json.loads(response.data) if response.data else None


def _message(data: bytes) -> str:
    try:
        return json.loads(data)["message"]
    except (TypeError, ValueError, KeyError):
        return data.decode(errors="replace")[:300]


def object_apply(obj: dict, *, cluster: str = LOCAL) -> dict:
    """Server-side applies one object; returns it as the API server stored it."""
    with span("cluster.apply", obj["kind"]):
        return _call(
            obj,
            cluster,
            "PATCH",
            query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
            headers={"Content-Type": "application/apply-patch+yaml"},
            body=obj,
        )


def object_delete(obj: dict, *, cluster: str = LOCAL) -> bool:
    """Deletes one object; False if it was already gone (404 is success)."""
    try:
        _call(obj, cluster, "DELETE", query=[("propagationPolicy", "Background")])
    except ObjectMissing:
        return False
    return True


def object_get(obj: dict, *, cluster: str = LOCAL) -> dict | None:
    """The object as stored (`obj` needs only apiVersion, kind and metadata), or None."""
    try:
        return _call(obj, cluster, "GET")
    except ObjectMissing:
        return None


def object_exists(obj: dict, *, cluster: str = LOCAL) -> bool:
    return object_get(obj, cluster=cluster) is not None
