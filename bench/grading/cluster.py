"""The students' namespaces, made and removed as cluster-admin: each a Namespace, the
RoleBinding that lets the platform read it for grading (as provisioning makes them), and
the task's solution (a Deployment). No workstation, terminal or quota: grading reads the
namespace and nothing else. Also the API server's request counters."""

import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from bench.kube import Kube
from labplatform.cluster import manifests
from labplatform.cluster.manifests import COHORT_LABEL
from labplatform.cluster.rest import resource_for

# Requests in flight while making namespaces; the API server shares 2 cores.
SETUP_THREADS = 12


def free_pods(admin: Kube) -> tuple[int, int]:
    """(pod capacity of all nodes, pods not yet finished)."""
    nodes = admin.json("GET", "/api/v1/nodes")["items"]
    capacity = sum(int(node["status"]["allocatable"]["pods"]) for node in nodes)
    pods = admin.json("GET", "/api/v1/pods", {"fieldSelector": "status.phase!=Succeeded,status.phase!=Failed"})
    return capacity, len(pods["items"])


def _collection_path(obj: dict, namespace: str | None) -> str:
    if obj["kind"] == "Namespace":
        return "/api/v1/namespaces"
    if obj["kind"] == "RoleBinding":
        return f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings"
    return resource_for(api_version=obj["apiVersion"], kind=obj["kind"]).path(namespace=namespace)


def _create(admin: Kube, obj: dict, namespace: str | None) -> None:
    path = _collection_path(obj, namespace)
    body = {**obj, "metadata": {**obj["metadata"], **({"namespace": namespace} if namespace else {})}}
    for attempt in range(5):
        response = admin.request("POST", path, body=body)
        if response.status in (200, 201, 409):
            return
        if response.status in (429, 500, 503, 504) and attempt < 4:
            time.sleep(0.2 * (attempt + 1))
            continue
        raise RuntimeError(f"POST {path}: {response.status} {response.data[:300]!r}")


def namespaces_create(admin: Kube, *, cohort: str, students: list[tuple[str, str]], objects: list[dict]) -> float:
    """For each (student id, namespace): the namespace, the grader's RoleBinding and
    `objects`. Returns the seconds it took."""
    started = time.monotonic()

    def one(student_namespace: tuple[str, str]) -> None:
        student, namespace = student_namespace
        _create(
            admin,
            manifests.namespace(
                name=namespace, cohort=cohort, student=student, ingress_host=f"{namespace}.labs.localhost"
            ),
            None,
        )
        _create(admin, manifests.grader_role_binding(namespace=namespace, cohort=cohort, student=student), namespace)
        for obj in objects:
            _create(admin, obj, namespace)

    with ThreadPoolExecutor(SETUP_THREADS) as pool:
        list(pool.map(one, students))
    return time.monotonic() - started


def deployments_wait_ready(admin: Kube, *, namespaces: set[str], replicas: int, timeout: float) -> float:
    """Waits until every Deployment in `namespaces` has all its replicas Ready and
    observed; returns the seconds it took."""
    started = time.monotonic()
    while True:
        items = admin.json("GET", "/apis/apps/v1/deployments")["items"]
        ready = sum(
            1
            for d in items
            if d["metadata"]["namespace"] in namespaces
            and (d.get("status") or {}).get("readyReplicas") == d["spec"].get("replicas")
            and (d.get("status") or {}).get("updatedReplicas") == d["spec"].get("replicas")
            and (d.get("status") or {}).get("observedGeneration") == d["metadata"]["generation"]
        )
        if ready >= len(namespaces):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"only {ready} of {len(namespaces)} Deployments became ready in {timeout:.0f}s")
        time.sleep(2)


def namespaces_delete(admin: Kube, *, selector: str, timeout: float = 900, wait: bool = True) -> float:
    """Deletes the namespaces `selector` picks and waits until they are gone."""
    started = time.monotonic()
    names = admin.list_names("/api/v1/namespaces", selector)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: admin.json("DELETE", f"/api/v1/namespaces/{n}", ok=(200, 202, 404)), names))
    while wait and admin.list_names("/api/v1/namespaces", selector):
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"namespaces {selector} still there after {timeout:.0f}s")
        time.sleep(2)
    return time.monotonic() - started


def leftover_cohorts(admin: Kube, prefix: str) -> set[str]:
    found = set()
    for item in admin.json("GET", "/api/v1/namespaces", {"labelSelector": COHORT_LABEL})["items"]:
        cohort = item["metadata"]["labels"].get(COHORT_LABEL, "")
        if cohort.startswith(prefix):
            found.add(cohort)
    return found


_REQUEST_TOTAL = re.compile(r"^apiserver_request_total\{([^}]*)\}\s+([0-9.e+]+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def request_counts(admin: Kube) -> Counter | None:
    """apiserver_request_total summed by "VERB resource[/subresource]"; None when the
    metrics endpoint does not answer."""
    try:
        response = admin.request("GET", "/metrics")
    except Exception:  # the count is optional; the run goes on without it
        return None
    if response.status != 200:
        return None
    counts: Counter = Counter()
    for line in response.data.decode().splitlines():
        match = _REQUEST_TOTAL.match(line)
        if not match:
            continue
        labels = dict(_LABEL.findall(match.group(1)))
        resource = labels.get("resource", "") + (f"/{labels['subresource']}" if labels.get("subresource") else "")
        counts[f"{labels.get('verb', '?')} {resource or '-'}"] += int(float(match.group(2)))
    return counts


def request_delta(before: Counter | None, after: Counter | None, *, top: int = 12) -> dict | None:
    if before is None or after is None:
        return None
    delta = {key: after[key] - before.get(key, 0) for key in after if after[key] - before.get(key, 0) > 0}
    ordered = dict(sorted(delta.items(), key=lambda kv: -kv[1])[:top])
    return {"total": sum(delta.values()), "by_verb_resource": ordered}
