"""Validation of a task's checks against the grader's own registry
(lessons/grading/kinds.py): every kind's keys and types from there, and the structure of
the `objects`, `answer` and `service_port` forms (FORMAT.md) checked further here."""

import re
from dataclasses import dataclass
from typing import Any

from labplatform.cluster.errors import UnknownKind
from labplatform.cluster.rest import LESSON_RESOURCES, resource_for
from lessons.grading.assertions import OPERATORS, UNARY_OPERATORS
from lessons.grading.derivation import OBSERVED_FIELDS as OBSERVED_BY_KIND
from lessons.grading.kinds import KINDS, MATCH_MODES, NORMALIZATIONS
from lessons.loading.fields import check_jmespath, check_keys, check_one_of, found_name, is_mapping
from lessons.loading.problems import Source
from lessons.loading.yamlfile import YamlList, YamlMap

COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
WAITS = ("rollout",)
ROLLOUT_KINDS = ("Deployment", "ReplicaSet", "Pod")
MAX_PORT = 65535
MESSAGE_FIELDS = ("kind", "name", "path", "op", "expected", "actual")
# Values the grader observes in the same evaluation (FORMAT.md, "Observed values"), with the
# target kinds it can observe them for (lessons/grading/derivation.py): the pods a Service
# (through its EndpointSlices or Endpoints) or a workload selects, and for a Pod the pods found.
OBSERVED_FIELDS = {
    name: tuple(kind for kind, fields in OBSERVED_BY_KIND.items() if name in fields)
    for name in dict.fromkeys(name for fields in OBSERVED_BY_KIND.values() for name in fields)
}
# An answer check's message is told only what the student typed.
ANSWER_MESSAGE_FIELDS = ("answer",)
# What the grader would leave as written in a message (it fills only the fields above): almost
# always a misspelt field. Braces around anything else ({app: web}) are text.
_PLACEHOLDER_RE = re.compile(r"(?<!\{)\{(\w+)\}(?!\})")
_COMMON = {"kind": str, "title": str}


@dataclass(frozen=True)
class SetupNames:
    """What the task's setup defines, for checks and templates that refer to it."""

    values: frozenset[str]
    baseline: frozenset[str]


def defined_names(names: frozenset[str]) -> str:
    return f" (it defines: {', '.join(sorted(names))})" if names else " (it defines none)"


def check_readable_kind(source: Source, line: int, *, api_version: Any, kind: Any, what: str) -> None:
    """The grader reads and setup applies only kinds it knows (labplatform.cluster.rest)."""
    if not isinstance(kind, str) or not isinstance(api_version, str | None):
        return
    try:
        resource_for(api_version=api_version, kind=kind)
        return
    except UnknownKind:
        pass
    versions = sorted(known_version for known_version, known_kind in LESSON_RESOURCES if known_kind == kind)
    if not versions:
        kinds = ", ".join(sorted({known_kind for _, known_kind in LESSON_RESOURCES}))
        source.error(line, f"unknown {what} kind '{kind}' (expected one of: {kinds})")
    elif api_version is None:
        source.error(line, f"{what} kind '{kind}' needs apiVersion: {' or '.join(versions)}")
    else:
        source.error(line, f"{what} kind '{kind}' has apiVersion {' or '.join(versions)}, not '{api_version}'")


def check_target(source: Source, target: Any) -> None:
    """A target's keys (every caller has already reported a target that is not a mapping)."""
    if not isinstance(target, YamlMap):
        return
    check_keys(
        source, target, "target", required={"kind": str}, optional={"apiVersion": str, "name": str, "selector": dict}
    )
    if "name" in target and "selector" in target:
        source.error(target.line_of("selector"), "target has both name and selector (use one)")
    check_readable_kind(
        source, target.line_of("kind"), api_version=target.get("apiVersion"), kind=target.get("kind"), what="target"
    )
    selector = target.get("selector")
    if isinstance(selector, YamlMap):
        for label, value in selector.items():
            if not isinstance(value, str):
                source.error(
                    selector.line_of(label),
                    f"label '{label}' in selector must be a string, found {found_name(value)} (quote it)",
                )


def _is_one_template(value: Any) -> bool:
    # The grader substitutes a value that is one template whole, so it may be a list.
    return isinstance(value, str) and value.strip().startswith("{{") and value.strip().endswith("}}")


def _placeholders(owner: YamlMap) -> list[str]:
    message = owner.get("message")
    return _PLACEHOLDER_RE.findall(message) if isinstance(message, str) else []


def _check_message(source: Source, owner: YamlMap, target_kind: Any) -> None:
    """An assertion's message: the grader's fields, and values it observes only for some
    target kinds (a target kind that is not a string has been reported already)."""
    for name in _placeholders(owner):
        if name in MESSAGE_FIELDS:
            continue
        kinds = OBSERVED_FIELDS.get(name)
        if kinds is None:
            expected = ", ".join(f"{{{field}}}" for field in (*MESSAGE_FIELDS, *OBSERVED_FIELDS))
            source.error(
                owner.line_of("message"), f"unknown placeholder '{{{name}}}' in message (expected one of: {expected})"
            )
        elif isinstance(target_kind, str) and target_kind not in kinds:
            observed = ", ".join(kinds)
            source.error(
                owner.line_of("message"),
                f"placeholder '{{{name}}}' in message is only observed for {observed} targets, not {target_kind}",
            )


