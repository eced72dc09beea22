"""What a student's shell on the local cluster can reach, read, see and use up, tried from
inside the student's workstation as the student: typed into the workstation terminal (the
student's tmux session), and through a plain exec into the same container. The shell is a
container on the real node (k8s/local/node.sh): a user namespace, a network namespace on
the node's bridge, its own pid namespace and cgroup. Two students, made once for the
module as the platform makes them."""

import os
import socket
import uuid
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from kubernetes import client

from labplatform.cluster import manifests
from labplatform.cluster.students import (
    StudentEnvironmentSpec,
    student_environment_apply,
    student_environment_delete,
    student_kubeconfig,
    student_token,
)
from tests.cohorts import local_student_spec, workstation_ready_within
from tests.containment import (
    SHELLS,
    ExecShell,
    Student,
    WorkstationShell,
    connect_script,
    container_exec,
    fork_script,
    processes_script,
    read_script,
    results,
)
from tests.kube import (
    api_server_port,
    cluster_state_dir,
    component_ports,
    kubectl,
    kwok_cluster_dir,
    pods_ready,
    wait_for,
)

pytestmark = pytest.mark.local_cluster

WORKSTATIONS = "labplatform-workstations"
NODE_ADDRESS = "10.250.0.1"  # the real node's address, where the API relay listens
API_RELAY_PORT = 6443
# The kubelet's podPidsLimit (k8s/local/node-kubelet.yaml).
PID_LIMIT = 256
# What the workstation's container may use (manifests.WORKSTATION_LIMITS).
MEMORY_LIMIT_MIB = 256


def spec_for(student: str) -> StudentEnvironmentSpec:
    return local_student_spec(student, cohort="containment")


@pytest.fixture(scope="module")
def students(kube, tmp_path_factory) -> list[Student]:
    """Two students provisioned by the platform's own code, each with a pod they made
    themselves (with their own token) in their namespace."""
    specs = [spec_for("s" + uuid.uuid4().hex[:9]) for _ in range(2)]
    core = client.CoreV1Api(kube)
    made = []
    try:
        for spec in specs:
            student_environment_apply(spec)
        for spec in specs:
            workstation_ready_within(spec)
            kubeconfig = tmp_path_factory.mktemp(spec.student) / "kubeconfig"
            kubeconfig.write_text(yaml.safe_dump(student_kubeconfig(spec, student_token(spec, seconds=3600))))
            created = kubectl(kubeconfig, "run", "shell", "--image=busybox:1.36", "--restart=Never")
            assert created.returncode == 0, created.stderr
            made.append(Student(spec=spec, kubeconfig=kubeconfig, pod="shell"))
        for student in made:
            namespace = student.spec.namespace
            wait_for(f"pod {namespace}/shell Ready", lambda ns=namespace: pods_ready(core, ns, "run=shell", 1))
        yield made
    finally:
        for spec in specs:
            student_environment_delete(spec)


@pytest.fixture(scope="module")
def me(students) -> Student:
    return students[0]


@pytest.fixture(scope="module")
def other(students) -> Student:
    return students[1]


@pytest.fixture(params=list(SHELLS))
def shell(request, me):
    """My shell, of each kind."""
    return SHELLS[request.param](me)


@pytest.fixture(scope="module")
def platform_listeners():
    """Stand-ins for the platform's own ports: a TCP port on the host's loopback and a
    Unix socket in the platform's run directory, both listening as root."""
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    settings.RUN_DIR.mkdir(parents=True, exist_ok=True)
    path = settings.RUN_DIR / f"containment-{uuid.uuid4().hex[:8]}.sock"
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(path))
    path.chmod(0o777)
    unix.listen()
    yield tcp.getsockname()[1], str(path)
    tcp.close()
    unix.close()
    path.unlink(missing_ok=True)


def loopback_listeners() -> set[int]:
    """TCP ports listening on the host's 127.0.0.1 (daphne, if running, among them)."""
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port = local.split(":")
        if state == "0A" and address == "0100007F":
            ports.add(int(port, 16))
    return ports


def postgres_socket() -> Path:
    """PostgreSQL's Unix socket, in its data directory (scripts/postgres.sh)."""
    port = settings.DATABASES["default"]["PORT"] or 5432
    root = Path(os.environ.get("LABPLATFORM_POSTGRES_DIR", "/var/lib/labplatform"))
    return root / f"postgres-{port}" / f".s.PGSQL.{port}"


def pod_gateway(kube, student: Student) -> str:
    """The bridge's address on the pod's network: the way a packet would leave it."""
    ip = client.CoreV1Api(kube).read_namespaced_pod(student.workstation, WORKSTATIONS).status.pod_ip
    return ip.rsplit(".", 1)[0] + ".1"


