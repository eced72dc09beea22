"""Assertions on one object: a JMESPath, an operator, an expected value (FORMAT.md).
Pure: no cluster, no templates (values arrive already rendered)."""

import functools
import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError, JMESPathTypeError

OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "in", "contains", "matches", "exists", "absent")
UNARY_OPERATORS = ("exists", "absent")
REDACTED = "<redacted>"
DEFAULT_MESSAGE = "{kind} {name}: expected {path} {op} {expected}, found {actual}"
_MESSAGE_FIELDS = re.compile(r"\{(kind|name|path|op|expected|actual|pods|ready|selector|pod_labels)\}")
_SHOWN_CHARACTERS = 120
# Kubernetes quantities ("250m", "128Mi", "1.5G"), so limits compare as amounts.
_QUANTITY = re.compile(r"([+-]?[0-9.]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?")
_SUFFIXES = {
    None: Decimal(1), "m": Decimal("0.001"),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}  # fmt: skip


class InvalidAssertion(ValueError):
    """An assertion that cannot be evaluated as written (bad path, operator or regex)."""


@dataclass(frozen=True)
class AssertionOutcome:
    passed: bool
    path: str
    actual: Any
    message: str  # empty when passed


@functools.lru_cache(maxsize=1024)
def path_compile(path: str) -> jmespath.parser.ParsedResult:
    try:
        return jmespath.compile(path)
    except JMESPathError as exc:
        raise InvalidAssertion(f"path {path!r} is not a JMESPath expression: {exc}") from exc


def path_search(path: str, data: Any) -> Any:
    """The value at `path`, or None when it is missing or of the wrong type for a function."""
    try:
        return path_compile(path).search(data)
    except JMESPathTypeError:
        return None


def is_absent(value: Any) -> bool:
    """Missing, null, or an empty projection (a filter that matched nothing)."""
    return value is None or value == []


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str):
        match = _QUANTITY.fullmatch(value.strip())
        if match:
            try:
                return Decimal(match.group(1)) * _SUFFIXES[match.group(2)]
            except InvalidOperation:
                return None
    return None


def _has_unit(value: Any) -> bool:
    match = _QUANTITY.fullmatch(value.strip()) if isinstance(value, str) else None
    return bool(match and match.group(2))


def _as_amounts(actual: Any, expected: Any) -> bool:
    """Whether two values are meant as amounts: a string is one, beside a value with a unit
    or beside a number. Two strings without a unit are text (a ConfigMap's "5" is not "5.0",
    which an app reading an integer would refuse)."""
    if not (isinstance(actual, str) or isinstance(expected, str)):
        return False
    both_text = isinstance(actual, str) and isinstance(expected, str)
    return _has_unit(actual) or _has_unit(expected) or not both_text


def _equal(actual: Any, expected: Any) -> bool:
    """Equality by meaning: true is never 1, and a quantity written as a string equals the
    same amount however it is written (the API server keeps `memory: 134217728` as
    "134217728", which is 128Mi). Other strings (images, names, numbers as text beside
    text) compare as strings; lists and mappings compare item by item by these rules."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    if _as_amounts(actual, expected):
        left, right = _number(actual), _number(expected)
        if left is not None and right is not None:
            return left == right
    if isinstance(actual, list) and isinstance(expected, list):
        return len(actual) == len(expected) and all(map(_equal, actual, expected))
    if isinstance(actual, dict) and isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(_equal(actual[key], expected[key]) for key in actual)
    return actual == expected


def value_compare(op: str, actual: Any, expected: Any = None) -> bool:
    """Whether `actual op expected` holds; a comparison of things that do not compare is False."""
    compare = _COMPARISONS.get(op) if isinstance(op, str) else None
    if compare is None:
        raise InvalidAssertion(f"operator {op!r} is not one of {' '.join(OPERATORS)}")
    return compare(actual, expected)


def _ordered(op: str) -> Callable[[Any, Any], bool]:
    """`<`, `<=`, `>` or `>=` of two amounts; False unless both are numbers or quantities."""
    holds = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op]

    def compare(actual: Any, expected: Any) -> bool:
        left, right = _number(actual), _number(expected)
        if left is None or right is None:
            return False
        return holds(left, right)

    return compare


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str):
        return isinstance(expected, str) and expected in actual
    if isinstance(actual, list):
        return any(_equal(item, expected) for item in actual)
    if isinstance(actual, dict):
        return expected in actual
    return False


def _matches(actual: Any, expected: Any) -> bool:
    if actual is None or isinstance(actual, dict | list):
        return False
    try:
        return re.search(str(expected), str(actual)) is not None
    except re.error as exc:
        raise InvalidAssertion(f"matches {expected!r}: not a regular expression: {exc}") from exc


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": _equal,
    "!=": lambda actual, expected: not _equal(actual, expected),
    "<": _ordered("<"),
    "<=": _ordered("<="),
    ">": _ordered(">"),
    ">=": _ordered(">="),
    "in": lambda actual, expected: isinstance(expected, list) and any(_equal(actual, item) for item in expected),
    "contains": _contains,
    "matches": _matches,
    "exists": lambda actual, _: not is_absent(actual),
    "absent": lambda actual, _: is_absent(actual),
}
assert tuple(_COMPARISONS) == OPERATORS  # one comparison for each operator the loader accepts


def value_show(value: Any) -> str:
    """A value as messages show it: JSON, shortened; nothing for a missing one."""
    if value is None:
        return "nothing"
    shown = json.dumps(value, separators=(", ", ": "), sort_keys=True, default=str)
    return shown if len(shown) <= _SHOWN_CHARACTERS else shown[: _SHOWN_CHARACTERS - 3] + "..."


def message_render(
    template: str | None,
    *,
    kind: str,
    name: str,
    path: str,
    op: str,
    expected: Any,
    actual: Any,
    observed: dict[str, str] | None = None,
) -> str:
    """Fills {kind} {name} {path} {op} {expected} {actual}, and what was read of what the
    object derives from ({pods} {ready} {selector} {pod_labels}, when given); other braces
    are left as written."""
    if template is None:
        template = {
            "exists": "{kind} {name}: expected {path} to exist, found nothing",
            "absent": "{kind} {name}: expected {path} to be absent, found {actual}",
        }.get(op, DEFAULT_MESSAGE)
    fields = {
        "kind": kind,
        "name": name,
        "path": path,
        "op": op,
        "expected": value_show(expected),
        "actual": actual if actual == REDACTED else value_show(actual),
    } | (observed or {})
    return _MESSAGE_FIELDS.sub(lambda match: fields.get(match.group(1), match.group(0)), template)


def assertion_evaluate(
    assertion: dict, obj: dict, *, redact: bool = False, observed: dict[str, str] | None = None
) -> AssertionOutcome:
    """Evaluates one rendered assertion ({path, op, value?, message?}) on one object.
    With `redact` (a Secret), the actual value never appears in the outcome. `observed`:
    what its message may say of what the object derives from."""
    path, op = assertion["path"], assertion.get("op", "==")
    expected = assertion.get("value")
    actual = path_search(path, obj)
    passed = value_compare(op, actual, expected)
    shown = REDACTED if redact and actual is not None else actual
    message = ""
    if not passed:
        metadata = obj.get("metadata") or {}
        message = message_render(
            assertion.get("message"),
            kind=obj.get("kind", "Object"),
            name=metadata.get("name", "?"),
            path=path,
            op=op,
            expected=expected,
            actual=shown,
            observed=observed,
        )
    return AssertionOutcome(passed=passed, path=path, actual=shown, message=message)