def _check_assertion(source: Source, assertion: Any, line: int, target_kind: Any) -> None:
    if not is_mapping(source, assertion, line, "assertion"):
        return
    check_keys(
        source,
        assertion,
        "assertion",
        required={"path": str, "op": str},
        optional={"value": (str, int, float, bool, list, dict), "message": str},
    )
    check_jmespath(source, assertion, "path")
    if isinstance(assertion.get("path"), str) and "targetPort" in assertion["path"]:
        # A named targetPort means nothing on the Service: only the pods say which port it is.
        source.error(
            assertion.line_of("path"),
            "compare a Service's target port with kind: service_port (a named targetPort is resolved against the pods)",
        )
    check_one_of(source, assertion, "op", OPERATORS, "assertion")
    _check_message(source, assertion, target_kind)
    op, value = assertion.get("op"), assertion.get("value")
    if op not in OPERATORS:
        return
    if op in UNARY_OPERATORS:
        if "value" in assertion:
            source.error(assertion.line_of("value"), f"op '{op}' takes no value")
    elif "value" not in assertion:
        source.error(assertion.line, f"op '{op}' needs a value")
    elif op == "in" and not isinstance(value, list) and not _is_one_template(value):
        source.error(assertion.line_of("value"), f"op 'in' needs a list value, found {found_name(value)}")
    elif op == "matches" and isinstance(value, str) and "{{" not in value:
        try:
            re.compile(value)
        except re.error as exc:
            source.error(assertion.line_of("value"), f"invalid regular expression '{value}': {exc}")


def _check_objects(source: Source, check: YamlMap) -> None:
    check_target(source, check.get("target"))
    check_one_of(source, check, "match", MATCH_MODES, "check")
    check_one_of(source, check, "wait", WAITS, "check")
    if check.get("match") == "count" and "count" not in check:
        source.error(check.line_of("match"), "match: count needs count: {op, value}")
    if "count" in check and check.get("match") != "count":
        source.error(check.line_of("count"), "count is only used with match: count")
    count = check.get("count")
    if isinstance(count, YamlMap):
        check_keys(source, count, "count", required={"op": str, "value": int})
        check_one_of(source, count, "op", COMPARISONS, "count")
    target = check.get("target")
    target_kind = target.get("kind") if isinstance(target, YamlMap) else None
    if check.get("wait") == "rollout" and isinstance(target_kind, str) and target_kind not in ROLLOUT_KINDS:
        source.error(
            check.line_of("wait"), f"wait: rollout is for {', '.join(ROLLOUT_KINDS)} targets, not {target_kind}"
        )
    assertions = check.get("assert")
    if isinstance(assertions, list):
        for index, assertion in enumerate(assertions):
            _check_assertion(source, assertion, assertions.line_of(index), target_kind)


def _check_answer(source: Source, check: YamlMap) -> None:
    check_one_of(source, check, "normalize", NORMALIZATIONS, "answer check")
    for name in _placeholders(check):
        if name not in ANSWER_MESSAGE_FIELDS:
            expected = ", ".join(f"{{{field}}}" for field in ANSWER_MESSAGE_FIELDS)
            source.error(
                check.line_of("message"),
                f"unknown placeholder '{{{name}}}' in answer check's message (expected one of: {expected})",
            )
    if "expected" in check and "expected_from" in check:
        source.error(check.line_of("expected_from"), "answer check has both expected and expected_from (use one)")
    elif "expected" not in check and "expected_from" not in check:
        source.error(check.line, "answer check needs expected or expected_from")
    expected_from = check.get("expected_from")
    if isinstance(expected_from, YamlMap):
        check_keys(source, expected_from, "expected_from", required={"target": dict, "select": str})
        check_target(source, expected_from.get("target"))
        check_jmespath(source, expected_from, "select")


def _check_service_port(source: Source, check: YamlMap) -> None:
    for key in ("port", "reaches"):
        value = check.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and not 1 <= value <= MAX_PORT:
            source.error(check.line_of(key), f"'{key}' in service_port check must be a port, 1 to {MAX_PORT}")


def _check_check(source: Source, check: YamlMap, names: SetupNames) -> None:
    kind = check.get("kind", "objects")
    if not isinstance(kind, str):
        source.error(check.line_of("kind"), f"'kind' in check must be a string, found {found_name(kind)}")
        return
    if kind not in KINDS:
        expected = ", ".join(sorted(KINDS))
        source.error(check.line_of("kind"), f"unknown check kind '{kind}' (expected one of: {expected})")
        return
    what = "check" if kind == "objects" else f"{kind} check"
    check_keys(source, check, what, required=KINDS[kind].required, optional={**_COMMON, **KINDS[kind].optional})
    if kind == "objects":
        _check_objects(source, check)
    elif kind == "answer":
        _check_answer(source, check)
    elif kind == "service_port":
        _check_service_port(source, check)
    # By convention a kind's `baseline` key names one of the setup's baselines.
    baseline = check.get("baseline")
    if kind != "objects" and isinstance(baseline, str) and baseline not in names.baseline:
        source.error(
            check.line_of("baseline"), f"the task's setup has no baseline '{baseline}'{defined_names(names.baseline)}"
        )


def check_checks(source: Source, checks: Any, line: int, names: SetupNames) -> None:
    if not isinstance(checks, YamlList):
        return  # check_keys has said that it is not a list
    if not checks:
        source.error(line, "task has no checks (at least one is needed)")
    for index, check in enumerate(checks):
        if is_mapping(source, check, checks.line_of(index), "check"):
            _check_check(source, check, names)
