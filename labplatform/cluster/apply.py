"""Idempotent writes: server-side apply of manifests, and deletes where 404 is success.

Manifests are plain dicts (see manifests.py). Each is applied with field manager
`labplatform` and `force`, so applying the same objects twice changes nothing and a
drifted field is put back. Requests go through rest.py.
"""

from typing import Any

from labplatform.cluster.errors import ObjectMissing, ObjectRefused
from labplatform.cluster.manifests import FIELD_MANAGER
from labplatform.cluster.registry import LOCAL
from labplatform.cluster.rest import Json, object_name, object_path, request, resource_for
from labplatform.tracing import span

_APPLY_QUERY = [("fieldManager", FIELD_MANAGER), ("force", "true")]
_APPLY_HEADERS = {"Content-Type": "application/apply-patch+yaml"}


def _applied(stored: Json | None, what: str) -> Json:
    if stored is None:
        raise ObjectRefused(f"{what}: the API server answered the apply with no object")
    return stored


def object_apply(obj: dict[str, Any], *, cluster: str = LOCAL) -> Json:
    """Server-side applies one object of a registered kind; returns it as the API server stored it."""
    with span("cluster.apply", obj["kind"]):
        what = object_name(obj)
        stored = request(
            cluster,
            "PATCH",
            object_path(obj),
            what=what,
            query=_APPLY_QUERY,
            headers=_APPLY_HEADERS,
            body=obj,
        )
        return _applied(stored, what)


def object_apply_into(obj: dict[str, Any], *, cluster: str = LOCAL, namespace: str, token: str | None = None) -> Json:
    """Server-side applies one object of any kind lessons may use into `namespace`
    (whatever namespace the manifest named), as field manager labplatform; with `token`,
    as that identity (a task's setup writes as the student, within the student's rights)."""
    resource = resource_for(api_version=obj.get("apiVersion"), kind=obj.get("kind", ""))
    if not resource.namespaced:
        raise ObjectRefused(f"{resource.kind} {obj['metadata']['name']}: is cluster-scoped; only "
                            f"namespaced objects go into a student's namespace")  # fmt: skip
    manifest = {**obj, "apiVersion": resource.api_version, "metadata": {**obj["metadata"], "namespace": namespace}}
    name = manifest["metadata"]["name"]
    what = resource.describe(namespace=namespace, name=name)
    stored = request(
        cluster,
        "PATCH",
        resource.path(namespace=namespace, name=name),
        what=what,
        query=_APPLY_QUERY,
        headers=_APPLY_HEADERS,
        body=manifest,
        token=token,
    )
    return _applied(stored, what)


def object_delete(obj: dict[str, Any], *, cluster: str = LOCAL) -> bool:
    """Deletes one object; False if it was already gone (404 is success)."""
    try:
        request(cluster, "DELETE", object_path(obj), what=object_name(obj), query=[("propagationPolicy", "Background")])
    except ObjectMissing:
        return False
    return True


def object_get(obj: dict[str, Any], *, cluster: str = LOCAL) -> Json | None:
    """The object as stored (`obj` needs only apiVersion, kind and metadata), or None."""
    try:
        return request(cluster, "GET", object_path(obj), what=object_name(obj))
    except ObjectMissing:
        return None


def object_exists(obj: dict[str, Any], *, cluster: str = LOCAL) -> bool:
    return object_get(obj, cluster=cluster) is not None
