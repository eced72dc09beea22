"""What the fill benchmark's students make: every kind they may create, as many as their
quota allows, each at the per-object size caps (k8s/platform/base/student-object-sizes.yaml:
a ConfigMap's or Secret's data at most --data-kib, any object's annotations at most
--annotation-kib), and the changing ConfigMaps the writers loop over, pre-encoded so that
writing costs the benchmark little CPU."""

import base64
import json
import os
from dataclasses import dataclass

FILLER = "bench.labplatform.io/filler"
# The caps count keys and values; a little room for the rest of what admission counts.
_ROOM = 512
# kind -> (API path under the namespace, the quota's name for its count)
KINDS = {
    "ConfigMap": ("/api/v1/namespaces/{ns}/configmaps", "configmaps"),
    "Secret": ("/api/v1/namespaces/{ns}/secrets", "secrets"),
    "Pod": ("/api/v1/namespaces/{ns}/pods", "pods"),
    "Service": ("/api/v1/namespaces/{ns}/services", "services"),
    "Deployment": ("/apis/apps/v1/namespaces/{ns}/deployments", "count/deployments.apps"),
}


def text(size: int) -> str:
    """`size` characters of random base64 text (incompressible, as etcd stores it)."""
    return base64.b64encode(os.urandom(size * 3 // 4 + 3)).decode()[:size]


@dataclass(frozen=True)
class Caps:
    data_bytes: int
    annotation_bytes: int

    def annotations(self) -> dict[str, str]:
        return {FILLER: text(max(0, self.annotation_bytes - len(FILLER) - _ROOM))}

    def blob(self) -> str:
        return text(max(0, self.data_bytes - len("blob") - _ROOM))


def _metadata(name: str, caps: Caps) -> dict:
    return {"name": name, "annotations": caps.annotations()}


def fill_object(kind: str, name: str, caps: Caps) -> dict:
    """One object of `kind` at the caps."""
    metadata = _metadata(name, caps)
    if kind == "ConfigMap":
        return {"apiVersion": "v1", "kind": kind, "metadata": metadata, "data": {"blob": caps.blob()}}
    if kind == "Secret":
        # data is base64 of the bytes; the cap counts the decoded bytes.
        raw = os.urandom(max(0, caps.data_bytes - len("blob") - _ROOM))
        return {
            "apiVersion": "v1",
            "kind": kind,
            "metadata": metadata,
            "data": {"blob": base64.b64encode(raw).decode()},
        }
    container = {
        "name": "app",
        "image": "registry.local/fill:1",
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
    }
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": kind, "metadata": metadata, "spec": {"containers": [container]}}
    if kind == "Service":
        # Headless: no cluster IP to allocate (the local range has 254).
        spec = {"clusterIP": "None", "selector": {"app": name}, "ports": [{"port": 80}]}
        return {"apiVersion": "v1", "kind": kind, "metadata": metadata, "spec": spec}
    if kind == "Deployment":
        template = {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}
        spec = {"replicas": 0, "selector": {"matchLabels": {"app": name}}, "template": template}
        return {"apiVersion": "apps/v1", "kind": kind, "metadata": metadata, "spec": spec}
    raise ValueError(f"no fill object for {kind}")


class Churn:
    """A writer's ConfigMaps, rewritten with new data each time (each write is a new
    version of the whole object in etcd): `variants` bodies per name, taken in turn."""

    def __init__(self, names: list[str], caps: Caps, *, variants: int = 4) -> None:
        annotations = json.dumps(caps.annotations())
        self.bodies = {
            name: [
                json.dumps(
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": name, "annotations": json.loads(annotations)},
                        "data": {"blob": caps.blob()},
                    }
                ).encode()
                for _ in range(variants)
            ]
            for name in names
        }
        self.names = names

    def body(self, turn: int) -> tuple[str, bytes]:
        name = self.names[turn % len(self.names)]
        variants = self.bodies[name]
        return name, variants[(turn // len(self.names)) % len(variants)]
