"""Every process of the local cluster listens and connects on loopback only, or, for the
real node's processes, on the addresses of the node's own network namespace (which has no
link to the host). Sockets are read from /proc, per process, so kwok's sockets inside its
own network namespace count too."""

import pytest

from tests.kube import TCP_LISTEN, cluster_pids, in_node_netns, is_loopback, is_node_netns_address, sockets_of

pytestmark = pytest.mark.local_cluster


def test_every_cluster_process_listens_and_connects_on_loopback_only():
    pids = cluster_pids()
    names = " ".join(pids.values())
    components = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "metrics-server")
    for component in (*components, "kubelet", "containerd", "node-proxy", "kube-router"):
        assert component in names, f"{component} is not running: {names}"

    offenders = []
    listening = 0
    for pid, cmdline in pids.items():
        allowed = is_node_netns_address if in_node_netns(pid) else is_loopback
        for protocol, local, remote, state in sockets_of(pid):
            local_host = local.rsplit(":", 1)[0]
            remote_host = remote.rsplit(":", 1)[0]
            if protocol.startswith("tcp") and state == TCP_LISTEN:
                listening += 1
                if not (allowed(local_host) or (in_node_netns(pid) and local_host in {"0.0.0.0", "::"})):
                    offenders.append(f"{cmdline}: listens on {local}")
            elif not allowed(local_host) or not (allowed(remote_host) or remote_host in {"0.0.0.0", "::"}):
                offenders.append(f"{cmdline}: {protocol} {local} -> {remote}")
    assert listening >= 5, "expected the cluster's listening sockets to be found"
    assert offenders == []
