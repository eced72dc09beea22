"""Students' shells on the local cluster, driven from a test: the workstation terminal (the
launcher's contained tmux session, through the platform's own exec stream) and a
`kubectl exec` into a pod of the student's own namespace (run by KWOK as the student's
Unix user). Each runs a bash script as the student; the script prints `RESULT key value`
lines, which come back as text."""

import asyncio
import json
import os
import pwd
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from labplatform.cluster.clients import close_async_clients
from labplatform.cluster.local_users import local_user_name
from labplatform.cluster.students import StudentEnvironmentSpec
from labplatform.cluster.terminals import workstation_terminal
from tests.terminals import plain

KUBECTL = next((Path.home() / ".cache" / "labplatform").glob("kubernetes-*/bin/kubectl"))
SCRIPTS = ".containment"  # in the student's HOME, where both kinds of shell start
GRACE_SECONDS = 300


@dataclass(frozen=True)
class Student:
    spec: StudentEnvironmentSpec
    kubeconfig: Path  # on the host: the student's own token, for `kubectl exec` as them
    pod: str  # a pod the student made in their own namespace

    @property
    def user(self) -> str:
        return local_user_name(self.spec.student)

    @property
    def uid(self) -> int:
        return pwd.getpwnam(self.user).pw_uid

    @property
    def gid(self) -> int:
        return pwd.getpwnam(self.user).pw_gid

    @property
    def home(self) -> Path:
        return Path(pwd.getpwnam(self.user).pw_dir)


