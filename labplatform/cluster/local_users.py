"""Unix users for students on the local cluster, where KWOK runs what a student execs on
this host: each student's commands run as a user of their own, never root and never
another student. Used only for clusters marked local; requires root."""

import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from labplatform.cluster.errors import ClusterError

HOMES = Path("/home/labplatform")
# Where the workstation launcher keeps each student's terminal session (k8s/local).
TERMINAL_SESSIONS = Path("/run/labplatform-terminal")
_LOCK_RETRIES = 20


@dataclass(frozen=True)
class LocalUser:
    name: str
    uid: int
    gid: int
    home: str


def local_user_name(student: str) -> str:
    return f"lab-{student}"


def _run(command: list[str]) -> subprocess.CompletedProcess:
    # useradd and userdel lock /etc/passwd; concurrent provisioning waits its turn.
    for _ in range(_LOCK_RETRIES):
        result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        if "cannot lock" not in result.stderr:
            return result
        time.sleep(0.1)
    return result


def local_user_ensure(student: str) -> LocalUser:
    name = local_user_name(student)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        entry = None
    if entry is None:
        HOMES.mkdir(mode=0o755, parents=True, exist_ok=True)
        result = _run(
            ["useradd", "--create-home", "--home-dir", str(HOMES / name), "--shell", "/bin/bash",
             "--user-group", "--no-log-init", "--comment", "labplatform student", name]
        )  # fmt: skip
        if result.returncode not in (0, 9):  # 9: created meanwhile by a concurrent task
            raise ClusterError(f"could not create Unix user {name}: {result.stderr.strip()}")
        entry = pwd.getpwnam(name)
    Path(entry.pw_dir).chmod(0o700)
    return LocalUser(name=name, uid=entry.pw_uid, gid=entry.pw_gid, home=entry.pw_dir)


def local_user_remove(student: str) -> None:
    name = local_user_name(student)
    # Whatever the student left running goes with the user.
    subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True, timeout=30, check=False)
    for leftover in TERMINAL_SESSIONS.glob(f"{student}*"):  # the folder, lock and log
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
    result = _run(["userdel", "--remove", "--force", name])
    if result.returncode not in (0, 6):  # 6: no such user
        raise ClusterError(f"could not remove Unix user {name}: {result.stderr.strip()}")


def local_user_kubeconfig_write(student: str, kubeconfig_yaml: str) -> Path:
    """Puts the student's kubeconfig at ~/.kube/config, as the workstation pod mounts it:
    readable by the student, owned by root so that it stays what the platform wrote, and
    replaced in one step, so a shell never reads half a file when the token is renewed."""
    entry = pwd.getpwnam(local_user_name(student))
    folder = Path(entry.pw_dir) / ".kube"
    if folder.is_symlink():
        folder.unlink()  # the student's own link would send root's write elsewhere
    folder.mkdir(mode=0o750, exist_ok=True)
    os.chown(folder, 0, entry.pw_gid)
    folder.chmod(0o750)
    target = folder / "config"
    partial = folder / ".config.new"
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o640)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(kubeconfig_yaml)
    os.chown(partial, 0, entry.pw_gid)
    partial.chmod(0o440)
    partial.replace(target)
    return target
