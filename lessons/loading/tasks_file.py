"""tasks.yaml: the lesson's hands-on tasks, each with optional setup, checks and a
reference solution."""

import re
from collections.abc import Iterator
from typing import Any

from lessons.loading.checks import SetupNames, check_checks, check_readable_kind, check_target, defined_names
from lessons.loading.data import TaskData
from lessons.loading.fields import (
    check_id,
    check_jmespath,
    check_keys,
    check_one_of,
    check_title,
    check_unique_ids,
    is_mapping,
)
from lessons.loading.markdown import markdown_render
from lessons.loading.problems import Source
from lessons.loading.yamlfile import YamlList, YamlMap, to_plain

# As the grader's templates name them (lessons/grading/templates.py).
NAME_RE = re.compile(r"[A-Za-z0-9_-]+")
GENERATORS = ("word", "number", "hex")
TEMPLATE_RE = re.compile(r"\{\{\s*(values|baseline)\.([A-Za-z0-9_-]+)\s*\}\}")


def _check_name(source: Source, name: Any, line: int, what: str) -> None:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        source.error(line, f"{what} name '{name}' may use only letters, digits, '_' and '-'")


def _check_manifest(source: Source, manifest: Any, line: int, *, applied_by_setup: bool) -> None:
    if not is_mapping(source, manifest, line, "manifest"):
        return
    for key in ("apiVersion", "kind"):
        if not isinstance(manifest.get(key), str):
            source.error(manifest.line_of(key), f"manifest is missing '{key}'")
    metadata = manifest.get("metadata")
    if not isinstance(metadata, YamlMap) or not isinstance(metadata.get("name"), str):
        source.error(manifest.line_of("metadata"), "manifest is missing 'metadata.name'")
    if applied_by_setup and isinstance(manifest.get("apiVersion"), str):
        # A solution's manifests go through kubectl, which knows every kind; setup's through the platform.
        check_readable_kind(
            source,
            manifest.line_of("kind"),
            api_version=manifest["apiVersion"],
            kind=manifest.get("kind"),
            what="setup object",
        )


def _check_manifests(source: Source, manifests: Any, *, applied_by_setup: bool) -> None:
    if isinstance(manifests, YamlList):
        for index, manifest in enumerate(manifests):
            _check_manifest(source, manifest, manifests.line_of(index), applied_by_setup=applied_by_setup)


def _names(defined: Any) -> frozenset[str]:
    return frozenset(name for name in defined if isinstance(name, str)) if isinstance(defined, YamlMap) else frozenset()


def _check_not_secret(source: Source, target: Any, what: str) -> None:
    """What setup reads is kept with the student's progress and may be shown in messages
    (`{{ baseline.NAME }}` as an expected value), so it never comes from a Secret."""
    if isinstance(target, YamlMap) and target.get("kind") == "Secret":
        source.error(
            target.line_of("kind"),
            f"{what} reads a Secret: what setup reads is stored and may be shown, so it may not read Secrets",
        )


def _check_setup(source: Source, setup: YamlMap) -> SetupNames:
    check_keys(
        source,
        setup,
        "setup",
        required={},
        optional={"values": dict, "baseline": dict, "objects": list, "pod_logs": list},
    )
    values, baseline = setup.get("values"), setup.get("baseline")
    if isinstance(values, YamlMap):
        for name, spec in values.items():
            _check_name(source, name, values.line_of(name), "value")
            if is_mapping(source, spec, values.line_of(name), f"value '{name}'"):
                check_keys(source, spec, f"value '{name}'", required={"generate": str})
                check_one_of(source, spec, "generate", GENERATORS, f"value '{name}'")
    if isinstance(baseline, YamlMap):
        for name, spec in baseline.items():
            _check_name(source, name, baseline.line_of(name), "baseline")
            if is_mapping(source, spec, baseline.line_of(name), f"baseline '{name}'"):
                check_keys(source, spec, f"baseline '{name}'", required={"target": dict, "select": str})
                check_target(source, spec.get("target"))
                _check_not_secret(source, spec.get("target"), f"baseline '{name}'")
                check_jmespath(source, spec, "select")
    _check_manifests(source, setup.get("objects"), applied_by_setup=True)
    pod_logs = setup.get("pod_logs")
    if isinstance(pod_logs, YamlList):
        for index, log in enumerate(pod_logs):
            if is_mapping(source, log, pod_logs.line_of(index), "pod log"):
                check_keys(source, log, "pod log", required={"pod": str, "text": str})
    return SetupNames(values=_names(values), baseline=_names(baseline))


