"""The workstation image's session command (k8s/workstation/labplatform-workstation), run
on this host with its tmux.conf: attach starts one shell in tmux and a second attach
reaches the same shell; watch is read-only; end ends it. The image itself is built
elsewhere; this is what runs in it."""

import os
import pty
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labplatform.cluster.terminals import session_command
from tests.kube import wait_for

ROOT = Path(__file__).resolve().parents[2]
WORKSTATION = ROOT / "k8s" / "workstation"
COMMAND = WORKSTATION / "labplatform-workstation"
STUDENT = "s1"


@pytest.fixture
def environment(tmp_path) -> Iterator[dict[str, str]]:
    home = tmp_path / "home"
    home.mkdir()
    environment = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LABPLATFORM_SESSIONS_DIR": str(tmp_path / "sessions"),
        "LABPLATFORM_TMUX_CONF": str(WORKSTATION / "tmux.conf"),
    }
    yield environment
    run(session_command("end", STUDENT), environment)


class Terminal:
    """The session command on a pseudo-terminal, as a TTY exec runs it."""

    def __init__(self, arguments: list[str], environment: dict[str, str]):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve(str(COMMAND), [str(COMMAND), *arguments[1:]], environment)
        self.screen = b""

    def read_until(self, text: bytes, timeout: float = 20) -> bytes:
        deadline = time.monotonic() + timeout
        while text not in self.screen and time.monotonic() < deadline:
            if select.select([self.fd], [], [], 0.2)[0]:
                try:
                    self.screen += os.read(self.fd, 65536)
                except OSError:
                    break
        assert text in self.screen, f"no {text!r} on the screen: {self.screen[-2000:]!r}"
        return self.screen

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def close(self) -> int:
        os.close(self.fd)
        return os.waitpid(self.pid, 0)[1]


def run(arguments: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(COMMAND), *arguments[1:]], env=environment, capture_output=True, text=True, timeout=30, check=False
    )


def session_alive(environment: dict[str, str]) -> bool:
    socket = Path(environment["LABPLATFORM_SESSIONS_DIR"]) / "tmux"
    return subprocess.run(["tmux", "-S", str(socket), "has-session", "-t", "main"], capture_output=True).returncode == 0


def test_attach_keeps_one_shell_that_a_second_connection_reaches_and_end_ends(environment):
    first = Terminal(session_command("attach", STUDENT, grace_seconds=60), environment)
    try:
        first.type(b"export MARK=$((6 * 7))\r")
        first.type(b"echo mark-$MARK\r")
        first.read_until(b"mark-42")
    finally:
        first.close()  # the connection drops, as when a browser tab closes
    assert session_alive(environment), "the shell outlives its connection"

    second = Terminal(session_command("attach", STUDENT, grace_seconds=60), environment)
    try:
        second.type(b"echo again-$MARK\r")
        second.read_until(b"again-42")
        watcher = Terminal(session_command("watch", STUDENT), environment)
        try:
            watcher.type(b"echo typed-by-the-watcher\r")
            second.type(b"echo seen-by-the-watcher\r")
            watcher.read_until(b"seen-by-the-watcher")
            assert b"typed-by-the-watcher" not in second.screen
        finally:
            watcher.close()
    finally:
        second.close()

    assert run(session_command("end", STUDENT), environment).returncode == 0
    wait_for("the session to end", lambda: not session_alive(environment), timeout=10)


def test_watch_without_a_session_says_so(environment):
    result = run(session_command("watch", STUDENT), environment)
    assert result.returncode == 2
    assert "this student has no terminal open at the moment" in result.stderr


def test_it_refuses_a_student_id_that_is_not_opaque(environment):
    result = run([str(COMMAND), "attach", "../x", "60"], environment)
    assert result.returncode == 2
    assert "bad student id" in result.stderr
