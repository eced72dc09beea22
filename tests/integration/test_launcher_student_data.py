"""Root never acts on what a student controls, tried as the student would on the local
cluster (k8s/local/workstation-launcher.sh, labplatform/cluster/local_users.py):

- the student's own tmux server answers `list-clients` with text shaped to run a command
  if anyone evaluates it (a hook, as a student once got root with); the session's keeper
  reads that answer every five seconds;
- the student swaps ~/.kube for a link while the platform rewrites their kubeconfig, as a
  reset and every token refresh do.

Everything the student does here they do from their own browser terminal's shell."""

import os
import stat
import time
import uuid
from pathlib import Path

import pytest

from labplatform.cluster.errors import ClusterError
from labplatform.cluster.local_users import local_user_kubeconfig_write
from labplatform.cluster.students import (
    student_environment_apply,
    student_environment_delete,
    workstation_kubeconfig_apply,
    workstation_ready,
)
from tests.cohorts import local_student_spec
from tests.containment import Student, WorkstationShell, results
from tests.kube import wait_for

pytestmark = pytest.mark.local_cluster

KEEPER_CYCLE_SECONDS = 5
# Shapes of text that run `~/.evil` when bash evaluates them as a number (an arithmetic
# expression evaluates array subscripts); the keeper reads `activity tty` per client.
# EVIL stands for the script's full path (root's ~ is not the student's).
HOSTILE_ANSWERS = {
    "subscript": "BASH_VERSINFO[$(EVIL)] x",
    "expression": "0+a[$(EVIL)] $(EVIL)",
}


@pytest.fixture(scope="module")
def student(kube) -> Student:
    spec = local_student_spec("s" + uuid.uuid4().hex[:9], cohort="launcher")
    try:
        student_environment_apply(spec)
        wait_for(f"workstation of {spec.namespace}", lambda: workstation_ready(spec))
        yield Student(spec=spec, kubeconfig=Path("/nonexistent"), pod="")
    finally:
        student_environment_delete(spec)


def root_owned(home: Path) -> set[str]:
    """Every path under the home that root owns, relative to it (not following links)."""
    found = set()
    for folder, folders, files in os.walk(home):
        for name in folders + files:
            path = Path(folder) / name
            if path.lstat().st_uid == 0:
                found.add(str(path.relative_to(home)))
    return found


def kubectl_works(shell: WorkstationShell) -> bool:
    script = "kubectl get configmaps >/dev/null && echo RESULT kubectl ok || echo RESULT kubectl failed\n"
    return results(shell.run(script))["kubectl"] == "ok"


def session_identity(shell: WorkstationShell) -> str:
    found = results(shell.run('echo "RESULT server $(tmux display-message -p "#{pid}")"\necho "RESULT me $(id -u)"\n'))
    assert found["me"] == str(shell.student.uid), found
    return found["server"]


@pytest.mark.parametrize("answer", HOSTILE_ANSWERS.values(), ids=HOSTILE_ANSWERS.keys())
def test_the_keeper_never_evaluates_what_the_students_tmux_answers(student, answer):
    shell = WorkstationShell(student)
    server = session_identity(shell)
    before = root_owned(student.home)
    # The student's script: if anything runs it, it records who ran it.
    hook_answer = answer.replace("EVIL", str(student.home / ".evil"))
    typed_answer = hook_answer.replace("$", "\\$")  # reaches tmux as it is
    found = results(
        shell.run(
            f"""
printf '#!/bin/sh\\nid -u >>%s/.evil-ran\\necho 0\\n' "$HOME" >~/.evil
chmod +x ~/.evil
rm -f ~/.evil-ran ~/.list-clients-calls
count="run-shell 'echo call >>$HOME/.list-clients-calls'"
tmux set-hook -g after-list-clients "$count ; display-message -p '{typed_answer}'"
echo "RESULT answer $(tmux list-clients -F '#{{client_activity}}' | tail -n 1)"
"""
        )
    )
    assert found["answer"] == hook_answer, found  # the student's tmux answers as planned
    (student.home / ".list-clients-calls").unlink(missing_ok=True)
    try:
        # Three of the keeper's cycles, each of which lists the clients.
        deadline = time.monotonic() + 6 * KEEPER_CYCLE_SECONDS
        calls = student.home / ".list-clients-calls"
        ran = student.home / ".evil-ran"
        while time.monotonic() < deadline and not ran.exists():
            if calls.exists() and len(calls.read_text().split()) >= 3:
                break
            time.sleep(1)
        assert not ran.exists(), f"the student's script ran, as uid {ran.read_text().split()}"
        assert calls.exists() and len(calls.read_text().split()) >= 3, "the keeper stopped listing the clients"
        assert root_owned(student.home) == before, "a file owned by root appeared in the student's home"
        # The session works: the same shell answers and types.
        assert session_identity(shell) == server
        assert results(shell.run("echo RESULT typed $((6 * 7))\n"))["typed"] == "42"
    finally:
        shell.run("tmux set-hook -gu after-list-clients\n")


def test_a_link_in_place_of_kube_during_a_reset_is_not_followed(student):
    shell = WorkstationShell(student)
    found = results(
        shell.run(
            """
mkdir -p ~/bait
mv -T ~/.kube ~/.kube-before
ln -s ~/bait ~/.kube
echo "RESULT link $(readlink ~/.kube)"
"""
        )
    )
    assert found["link"] == str(student.home / "bait")
    # What a reset does as root: ensures the user and rewrites the kubeconfig.
    student_environment_apply(student.spec)
    bait = student.home / "bait"
    assert os.listdir(bait) == [], "root wrote through the student's link"
    assert bait.lstat().st_uid == student.uid
    kube = student.home / ".kube"
    assert stat.S_ISDIR(kube.lstat().st_mode) and kube.lstat().st_uid == 0
    assert (kube / "config").lstat().st_uid == 0
    # The student's shell reads the new kubeconfig and reaches their namespace.
    assert kubectl_works(shell)


def test_a_student_swapping_kube_for_a_link_in_a_loop_never_gets_roots_write(student):
    """The swap races the write: whatever wins, root's file never lands behind a link."""
    shell = WorkstationShell(student)
    shell.run(
        """
mkdir -p ~/bait
cat >~/.racer <<'RACER'
end=$(( $(date +%s) + 20 ))
while [ "$(date +%s)" -lt "$end" ]; do
    mv -T ~/.kube ~/.kube-taken-$RANDOM 2>/dev/null
    ln -sfn ~/bait ~/.kube 2>/dev/null
done
touch ~/.racer-done
RACER
rm -f ~/.racer-done
setsid nohup bash ~/.racer >/dev/null 2>&1 &
"""
    )
    written = refused = 0
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            local_user_kubeconfig_write(student.spec.student, "apiVersion: v1\nkind: Config\n")
            written += 1
        except ClusterError:
            refused += 1  # it kept changing: said so, and wrote nowhere else
    wait_for("the student's racer to finish", lambda: (student.home / ".racer-done").exists(), timeout=30)
    bait = student.home / "bait"
    assert os.listdir(bait) == [], "root wrote through the student's link"
    assert bait.lstat().st_uid == student.uid
    assert written + refused > 0
    # Once the student stops, the platform's kubeconfig is in place and works in the shell.
    workstation_kubeconfig_apply(student.spec)
    assert (student.home / ".kube" / "config").lstat().st_uid == 0
    assert kubectl_works(shell)