def test_the_shell_runs_as_the_student_in_a_user_namespace_with_this_clusters_kubectl(shell):
    found = results(
        shell.run(
            """
            echo "RESULT uid $(id -u)"
            echo "RESULT home $HOME"
            echo "RESULT map $(tr -s ' ' <"/proc/self/uid_map" | sed 's/^ //')"
            kubectl version 2>&1 | sed -n 's/^Client Version: /RESULT client /p; s/^Server Version: /RESULT server /p'
            """
        )
    )
    assert (found["uid"], found["home"]) == (str(manifests.WORKSTATION_USER), manifests.WORKSTATION_HOME)
    inside, outside, _ = found["map"].split()
    assert inside == "0" and outside != "0", f"the container's root is the host's: {found['map']}"
    assert found["client"] == found["server"], found


def test_the_host_services_are_unreachable_by_any_route_and_the_api_server_is_reachable(
    kube, shell, me, platform_listeners
):
    platform_port, platform_socket = platform_listeners
    ports = component_ports()
    tcp = {
        "api-server": api_server_port(),
        "etcd": ports["etcd"]["http"],
        "etcd-peer": ports["etcd"]["peer-http"],
        "kwok": ports["kwok-controller"]["http"],
        "controller-manager": ports["kube-controller-manager"]["https"],
        "scheduler": ports["kube-scheduler"]["https"],
        "redis": int(settings.REDIS_URL.rsplit(":", 1)[1].split("/")[0]),
        "postgresql": int(settings.DATABASES["default"]["PORT"]),
        "platform": platform_port,
    }
    tcp |= {f"loopback-{port}": port for port in loopback_listeners() - set(tcp.values())}
    # Every address a packet could be sent to the host's services by: the pod's own
    # loopback (not the host's), the node's address and the bridge's (the node's
    # namespace, not the host's).
    routes = {"loopback": "127.0.0.1", "node": NODE_ADDRESS, "bridge": pod_gateway(kube, me)}
    targets = {f"{name}@{route}": (address, port) for name, port in tcp.items() for route, address in routes.items()}
    relays = cluster_state_dir() / "relay"
    unix = {
        "postgresql-socket": str(postgres_socket()),
        "platform-socket": platform_socket,
        "api-relay": str(relays / "api.sock"),
        "kwok-relay": str(relays / "kwok.sock"),
        "node-api-relay": str(cluster_state_dir() / "node" / "relay" / "api.sock"),
    }
    for name, path in unix.items():
        assert Path(path).is_socket(), f"{name}: no socket at {path} on the host, the check would prove nothing"

    found = results(shell.run(connect_script({"the-node-api-relay": (NODE_ADDRESS, API_RELAY_PORT)} | targets | unix)))
    assert found.pop("the-node-api-relay") == "open", "kubectl needs the API server, through the node's relay"
    reachable = {name: outcome for name, outcome in found.items() if outcome in ("open", "timeout")}
    assert not reachable, f"reachable from the {shell.kind} shell (or hanging): {reachable}"
    assert found.keys() == targets.keys() | unix.keys()


def test_a_simulated_pod_or_service_address_is_unreachable(shell, me, other, kube):
    """KWOK's pod and Service addresses are fictitious: nothing may connect to them, and a
    packet sent there goes no further than the node's namespace."""
    core = client.CoreV1Api(kube)
    addresses = {
        "my-pod": core.read_namespaced_pod(me.pod, me.spec.namespace).status.pod_ip,
        "other-students-pod": core.read_namespaced_pod(other.pod, other.spec.namespace).status.pod_ip,
        "kubernetes-service": core.read_namespaced_service("kubernetes", "default").spec.cluster_ip,
    }
    assert all(addresses.values()), addresses
    found = results(shell.run(connect_script({name: (ip, 80) for name, ip in addresses.items()})))
    assert found.keys() == addresses.keys()
    for name, outcome in found.items():
        assert outcome != "open", (name, outcome)


def test_the_hosts_secrets_cannot_be_read(shell):
    keys = sorted(str(key) for key in (kwok_cluster_dir() / "pki").glob("*.key"))
    assert keys, "no cluster keys found on the host"
    paths = {f"cluster-key-{Path(key).name}": key for key in keys} | {
        "admin-kubeconfig": str(cluster_state_dir() / "kubeconfig"),
        "platform-kubeconfig": str(cluster_state_dir() / "platform-kubeconfig"),
        "node-kubelet-key": str(cluster_state_dir() / "node" / "pki" / "kubelet.key"),
        "etcd-data": str(kwok_cluster_dir() / "etcd"),
        "postgresql-data": str(postgres_socket().parent / "PG_VERSION"),
        "secret-key": str(settings.BASE_DIR / ".run" / "secret_key"),
        "run-dir": str(settings.RUN_DIR),
        "host-shadow-of-root": "/root",
    }
    missing = [name for name, path in paths.items() if not Path(path).exists()]
    for name in missing:
        assert name == "secret-key", f"{name}: nothing at {paths[name]} on the host to try"
        del paths[name]

    found = results(shell.run(read_script(paths)))
    assert found.keys() == paths.keys()
    readable = [name for name, outcome in found.items() if outcome == "read"]
    assert not readable, f"readable from the {shell.kind} shell: {readable}"