def kubectl(kubeconfig: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(kubeconfig), "--request-timeout=20s", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _place_script(student: Student, script: str) -> tuple[str, Path, Path]:
    """Puts the script in the student's HOME, theirs alone; returns its name, its path and
    the path of the file its output goes to."""
    folder = student.home / SCRIPTS
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chown(folder, student.uid, student.gid)
    name = uuid.uuid4().hex[:12]
    path = folder / f"{name}.sh"
    path.write_text(script)
    os.chown(path, student.uid, student.gid)
    path.chmod(0o600)
    return name, path, folder / f"{name}.out"


async def typed_until(spec: StudentEnvironmentSpec, command: str, marker: str, *, timeout: float) -> str:
    """Types `command` into the student's terminal as they would; returns the screen's text
    once `marker` is on it."""
    try:
        async with workstation_terminal(
            cluster=spec.cluster,
            namespace=spec.workstation_namespace,
            student=spec.student,
            read_only=False,
            grace_seconds=GRACE_SECONDS,
        ) as stream:
            await stream.resize(cols=200, rows=50)
            await stream.write(command.encode())
            screen = b""
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while marker not in plain(screen):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise AssertionError(f"no {marker} within {timeout}s; screen:\n{plain(screen)[-2000:]}")
                try:
                    output = await stream.read(timeout=remaining)
                except TimeoutError:
                    continue
                if output is None:
                    raise AssertionError(f"the terminal closed before {marker}; screen:\n{plain(screen)[-2000:]}")
                screen += output.data
            return plain(screen)
    finally:
        await close_async_clients()


class Shell:
    kind = ""

    def __init__(self, student: Student):
        self.student = student

    def run(self, script: str, *, timeout: float = 60) -> str:
        """Runs `script` with bash as the student; returns what it printed (stdout and
        stderr together)."""
        name, script_path, output_path = _place_script(self.student, script)
        try:
            self._run(name, timeout=timeout)
            return output_path.read_text(errors="replace")
        finally:
            script_path.unlink(missing_ok=True)
            output_path.unlink(missing_ok=True)

    def _run(self, name: str, *, timeout: float) -> None:
        raise NotImplementedError


class WorkstationShell(Shell):
    """Types the command into the student's terminal session, as they would."""

    kind = "workstation"

    def _run(self, name: str, *, timeout: float) -> None:
        # The marker is printed in two pieces so the typed command line does not match it.
        command = f"bash ~/{SCRIPTS}/{name}.sh >~/{SCRIPTS}/{name}.out 2>&1; printf '%s-%s\\n' END {name}\r"
        asyncio.run(typed_until(self.student.spec, command, f"END-{name}", timeout=timeout))


class ExecShell(Shell):
    """`kubectl exec` into the student's own pod, with the student's own kubeconfig."""

    kind = "kubectl exec"

    def _run(self, name: str, *, timeout: float) -> None:
        student = self.student
        result = kubectl(
            student.kubeconfig,
            "-n",
            student.spec.namespace,
            "exec",
            student.pod,
            "--",
            "bash",
            "-c",
            f"bash {SCRIPTS}/{name}.sh >{SCRIPTS}/{name}.out 2>&1",
            timeout=timeout,
        )
        assert result.returncode == 0, f"kubectl exec as {student.user}: {result.stderr}"


SHELLS = {shell.kind: shell for shell in (WorkstationShell, ExecShell)}


def results(output: str) -> dict[str, str]:
    """The script's `RESULT key value` lines, as a dict."""
    found = {}
    for line in output.splitlines():
        if line.startswith("RESULT "):
            _, key, *value = line.split(" ", 2)
            found[key] = value[0] if value else ""
    return found


def connect_script(targets: dict[str, tuple[str, int] | str]) -> str:
    """Tries each target, a (host, port) for TCP or a path for a Unix socket; prints
    `open`, `timeout` or the error's name (ECONNREFUSED, ENETUNREACH, EACCES...)."""
    return _python(
        """
import errno, socket, sys
for name, target in TARGETS.items():
    family = socket.AF_UNIX if isinstance(target, str) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        try:
            s.connect(target if isinstance(target, str) else tuple(target))
            outcome = "open"
        except TimeoutError:
            outcome = "timeout"
        except OSError as exc:
            outcome = errno.errorcode.get(exc.errno, str(exc))
    print("RESULT", name, outcome)
""",
        TARGETS=targets,
    )


def read_script(paths: dict[str, str]) -> str:
    """Tries to read each file (or list each folder); prints `read` or the error's name."""
    return _python(
        """
import errno, os
for name, path in PATHS.items():
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, "rb") as f:
                f.read(1)
        outcome = "read"
    except OSError as exc:
        outcome = errno.errorcode.get(exc.errno, str(exc))
    print("RESULT", name, outcome)
""",
        PATHS=paths,
    )


def fork_script(*, cap: int) -> str:
    """Forks children that wait, until fork fails or `cap` is reached, then ends them.
    Prints how many it made and why it stopped."""
    return _python(
        """
import errno, os, signal
children, failure = [], "none"
while len(children) < CAP:
    try:
        pid = os.fork()
    except OSError as exc:
        failure = errno.errorcode.get(exc.errno, str(exc))
        break
    if pid == 0:
        signal.alarm(120)  # a child somehow left behind ends by itself
        signal.pause()
        os._exit(0)
    children.append(pid)
print("RESULT forked", len(children))
print("RESULT failure", failure)
for pid in children:
    os.kill(pid, signal.SIGKILL)
for pid in children:
    os.waitpid(pid, 0)
""",
        CAP=cap,
    )


def processes_script() -> str:
    """What the shell sees of processes, from `ps ax` and from listing /proc: one
    `PROC uid command` line per process."""
    return "ps ax -o uid=,args= | sed 's/^ */PS /'\n" + _python(
        """
import os
for entry in os.listdir("/proc"):
    if entry.isdigit():
        try:
            uid = os.stat(f"/proc/{entry}").st_uid
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read().replace(b"\\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        print("PROC", uid, command)
"""
    )


def _python(body: str, **constants) -> str:
    assignments = "".join(f"{name} = {json.dumps(value)}\n" for name, value in constants.items())
    return f"python3 - <<'PYTHON'\n{assignments}{body}PYTHON\n"
