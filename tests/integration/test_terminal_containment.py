"""What a student's shell on the local cluster can reach, read, see and use up, tried from
inside both kinds of shell as the student: the workstation terminal (the launcher's tmux
session in namespaces of its own) and a `kubectl exec` into a pod of the student's own
namespace (run by KWOK on this host as the student's Unix user). Two students, made once
for the module as the platform makes them."""

import os
import signal
import socket
import uuid
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from kubernetes import client

from labplatform.cluster.students import (
    StudentEnvironmentSpec,
    student_environment_apply,
    student_environment_delete,
    student_kubeconfig,
    student_token,
    workstation_ready,
)
from labplatform.cluster.terminals import SESSION_COMMAND
from tests.cohorts import local_student_spec
from tests.containment import (
    SHELLS,
    ExecShell,
    Student,
    WorkstationShell,
    connect_script,
    fork_script,
    kubectl,
    processes_script,
    read_script,
    results,
)
from tests.kube import api_server_port, cluster_state_dir, component_ports, kwok_cluster_dir, pods_ready, wait_for

pytestmark = pytest.mark.local_cluster

WORKSTATIONS = "labplatform-workstations"
# What the launcher and KWOK's containment set (k8s/local/cluster.sh).
PROCESS_LIMITS = {"workstation": 256, "kubectl exec": 512}
FILE_SIZE_LIMIT = 512 * 1024 * 1024
SIGXFSZ_STATUS = 128 + signal.SIGXFSZ


def spec_for(student: str) -> StudentEnvironmentSpec:
    return local_student_spec(student, cohort="containment")


@pytest.fixture(scope="module")
def students(kube, tmp_path_factory) -> list[Student]:
    """Two students provisioned by the platform's own code, each with a pod they made
    themselves (with their own token) to exec into."""
    specs = [spec_for("s" + uuid.uuid4().hex[:9]) for _ in range(2)]
    core = client.CoreV1Api(kube)
    made = []
    try:
        for spec in specs:
            student_environment_apply(spec)
        for spec in specs:
            wait_for(f"workstation of {spec.namespace}", lambda spec=spec: workstation_ready(spec))
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
        # Removing the Unix user ends everything it runs, the terminal session with it.
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


def test_the_shell_runs_as_the_student_with_this_clusters_kubectl(shell, me):
    found = results(
        shell.run(
            """
            echo "RESULT user $(id -un)"
            echo "RESULT home $HOME"
            echo "RESULT path $PATH"
            echo "RESULT kubectl $(command -v kubectl)"
            kubectl version 2>&1 | sed -n 's/^Client Version: /RESULT client /p; s/^Server Version: /RESULT server /p'
            """
        )
    )
    assert (found["user"], found["home"]) == (me.user, str(me.home))
    assert found["client"] == found["server"], f"the {shell.kind} shell's kubectl is {found['kubectl']} ({found})"


def test_the_host_services_are_unreachable_and_the_api_server_is_reachable(
    shell, other, platform_listeners, other_students_processes
):
    platform_port, platform_socket = platform_listeners
    ports = component_ports()
    tcp = {
        "etcd": ports["etcd"]["http"],
        "etcd-peer": ports["etcd"]["peer-http"],
        "kwok": ports["kwok-controller"]["http"],
        "controller-manager": ports["kube-controller-manager"]["https"],
        "scheduler": ports["kube-scheduler"]["https"],
        "redis": int(settings.REDIS_URL.rsplit(":", 1)[1].split("/")[0]),
        "postgresql": int(settings.DATABASES["default"]["PORT"]),
        "platform": platform_port,
    }
    api = api_server_port()
    tcp |= {f"loopback-{port}": port for port in loopback_listeners() - {api, *tcp.values()}}
    relays = cluster_state_dir() / "relay"
    unix = {
        "postgresql-socket": str(postgres_socket()),
        "platform-socket": platform_socket,
        "api-relay": str(relays / "api.sock"),
        "kwok-relay": str(relays / "kwok.sock"),
        "other-students-tmux": f"/run/labplatform-terminal/{other.spec.student}/tmux",
    }
    for name, path in unix.items():
        assert Path(path).is_socket(), f"{name}: no socket at {path} on the host, the check would prove nothing"

    found = results(
        shell.run(
            connect_script(
                {"api-server": ("127.0.0.1", api)} | {name: ("127.0.0.1", port) for name, port in tcp.items()} | unix
            )
        )
    )
    assert found.pop("api-server") == "open", "kubectl needs the API server"
    reachable = {name: outcome for name, outcome in found.items() if outcome in ("open", "timeout")}
    assert not reachable, f"reachable from the {shell.kind} shell (or hanging): {reachable}"
    assert found.keys() == tcp.keys() | unix.keys()


