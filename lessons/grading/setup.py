"""A task's setup (FORMAT.md, "setup"): per-student values, objects applied into the
student's namespace, pod logs on the local cluster, and baselines read for later checks.
Runs when the student opens the task; what it returns is kept and given to checks."""

import secrets
from typing import Any

from labplatform.cluster.apply import object_apply_into
from labplatform.cluster.kwok_logs import pod_logs_write
from lessons.grading.assertions import path_search
from lessons.grading.reads import ClusterReads
from lessons.grading.results import CheckError
from lessons.grading.templates import TemplateContext, template_render

GENERATORS = ("word", "number", "hex")
_ADJECTIVES = (
    "amber azure bold brave brisk calm clever coral crisp daring eager fancy gentle golden happy jolly "
    "keen lively lucky mellow merry misty noble olive polar proud quick quiet rapid rosy rusty shiny "
    "silent silver sleek snowy solar steady stormy sunny swift tidy vivid warm witty young zesty"
).split()
_NOUNS = (
    "badger beacon bison cactus canyon comet condor coyote falcon fern fjord gecko glacier harbor heron "
    "island jaguar kestrel koala lagoon lantern lynx maple meadow meteor otter panda pebble pine puffin "
    "quartz raven reef river robin salmon sparrow spruce summit thistle tiger tundra walrus willow zebra"
).split()


def value_generate(how: str) -> str:
    """A per-student value, unguessable enough that one student's answer is not another's."""
    if how == "word":
        return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}"
    if how == "number":
        return str(1000 + secrets.randbelow(9000))
    if how == "hex":
        return secrets.token_hex(4)
    raise CheckError(f"generate: {how!r} is not one of {', '.join(GENERATORS)}")


def task_setup_run(
    *, setup: dict, cluster: str, namespace: str, local_kwok: bool, student_token: str | None = None
) -> dict[str, dict[str, Any]]:
    """Runs a task's setup in the student's namespace; returns {"values", "baseline"}.
    Objects are server-side applied (field manager labplatform) with the student's token
    when given, so setup can make only what the student could, and running it again puts
    them back as written (the platform itself may only read students' namespaces). Pod
    logs exist only on the local KWOK cluster; elsewhere they are skipped (real pods
    write their own)."""
    values = {name: value_generate(spec["generate"]) for name, spec in (setup.get("values") or {}).items()}
    context = TemplateContext(namespace=namespace, values=values)
    for obj in setup.get("objects") or []:
        object_apply_into(template_render(obj, context), cluster=cluster, namespace=namespace, token=student_token)
    if local_kwok:
        for entry in setup.get("pod_logs") or []:
            text = template_render(entry["text"], context)
            pod_logs_write(cluster=cluster, namespace=namespace, pod=entry["pod"], text=text)
    reads = ClusterReads(cluster=cluster, namespace=namespace)
    baseline = {
        name: path_search(spec["select"], reads.matching(template_render(spec["target"], context)))
        for name, spec in (setup.get("baseline") or {}).items()
    }
    return {"values": values, "baseline": baseline}