@pytest.fixture(scope="module")
def other_students_processes(other):
    """A recognisable process in each of the other student's shells."""
    WorkstationShell(other).run("nohup sleep 12345 >/dev/null 2>&1 &")
    ExecShell(other).run("setsid -f sleep 12346 >/dev/null 2>&1 </dev/null")
    code, output = container_exec(other.spec, "pgrep -fc 'sleep 1234[56]'")
    assert (code, output.strip()) == (0, "2"), "the other student's processes did not start: nothing to prove"
    yield
    container_exec(other.spec, "pkill -f 'sleep 1234[56]'")


def test_other_students_and_the_hosts_processes_are_invisible(shell, other_students_processes):
    output = shell.run(processes_script())
    listed = []
    for line in output.splitlines():
        if line.startswith(("PS ", "PROC ")):
            _, uid, *command = line.split(" ", 2)
            listed.append((int(uid), command[0] if command else ""))
    assert any("ps ax" in command for _, command in listed), output
    for hidden in ("sleep 12345", "sleep 12346", "kwok", "kube-apiserver", "kubelet", "containerd", "etcd", "redis"):
        seen = [command for _, command in listed if hidden in command]
        assert not seen, f"visible from the {shell.kind} shell: {seen}"
    # A pid namespace of the pod's own: tini, the shell and what it started, all the student's.
    uids = {uid for uid, _ in listed}
    assert uids == {manifests.WORKSTATION_USER}, f"processes of {uids} are visible"


def pod_pids_cgroup(kube, student: Student) -> Path:
    """The pod's pids cgroup on the node, read on the host."""
    uid = client.CoreV1Api(kube).read_namespaced_pod(student.workstation, WORKSTATIONS).metadata.uid
    found = list(Path("/sys/fs/cgroup/pids").glob(f"labplatform-*/kubepods/*/pod{uid}"))
    found += list(Path("/sys/fs/cgroup/pids").glob(f"labplatform-*/kubepods/pod{uid}"))
    assert len(found) == 1, f"the pids cgroup of {student.workstation}: {found}"
    return found[0]


def pod_pids(kube, student: Student) -> tuple[int, int]:
    """(current, max) of the pod's pids cgroup."""
    cgroup = pod_pids_cgroup(kube, student)
    return int((cgroup / "pids.current").read_text()), int((cgroup / "pids.max").read_text())


def pod_forks_refused(kube, student: Student) -> int:
    """How many forks were refused at the pod's pid limit. cgroup v1 counts a refusal in
    the cgroup of the process that forked (its container's), not in the pod's, where
    the limit is: so every pids.events under the pod, summed."""
    total = 0
    for events in pod_pids_cgroup(kube, student).glob("**/pids.events"):
        total += int(dict(line.split() for line in events.read_text().splitlines())["max"])
    return total


