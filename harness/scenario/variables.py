"""Variables and ranges of the scenario language.

``${name}`` in a text value is replaced by the variable's value. Variables come from the
scenario's ``vars:`` (each may use the ones defined before it) and from a ``repeat`` step's
``as:``, which binds a name inside that step's ``steps`` only (shadowing a ``vars:`` name of the
same spelling). A reference to a name bound nowhere is an error at that value. There is no
escape: ``${`` always starts a reference.

A range is ``"FIRST..LAST"``: every whole number from FIRST to LAST, as text as wide as FIRST is
written (``"0998..1001"`` gives ``0998 0999 1000 1001``), at most :data:`MAX_RANGE` of them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any, TypeAlias

#: The most values one range may give.
MAX_RANGE = 100_000

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_REFERENCE_RE = re.compile(r"\$\{([^}]*)\}")
_RANGE_RE = re.compile(r"\s*([0-9]+)\s*\.\.\s*([0-9]+)\s*\Z")

#: Where a value sits in a scenario: field names and list indexes, as pydantic's ``loc``.
Loc: TypeAlias = tuple[str | int, ...]


def check_name(name: str) -> str:
    """``name`` when it can be a variable (a letter or ``_``, then letters, digits, ``_``)."""
    if not _NAME_RE.match(name):
        raise ValueError(
            f'"{name}" cannot name a variable: use letters, digits and _, not starting with a digit'
        )
    return name


def range_values(text: str) -> tuple[str, ...]:
    """The values of the range ``"FIRST..LAST"``; ValueError saying what is wrong."""
    match = _RANGE_RE.match(text)
    if match is None:
        raise ValueError(
            f'a range is "FIRST..LAST" with whole numbers, like "1000..1019", got "{text}"'
        )
    first, last = match.groups()
    low, high = int(first), int(last)
    if low > high:
        raise ValueError(f'the range "{text}" runs backwards: {first} is after {last}')
    if high - low + 1 > MAX_RANGE:
        raise ValueError(
            f'the range "{text}" has {high - low + 1} values; at most {MAX_RANGE} are allowed'
        )
    width = len(first)
    return tuple(str(number).zfill(width) for number in range(low, high + 1))


def substitute(value: Any, bindings: Mapping[str, str]) -> Any:
    """``value`` with each ``${name}`` of ``bindings`` replaced, in every text inside it.

    References to other names are left as they are (an inner ``repeat`` binds them later).
    """
    if isinstance(value, str):
        if "${" not in value:
            return value
        return _REFERENCE_RE.sub(lambda found: bindings.get(found.group(1), found.group(0)), value)
    if isinstance(value, dict):
        return {key: substitute(item, bindings) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [substitute(item, bindings) for item in value]
    return value


def fill(
    data: Any, bindings: Mapping[str, str], loc: Loc = ()
) -> tuple[Any, list[tuple[Loc, str]]]:
    """``data`` (a scenario's raw mapping, or part of it) with the ``bindings`` filled in.

    Names a ``repeat`` binds stay as references inside its ``steps``. Returns the filled data
    and the problems found: references to unbound names, malformed references.
    """
    problems: list[tuple[Loc, str]] = []
    filled = _fill(data, dict(bindings), frozenset(), loc, problems)
    return filled, problems


def _fill(
    data: Any,
    bindings: dict[str, str],
    bound: frozenset[str],
    loc: Loc,
    problems: list[tuple[Loc, str]],
) -> Any:
    if isinstance(data, str):
        return _fill_text(data, bindings, bound, loc, problems)
    if isinstance(data, list):
        return [
            _fill(item, bindings, bound, (*loc, index), problems) for index, item in enumerate(data)
        ]
    if not isinstance(data, dict):
        return data
    if len(data) == 1 and isinstance(data.get("repeat"), dict):
        body: dict[Any, Any] = data["repeat"]
        name = body.get("as")
        inner = bound | {name} if isinstance(name, str) else bound
        repeated = {
            key: value
            if key == "as"
            else _fill(
                value, bindings, inner if key == "steps" else bound, (*loc, "repeat", key), problems
            )
            for key, value in body.items()
        }
        return {"repeat": repeated}
    return {
        key: _fill(value, bindings, bound, (*loc, key), problems) for key, value in data.items()
    }


def _fill_text(
    text: str,
    bindings: dict[str, str],
    bound: frozenset[str],
    loc: Loc,
    problems: list[tuple[Loc, str]],
) -> str:
    if "${" not in text:
        return text
    pieces: list[str] = []
    position = 0
    while (start := text.find("${", position)) != -1:
        end = text.find("}", start)
        if end == -1:
            problems.append((loc, f'"${{" without a closing "}}" in "{text}"'))
            return text
        name = text[start + 2 : end]
        pieces.append(text[position:start])
        position = end + 1
        if name in bound:
            pieces.append(text[start:position])
        elif name in bindings:
            pieces.append(bindings[name])
        elif not _NAME_RE.match(name):
            problems.append(
                (loc, f'"${{{name}}}" is not a variable reference (a name goes inside)')
            )
        else:
            known = sorted({*bindings, *bound})
            problems.append((loc, _unknown(name, known)))
    pieces.append(text[position:])
    return "".join(pieces)


def _unknown(name: str, known: list[str]) -> str:
    guess = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f' (did you mean "{guess[0]}"?)' if guess else ""
    listed = ", ".join(known) if known else "none defined"
    return f'unknown variable "{name}"{hint} (variables: {listed})'
