"""Template substitution in lesson content: `{{ namespace }}`, `{{ values.NAME }}` and
`{{ baseline.NAME }}`, and nothing else (FORMAT.md, "Templates")."""

import re
from dataclasses import dataclass, field
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\s*(namespace|values\.[A-Za-z0-9_-]+|baseline\.[A-Za-z0-9_-]+)\s*\}\}")


class TemplateError(Exception):
    """A template names a value or baseline that setup did not make."""


@dataclass(frozen=True)
class TemplateContext:
    namespace: str
    values: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] = field(default_factory=dict)

    def lookup(self, name: str) -> Any:
        if name == "namespace":
            return self.namespace
        group, key = name.split(".", 1)
        found = self.values if group == "values" else self.baseline
        if key not in found:
            raise TemplateError(f"{{{{ {name} }}}}: setup made no {group} named {key!r}")
        return found[key]


def template_render(value: Any, context: TemplateContext) -> Any:
    """Substitutes placeholders in strings, recursively through dicts and lists. A string
    that is exactly one placeholder becomes the value itself (a baseline list stays a list)."""
    if isinstance(value, dict):
        return {key: template_render(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [template_render(item, context) for item in value]
    if not isinstance(value, str):
        return value
    whole = _PLACEHOLDER.fullmatch(value.strip())
    if whole:
        return context.lookup(whole.group(1))
    return _PLACEHOLDER.sub(lambda match: str(context.lookup(match.group(1))), value)
