"""YAML that remembers the line of every key and list item, so each error can name it."""

from collections.abc import Hashable
from typing import Any

import yaml

from lessons.loading.problems import Source


class YamlMap(dict):
    """A mapping from YAML: `line` is where it starts, `line_of(key)` where a key is."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class YamlList(list):
    """A list from YAML: `line` is where it starts, `line_of(index)` where an item is."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


class _LineLoader(yaml.SafeLoader):
    def __init__(self, stream: str, source: Source) -> None:
        super().__init__(stream)
        self.source = source


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> YamlMap:
    loader.flatten_mapping(node)  # `<<: *anchor` merges
    mapping = YamlMap(_line(node))
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            loader.source.error(_line(key_node), "a key must be a plain value, not a list or mapping")
            continue
        if key in mapping:
            # PyYAML would silently keep the last one; the author meant something by both.
            loader.source.error(_line(key_node), f"duplicate key '{key}' (first at line {mapping.line_of(key)})")
            continue
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = _line(key_node)
    return mapping


def _construct_list(loader: _LineLoader, node: yaml.SequenceNode) -> YamlList:
    items = YamlList(_line(node))
    for item_node in node.value:
        items.append(loader.construct_object(item_node, deep=True))
        items.item_lines.append(_line(item_node))
    return items


def _construct_timestamp_as_text(loader: _LineLoader, node: yaml.ScalarNode) -> str:
    # A date stays text: the spec is stored as JSON, which has no dates.
    return loader.construct_scalar(node)


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_list)
_LineLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp_as_text)


class YamlUnreadable(Exception):
    """The text is not valid YAML; the error has been reported to the Source."""


def yaml_load(source: Source, text: str) -> Any:
    """The document in `text`, with YamlMap and YamlList for its mappings and lists."""
    loader = _LineLoader(text, source)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "cannot be read"
        source.error(mark.line + 1 if mark else 1, f"invalid YAML: {problem}")
    except yaml.YAMLError as exc:
        source.error(1, f"invalid YAML: {exc}")
    finally:
        loader.dispose()
    raise YamlUnreadable


def to_plain(value: Any) -> Any:
    """The value with plain dicts and lists, for JSON."""
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_plain(item) for item in value]
    return value