def test_a_fork_bomb_stops_at_the_pid_limit_and_another_workstation_still_forks(kube, me, other):
    assert pod_pids(kube, me)[1] == PID_LIMIT
    name = uuid.uuid4().hex[:8]
    out = f"/tmp/fork-{name}.out"
    # Started from the terminal and left running, holding its children for a while, so
    # the other student forks while this one is at the limit.
    refused = pod_forks_refused(kube, me)
    WorkstationShell(me).run(f"(\n{fork_script(cap=2 * PID_LIMIT, hold=120)}) >{out} 2>&1 &\n")
    # The cgroup refusing a fork is the limit reached. (The count of processes then is no
    # sign: the short-lived ones of an exec into the pod come and go beside the bomb.)
    wait_for("my workstation at its pid limit", lambda: pod_forks_refused(kube, me) > refused, timeout=100)
    try:
        found = results(ExecShell(other).run(fork_script(cap=20, hold=0)))
        assert found == {"forked": "20", "failure": "none"}, found
    finally:
        wait_for("my fork bomb to end", lambda: pod_pids(kube, me)[0] < PID_LIMIT // 2, timeout=180)
    found = results(ExecShell(me).run(f"cat {out}"))
    assert found["failure"] == "EAGAIN", found
    forked = int(found["forked"])
    # The few processes the student already runs (tini, tmux, shells) count too.
    assert PID_LIMIT - 32 <= forked < PID_LIMIT, f"forked {forked} with a limit of {PID_LIMIT}"
    assert results(WorkstationShell(me).run("echo RESULT alive yes")) == {"alive": "yes"}


def test_memory_past_the_limit_kills_only_that_process(me, other):
    hog = f"python3 -c 'b = bytearray({2 * MEMORY_LIMIT_MIB} * 1024 * 1024); print(len(b))'"
    typed = f'{hog} >/dev/null 2>&1; echo "RESULT status $?"; echo RESULT after alive'
    found = results(WorkstationShell(me).run(typed))
    assert found == {"status": "137", "after": "alive"}, f"the process past the limit was not OOM-killed alone: {found}"
    assert results(WorkstationShell(other).run("echo RESULT other alive")) == {"other": "alive"}
    assert results(WorkstationShell(me).run("echo RESULT shell alive")) == {"shell": "alive"}


def test_kubectl_works_in_the_students_namespace_only(shell, me, other):
    found = results(
        shell.run(
            f"""
            kubectl get pods -o name >/tmp/.containment-pods 2>&1; echo "RESULT own $?"
            echo "RESULT own-pods $(tr '\\n' ' ' </tmp/.containment-pods)"
            rm -f /tmp/.containment-pods
            for namespace in {other.spec.namespace} kube-system {WORKSTATIONS}; do
                if kubectl get pods -n "$namespace" 2>&1 | grep -q Forbidden; then
                    echo "RESULT $namespace Forbidden"
                else
                    echo "RESULT $namespace allowed"
                fi
            done
            """
        )
    )
    assert found["own"] == "0", found
    assert found["own-pods"].split() == [f"pod/{me.pod}"]
    for namespace in (other.spec.namespace, "kube-system", WORKSTATIONS):
        assert found[namespace] == "Forbidden", namespace


def read_check(path: str) -> str:
    return f'cat {path} >/dev/null 2>&1 && echo "RESULT read yes" || echo "RESULT read no"'


@pytest.mark.parametrize("folder", ["/tmp", "$HOME"], ids=["tmp", "home"])
@pytest.mark.parametrize("writer", list(SHELLS))
def test_what_a_student_leaves_in_their_folders_cannot_be_read_by_another(me, other, writer, folder):
    path = f"{folder}/containment-{uuid.uuid4().hex[:8]}"
    try:
        made = f"echo not-for-others >{path}; chmod 644 {path}; {read_check(path)}"
        assert results(SHELLS[writer](other).run(made)) == {"read": "yes"}
        for kind, shell in SHELLS.items():
            found = results(shell(me).run(read_check(path)))
            assert found == {"read": "no"}, f"my {kind} shell reads what the other's {writer} shell left in {path}"
    finally:
        SHELLS[writer](other).run(f"rm -f {path}")


@pytest.mark.parametrize("folder", ["/tmp", "/var/tmp", "/dev/shm", "/run/lock"])
def test_the_hosts_scratch_folders_cannot_be_read(shell, folder):
    path = Path(folder) / f"containment-host-{uuid.uuid4().hex[:8]}"
    path.write_text("the host's\n")
    path.chmod(0o644)
    try:
        assert results(shell.run(read_check(str(path)))) == {"read": "no"}
    finally:
        path.unlink()


def test_a_students_background_job_outlives_the_terminal_inside_the_container_only(me):
    """A job left running (nohup, as cron or at would) stays in the container: after the
    terminal has gone, it still cannot reach the host's services, and it is no process
    of the host's user namespace."""
    name = uuid.uuid4().hex[:8]
    redis = (NODE_ADDRESS, int(settings.REDIS_URL.rsplit(":", 1)[1].split("/")[0]))
    job = f"while [ ! -e /tmp/go-{name} ]; do sleep 0.2; done\n{connect_script({'redis': redis})}"
    WorkstationShell(me).run(f"(\n{job}) >/tmp/job-{name}.out 2>&1 &\n")
    # The terminal's connection has closed; the job goes on, told to by a file.
    ExecShell(me).run(f"touch /tmp/go-{name}")
    found = wait_for(
        "the background job's report",
        lambda: results(ExecShell(me).run(f"cat /tmp/job-{name}.out")) or None,
        timeout=30,
    )
    assert found["redis"] not in ("open", "timeout"), found
    host_uids = {entry.stat().st_uid for entry in Path("/proc").iterdir() if entry.name.isdigit()}
    assert manifests.WORKSTATION_USER not in host_uids, "a process runs as the student's uid on the host"
