"""Students' workstations on the local cluster's real node (k8s/local/node.sh), for the
tests of that node: how workstations run there, students placed there, and typing into
their terminals through the platform's own exec path."""

import asyncio
import dataclasses
import json
import uuid
from collections.abc import Iterator

from labplatform.cluster.manifests import WorkstationRuntime
from labplatform.cluster.students import student_environment_apply, student_environment_delete
from tests.cohorts import local_student_spec, workstation_ready_within
from tests.containment import typed_until
from tests.kube import cluster_state_dir

NODE = "labplatform-node"
NODE_POOL = "labplatform.io/workstations"


def real_node_runtime() -> WorkstationRuntime:
    """How workstations run on the real node, as node.sh wrote it."""
    found = json.loads((cluster_state_dir() / "node" / "workstation.json").read_text())
    return WorkstationRuntime(
        image=found["image"],
        pull_policy=found["pull_policy"],
        node_pool=found["node_pool"],
        api_server=found["api_server"],
    )


def node_spec(student: str):
    return dataclasses.replace(local_student_spec(student, cohort="real-node"), workstation=real_node_runtime())


def students_on_the_node(count: int) -> Iterator[list]:
    """For a fixture: `count` students, each with a Ready workstation on the real node;
    everything of theirs is deleted afterwards."""
    specs = [node_spec("s" + uuid.uuid4().hex[:9]) for _ in range(count)]
    try:
        for spec in specs:
            student_environment_apply(spec)
        for spec in specs:
            workstation_ready_within(spec)
        yield specs
    finally:
        for spec in specs:
            student_environment_delete(spec)


def typed(spec, command: str, *, timeout: float = 60) -> str:
    """Types `command` into the student's terminal; returns what it printed up to the
    marker it ends with (printed in two pieces so the typed line does not match)."""
    marker = uuid.uuid4().hex[:10]
    typed_line = f"{command}; printf '%s-%s\\n' END {marker}\r"
    text = asyncio.run(typed_until(spec, typed_line, f"END-{marker}", timeout=timeout))
    return text[text.rfind(f"END {marker}") :]


def result(output: str, key: str) -> str:
    for line in output.splitlines():
        if line.startswith(f"RESULT {key} "):
            return line.split(" ", 2)[2].strip()
    raise AssertionError(f"no RESULT {key} in:\n{output}")
