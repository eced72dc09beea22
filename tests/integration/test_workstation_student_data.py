"""Nothing with more rights than the student acts on what the student controls, tried as the
student would in their own workstation on the local cluster's real node. The two classes of
hole the old host launcher had (issue 14) stay closed in the container:

- the student's own tmux server answers `list-clients` with text shaped to run a command
  if anyone evaluates it (a hook, as a student once got root with); the session's keeper
  (k8s/workstation/labplatform-workstation) reads that answer every five seconds, and it
  runs as the student in the student's container, not as root;
- the student tries to swap ~/.kube for a link of their own while the platform rewrites
  their kubeconfig, as a reset and every token refresh do: the kubeconfig is a read-only
  Secret volume the kubelet writes in its own folder on the node, never through the home.

Everything the student does here they do from their own terminal's shell."""

import time
import uuid

import pytest

from labplatform.cluster import manifests
from labplatform.cluster.students import (
    student_environment_apply,
    student_environment_delete,
    workstation_kubeconfig_apply,
)
from tests.cohorts import local_student_spec, workstation_ready_within
from tests.containment import ExecShell, Student, WorkstationShell, container_exec, results

pytestmark = pytest.mark.local_cluster

HOME = manifests.WORKSTATION_HOME
KEEPER_CYCLE_SECONDS = 5
TMUX_SOCKET = "/tmp/labplatform-terminal/tmux"
# Shapes of text that run `~/.evil` when bash evaluates them as a number (an arithmetic
# expression evaluates array subscripts); the keeper reads `activity tty` per client.
HOSTILE_ANSWERS = {
    "subscript": f"BASH_VERSINFO[$({HOME}/.evil)] x",
    "expression": f"0+a[$({HOME}/.evil)] $({HOME}/.evil)",
}


@pytest.fixture(scope="module")
def student(kube) -> Student:
    spec = local_student_spec("s" + uuid.uuid4().hex[:9], cohort="student-data")
    try:
        student_environment_apply(spec)
        workstation_ready_within(spec)
        yield Student(spec=spec, kubeconfig=None, pod="")
    finally:
        student_environment_delete(spec)


def not_the_students(student: Student) -> list[str]:
    """Files in the home not owned by the student (the kubeconfig's mount aside), and
    processes in the container that run as anyone else."""
    _, output = container_exec(
        student.spec,
        f"find {HOME} -mindepth 1 -path {HOME}/.kube -prune -o ! -uid {manifests.WORKSTATION_USER} -print;"
        f" ps -eo uid=,args= | awk '$1 != {manifests.WORKSTATION_USER}'",
    )
    return output.split("\n")[:-1]


def kubectl_works(shell) -> bool:
    script = "kubectl get configmaps >/dev/null && echo RESULT kubectl ok || echo RESULT kubectl failed\n"
    return results(shell.run(script))["kubectl"] == "ok"


def session_server(shell: WorkstationShell) -> str:
    found = results(shell.run('echo "RESULT server $(tmux display-message -p "#{pid}")"\necho "RESULT me $(id -u)"\n'))
    assert found["me"] == str(manifests.WORKSTATION_USER), found
    return found["server"]


def keeper_calls(student: Student) -> int:
    return len(container_exec(student.spec, f"cat {HOME}/.list-clients-calls 2>/dev/null")[1].split())


@pytest.mark.parametrize("answer", HOSTILE_ANSWERS.values(), ids=HOSTILE_ANSWERS.keys())
def test_the_keeper_never_evaluates_what_the_students_tmux_answers(student, answer):
    shell = WorkstationShell(student)
    server = session_server(shell)
    assert not_the_students(student) == []
    typed_answer = answer.replace("$", "\\$")  # reaches tmux as it is
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
    assert found["answer"] == answer, found  # the student's tmux answers as planned
    container_exec(student.spec, f"rm -f {HOME}/.list-clients-calls")
    try:
        # Three of the keeper's cycles, each of which lists the clients twice (for stale
        # clients, and to see whether anyone is attached).
        deadline = time.monotonic() + 8 * KEEPER_CYCLE_SECONDS
        while time.monotonic() < deadline and keeper_calls(student) < 6:
            time.sleep(1)
        assert keeper_calls(student) >= 6, "the keeper stopped listing the clients: nothing was tried"
        code, ran = container_exec(student.spec, f"cat {HOME}/.evil-ran")
        assert code != 0, f"the student's script ran, as uid {ran.split()}"
        assert not_the_students(student) == [], "something not the student's appeared"
        # The session works: the same shell answers and types.
        assert session_server(shell) == server
        assert results(shell.run("echo RESULT typed $((6 * 7))\n"))["typed"] == "42"
    finally:
        container_exec(student.spec, f"tmux -S {TMUX_SOCKET} set-hook -gu after-list-clients")


SWAPS = {
    "rename": "mv -T ~/.kube ~/.kube-before",
    "remove": "rm -rf ~/.kube",
    "link-over": "ln -sfn ~/bait ~/.kube",
    "write": "echo 'apiVersion: v1' >~/.kube/config",
    "link-inside": "ln -sf ~/bait/config ~/.kube/config",
}


def test_the_student_cannot_put_a_link_in_place_of_the_kubeconfig_and_a_refresh_writes_none(student):
    shell = WorkstationShell(student)
    script = "mkdir -p ~/bait\n" + "".join(
        f'{command} 2>/dev/null; echo "RESULT {name} $?"\n' for name, command in SWAPS.items()
    )
    script += 'echo "RESULT kube $(stat -c %F ~/.kube)"\n'
    found = results(shell.run(script))
    refused = {name: found[name] != "0" for name in SWAPS}
    assert all(refused.values()), f"the student replaced their kubeconfig: {found}"
    assert found["kube"] == "directory", found
    # What a reset and a token refresh do: the kubeconfig Secret is written again, and the
    # kubelet brings the volume up to date from its own folder.
    student_environment_apply(student.spec)
    workstation_kubeconfig_apply(student.spec)
    assert results(ExecShell(student).run('echo "RESULT bait $(ls -A ~/bait | wc -l)"')) == {"bait": "0"}
    assert not_the_students(student) == []
    assert kubectl_works(shell)
