"""Helpers for tests that act on the real local cluster."""

import hashlib
import ipaddress
import os
import re
import socket
import struct
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import yaml
from django.conf import settings
from kubernetes import client

from labplatform.cluster.clients import sync_client

T = TypeVar("T")

KWOK_GROUP, KWOK_VERSION = "kwok.x-k8s.io", "v1alpha1"


ROOT = Path(__file__).resolve().parents[1]


def kube_version() -> str:
    """The local cluster's Kubernetes version (k8s/local/versions.env, or KUBE_VERSION)."""
    text = (ROOT / "k8s" / "local" / "versions.env").read_text()
    default = re.search(r"^KUBE_VERSION=\$\{KUBE_VERSION:-(v[0-9.]+)\}", text, re.MULTILINE).group(1)
    return os.environ.get("KUBE_VERSION", default)


CACHE = Path(os.environ.get("LABPLATFORM_CACHE", Path.home() / ".cache" / "labplatform"))
# This cluster's kubectl (k8s/local/build.sh), for acting as a student with their kubeconfig.
# Named, not looked for: collecting the tests needs no cluster built.
KUBECTL = CACHE / f"kubernetes-{kube_version()}" / "bin" / "kubectl"


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(kubeconfig), "--request-timeout=20s", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_for(what: str, probe: Callable[[], T | None], *, timeout: float = 60, interval: float = 0.2) -> T:
    """Polls `probe` until it returns something truthy; fails naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def cluster_state_dir() -> Path:
    return Path(settings.LOCAL_CLUSTER_STATE_DIR)


def kwok_cluster_dir() -> Path:
    return cluster_state_dir() / "kwok" / "clusters" / "labplatform"


def component_ports() -> dict[str, dict[str, int]]:
    """Ports of each component of the local cluster, as kwokctl recorded them."""
    documents = yaml.safe_load_all((kwok_cluster_dir() / "kwok.yaml").read_text())
    config = next(doc for doc in documents if doc and doc.get("kind") == "KwokctlConfiguration")
    ports: dict[str, dict[str, int]] = {}
    for component in config["components"]:
        ports[component["name"]] = {p.get("name", str(i)): p["port"] for i, p in enumerate(component.get("ports", []))}
    return ports


def api_server_port() -> int:
    return int(sync_client().configuration.host.rsplit(":", 1)[1])


def pods_ready(core: client.CoreV1Api, namespace: str, selector: str, count: int) -> list | None:
    pods = core.list_namespaced_pod(namespace, label_selector=selector).items
    ready = [
        pod
        for pod in pods
        if pod.metadata.deletion_timestamp is None
        and any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))
    ]
    return ready if len(ready) == count and len(pods) == count else None


def deployment_rolled_out(apps: client.AppsV1Api, namespace: str, name: str, replicas: int) -> bool:
    """The Deployment's own status reports its pods Ready (it lags the pods a moment, and
    checks waiting on a rollout are pending until it does)."""
    deployment = apps.read_namespaced_deployment(name, namespace)
    observed = (deployment.status.observed_generation or 0) >= deployment.metadata.generation
    return observed and deployment.status.ready_replicas == replicas


def is_loopback(address: str) -> bool:
    return address.startswith("127.") or address in {"::1", "0:0:0:0:0:0:0:1"} or address.startswith("::ffff:127.")


def admin_kubeconfig() -> Path:
    """Cluster-admin, for setting up what tests need. The platform itself acts through
    LABPLATFORM_KUBECONFIG (on the local cluster: its own token only)."""
    configured = os.environ.get("LABPLATFORM_KUBECONFIG")
    return Path(configured) if configured else cluster_state_dir() / "kubeconfig"


def write_token_kubeconfig(path: Path, *, server: str) -> Path:
    """A kubeconfig for an API server that is not there (or not listening), with a token
    user; TLS is not verified, as nothing real answers."""
    cluster = {"server": server}
    if server.startswith("https://"):
        cluster["insecure-skip-tls-verify"] = True
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": cluster}],
        "users": [{"name": "test", "user": {"token": "not-a-token"}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
        "current-context": "test",
    }
    path.write_text(yaml.safe_dump(config))
    return path


TCP_LISTEN = "0A"


def cluster_pids() -> dict[int, str]:
    """Processes whose executable or command line belongs to the local cluster's tree."""
    state = str(cluster_state_dir())
    pids = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if state in cmdline:
            pids[int(proc.name)] = cmdline[:120]
    return pids


def node_id() -> str:
    """The real node's id: k8s/local/node.sh names its namespace, cgroups and folders after it."""
    return hashlib.sha256(str(cluster_state_dir() / "node").encode()).hexdigest()[:10]


def node_netns() -> Path:
    """The real node's network namespace."""
    return Path("/run/netns") / f"labplatform-node-{node_id()}"


def in_node_netns(pid: int) -> bool:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino == node_netns().stat().st_ino
    except OSError:
        return False


# The addresses of the node's network namespace: the node's own, and its pods' bridge.
NODE_NETNS_ADDRESSES = (ipaddress.ip_network("10.250.0.1/32"), ipaddress.ip_network("10.88.0.0/16"))


def is_node_netns_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_loopback or any(ip in network for network in NODE_NETNS_ADDRESSES)


def decode_address(hex_address: str) -> str:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        address = socket.inet_ntop(socket.AF_INET, struct.pack("<I", int(host, 16)))
    else:
        words = struct.unpack("<4I", raw)
        address = socket.inet_ntop(socket.AF_INET6, struct.pack(">4I", *words))
    return f"{address}:{int(port, 16)}"


def sockets_of(pid: int) -> list[tuple[str, str, str, str]]:
    """(protocol, local, remote, state) for each inet socket the process holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for protocol in ("tcp", "tcp6", "udp", "udp6"):
        table = Path(f"/proc/{pid}/net/{protocol}").read_text().splitlines()[1:]
        for line in table:
            fields = line.split()
            if fields[9] in inodes:
                found.append((protocol, decode_address(fields[1]), decode_address(fields[2]), fields[3]))
    return found
