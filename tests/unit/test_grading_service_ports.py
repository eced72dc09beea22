"""`service_port` above the cluster: how a Service's targetPort is resolved against the
pods it selects, or their workloads' templates, and what the student is told (the reads
are given; tests/integration/test_grading_kinds.py has the real cluster)."""

import datetime

from lessons.grading.kinds import KINDS
from lessons.grading.reads import ClusterReads
from lessons.grading.results import CheckContext
from lessons.grading.templates import TemplateContext

CHECK = {"kind": "service_port", "service": "rag-api", "port": 80, "reaches": 8000}


class GivenObjects(ClusterReads):
    """The namespace holds exactly these objects; any other kind is empty."""

    def __init__(self, *objects: dict) -> None:
        super().__init__(cluster="local", namespace="student-1")
        self.given = objects
        self.kinds_read: list[str] = []

    def objects(self, *, api_version: str | None, kind: str) -> list[dict]:
        self.kinds_read.append(kind)
        return [obj for obj in self.given if obj["kind"] == kind]


def service(target_port=None, *, selector=None, ports=None) -> dict:
    port = {"port": 80, "protocol": "TCP"} | ({"targetPort": target_port} if target_port is not None else {})
    spec = {"ports": ports if ports is not None else [port]}
    if selector != {}:
        spec["selector"] = selector or {"app": "rag-api"}
    return {"kind": "Service", "metadata": {"name": "rag-api"}, "spec": spec}


def containers(*ports: dict) -> list[dict]:
    return [{"name": "api", "image": "rag-api:1.0", "ports": list(ports)}]


def pod(name: str, *ports: dict, labels=None, **extra) -> dict:
    return {
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": "rag-api"}, **extra.pop("metadata", {})},
        "spec": {"containers": containers(*ports), **extra.pop("spec", {})},
        "status": extra.pop("status", {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}),
    }


def deployment(name: str, *ports: dict, kind="Deployment", owners=None) -> dict:
    metadata = {"name": name} | ({"ownerReferences": owners} if owners else {})
    template = {"metadata": {"labels": {"app": "rag-api"}}, "spec": {"containers": containers(*ports)}}
    return {"kind": kind, "metadata": metadata, "spec": {"template": template}}


def http(port: int, **more) -> dict:
    return {"name": "http", "containerPort": port} | more


def evaluate(*objects: dict, check=None):
    reads = GivenObjects(*objects)
    context = CheckContext(
        reads=reads,
        templates=TemplateContext(namespace="student-1"),
        opened_at=datetime.datetime.now(datetime.UTC),
    )
    return KINDS["service_port"].evaluate(check or CHECK, context), reads


def test_a_named_target_port_the_pods_give_8000_reaches_8000():
    result, _ = evaluate(service("http"), pod("rag-api-a", http(8000)), pod("rag-api-b", http(8000)))
    assert (result.status, result.message) == ("passed", "")
    assert result.title == "Service rag-api sends port 80 to port 8000 on its pods"
    assert result.evidence == {"Service rag-api": {"port": 80, "targetPort": "http", "reaches": 8000}}


def test_a_name_the_pods_give_8080_is_failed_saying_which_pod_names_it():
    check = CHECK | {"hint": "Name the container's port 8000 http."}
    result, _ = evaluate(service("http"), pod("rag-api-xyz", http(8080)), check=check)
    assert result.status == "failed"
    assert result.message == (
        "Service rag-api sends port 80 to port 8080 on the pods (targetPort: http, which pod rag-api-xyz names "
        "for 8080); the check wants 8000. Name the container's port 8000 http."
    )
    assert result.evidence == {"Service rag-api": {"port": 80, "targetPort": "http", "reaches": 8080}}


def test_many_pods_are_named_two_and_counted():
    pods = [pod(f"rag-api-{index}", http(8080)) for index in range(5)]
    result, _ = evaluate(service("http"), *pods)
    assert "(targetPort: http, which pods rag-api-0, rag-api-1 and 3 more name for 8080)" in result.message


def test_a_numeric_target_port_needs_no_pods():
    result, reads = evaluate(service(8000))
    assert result.status == "passed"
    assert reads.kinds_read == ["Service"]
    wrong, _ = evaluate(service(80))
    assert (
        wrong.message == "Service rag-api sends port 80 to port 80 on the pods (targetPort: 80); the check wants 8000."
    )


def test_no_target_port_is_the_services_own_port():
    result, _ = evaluate(service())
    assert result.message == (
        "Service rag-api sends port 80 to port 80 on the pods (no targetPort, so the same as port); "
        "the check wants 8000."
    )
    assert result.evidence == {"Service rag-api": {"port": 80, "targetPort": None, "reaches": 80}}


def test_a_missing_service_or_port():
    missing, _ = evaluate(check=CHECK | {"hint": "Create it."})
    assert (missing.status, missing.message) == (
        "failed",
        "Service rag-api: not found in namespace student-1. Create it.",
    )
    assert missing.evidence == {}
    ports = [{"port": 8080, "targetPort": 8000}, {"port": 443, "targetPort": 8443}]
    no_port, _ = evaluate(service(ports=ports))
    assert no_port.message == "Service rag-api has no port 80: its ports are 8080 and 443."
    assert no_port.evidence == {"Service rag-api": {"ports": [8080, 443]}}
    one, _ = evaluate(service(ports=ports[:1]))
    assert one.message == "Service rag-api has no port 80: its only port is 8080."
    none, _ = evaluate(service(ports=[]))
    assert none.message == "Service rag-api has no port 80: it has no ports."