def _strings(value: Any, line: int) -> Iterator[tuple[str, int]]:
    if isinstance(value, YamlMap):
        for key, item in value.items():
            yield from _strings(item, value.line_of(key))
    elif isinstance(value, YamlList):
        for index, item in enumerate(value):
            yield from _strings(item, value.line_of(index))
    elif isinstance(value, str):
        yield value, line


def _check_templates(source: Source, value: Any, line: int, names: SetupNames) -> None:
    for text, text_line in _strings(value, line):
        for match in TEMPLATE_RE.finditer(text):
            section, name = match.groups()
            defined = names.values if section == "values" else names.baseline
            if name not in defined:
                noun = "value" if section == "values" else "baseline"
                source.error(
                    text_line, f"{match.group()}: the task's setup has no {noun} '{name}'{defined_names(defined)}"
                )


def _check_solution(source: Source, solution: YamlMap, checks: Any) -> None:
    check_keys(
        source, solution, "solution", required={}, optional={"commands": str, "manifests": list, "answers": list}
    )
    answers = solution.get("answers")
    wanted = sum(isinstance(c, dict) and c.get("kind") == "answer" for c in checks) if isinstance(checks, list) else 0
    if not solution.get("commands") and not solution.get("manifests") and not (wanted and answers):
        source.error(solution.line, "solution needs commands and/or manifests")
    if isinstance(answers, YamlList):
        if len(answers) != wanted:
            source.error(
                solution.line_of("answers"),
                f"solution.answers needs one command per answer check ({wanted}), found {len(answers)}",
            )
        for index, command in enumerate(answers):
            if not isinstance(command, str) or not command.strip():
                source.error(answers.line_of(index), "an answer is a command whose output is what the student types")
    _check_manifests(source, solution.get("manifests"), applied_by_setup=False)


def _check_task(source: Source, task: YamlMap) -> None:
    check_keys(
        source,
        task,
        "task",
        required={"id": str, "title": str, "instructions": str, "checks": list, "solution": dict},
        optional={"hints": list, "setup": dict},
    )
    check_id(source, task.get("id"), task.line_of("id"), "task")
    check_title(source, task.get("title"), task.line_of("title"))
    hints = task.get("hints")
    if isinstance(hints, YamlList):
        for index, hint in enumerate(hints):
            if not isinstance(hint, str):
                source.error(hints.line_of(index), "a hint must be a string (Markdown)")
    setup = task.get("setup")
    names = _check_setup(source, setup) if isinstance(setup, YamlMap) else SetupNames(frozenset(), frozenset())
    if "checks" in task:
        check_checks(source, task["checks"], task.line_of("checks"), names)
    if isinstance(task.get("solution"), YamlMap):
        _check_solution(source, task["solution"], task.get("checks"))
    for key in ("setup", "checks", "solution"):
        _check_templates(source, task.get(key), task.line_of(key), names)


def check_tasks_file(source: Source, document: Any) -> None:
    if not is_mapping(source, document, 1, "tasks.yaml"):
        return
    check_keys(source, document, "tasks.yaml", required={"tasks": list})
    tasks = document.get("tasks")
    if not isinstance(tasks, YamlList):
        return
    if not tasks:
        source.error(document.line_of("tasks"), "tasks.yaml has no tasks (leave the file out instead)")
    for index, task in enumerate(tasks):
        if is_mapping(source, task, tasks.line_of(index), "task"):
            _check_task(source, task)
    check_unique_ids(source, tasks, "task")


def task_data(document: YamlMap) -> list[TaskData]:
    """The tasks of a tasks.yaml that check_tasks_file found valid."""
    return [
        TaskData(
            slug=task["id"],
            title=task["title"],
            instructions_html=markdown_render(task["instructions"]),
            hints_html=[markdown_render(hint) for hint in task.get("hints", [])],
            spec={key: to_plain(task.get(key, {})) for key in ("setup", "checks", "solution")},
        )
        for task in document["tasks"]
    ]
