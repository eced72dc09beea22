"""Small validators shared by the course, task and quiz files. Each reports what is wrong to
the Source and says whether the value can be looked into further."""

import re
from collections.abc import Mapping
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from lessons.loading.problems import Source
from lessons.loading.yamlfile import YamlList, YamlMap

ID_RE = re.compile(r"[a-z0-9-]+")
ID_MAX_LENGTH = 100  # the SlugFields that store ids
TITLE_MAX_LENGTH = 200  # the CharFields that store titles

_TYPE_NAMES: dict[type, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a mapping",
}

Types = type | tuple[type, ...]


def has_type(value: Any, types: Types) -> bool:
    for wanted in types if isinstance(types, tuple) else (types,):
        if isinstance(value, bool):
            # YAML's true is a Python int; it is never meant as a number.
            if wanted is bool:
                return True
        elif wanted is float and isinstance(value, int | float):
            return True
        elif isinstance(value, wanted):
            return True
    return False


def type_name(types: Types) -> str:
    names = [_TYPE_NAMES.get(t, t.__name__) for t in (types if isinstance(types, tuple) else (types,))]
    return " or ".join(names)


def found_name(value: Any) -> str:
    if value is None:
        return "nothing"
    for t in (bool, str, int, float, list, dict):
        if isinstance(value, t):
            return _TYPE_NAMES[t]
    return type(value).__name__


def is_mapping(source: Source, value: Any, line: int, what: str) -> bool:
    if isinstance(value, YamlMap):
        return True
    source.error(line, f"{what} must be a mapping, found {found_name(value)}")
    return False


def check_keys(
    source: Source,
    mapping: YamlMap,
    what: str,
    *,
    required: Mapping[str, Types],
    optional: Mapping[str, Types] | None = None,
) -> None:
    """Unknown keys, missing required keys and values of the wrong type."""
    optional = optional or {}
    allowed = {**required, **optional}
    for key in mapping:
        if key not in allowed:
            expected = ", ".join(sorted(allowed))
            source.error(mapping.line_of(key), f"unknown key '{key}' in {what} (expected one of: {expected})")
        elif not has_type(mapping[key], allowed[key]):
            source.error(
                mapping.line_of(key),
                f"'{key}' in {what} must be {type_name(allowed[key])}, found {found_name(mapping[key])}",
            )
    for key in required:
        if key not in mapping:
            source.error(mapping.line, f"{what} is missing '{key}'")


def check_id(source: Source, value: Any, line: int, what: str, *, noun: str = "id") -> bool:
    if not isinstance(value, str):
        return False
    if not ID_RE.fullmatch(value):
        source.error(line, f"{what} {noun} '{value}' may use only a-z, 0-9 and '-'")
        return False
    if len(value) > ID_MAX_LENGTH:
        source.error(line, f"{what} {noun} '{value}' is longer than {ID_MAX_LENGTH} characters")
        return False
    return True


def check_unique_ids(source: Source, items: YamlList, what: str) -> None:
    """Reports ids used twice in a list of mappings (ids must be checked first)."""
    first_lines: dict[str, int] = {}
    for item in items:
        if not isinstance(item, YamlMap) or not isinstance(item.get("id"), str):
            continue
        line = item.line_of("id")
        if item["id"] in first_lines:
            source.error(line, f"duplicate {what} id '{item['id']}' (first at line {first_lines[item['id']]})")
        else:
            first_lines[item["id"]] = line


def check_one_of(source: Source, mapping: YamlMap, key: str, choices: tuple[str, ...], what: str) -> None:
    value = mapping.get(key)
    if isinstance(value, str) and value not in choices:
        source.error(mapping.line_of(key), f"unknown {key} '{value}' in {what} (expected one of: {', '.join(choices)})")


def check_jmespath(source: Source, mapping: YamlMap, key: str) -> None:
    expression = mapping.get(key)
    if not isinstance(expression, str):
        return
    try:
        jmespath.compile(expression)
    except JMESPathError as exc:
        # The library's message ends with the expression drawn over more lines; its first line says it.
        reason = str(exc).splitlines()[0].removesuffix(", for expression:").removesuffix(":")
        source.error(mapping.line_of(key), f"invalid JMESPath '{expression}' in {key}: {reason}")


def check_title(source: Source, title: Any, line: int) -> None:
    if isinstance(title, str) and len(title) > TITLE_MAX_LENGTH:
        source.error(line, f"the title is longer than {TITLE_MAX_LENGTH} characters")
