"""Generic reads and writes of the objects lessons are about, as plain dicts.

Grading reads whole kinds at a time and compares fields, so objects come back as the
API server sent them (JSON), never as the client's model classes, which are slow to
build and rename fields. Every request has the clients' default timeout.
"""

import datetime
import json
import os
from dataclasses import dataclass
from pathlib import Path

import urllib3
from django.conf import settings

from labplatform.cluster.clients import sync_client
from labplatform.cluster.errors import ClusterError, ClusterUnavailable
from labplatform.cluster.manifests import FIELD_MANAGER, KWOK_API_VERSION
from labplatform.cluster.registry import LOCAL
from labplatform.tracing import traced


class UnknownKind(ClusterError):
    """A check or a setup names a kind the platform does not know how to read."""


class ObjectRequestRefused(ClusterError):
    """The API server refused a request (403, 422, an admission policy); the message says why."""


@dataclass(frozen=True)
class Resource:
    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, *, namespace: str | None, name: str | None = None) -> str:
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        scope = f"/namespaces/{namespace}" if self.namespaced else ""
        return f"{prefix}{scope}/{self.plural}" + (f"/{name}" if name else "")


_RESOURCES = [
    Resource("v1", "Pod", "pods", True),
    Resource("v1", "Service", "services", True),
    Resource("v1", "Endpoints", "endpoints", True),
    Resource("v1", "ConfigMap", "configmaps", True),
    Resource("v1", "Secret", "secrets", True),
    Resource("v1", "Event", "events", True),
    Resource("v1", "ServiceAccount", "serviceaccounts", True),
    Resource("v1", "ResourceQuota", "resourcequotas", True),
    Resource("v1", "LimitRange", "limitranges", True),
    Resource("v1", "PersistentVolumeClaim", "persistentvolumeclaims", True),
    Resource("v1", "Node", "nodes", False),
    Resource("apps/v1", "Deployment", "deployments", True),
    Resource("apps/v1", "ReplicaSet", "replicasets", True),
    Resource("apps/v1", "StatefulSet", "statefulsets", True),
    Resource("apps/v1", "DaemonSet", "daemonsets", True),
    Resource("batch/v1", "Job", "jobs", True),
    Resource("batch/v1", "CronJob", "cronjobs", True),
    Resource("discovery.k8s.io/v1", "EndpointSlice", "endpointslices", True),
    Resource("events.k8s.io/v1", "Event", "events", True),
    Resource("networking.k8s.io/v1", "Ingress", "ingresses", True),
    Resource("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", True),
    Resource("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True),
    Resource(KWOK_API_VERSION, "Logs", "logs", True),
]
RESOURCES: dict[tuple[str, str], Resource] = {(r.api_version, r.kind): r for r in _RESOURCES}
# A check may leave apiVersion out for these; for any other kind it must say which.
_DEFAULT_API_VERSIONS = {"Pod", "Service", "Endpoints", "ConfigMap", "Secret", "Event", "ServiceAccount",
                         "ResourceQuota", "LimitRange", "PersistentVolumeClaim", "Node"}  # fmt: skip


def resource_for(*, api_version: str | None, kind: str) -> Resource:
    """The resource for a kind; apiVersion may be omitted for core kinds."""
    if not api_version and kind in _DEFAULT_API_VERSIONS:
        api_version = "v1"
    resource = RESOURCES.get((api_version or "", kind))
    if resource is None:
        known = ", ".join(sorted(f"{r.api_version} {r.kind}" for r in _RESOURCES))
        raise UnknownKind(f"kind {kind!r} (apiVersion {api_version or 'not given'}) is not one of: {known}")
    return resource


@traced("cluster.request")
def _request(
    cluster: str, method: str, path: str, *, query=None, headers=None, body=None, token: str | None = None
) -> dict | None:
    """One request, with the platform's credentials or else `token`'s; None for 404.
    Failures come back as ClusterErrors naming the path."""
    client = sync_client(cluster)
    header_params = {"Accept": "application/json", **(headers or {})}
    if token:
        header_params["Authorization"] = f"Bearer {token}"
    serialized = client.param_serialize(
        method,
        path,
        query_params=query or [],
        header_params=header_params,
        body=body,
        auth_settings=[] if token else ["BearerToken"],
    )
    try:
        response = client.call_api(*serialized)
        response.read()
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ClusterUnavailable(f"{method} {path}: cluster {cluster!r} unreachable: {exc}") from exc
    if response.status == 404:
        return None
    if response.status == 401 or response.status >= 500:
        raise ClusterUnavailable(f"{method} {path}: cluster {cluster!r} answered {response.status}")
    if not 200 <= response.status <= 299:
        raise ObjectRequestRefused(f"{method} {path}: {response.status} {_message(response.data)}")
    return json.loads(response.data) if response.data else None


def _message(data: bytes) -> str:
    try:
        return json.loads(data)["message"]
    except (TypeError, ValueError, KeyError):
        return data.decode(errors="replace")[:300]


def label_selector(selector: dict[str, str] | str | None) -> str:
    if not selector:
        return ""
    if isinstance(selector, str):
        return selector
    return ",".join(f"{key}={value}" for key, value in sorted(selector.items()))


def objects_list(
    *,
    cluster: str = LOCAL,
    namespace: str | None,
    api_version: str | None,
    kind: str,
    name: str | None = None,
    selector: dict[str, str] | str | None = None,
) -> list[dict]:
    """The objects of a kind in a namespace (any namespace for cluster-scoped kinds),
    one by name, or those a label selector (matchLabels or a selector string) picks.
    Each comes with its apiVersion and kind, as a GET of it would."""
    resource = resource_for(api_version=api_version, kind=kind)
    if name:
        found = _request(cluster, "GET", resource.path(namespace=namespace, name=name))
        found = [found] if found else []
    else:
        query = [("labelSelector", label_selector(selector))] if selector else []
        listed = _request(cluster, "GET", resource.path(namespace=namespace), query=query) or {}
        found = listed.get("items") or []
    for obj in found:
        obj.setdefault("apiVersion", resource.api_version)
        obj.setdefault("kind", resource.kind)
    return found


def events_for(*, cluster: str = LOCAL, namespace: str, kind: str, name: str) -> list[dict]:
    """Core Events about one object, oldest first."""
    listed = _request(
        cluster,
        "GET",
        resource_for(api_version="v1", kind="Event").path(namespace=namespace),
        query=[("fieldSelector", f"involvedObject.kind={kind},involvedObject.name={name}")],
    )
    return sorted((listed or {}).get("items") or [], key=event_time)


def event_time(event: dict) -> str:
    return event.get("lastTimestamp") or event.get("eventTime") or event["metadata"].get("creationTimestamp") or ""


def object_apply_into(obj: dict, *, cluster: str = LOCAL, namespace: str, token: str | None = None) -> dict:
    """Server-side applies one object of any known namespaced kind into `namespace`
    (whatever namespace the manifest named), as field manager labplatform; with `token`,
    as that identity (a task's setup writes as the student, within the student's rights)."""
    resource = resource_for(api_version=obj.get("apiVersion"), kind=obj.get("kind", ""))
    if not resource.namespaced:
        raise ObjectRequestRefused(f"{resource.kind} {obj['metadata']['name']}: is cluster-scoped; only "
                                   f"namespaced objects go into a student's namespace")  # fmt: skip
    manifest = {**obj, "apiVersion": resource.api_version, "metadata": {**obj["metadata"], "namespace": namespace}}
    return _request(
        cluster,
        "PATCH",
        resource.path(namespace=namespace, name=manifest["metadata"]["name"]),
        query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
        headers={"Content-Type": "application/apply-patch+yaml"},
        body=manifest,
        token=token,
    )


def pod_logs_dir() -> Path:
    return Path(settings.LOCAL_CLUSTER_STATE_DIR) / "pod-logs"


def pod_logs_write(*, cluster: str = LOCAL, namespace: str, pod: str, text: str) -> Path:
    """Makes `kubectl logs POD` print `text` on the local KWOK cluster: a log file in the
    CRI format kubelets write, and a KWOK Logs object naming it. KWOK runs as root and
    reads it; the folders are root's only, so no student's shell can read another's logs."""
    folder = pod_logs_dir() / namespace
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    pod_logs_dir().chmod(0o700)
    folder.chmod(0o700)
    path = folder / f"{pod}.log"
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lines = "".join(f"{stamp} stdout F {line}\n" for line in text.splitlines())
    partial = path.with_suffix(".new")
    # Replaced in one step, so kwok never serves half a file.
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(lines)
    partial.replace(path)
    logs = {
        "apiVersion": KWOK_API_VERSION,
        "kind": "Logs",
        "metadata": {"name": pod, "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER}},
        "spec": {"logs": [{"containers": [], "logsFile": str(path), "follow": False}]},
    }
    object_apply_into(logs, cluster=cluster, namespace=namespace)
    return path


def pod_logs_remove(*, namespace: str) -> None:
    """Removes a namespace's pod log files (their Logs objects go with the namespace)."""
    folder = pod_logs_dir() / namespace
    for path in folder.glob("*"):
        path.unlink(missing_ok=True)
    if folder.exists():
        folder.rmdir()
