"""The local cluster's real node (k8s/local/node.sh): a kubelet, containerd and runc in a
network namespace of their own, next to KWOK's simulated nodes. A student's workstation
placed there is a real container from the image built here (k8s/local/images.sh), and the
terminal goes into it: API server -> node-proxy -> kubelet -> containerd -> runc.
Everything in the shell is typed into the terminal, as the student would."""

import dataclasses
import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.utils import parse_quantity

from labplatform.cluster.errors import ClusterUnavailable, PodMissing
from labplatform.cluster.students import workstation_ready
from tests.kube import cluster_state_dir, node_id, node_netns, wait_for
from tests.real_node import NODE, NODE_POOL, real_node_runtime, result, students_on_the_node, typed

pytestmark = pytest.mark.local_cluster


@pytest.fixture(scope="module")
def students(kube):
    yield from students_on_the_node(2)


def test_the_real_node_is_ready_tainted_for_workstations_and_its_kubelets_own(kube):
    core = client.CoreV1Api(kube)
    node = core.read_node(NODE)
    assert {c.type: c.status for c in node.status.conditions}["Ready"] == "True"
    assert [(t.key, t.value, t.effect) for t in node.spec.taints] == [(NODE_POOL, "true", "NoSchedule")]
    assert node.metadata.labels[NODE_POOL] == "true"
    assert "kwok.x-k8s.io/node" not in (node.metadata.annotations or {}), "kwok must leave the real node alone"
    assert node.status.node_info.kubelet_version == "v1.36.3"
    assert node.status.node_info.container_runtime_version == "containerd://2.4.2"
    addresses = {a.type: a.address for a in node.status.addresses}
    assert addresses == {"InternalIP": "10.250.0.1", "Hostname": NODE}
    lease = client.CoordinationV1Api(kube).read_namespaced_lease(NODE, "kube-node-lease")
    assert lease.spec.holder_identity == NODE


def ip_json(*args: str) -> list[dict]:
    found = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, check=True, timeout=10)
    return json.loads(found.stdout or "[]")


def test_the_node_namespace_has_no_way_out(students):
    """Its links are its loopback, its pods' bridge and the pods' ends of their veths; it
    has no default route; no link of the host leads into it. So nothing there (the
    kubelet, containerd, a pod) can send a packet to an address outside it, whatever
    happens to a route."""
    netns = node_netns().name
    kinds = {link["ifname"]: link.get("linkinfo", {}).get("info_kind") for link in ip_json("-n", netns, "-d", "link")}
    assert kinds.pop("lo") is None and kinds.pop("cni0") == "bridge", kinds
    assert kinds and set(kinds.values()) == {"veth"}, kinds
    assert ip_json("-n", netns, "route", "show", "default") == []
    assert [r["dst"] for r in ip_json("-n", netns, "route")] == ["10.88.0.0/16"]
    ids = {entry["nsid"]: entry.get("name") for entry in ip_json("netns", "list-id")}
    into_node = [link["ifname"] for link in ip_json("link") if ids.get(link.get("link_netnsid")) == netns]
    assert into_node == [], "a host interface leads into the node's namespace"


def test_the_nodes_disk_is_a_file_system_of_its_own():
    """What workstations write fills the node's disk (k8s/local/node.sh), never the host's."""
    data = Path("/var/lib/labplatform") / f"node-{node_id()}"
    mounts = [line.split() for line in Path("/proc/self/mounts").read_text().splitlines()]
    found = [fields for fields in mounts if fields[1] == str(data)]
    assert len(found) == 1 and found[0][2] == "ext4", found
    assert found[0][0].startswith("/dev/loop"), found
    size = os.statvfs(data)
    assert size.f_blocks * size.f_frsize <= 20 * 2**30, "NODE_DISK_GIB is 20 by default"
    assert os.statvfs(data).f_fsid != os.statvfs("/var/lib").f_fsid


def test_metrics_server_scrapes_the_real_node(kube):
    metrics = client.CustomObjectsApi(kube)

    def usage():
        try:
            found = metrics.get_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes", NODE)
        except client.ApiException:
            return None
        return found["usage"]

    found = wait_for("metrics of the real node", usage, timeout=90, interval=2)
    assert parse_quantity(found["memory"]) > 0, found


