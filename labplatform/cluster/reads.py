"""Generic reads of the objects lessons are about, as plain dicts.

Grading reads whole kinds at a time and compares fields, so objects come back as the
API server sent them (JSON), never as the client's model classes, which are slow to
build and rename fields. Requests go through rest.py, with the clients' default timeout.
"""

from labplatform.cluster.errors import ObjectMissing
from labplatform.cluster.registry import LOCAL
from labplatform.cluster.rest import Json, request, resource_for


def label_selector(selector: dict[str, str] | str | None) -> str:
    if not selector:
        return ""
    if isinstance(selector, str):
        return selector
    return ",".join(f"{key}={value}" for key, value in sorted(selector.items()))


def _get(cluster: str, path: str, *, what: str, query: list[tuple[str, str]] | None = None) -> Json | None:
    """A read; None when the API server says it is not there (an object, or a kind it does not serve)."""
    try:
        return request(cluster, "GET", path, what=what, query=query or [])
    except ObjectMissing:
        return None


def objects_list(
    *,
    cluster: str = LOCAL,
    namespace: str | None,
    api_version: str | None,
    kind: str,
    name: str | None = None,
    selector: dict[str, str] | str | None = None,
) -> list[Json]:
    """The objects of a kind in a namespace (any namespace for cluster-scoped kinds),
    one by name, or those a label selector (matchLabels or a selector string) picks.
    Each comes with its apiVersion and kind, as a GET of it would."""
    resource = resource_for(api_version=api_version, kind=kind)
    what = resource.describe(namespace=namespace, name=name)
    found: list[Json]
    if name:
        one = _get(cluster, resource.path(namespace=namespace, name=name), what=what)
        found = [one] if one else []
    else:
        query = [("labelSelector", label_selector(selector))] if selector else []
        listed = _get(cluster, resource.path(namespace=namespace), what=what, query=query) or {}
        found = listed.get("items") or []
    for obj in found:
        obj.setdefault("apiVersion", resource.api_version)
        obj.setdefault("kind", resource.kind)
    return found


def events_for(*, cluster: str = LOCAL, namespace: str, kind: str, name: str) -> list[Json]:
    """Core Events about one object, oldest first."""
    resource = resource_for(api_version="v1", kind="Event")
    listed = _get(
        cluster,
        resource.path(namespace=namespace),
        what=f"Events about {kind} {namespace}/{name}",
        query=[("fieldSelector", f"involvedObject.kind={kind},involvedObject.name={name}")],
    )
    return sorted((listed or {}).get("items") or [], key=event_time)


def event_time(event: Json) -> str:
    return event.get("lastTimestamp") or event.get("eventTime") or event["metadata"].get("creationTimestamp") or ""
