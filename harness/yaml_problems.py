"""Problems of a YAML file validated by pydantic, pointed at the file's line and column.

Scenario files and proxy profiles are both composed into a YAML node tree (which keeps every
node's position), turned into plain data and validated by pydantic. A pydantic error names its
place as a ``loc`` path (``("steps", 2, "deposit", "seconds")``); this module walks such a path
back to the node it names, so each problem reads ``file:line:column: field: message``, and words
the values and nodes a message mentions the way a YAML author wrote them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = [
    "Loc",
    "Location",
    "describe_node",
    "describe_value",
    "field_path",
    "line_and_column",
    "locate",
]

#: A path into the data, as pydantic's error ``loc``: mapping keys and list indexes.
Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Location:
    """Where a ``loc`` points in the file: line and column (from 1), and how much of the
    ``loc`` the YAML holds (``walked``: the path up to the last node found)."""

    line: int
    column: int
    walked: Loc


def line_and_column(where: Node | yaml.Mark) -> tuple[int, int]:
    """The line and column, counted from 1, where a node (or a mark) starts."""
    mark = where.start_mark if isinstance(where, Node) else where
    return mark.line + 1, mark.column + 1


def locate(root: Node, loc: Loc, *, at_key: bool = False, short_forms: bool = False) -> Location:
    """Where the node ``loc`` names is, or as near as the YAML has one.

    A scalar is pointed at itself (at its key with ``at_key``, as for an unknown field); a list
    or mapping at the key that introduces it (or its own start in a list); a missing field at
    the mapping that lacks it. With ``short_forms``, a key met at a list is passed over: the
    list is the short form of a mapping holding it (``parallel: [...]`` for
    ``parallel: {steps: [...]}``).
    """
    node: Node = root
    key: Node | None = None
    walked: list[str | int] = []
    for part in loc:
        if isinstance(node, MappingNode) and isinstance(part, str):
            found = [
                (key_node, value)
                for key_node, value in node.value
                if isinstance(key_node, ScalarNode) and key_node.value == part
            ]
            walked.append(part)
            if not found:
                break
            key, node = found[-1]
        elif isinstance(node, SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                break
            walked.append(part)
            key, node = None, node.value[part]
        elif isinstance(node, SequenceNode) and short_forms:
            continue
        else:
            break
    if key is not None and (at_key or not isinstance(node, ScalarNode)):
        node = key
    line, column = line_and_column(node)
    return Location(line, column, tuple(walked))


def field_path(loc: Loc) -> str:
    """``("steps", 2, "deposit")`` as ``steps[2].deposit``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def describe_value(value: Any) -> str:
    """A value of the plain data as a message quotes it: ``"abc"``, ``a list``, ``nothing``…"""
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value)


def describe_node(node: Node) -> str:
    """A YAML node as a message names it: its text if a scalar, else a list or a mapping."""
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, ScalarNode):
        return f'"{node.value}"'
    return "a mapping"
