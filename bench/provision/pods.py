"""The workstation pods of a cohort as one watch sees them start on the node (the same
observer for every phase), and removing everything labelled with a cohort as
cluster-admin, waiting until it is really gone."""

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bench.kube import Kube, cohort_selector
from labplatform.cluster.manifests import COHORT_LABEL, MANAGED_BY, MANAGED_BY_LABEL

logger = logging.getLogger("bench")


class ReadyWatcher(threading.Thread):
    """Records when each pod of a cohort in the workstation namespace is first seen, first
    seen bound to a node, with its container running, and Ready, by one watch (as
    cluster-admin): the same observer for every phase. created -> Ready is the pod's start
    on the real node (scheduler, then kubelet, containerd and runc, then the kubelet's
    status report)."""

    def __init__(self, kube: Kube, namespace: str, cohort: str):
        super().__init__(name=f"watch-{cohort}", daemon=True)
        self.kube, self.namespace, self.cohort = kube, namespace, cohort
        self.ready: dict[str, float] = {}
        self.created: dict[str, float] = {}
        self.scheduled: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self.nodes: dict[str, str] = {}
        self.seen: set[str] = set()
        self.errors = 0
        self._stop = threading.Event()
        self._changed = threading.Condition()

    def stop(self) -> None:
        self._stop.set()

    def _see(self, pod: dict) -> None:
        name, now = pod["metadata"]["name"], time.time()
        self.seen.add(name)
        if name in self.ready or pod["metadata"].get("deletionTimestamp"):
            return
        self.created.setdefault(name, now)
        if pod["spec"].get("nodeName"):
            self.scheduled.setdefault(name, now)
            self.nodes[name] = pod["spec"]["nodeName"]
        statuses = pod.get("status", {}).get("containerStatuses") or []
        if statuses and all("running" in (s.get("state") or {}) for s in statuses):
            self.running.setdefault(name, now)
        conditions = pod.get("status", {}).get("conditions") or []
        if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            with self._changed:
                self.ready[name] = time.time()
                self._changed.notify_all()

    def pod_start(self) -> dict[str, list[float]]:
        """Seconds per pod: created -> Ready, and its steps as the watch saw them (a step
        reported in the same event as the next counts as 0 s)."""
        out: dict[str, list[float]] = {"created_to_ready": [], "to_scheduled": [], "to_running": [], "to_ready": []}
        for name, ready in self.ready.items():
            created = self.created.get(name)
            if created is None:
                continue  # Ready when first seen: the watch started late
            scheduled = self.scheduled.get(name, ready)
            running = self.running.get(name, ready)
            out["created_to_ready"].append(ready - created)
            out["to_scheduled"].append(scheduled - created)
            out["to_running"].append(running - scheduled)
            out["to_ready"].append(ready - running)
        return out

    def wait_for(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.ready) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 1.0))
        return True

    def run(self) -> None:
        path = f"/api/v1/namespaces/{self.namespace}/pods"
        selector = cohort_selector(self.cohort)
        version = None
        while not self._stop.is_set():
            try:
                if version is None:
                    version = self._list(path, selector)
                version = self._watch(path, selector, version)
            except Exception:  # keep watching; count it
                self.errors += 1
                logger.exception("watcher %s", self.cohort)
                version = None
                time.sleep(0.5)

    def _list(self, path: str, selector: str) -> str:
        """Sees every pod there is now; the resourceVersion to watch from."""
        listing = self.kube.json("GET", path, {"labelSelector": selector})
        for pod in listing["items"]:
            self._see(pod)
        return listing["metadata"]["resourceVersion"]

    def _watch(self, path: str, selector: str, version: str) -> str | None:
        """Sees the pods' changes after `version`, for at most one watch (5 s); the version to
        go on from, or None to list again."""
        query = {
            "labelSelector": selector,
            "watch": "1",
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": "5",
        }
        response = self.kube.request("GET", path, query, preload_content=False)
        buffer = b""
        seen: str | None = version
        for chunk in response.stream(65536, decode_content=True):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            seen = self._events(lines, seen)
            if self._stop.is_set() or seen is None:
                break
        response.release_conn()
        return seen

    def _events(self, lines: list[bytes], version: str) -> str | None:
        """Sees the pods in these watch events; the last event's version, or None after an
        ERROR (410 Gone: list again)."""
        for line in lines:
            if not line.strip():
                continue
            event = json.loads(line)
            if event["type"] == "ERROR":
                return None
            version = event["object"]["metadata"]["resourceVersion"]
            if event["type"] in ("ADDED", "MODIFIED"):
                self._see(event["object"])
        return version


# Cluster-scoped kinds a phase leaves.
_CLUSTER_SCOPED = [
    "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
]


def _workstation_paths(namespace: str) -> list[str]:
    """What the platform puts in the workstation namespace for each student."""
    return [
        f"/api/v1/namespaces/{namespace}/pods",
        f"/api/v1/namespaces/{namespace}/secrets",
        f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies",
    ]


def cleanup(admin: Kube, cohort: str, workstation_namespace: str, *, timeout: float = 1200) -> float:
    """Deletes everything labelled with `cohort` and waits until it is really gone (the
    namespaces finish terminating); returns the seconds it took."""
    started = time.monotonic()
    selector = cohort_selector(cohort)
    for path in [*_CLUSTER_SCOPED, *_workstation_paths(workstation_namespace)]:
        admin.json("DELETE", path, {"labelSelector": selector, "gracePeriodSeconds": "0"}, ok=(200, 404))
    namespaces = admin.list_names("/api/v1/namespaces", selector)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: admin.json("DELETE", f"/api/v1/namespaces/{n}", ok=(200, 202, 404)), namespaces))
    wait_paths = ["/api/v1/namespaces", *_workstation_paths(workstation_namespace), *_CLUSTER_SCOPED]
    deadline = time.monotonic() + timeout
    while True:
        left = {path: len(admin.list_names(path, selector)) for path in wait_paths}
        if not any(left.values()):
            return time.monotonic() - started
        if time.monotonic() > deadline:
            raise RuntimeError(f"cohort {cohort}: still there after {timeout}s: {left}")
        time.sleep(1)


def leftover_cohorts(admin: Kube, prefix: str, workstation_namespace: str) -> set[str]:
    """Cohort labels starting with `prefix` on anything the benchmark makes (an aborted run's)."""
    found = set()
    selector = f"{MANAGED_BY_LABEL}={MANAGED_BY},{COHORT_LABEL}"
    for path in ["/api/v1/namespaces", *_workstation_paths(workstation_namespace), *_CLUSTER_SCOPED]:
        for item in admin.json("GET", path, {"labelSelector": selector})["items"]:
            cohort = item["metadata"]["labels"].get(COHORT_LABEL, "")
            if cohort.startswith(prefix):
                found.add(cohort)
    return found
