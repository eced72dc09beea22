"""What one evaluation reads from the cluster: each kind of a namespace at most once,
then filtered here by name, labels and owners. Lives for one evaluation only."""

from typing import Any

from labplatform.cluster.reads import event_time, objects_list
from labplatform.cluster.rest import resource_for


def labels_match(obj: dict, selector: dict[str, str] | None) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(labels.get(key) == str(value) for key, value in (selector or {}).items())


def describe_target(target: dict) -> str:
    if target.get("name"):
        return f"{target['kind']} {target['name']}"
    selector = ",".join(f"{key}={value}" for key, value in sorted((target.get("selector") or {}).items()))
    return f"{target['kind']} objects" + (f" with labels {selector}" if selector else "")


class ClusterReads:
    def __init__(self, *, cluster: str, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self._lists: dict[tuple[str, str], list[dict]] = {}

    def objects(self, *, api_version: str | None, kind: str) -> list[dict]:
        resource = resource_for(api_version=api_version, kind=kind)
        key = (resource.api_version, resource.kind)
        if key not in self._lists:
            self._lists[key] = objects_list(
                cluster=self.cluster,
                namespace=self.namespace if resource.namespaced else None,
                api_version=resource.api_version,
                kind=resource.kind,
            )
        return self._lists[key]

    def matching(self, target: dict[str, Any]) -> list[dict]:
        """The objects a check's target names: by name, or by matchLabels, sorted by name."""
        found = [
            obj
            for obj in self.objects(api_version=target.get("apiVersion"), kind=target["kind"])
            if (not target.get("name") or obj["metadata"]["name"] == target["name"])
            and labels_match(obj, target.get("selector"))
        ]
        return sorted(found, key=lambda obj: obj["metadata"]["name"])

    def owned_by(self, owner: dict, *, api_version: str, kind: str) -> list[dict]:
        uid = owner["metadata"]["uid"]
        return [
            obj
            for obj in self.objects(api_version=api_version, kind=kind)
            if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])
        ]

    def events_about(self, obj: dict) -> list[dict]:
        """Core Events whose involvedObject is `obj` (by uid), oldest first."""
        uid = obj["metadata"]["uid"]
        events = [e for e in self.objects(api_version="v1", kind="Event") if e["involvedObject"].get("uid") == uid]
        return sorted(events, key=event_time)