def test_a_workstation_there_is_a_user_namespaced_read_only_container_of_the_built_image(kube, students):
    spec = students[0]
    pod = client.CoreV1Api(kube).read_namespaced_pod(f"ws-{spec.student}", spec.workstation_namespace)
    assert pod.spec.node_name == NODE
    assert pod.status.container_statuses[0].image.endswith(real_node_runtime().image.split("/", 1)[1])
    output = typed(
        spec,
        'echo "RESULT uidmap $(cat /proc/self/uid_map | tr -s " ")"; echo "RESULT id $(id -u)"; '
        'echo "RESULT init $(tr "\\0" " " </proc/1/cmdline)"; '
        'touch /usr/x 2>/dev/null && echo "RESULT rootfs writable" || echo "RESULT rootfs read-only"; '
        'touch ~/x /tmp/x && echo "RESULT scratch writable"',
    )
    start, outside, _ = result(output, "uidmap").split()
    assert start == "0" and outside != "0", "the container's root must be no one on the host"
    assert result(output, "id") == "1000"
    assert result(output, "init").startswith("/usr/bin/tini -- sleep infinity")
    assert result(output, "rootfs") == "read-only"
    assert result(output, "scratch") == "writable"


def test_the_shell_and_its_jobs_survive_a_reconnect(students):
    spec = students[0]
    typed(spec, "export KEPT=kept-$((6 * 7)); sleep 900 & true")
    output = typed(spec, 'echo "RESULT kept $KEPT"; echo "RESULT jobs $(jobs | grep -c "sleep 900")"')
    assert result(output, "kept") == "kept-42"
    assert result(output, "jobs") == "1"


def test_kubectl_there_reaches_the_students_namespace_only(students):
    me, other = students
    output = typed(
        me,
        "kubectl create configmap mine --from-literal=a=b >/dev/null && echo RESULT own ok; "
        f"kubectl -n {other.namespace} get configmaps 2>&1 | grep -q Forbidden && echo RESULT other forbidden; "
        "kubectl -n kube-system get pods 2>&1 | grep -q Forbidden && echo RESULT system forbidden",
    )
    assert result(output, "own") == "ok"
    assert result(output, "other") == "forbidden"
    assert result(output, "system") == "forbidden"


def test_nothing_of_the_node_answers_a_workstation_but_the_api_relay(kube, students):
    me, other = students
    core = client.CoreV1Api(kube)
    other_ip = core.read_namespaced_pod(f"ws-{other.student}", other.workstation_namespace).status.pod_ip
    gateway = other_ip.rsplit(".", 1)[0] + ".1"
    targets = {
        "api": ("10.250.0.1", 6443),
        "kubelet": ("10.250.0.1", 10250),
        "healthz": ("10.250.0.1", 10248),
        "kubelet_gateway": (gateway, 10250),
        "api_gateway": (gateway, 6443),
    }
    probes = "; ".join(
        f"timeout 3 bash -c 'exec 3<>/dev/tcp/{host}/{port}' 2>/dev/null "
        f'&& echo "RESULT {name} open" || echo "RESULT {name} closed"'
        for name, (host, port) in targets.items()
    )
    output = typed(me, probes)
    assert result(output, "api") == "open"
    for name in targets.keys() - {"api"}:
        assert result(output, name) == "closed", name


def test_a_node_killed_outright_comes_back_at_cluster_up(kube, students):
    """As at a reboot or when a machine's processes are all killed: SIGKILL leaves the
    relays' sockets behind. cluster.sh up starts the node again, and a student's shell
    answers there again."""
    me, _ = students
    pids = cluster_state_dir() / "node" / "run"
    for pidfile in pids.glob("*.pid"):
        subprocess.run(["kill", "-KILL", pidfile.read_text().strip()], check=False, capture_output=True)
    assert (cluster_state_dir() / "node" / "relay" / "api.sock").exists(), "SIGKILL leaves the socket"
    root = Path(__file__).resolve().parents[2]
    up = subprocess.run(
        [str(root / "k8s" / "local" / "cluster.sh"), "up"], capture_output=True, text=True, timeout=600, check=False
    )
    assert up.returncode == 0, up.stderr[-3000:]
    core = client.CoreV1Api(kube)

    def node_ready():
        conditions = core.read_node(NODE).status.conditions or []
        return any(c.type == "Ready" and c.status == "True" for c in conditions)

    wait_for("the real node Ready again", node_ready, timeout=120, interval=1)
    wait_for(f"workstation of {me.student} Ready again", lambda: workstation_ready(me), timeout=120)

    def answers():
        # A kubelet just started answers 404 for its pods until it has synced them: the
        # terminal says "try again in a moment", never "your workstation is not running".
        try:
            return result(typed(me, "echo RESULT back yes", timeout=20), "back")
        except ClusterUnavailable:
            return None

    assert wait_for(f"{me.student}'s shell answering again", answers, timeout=120, interval=2) == "yes"


def test_a_terminal_into_a_pod_that_is_not_there_is_told_so(students):
    me, _ = students
    gone = dataclasses.replace(me, student="s" + uuid.uuid4().hex[:9])
    with pytest.raises(PodMissing):
        typed(gone, "echo never")
