"""Live resource metrics on the local cluster: metrics-server scrapes KWOK's simulated
kubelets, a pod's CPU is what its `kwok.x-k8s.io/usage-cpu` annotation says, a
HorizontalPodAutoscaler really scales on it, and metrics-server talks to loopback only."""

import ipaddress

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.utils import parse_quantity

from tests.kube import cluster_pids, sockets_of, wait_for

pytestmark = pytest.mark.local_cluster

USAGE_CPU = "kwok.x-k8s.io/usage-cpu"
METRICS = ("metrics.k8s.io", "v1beta1")
# metrics-server scrapes every 15 s, the HPA controller syncs every 15 s and scales up at
# most 4 pods (or double) at a time: a minute is typical; this bounds a stuck cluster.
SCALE_DEADLINE = 240


def pod_cpu(custom: client.CustomObjectsApi, namespace: str, name: str) -> float | None:
    """The pod's CPU in cores from the metrics API, None while it has no metrics yet."""
    try:
        metrics = custom.get_namespaced_custom_object(*METRICS, namespace, "pods", name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    containers = metrics.get("containers") or []
    return float(sum(parse_quantity(c["usage"]["cpu"]) for c in containers)) if containers else None


def test_a_pods_usage_annotation_is_what_the_metrics_api_reports(core, custom, namespace):
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "busy", "annotations": {USAGE_CPU: "250m"}},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
        },
    )

    def reads_250m() -> float | None:
        # The first reading may average over the pod's first seconds; the next is the rate.
        cpu = pod_cpu(custom, namespace, "busy")
        return cpu if cpu is not None and abs(cpu - 0.25) < 0.01 else None

    wait_for("pod busy's CPU in the metrics API to read 250m", reads_250m, timeout=90, interval=1)

    listed = custom.list_namespaced_custom_object(*METRICS, namespace, "pods")["items"]
    assert [item["metadata"]["name"] for item in listed] == ["busy"]
    nodes = custom.list_cluster_custom_object(*METRICS, "nodes")["items"]
    assert len(nodes) == len(core.list_node().items), "every node reports metrics"


def test_an_hpa_scales_a_deployment_out_on_the_simulated_cpu(kube, namespace):
    apps, autoscaling = client.AppsV1Api(kube), client.AutoscalingV2Api(kube)
    labels = {"app": "busy"}
    apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "busy"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    # Every pod, those the HPA adds too, uses 400m: 400% of its request.
                    "metadata": {"labels": labels, "annotations": {USAGE_CPU: "400m"}},
                    "spec": {
                        "containers": [
                            {"name": "c", "image": "busybox:1.36", "resources": {"requests": {"cpu": "100m"}}}
                        ]
                    },
                },
            },
        },
    )
    autoscaling.create_namespaced_horizontal_pod_autoscaler(
        namespace,
        {
            "metadata": {"name": "busy"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "busy"},
                "minReplicas": 1,
                "maxReplicas": 4,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
                    }
                ],
            },
        },
    )

    def replicas() -> int | None:
        wanted = apps.read_namespaced_deployment("busy", namespace).spec.replicas
        return wanted if wanted == 4 else None

    wait_for("the HPA to scale Deployment busy out to 4", replicas, timeout=SCALE_DEADLINE, interval=2)
    hpa = autoscaling.read_namespaced_horizontal_pod_autoscaler("busy", namespace)
    utilization = [m.resource.current.average_utilization for m in hpa.status.current_metrics or [] if m.resource]
    assert utilization and utilization[0] > 50, f"the HPA saw {utilization}% CPU"


def metrics_server_pid() -> int:
    found = [pid for pid, cmdline in cluster_pids().items() if "/metrics-server " in cmdline]
    assert len(found) == 1, f"expected one metrics-server process: {found}"
    return found[0]


def in_127_8(address: str) -> bool:
    host = ipaddress.ip_address(address)
    if isinstance(host, ipaddress.IPv6Address) and host.ipv4_mapped:
        host = host.ipv4_mapped
    return isinstance(host, ipaddress.IPv4Address) and host in ipaddress.ip_network("127.0.0.0/8")


def test_metrics_server_scrapes_the_nodes_over_loopback_only(core):
    """Simulated nodes' addresses are 127.0.0.N and kwok's server is relayed at each of them;
    the real node's address is inside its own network namespace, which metrics-server
    reaches through node-proxy on loopback: what it connects to is in 127.0.0.0/8, and it
    does reach the simulated nodes' port."""
    nodes = [node for node in core.list_node().items if node.metadata.name != "labplatform-node"]
    node_ips = {a.address for node in nodes for a in node.status.addresses if a.type == "InternalIP"}
    node_ports = {node.status.daemon_endpoints.kubelet_endpoint.port for node in nodes}
    assert node_ips and all(in_127_8(ip) for ip in node_ips), node_ips
    pid = metrics_server_pid()
    peers: set[tuple[str, int]] = set()

    def scraped_a_node() -> bool:
        # metrics-server scrapes every 15 s; its connections to the nodes may be short-lived.
        for protocol, _local, remote, _state in sockets_of(pid):
            host, port = remote.rsplit(":", 1)
            if protocol.startswith("tcp") and int(port) != 0:
                peers.add((host, int(port)))
        return any(port in node_ports for _, port in peers)

    wait_for("a connection from metrics-server to a node's kubelet port", scraped_a_node, timeout=60, interval=0.1)
    assert all(in_127_8(host) for host, _ in peers), f"metrics-server connected outside 127.0.0.0/8: {peers}"
    assert {host for host, port in peers if port in node_ports} <= node_ips
