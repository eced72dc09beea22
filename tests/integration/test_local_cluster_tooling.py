"""k8s/local's scripts: cached builds that detect a partial build, failures that name the
module and step, and a cluster-up that is a no-op when the cluster is already up."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.kube import cluster_state_dir, kwok_cluster_dir, wait_for

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "k8s" / "local" / "build.sh"
CLUSTER = ROOT / "k8s" / "local" / "cluster.sh"
CACHE = Path(os.environ.get("LABPLATFORM_CACHE", Path.home() / ".cache" / "labplatform"))


def run(command: list, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, timeout=600, check=False)


def built_versions() -> dict[str, str]:
    versions = {}
    for line in (ROOT / "k8s" / "local" / "versions.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            versions[name] = value.split(":-", 1)[1].rstrip("}")
    return versions


def test_a_failed_build_names_the_module_and_the_step(tmp_path):
    result = run([str(BUILD)], LABPLATFORM_CACHE=str(tmp_path), ETCD_VERSION="v3.99.0")
    assert result.returncode != 0
    assert "FAILED: module go.etcd.io/etcd/server/v3@v3.99.0, step: go get" in result.stderr
    assert result.stderr.count("FAILED") == 1
    assert "not available" in result.stderr, "the Go tool's own reason is shown"


def test_a_partially_built_cache_is_detected_and_rebuilt(tmp_path):
    versions = built_versions()
    folders = [
        f"kubernetes-{versions['KUBE_VERSION']}",
        f"kwok-{versions['KWOK_VERSION']}",
        f"metrics-server-{versions['METRICS_SERVER_VERSION']}",
        f"kube-router-{versions['KUBE_ROUTER_VERSION']}",
    ]
    for folder in folders:
        shutil.copytree(CACHE / folder, tmp_path / folder, copy_function=os.link)
    etcd = f"etcd-{versions['ETCD_VERSION']}"
    shutil.copytree(CACHE / etcd, tmp_path / etcd)
    binary = tmp_path / etcd / "bin" / "etcd"
    with binary.open("r+b") as truncated:
        truncated.truncate(1000)

    result = run([str(BUILD)], LABPLATFORM_CACHE=str(tmp_path))

    assert result.returncode == 0, result.stderr
    assert f"discarding partial build in {tmp_path / etcd}" in result.stderr
    assert "kubernetes v1.36" in result.stderr and ": cached" in result.stderr
    assert binary.stat().st_size > 10_000_000
    version = run([str(binary), "--version"])
    assert versions["ETCD_VERSION"].lstrip("v") in version.stdout


@pytest.mark.local_cluster
def test_cluster_up_is_a_no_op_when_the_cluster_is_already_up(kube):
    apiserver_pid = (kwok_cluster_dir() / "pids" / "kube-apiserver.pid").read_text().strip()
    result = run([str(CLUSTER), "up"])
    assert result.returncode == 0, result.stderr
    assert "already up" in result.stderr
    assert (kwok_cluster_dir() / "pids" / "kube-apiserver.pid").read_text().strip() == apiserver_pid


@pytest.mark.local_cluster
def test_two_cluster_ups_at_once_take_turns_and_leave_no_one_holding_the_lock(kube):
    """make up beside a test run: two `up`s at once raced in node.sh (one failed moving a
    file the other had moved). They take turns now, and the daemons started under the
    lock do not keep it."""
    stopped = run([str(CLUSTER), "stop"])
    assert stopped.returncode == 0, stopped.stderr
    started = [
        subprocess.Popen([str(CLUSTER), "up"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    said = []
    for process in started:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
        said.append(stderr.strip().splitlines()[-1])
    # One restarted the cluster (its daemons started under the lock); the other waited.
    assert sorted(line.split(":")[0] for line in said) == ["[cluster] already up", "[cluster] up"], said
    lock = cluster_state_dir() / "cluster.lock"
    assert lock.exists()
    holders = [fd.parent.parent.name for fd in Path("/proc").glob("[0-9]*/fd/*") if _points_at(fd, lock)]
    assert holders == [], f"processes holding {lock}: {holders}"


def _points_at(fd: Path, target: Path) -> bool:
    try:
        return Path(os.readlink(fd)) == target
    except OSError:  # the process or the descriptor ended meanwhile
        return False


def children_of(parent_pid: int) -> list[int]:
    return [int(pid) for pid in Path(f"/proc/{parent_pid}/task/{parent_pid}/children").read_text().split()]


def is_socat(pid: int) -> bool:
    return Path(f"/proc/{pid}/comm").read_text().strip() == "socat"


@pytest.mark.local_cluster
def test_fit_says_what_the_nodes_hold_and_adds_none_when_they_hold_enough(kube):
    """Growing is measured on a cluster of its own (k8s/local/README.md, "Size"); on the
    shared one, a fit that needs nothing changes nothing."""
    nodes = [line for line in run_kubectl("get", "nodes", "-o", "name").splitlines() if line]
    result = run([str(CLUSTER), "fit", "1"])
    assert result.returncode == 0, result.stderr
    assert re.search(r"the \d+ simulated nodes hold \d+ pods; 1 fit, nothing to add", result.stderr), result.stderr
    assert [line for line in run_kubectl("get", "nodes", "-o", "name").splitlines() if line] == nodes
    refused = run([str(CLUSTER), "fit", "many"])
    assert refused.returncode != 0
    assert "usage: " in refused.stderr and "fit PODS" in refused.stderr


def run_kubectl(*args: str) -> str:
    from tests.kube import KUBECTL, admin_kubeconfig

    return subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(admin_kubeconfig()), *args], capture_output=True, text=True, check=True
    ).stdout


def relays_of(parent_pid: int) -> list[int]:
    """The socat relays below the process: its own and its node relay keeper's."""
    relays = []
    for pid in children_of(parent_pid):
        if is_socat(pid):
            relays.append(pid)
        elif "--keep-node-relays" in Path(f"/proc/{pid}/cmdline").read_text():
            relays += [child for child in children_of(pid) if is_socat(child)]
    return relays