def test_without_pods_the_name_is_resolved_against_the_workloads_template():
    replica_set = deployment("rag-api-5d8f", http(8080), kind="ReplicaSet", owners=[{"kind": "Deployment"}])
    result, _ = evaluate(service("http"), deployment("rag-api", http(8000)), replica_set)
    assert result.status == "passed"
    wrong, _ = evaluate(service("http"), deployment("rag-api", http(8080)))
    assert wrong.message == (
        "Service rag-api sends port 80 to port 8080 on the pods (targetPort: http, which the pod template of "
        "Deployment rag-api names for 8080; the Service selects no pod yet); the check wants 8000."
    )


def test_a_name_no_template_declares_says_so_and_that_no_pod_is_selected_yet():
    result, _ = evaluate(service("http"), deployment("rag-api", {"name": "web", "containerPort": 8000}))
    assert result.message == (
        "Service rag-api sends port 80 to targetPort http, but it selects no pod yet, and no pod template with its "
        "labels names a port http: the pod template of Deployment rag-api declares port 8000 named web. "
        "The check wants 8000."
    )


def test_pods_are_preferred_to_templates_and_only_live_ones_count():
    leaving = pod("rag-api-old", http(8080), metadata={"deletionTimestamp": "2026-01-01T00:00:00Z"})
    done = pod("rag-api-job", http(8080), status={"phase": "Succeeded"})
    result, _ = evaluate(
        service("http"), deployment("rag-api", http(9000)), pod("rag-api-new", http(8000)), leaving, done
    )
    assert result.status == "passed"


def test_pods_that_resolve_the_name_differently_are_told_apart():
    result, _ = evaluate(
        service("http"), pod("rag-api-a", http(8000)), pod("rag-api-b", http(8080)), pod("rag-api-c", http(8000))
    )
    assert result.status == "failed"
    assert result.message == (
        "Service rag-api sends port 80 to targetPort http, which its pods resolve differently: pods rag-api-a and "
        "rag-api-c name it for 8000 and pod rag-api-b names it for 8080; the check wants 8000 on every pod."
    )
    assert result.evidence["Service rag-api"]["reaches"] is None


def test_pods_that_resolve_the_name_differently_during_a_rollout_are_pending():
    rolling = deployment("rag-api", http(8000)) | {"apiVersion": "apps/v1"}
    rolling["metadata"] |= {"uid": "uid-d", "generation": 2}
    rolling["spec"] |= {"replicas": 2, "selector": {"matchLabels": {"app": "rag-api"}}}
    rolling["status"] = {"observedGeneration": 1}
    result, _ = evaluate(service("http"), rolling, pod("rag-api-a", http(8000)), pod("rag-api-b", http(8080)))
    assert (result.status, result.message) == (
        "pending",
        "Deployment rag-api: waiting for the Deployment controller to see the change",
    )


def test_a_name_no_pod_declares_is_failed_saying_what_they_declare():
    web = {"name": "web", "containerPort": 8000}
    result, _ = evaluate(service("http"), pod("rag-api-a", web, {"containerPort": 9090}), pod("rag-api-b"))
    assert result.message == (
        "Service rag-api sends port 80 to targetPort http, but no pod it selects names a port http: "
        "pod rag-api-a declares port 8000 named web and port 9090 without a name; "
        "pod rag-api-b declares no container ports. The check wants 8000."
    )


def test_a_name_under_another_protocol_does_not_count():
    result, _ = evaluate(service("http"), pod("rag-api-a", http(8000, protocol="UDP")))
    assert result.message == (
        "Service rag-api sends port 80 to targetPort http, but no pod it selects names a TCP port http: "
        "pod rag-api-a declares port 8000/UDP named http. The check wants 8000."
    )


def test_a_sidecars_named_port_counts_an_init_containers_does_not():
    sidecar = {"name": "proxy", "restartPolicy": "Always", "ports": [http(8000)]}
    with_sidecar = pod("rag-api-a", spec={"initContainers": [sidecar]})
    assert evaluate(service("http"), with_sidecar)[0].status == "passed"
    init = {"name": "setup", "ports": [http(8000)]}
    result, _ = evaluate(service("http"), pod("rag-api-a", spec={"initContainers": [init]}))
    assert result.status == "failed"


def test_a_selector_that_matches_nothing_is_named():
    others = pod("frontend-a", http(8000), labels={"app": "frontend"})
    result, _ = evaluate(service("http", selector={"app": "rag-app", "tier": "api"}), others)
    assert result.message == (
        "Service rag-api selects app=rag-app,tier=api, and nothing in namespace student-1 has those labels (no pod, "
        "and no pod template of a Deployment or ReplicaSet), so nothing gives its "
        "targetPort http a port; the check wants 8000."
    )


def test_a_service_without_a_selector_selects_no_pods():
    result, _ = evaluate(service("http", selector={}), pod("rag-api-a", http(8000)))
    assert result.message == (
        "Service rag-api has no selector, so no pod gives its targetPort http a port; the check wants 8000."
    )
