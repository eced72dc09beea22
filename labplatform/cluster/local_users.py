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
    try:
        home = pwd.getpwnam(name).pw_dir
    except KeyError:
        home = None
    # Whatever the student left running goes with the user.
    subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True, timeout=30, check=False)
    for leftover in TERMINAL_SESSIONS.glob(f"{student}*"):  # the folder, lock and log
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)  # never follows a link inside
        else:
            leftover.unlink(missing_ok=True)
    result = _run(["userdel", "--force", name])
    if result.returncode not in (0, 6):  # 6: no such user
        raise ClusterError(f"could not remove Unix user {name}: {result.stderr.strip()}")
    # The home is what the student wrote: removed without following any link in it.
    if home and Path(home).parent == HOMES:
        shutil.rmtree(home, ignore_errors=True)


def local_user_kubeconfig_write(student: str, kubeconfig_yaml: str) -> Path:
    """Puts the student's kubeconfig at ~/.kube/config, as the workstation pod mounts it:
    readable by the student, owned by root so that it stays what the platform wrote, and
    replaced in one step, so a shell never reads half a file when the token is renewed.

    The home is the student's, who may swap ~/.kube for a link at any moment. So every step
    goes through a descriptor of the folder opened with O_NOFOLLOW, never through a path
    inside the home: a link in place of ~/.kube is moved aside, never followed."""
    entry = pwd.getpwnam(local_user_name(student))
    home = os.open(entry.pw_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        folder = _own_folder(home, ".kube", gid=entry.pw_gid)
        try:
            descriptor = os.open(
                ".config.new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o640, dir_fd=folder
            )
            with os.fdopen(descriptor, "w") as handle:
                os.fchown(handle.fileno(), 0, entry.pw_gid)
                os.fchmod(handle.fileno(), 0o440)
                handle.write(kubeconfig_yaml)
            os.replace(".config.new", "config", src_dir_fd=folder, dst_dir_fd=folder)
        finally:
            os.close(folder)
    finally:
        os.close(home)
    return Path(entry.pw_dir) / ".kube" / "config"


def _own_folder(parent: int, name: str, *, gid: int) -> int:
    """A descriptor of the folder `name` in `parent`, root's (group `gid`, mode 0750). What
    else stands at that name (a link, a file, a folder the student made) is renamed aside
    for the student to clean up."""
    for _ in range(_LOCK_RETRIES):
        try:
            os.mkdir(name, 0o750, dir_fd=parent)
        except FileExistsError:
            pass
        try:
            folder = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
        except FileNotFoundError:
            continue  # removed meanwhile: make it again
        except OSError:  # a link (ELOOP) or a file (ENOTDIR)
            _set_aside(parent, name)
            continue
        status = os.fstat(folder)
        if status.st_uid == 0:
            os.fchown(folder, 0, gid)
            os.fchmod(folder, 0o750)
            return folder
        os.close(folder)  # the student's own folder: theirs to keep, under another name
        _set_aside(parent, name)
    raise ClusterError(f"could not make {name} for the kubeconfig: it kept changing")


def _set_aside(parent: int, name: str) -> None:
    aside = f"{name}.moved-{time.time_ns()}"
    try:
        os.rename(name, aside, src_dir_fd=parent, dst_dir_fd=parent)  # renames a link, never its target
    except FileNotFoundError:
        pass
