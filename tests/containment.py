"""Students' shells on the local cluster, driven from a test: the workstation terminal (the
student's tmux session in their container on the real node, through the platform's own
exec stream) and a plain exec into the same container (what `kubectl exec` into one's own
workstation would be). Each runs a bash script as the student; the script prints
`RESULT key value` lines, which come back as text. Scripts go into the container and
their output comes out of it through execs: nothing of theirs is on the host."""

import asyncio
import base64
import json
import shlex
import uuid
from dataclasses import dataclass
from pathlib import Path

from labplatform.cluster import manifests
from labplatform.cluster.clients import close_async_clients
from labplatform.cluster.exec import STDERR, STDOUT, exec_stream
from labplatform.cluster.students import StudentEnvironmentSpec
from labplatform.cluster.terminals import workstation_terminal
from tests.terminals import plain

SCRIPTS = ".containment"  # in the student's HOME, in their container
GRACE_SECONDS = 300


@dataclass(frozen=True)
class Student:
    spec: StudentEnvironmentSpec
    kubeconfig: Path  # on the host: the student's own token, for kubectl as them
    pod: str  # a (simulated) pod the student made in their own namespace

    @property
    def workstation(self) -> str:
        return manifests.workstation_pod_name(self.spec.student)


async def _container_exec(spec: StudentEnvironmentSpec, command: list[str], *, timeout: float) -> tuple[int, str]:
    out = b""
    try:
        async with exec_stream(
            namespace=spec.workstation_namespace,
            pod=manifests.workstation_pod_name(spec.student),
            command=command,
            tty=False,
            cluster=spec.cluster,
        ) as stream:
            while (output := await stream.read(timeout=timeout)) is not None:
                if output.channel in (STDOUT, STDERR):
                    out += output.data
            status = stream.exit_status or {}
    finally:
        await close_async_clients()
    return exit_code(status), out.decode(errors="replace")


def exit_code(status: dict) -> int:
    """The exit code in an exec's final Status (-1 when it gives none)."""
    if status.get("status") == "Success":
        return 0
    causes = status.get("details", {}).get("causes", [])
    return int(next((c["message"] for c in causes if c.get("reason") == "ExitCode"), "-1"))


def container_exec(spec: StudentEnvironmentSpec, script: str, *, timeout: float = 60) -> tuple[int, str]:
    """Runs a bash script in the student's container (as its user); exit code and output."""
    return asyncio.run(_container_exec(spec, ["bash", "-c", script], timeout=timeout))


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
        raise NotImplementedError


class WorkstationShell(Shell):
    """Types the command into the student's terminal session, as they would."""

    kind = "workstation"

    def run(self, script: str, *, timeout: float = 60) -> str:
        spec = self.student.spec
        name = uuid.uuid4().hex[:12]
        path, out = f"~/{SCRIPTS}/{name}.sh", f"~/{SCRIPTS}/{name}.out"
        encoded = base64.b64encode(script.encode()).decode()
        code, placed = container_exec(
            spec, f"mkdir -p -m 700 ~/{SCRIPTS} && printf %s {shlex.quote(encoded)} | base64 -d >{path}"
        )
        assert code == 0, f"could not put the script in {spec.student}'s container: {placed}"
        # The marker is printed in two pieces so the typed command line does not match it.
        command = f"bash {path} >{out} 2>&1; printf '%s-%s\\n' END {name}\r"
        try:
            asyncio.run(typed_until(spec, command, f"END-{name}", timeout=timeout))
            code, output = container_exec(spec, f"cat {out}")
            assert code == 0, output
            return output
        finally:
            container_exec(spec, f"rm -f {path} {out}")


class ExecShell(Shell):
    """An exec into the student's own workstation container, without a terminal."""

    kind = "exec"

    def run(self, script: str, *, timeout: float = 60) -> str:
        return container_exec(self.student.spec, script, timeout=timeout)[1]


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


def fork_script(*, cap: int, hold: float = 0) -> str:
    """Forks children that wait, until fork fails or `cap` is reached; holds them `hold`
    seconds, then ends them. Prints how many it made and why it stopped."""
    return _python(
        """
import errno, os, signal, sys, time
children, failure = [], "none"
while len(children) < CAP:
    try:
        pid = os.fork()
    except OSError as exc:
        failure = errno.errorcode.get(exc.errno, str(exc))
        break
    if pid == 0:
        signal.alarm(180)  # a child somehow left behind ends by itself
        signal.pause()
        os._exit(0)
    children.append(pid)
print("RESULT forked", len(children))
print("RESULT failure", failure)
sys.stdout.flush()
time.sleep(HOLD)
for pid in children:
    os.kill(pid, signal.SIGKILL)
for pid in children:
    os.waitpid(pid, 0)
""",
        CAP=cap,
        HOLD=hold,
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