def test_a_pod_address_is_unreachable_at_once(shell, me, other, kube):
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
        # Refused or unreachable straight away: never open, never left hanging.
        assert outcome in ("ECONNREFUSED", "ENETUNREACH", "EHOSTUNREACH", "EACCES", "EPERM"), (name, outcome)


def test_the_hosts_secrets_and_another_students_home_cannot_be_read(shell, other):
    keys = sorted(str(key) for key in (kwok_cluster_dir() / "pki").glob("*.key"))
    assert keys, "no cluster keys found on the host"
    paths = {f"cluster-key-{Path(key).name}": key for key in keys} | {
        "admin-kubeconfig": str(cluster_state_dir() / "kubeconfig"),
        "platform-kubeconfig": str(cluster_state_dir() / "platform-kubeconfig"),
        "etcd-data": str(kwok_cluster_dir() / "etcd"),
        "postgresql-data": str(postgres_socket().parent / "PG_VERSION"),
        "secret-key": str(settings.BASE_DIR / ".run" / "secret_key"),
        "sqlite": str(settings.BASE_DIR / ".run" / "db.sqlite3"),
        "run-dir": str(settings.RUN_DIR),
        "other-students-home": str(other.home),
        "other-students-kubeconfig": str(other.home / ".kube" / "config"),
    }
    missing = [name for name, path in paths.items() if not Path(path).exists()]
    for name in missing:
        assert name in ("secret-key", "sqlite"), f"{name}: nothing at {paths[name]} on the host to try"
        del paths[name]

    found = results(shell.run(read_script(paths)))
    assert found.keys() == paths.keys()
    readable = [name for name, outcome in found.items() if outcome == "read"]
    assert not readable, f"readable from the {shell.kind} shell: {readable}"


def own_processes(uid: int, needle: str) -> list[int]:
    """Processes of `uid` on the host whose command line contains `needle`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                if entry.stat().st_uid == uid and needle in command:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def other_students_processes(other):
    """A recognisable process in each of the other student's shells."""
    WorkstationShell(other).run("nohup sleep 12345 >/dev/null 2>&1 &")
    ExecShell(other).run("setsid -f sleep 12346 >/dev/null 2>&1 </dev/null")
    for needle in ("sleep 12345", "sleep 12346"):
        wait_for(f"{needle} of {other.user}", lambda needle=needle: own_processes(other.uid, needle), timeout=10)
    yield
    for needle in ("sleep 12345", "sleep 12346"):
        for pid in own_processes(other.uid, needle):
            os.kill(pid, signal.SIGKILL)


def test_other_students_and_the_hosts_processes_are_invisible(shell, me, other, other_students_processes):
    output = shell.run(processes_script())
    listed = []
    for line in output.splitlines():
        if line.startswith(("PS ", "PROC ")):
            _, uid, *command = line.split(" ", 2)
            listed.append((int(uid), command[0] if command else ""))
    assert any("ps ax" in command for _, command in listed), output
    for hidden in ("sleep 12345", "sleep 12346", "kwok", "kube-apiserver", "etcd", "redis-server", "postgres"):
        seen = [command for _, command in listed if hidden in command]
        assert not seen, f"visible from the {shell.kind} shell: {seen}"
    uids = {uid for uid, _ in listed}
    if shell.kind == "kubectl exec":
        # /proc is mounted hidepid=invisible: the student's own processes only.
        assert uids == {me.uid}, f"processes of {uids - {me.uid}} are visible"
    else:
        # A PID namespace of its own: the student's processes and the session's keeper (PID 1)
        # with its relay, which run as root. What watches the session (its idle timer
        # among it) is the student's.
        assert uids <= {0, me.uid}, f"processes of {uids - {0, me.uid}} are visible"
        session = (f"bash {SESSION_COMMAND} keeper {me.spec.student} ", "socat TCP-LISTEN:")
        assert all(command.startswith(session) for uid, command in listed if uid == 0), listed