def test_the_relays_die_with_kwok_however_it_dies(tmp_path):
    """kwok-contained.sh with a stand-in for kwok: it relays every node's address, more as
    nodes are added while it runs, and killing it with SIGKILL, as a crash or a `kwokctl
    delete` might, takes its relays along."""
    # Not under /tmp: kwok's namespace has a /tmp of its own, where these would vanish.
    work = Path.home() / ".local" / "state" / "labplatform" / f"test-kwok-contained-{tmp_path.name}"
    work.mkdir(parents=True, exist_ok=True)
    relay_dir = work / "relay"
    kubeconfig = work / "kubeconfig"
    kubeconfig.write_text("clusters:\n- cluster:\n    server: https://127.0.0.1:1\n")
    nodes_file = work / "simulated-nodes"
    nodes_file.write_text("2\n")
    stand_in = work / "kwok"
    stand_in.write_text("#!/bin/sh\nexec sleep 300\n")
    stand_in.chmod(0o755)
    wrapper = work / "kwok-contained"
    text = (ROOT / "k8s" / "local" / "kwok-contained.sh").read_text()
    for placeholder, value in {
        "@KWOK_BINARY@": str(stand_in),
        "@KUBECTL_BINARY@": "/bin/true",
        "@RELAY_DIR@": str(relay_dir),
        "@NODES_FILE@": str(nodes_file),
        "@MAX_PROCESSES@": "512",
        "@MAX_OPEN_FILES@": "1024",
        "@MAX_VIRTUAL_KB@": "unlimited",
        "@MAX_FILE_KB@": "unlimited",
    }.items():
        text = text.replace(placeholder, value)
    wrapper.write_text(text)
    wrapper.chmod(0o755)

    kwok = subprocess.Popen(
        [str(wrapper), f"--kubeconfig={kubeconfig}", "--server-address=127.0.0.1:2"], start_new_session=True
    )
    try:
        # To the API server and back in, and KWOK's server at each node address (two here).
        wait_for("five relays", lambda: len(relays_of(kwok.pid)) == 5, timeout=30)
        nodes_file.write_text("3\n")  # cluster.sh added a node
        relays = wait_for("a sixth relay", lambda: len(relays_of(kwok.pid)) == 6 and relays_of(kwok.pid), timeout=30)
        listening = Path("/proc/net/tcp").read_text()
        assert "0300007F:0002" in listening  # 127.0.0.3:2, the third node's address
        assert relay_dir.stat().st_mode & 0o777 == 0o700
    finally:
        kwok.kill()
        kwok.wait(timeout=10)

    def exited(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
        except FileNotFoundError:
            return True

    assert wait_for("the relays to exit", lambda: all(exited(pid) for pid in relays), timeout=10)
    shutil.rmtree(work, ignore_errors=True)


@pytest.mark.local_cluster
def test_nothing_of_host_shells_remains(kube):
    """Students' shells are containers on the real node: this host has no student users,
    no launcher, no copy of kubectl for them, and the cluster no KWOK exec rule (which
    would run commands on this host)."""
    from kubernetes import client

    from tests.kube import KWOK_GROUP, KWOK_VERSION, cluster_state_dir

    users = [line.split(":", 1)[0] for line in Path("/etc/passwd").read_text().splitlines()]
    assert not [user for user in users if user.startswith("lab-")]
    for path in [
        cluster_state_dir() / "libexec",
        Path("/usr/local/libexec/labplatform-workstation"),
        Path("/usr/local/lib/labplatform/bin/kubectl"),
        Path("/home/labplatform"),
        Path("/run/labplatform-terminal"),
    ]:
        assert not path.exists(), path
    custom = client.CustomObjectsApi(kube)
    assert custom.list_cluster_custom_object(KWOK_GROUP, KWOK_VERSION, "clusterexecs")["items"] == []
    assert custom.list_cluster_custom_object(KWOK_GROUP, KWOK_VERSION, "execs")["items"] == []
