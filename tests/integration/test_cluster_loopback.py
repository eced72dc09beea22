"""Every process of the local cluster listens and connects on loopback only. Sockets are
read from /proc, per process, so kwok's sockets inside its own network namespace count too."""

import socket
import struct
from pathlib import Path

import pytest

from tests.kube import cluster_state_dir, is_loopback

pytestmark = pytest.mark.local_cluster

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


def test_every_cluster_process_listens_and_connects_on_loopback_only():
    pids = cluster_pids()
    names = " ".join(pids.values())
    for component in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"):
        assert component in names, f"{component} is not running: {names}"

    offenders = []
    listening = 0
    for pid, cmdline in pids.items():
        for protocol, local, remote, state in sockets_of(pid):
            local_host = local.rsplit(":", 1)[0]
            remote_host = remote.rsplit(":", 1)[0]
            if protocol.startswith("tcp") and state == TCP_LISTEN:
                listening += 1
                if not is_loopback(local_host):
                    offenders.append(f"{cmdline}: listens on {local}")
            elif not is_loopback(local_host) or not (is_loopback(remote_host) or remote_host in {"0.0.0.0", "::"}):
                offenders.append(f"{cmdline}: {protocol} {local} -> {remote}")
    assert listening >= 5, "expected the cluster's listening sockets to be found"
    assert offenders == []