def test_a_fork_bomb_stops_at_the_process_limit(shell, me):
    limit = PROCESS_LIMITS[shell.kind]
    try:
        found = results(shell.run(fork_script(cap=2 * limit), timeout=120))
        assert found["failure"] == "EAGAIN", found
        forked = int(found["forked"])
        # The few processes the student already runs (shell, tmux, the script) count too.
        assert limit - 16 <= forked < limit, f"forked {forked} with a limit of {limit}"
    finally:
        for pid in own_processes(me.uid, "python3 -"):
            os.kill(pid, signal.SIGKILL)
    assert results(shell.run("echo RESULT alive yes")) == {"alive": "yes"}
    assert not own_processes(me.uid, "python3 -")


@pytest.mark.parametrize("folder", ["$HOME", "/tmp"], ids=["home", "tmp"])
def test_a_file_over_the_size_limit_cannot_be_written(shell, folder):
    # dd seeks to just under the limit, so only the last two MiB are really written.
    found = results(
        shell.run(
            f"""
            file={folder}/.containment-big-$$
            dd if=/dev/zero of="$file" bs=1M seek=511 count=2 2>/dev/null
            echo "RESULT status $?"
            echo "RESULT size $(stat -c %s "$file")"
            rm -f "$file"
            """
        )
    )
    assert found == {"status": str(SIGXFSZ_STATUS), "size": str(FILE_SIZE_LIMIT)}, found


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


SCRATCH_FOLDERS = ["/tmp", "/var/tmp", "/dev/shm", "/run/lock"]  # writable by everyone on the host


def read_check(path: str) -> str:
    return f'cat {path} >/dev/null 2>&1 && echo "RESULT read yes" || echo "RESULT read no"'


@pytest.mark.parametrize("folder", SCRATCH_FOLDERS)
@pytest.mark.parametrize("writer", list(SHELLS))
def test_what_a_student_leaves_in_a_scratch_folder_cannot_be_read_by_another(me, other, writer, folder):
    path = f"{folder}/containment-{uuid.uuid4().hex[:8]}"
    try:
        # Made as a student would, with the shell's own umask.
        assert results(SHELLS[writer](other).run(f"echo not-for-others >{path}; {read_check(path)}")) == {"read": "yes"}
        for kind, shell in SHELLS.items():
            found = results(shell(me).run(read_check(path)))
            assert found == {"read": "no"}, f"my {kind} shell reads what the other's {writer} shell left in {path}"
    finally:
        SHELLS[writer](other).run(f"rm -f {path}")


@pytest.mark.parametrize("folder", SCRATCH_FOLDERS)
def test_the_hosts_scratch_folders_cannot_be_read(shell, folder):
    path = Path(folder) / f"containment-host-{uuid.uuid4().hex[:8]}"
    path.write_text("the host's\n")
    path.chmod(0o644)
    try:
        assert results(shell.run(read_check(str(path)))) == {"read": "no"}
    finally:
        path.unlink()


def test_the_workstations_tmp_is_its_own(me, other):
    path = f"/tmp/containment-{uuid.uuid4().hex[:8]}"
    seen = f'[ -e {path} ] && echo "RESULT seen yes" || echo "RESULT seen no"'
    assert results(WorkstationShell(other).run(f"echo secret >{path}; chmod 644 {path}; {seen}")) == {"seen": "yes"}
    assert results(WorkstationShell(me).run(seen)) == {"seen": "no"}
    assert results(ExecShell(me).run(seen)) == {"seen": "no"}
    assert not Path(path).exists()
