"""Loading scenario files: YAML text to :class:`Scenario`, every error one line naming where.

A problem reads ``scenarios/deposit/x.yaml:12:5: steps[2].deposit.seconds: expected a number,
got "abc"``: the file, the line and column of the offending YAML node, the field as a path into the
scenario, and what is wrong. Loading never raises anything but :class:`ScenarioError` for a bad
file.

The YAML is composed into a node tree (which keeps every node's position) and turned into plain
data here rather than by PyYAML's constructor, for two reasons: YAML 1.1 reads an unquoted ``0042``
as the octal number 34 and ``+15551230000`` as a number, while a box, a PIN or a caller must stay
the text the user wrote; and the tree lets each pydantic error ``loc`` be walked back to its line.
So a plain scalar keeps its source text and the model's own types read it (``"3"`` as a number,
``yes`` as true); only YAML nulls become None.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.scenario.fields import LOCATED, closest_name
from harness.scenario.model import Scenario
from harness.scenario.registry import STEPS
from harness.scenario.step import Step
from harness.scenario.variables import Loc
from harness.yaml_problems import describe_node, describe_value, field_path, line_and_column, locate

#: File name endings of scenario files when a directory is searched.
SCENARIO_SUFFIXES = (".yaml", ".yml")

_YAML_TAG = "tag:yaml.org,2002:"
_NULL_TAG = _YAML_TAG + "null"
_MERGE_TAG = _YAML_TAG + "merge"
_COLLECTION_TAGS = {_YAML_TAG + "map", _YAML_TAG + "seq"}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one scenario file.

    ``line`` and ``column`` count from 1; both are 0 when the problem has no position (the file
    cannot be read). ``field`` is the path of the value in the scenario, like
    ``steps[2].deposit.seconds``, or empty when the problem is the file as a whole.
    """

    file: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        text = (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )
        return " ".join(text.splitlines())


class ScenarioError(Exception):
    """One or more scenario files are bad; ``problems`` says where and why, one line each."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def load_scenario(path: Path, variables: Mapping[str, str] | None = None) -> Scenario:
    """Read and validate one scenario file; ScenarioError listing every problem otherwise.

    ``variables`` (a site's values) replace the values the scenario's ``vars:`` give the
    variables of those names.
    """
    result = _load(path, variables)
    if isinstance(result, Scenario):
        return result
    raise ScenarioError(result)


def load_scenarios(paths: Iterable[Path]) -> list[Scenario]:
    """Load the scenario files in ``paths`` (directories searched, see :func:`scenario_files`).

    All files are read before failing, so one ScenarioError lists the problems of every file.
    """
    scenarios: list[Scenario] = []
    problems: list[Problem] = []
    for path in scenario_files(paths):
        result = _load(path)
        if isinstance(result, Scenario):
            scenarios.append(result)
        else:
            problems.extend(result)
    if problems:
        raise ScenarioError(problems)
    return scenarios


def validate_paths(paths: Iterable[Path]) -> list[Problem]:
    """Every problem of every scenario file in ``paths``; empty when all are good."""
    problems: list[Problem] = []
    for path in scenario_files(paths):
        result = _load(path)
        if not isinstance(result, Scenario):
            problems.extend(result)
    return problems


def scenario_files(paths: Iterable[Path]) -> list[Path]:
    """``paths`` with each directory replaced by the ``*.yaml``/``*.yml`` files below it.

    Files inside a directory come sorted, hidden ones (a name starting with ``.``) left out; a
    path that is not a directory is kept as given, whatever its name.
    """
    files: list[Path] = []
    for path in paths:
        if not path.is_dir():
            files.append(path)
            continue
        found = (
            candidate
            for candidate in path.rglob("*")
            if candidate.suffix in SCENARIO_SUFFIXES
            and candidate.is_file()
            and not any(part.startswith(".") for part in candidate.relative_to(path).parts)
        )
        files.extend(sorted(found))
    return files


def _load(path: Path, variables: Mapping[str, str] | None = None) -> Scenario | list[Problem]:
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        return [Problem(file, 0, 0, "", f"cannot read the file: {error.strerror or error}")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        byte = raw[error.start]
        return [Problem(file, line, column, "", f"not UTF-8 text (byte 0x{byte:02x})")]
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        return [_syntax_problem(file, text, error)]
    if root is None or (isinstance(root, ScalarNode) and root.tag == _NULL_TAG):
        return [
            Problem(
                file,
                1,
                1,
                "",
                "the file is empty; a scenario is a mapping with name, mailboxes and steps",
            )
        ]
    if not isinstance(root, MappingNode):
        line, column = line_and_column(root)
        return [
            Problem(
                file,
                line,
                column,
                "",
                f"a scenario is a mapping (name: ..., steps: ...), got {describe_node(root)}",
            )
        ]
    document = _Document(file, root)
    data = document.data()
    if document.problems:
        return document.problems
    unbound: list[tuple[Loc, str]] = []
    context = {
        "base_dir": path.parent,
        "variable_problems": unbound,
        "site_variables": dict(variables or {}),
    }
    try:
        scenario = Scenario.model_validate(data, context=context)
    except ValidationError as error:
        return document.problems_of(error, unbound)
    return document.problems_of(None, unbound) if unbound else scenario


def _syntax_problem(file: str, text: str, error: yaml.YAMLError) -> Problem:
    """One line for a YAML syntax error, at the position PyYAML reports."""
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        if error.context == "expected a single document in the stream":
            return Problem(file, line, column, "", "one scenario per file: found a second document")
        context = error.context or ""
        if context and error.context_mark is not None and error.context_mark.line + 1 != line:
            context += f" started at line {error.context_mark.line + 1}"
        parts = [part for part in (context, error.problem) if part]
        return Problem(file, line, column, "", "YAML syntax error: " + ", ".join(parts))
    if isinstance(error, yaml.reader.ReaderError):
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        return Problem(
            file,
            line,
            column,
            "",
            f"YAML syntax error: character U+{error.character:04X} is not allowed in YAML text",
        )
    return Problem(file, 0, 0, "", "YAML syntax error: " + " ".join(str(error).split()))


class _Document:
    """A composed scenario file: its plain data, and the way back from a ``loc`` to a line."""

    def __init__(self, file: str, root: MappingNode) -> None:
        self.file = file
        self.root = root
        self.problems: list[Problem] = []
        # How many leading entries of a mapping came from ``<<`` merges; they may be overridden.
        self._merged: dict[int, int] = {}
        self._active: set[int] = set()

    def data(self) -> Any:
        """The document as dicts, lists, strings and None; problems found go to ``problems``."""
        return self._build(self.root, ())

    def _build(self, node: Node, loc: Loc) -> Any:
        if isinstance(node, ScalarNode):
            if node.tag == _NULL_TAG:
                return None
            if node.tag.startswith(_YAML_TAG):
                return node.value
            self._problem(node, loc, f'unsupported YAML tag "{node.tag}"')
            return None
        if node.tag not in _COLLECTION_TAGS:
            self._problem(node, loc, f'unsupported YAML tag "{node.tag}"')
            return None
        if id(node) in self._active:
            self._problem(node, loc, "an alias refers to a node that contains it")
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self._build(item, (*loc, index)) for index, item in enumerate(node.value)]
            assert isinstance(node, MappingNode)
            return self._mapping(node, loc)
        finally:
            self._active.discard(id(node))

    def _mapping(self, node: MappingNode, loc: Loc) -> dict[str, Any]:
        merged = self._merged.get(id(node))
        if merged is None:
            own = sum(1 for key, _ in node.value if key.tag != _MERGE_TAG)
            if own != len(node.value):
                try:
                    SafeConstructor().flatten_mapping(node)
                except ConstructorError as error:
                    self._problem(error.problem_mark or node, loc, f"bad merge: {error.problem}")
                    return {}
            merged = self._merged[id(node)] = len(node.value) - own
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for position, (key_node, value_node) in enumerate(node.value):
            if not isinstance(key_node, ScalarNode):
                self._problem(key_node, loc, "a key must be a plain name, not a list or mapping")
                continue
            key = key_node.value
            if position >= merged:
                if key in first_line:
                    self._problem(
                        key_node,
                        (*loc, key),
                        f'duplicate key "{key}" (first at line {first_line[key]})',
                    )
                    continue
                first_line[key] = key_node.start_mark.line + 1
            result[key] = self._build(value_node, (*loc, key))
        return result

    def _problem(self, where: Node | yaml.Mark, loc: Loc, message: str) -> None:
        line, column = line_and_column(where)
        self.problems.append(Problem(self.file, line, column, field_path(loc), message))

    def problems_of(
        self, error: ValidationError | None, unbound: Sequence[tuple[Loc, str]] = ()
    ) -> list[Problem]:
        """One problem per pydantic error, at the line of the YAML node its ``loc`` names.

        ``unbound`` are references to unknown variables; an error at the same place is what
        the unfilled reference caused, and is left out.
        """
        problems: list[Problem] = [self._at(loc, message) for loc, message in unbound]
        taken = {(problem.line, problem.column) for problem in problems}
        details = error.errors(include_url=False) if error is not None else []
        for detail in details:
            if _echoes_item_errors(detail):
                continue
            found: list[Problem] = []
            if detail["type"] == LOCATED:
                for sub_loc, message in detail["ctx"]["problems"]:
                    found.append(self._at((*detail["loc"], *sub_loc), message))
            else:
                at_key = detail["type"] == "extra_forbidden"
                found.append(self._at(tuple(detail["loc"]), _message(detail), at_key=at_key))
            problems += [item for item in found if (item.line, item.column) not in taken]
        problems.sort(key=lambda problem: (problem.line, problem.column))
        return problems

    def _at(self, loc: Loc, message: str, *, at_key: bool = False) -> Problem:
        """The problem ``message`` at the node ``loc`` names, or as near as the YAML has one."""
        where = locate(self.root, loc, at_key=at_key, short_forms=True)
        return Problem(self.file, where.line, where.column, field_path(where.walked), message)


def _echoes_item_errors(detail: ErrorDetails) -> bool:
    """Whether ``detail`` is a too-short list that is only short because items failed.

    Pydantic counts the items that validated, so one bad mailbox in a list of one also reads as
    an empty list; the bad item has its own error.
    """
    if detail["type"] != "too_short":
        return False
    given = detail.get("input")
    minimum = detail.get("ctx", {}).get("min_length", 0)
    return isinstance(given, list | tuple) and len(given) >= minimum


def _message(detail: ErrorDetails) -> str:
    """Pydantic's message, reworded where a YAML author would not recognise its terms."""
    kind = detail["type"]
    value = detail.get("input")
    ctx = detail.get("ctx", {})
    got = describe_value(value)
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        name = str(detail["loc"][-1])
        known = _known_fields(tuple(detail["loc"][:-1]), name)
        guess = closest_name(name, known)
        if guess:
            return f'unknown field "{name}" (did you mean "{guess}"?)'
        return f'unknown field "{name}" (known fields: {", ".join(known)})'
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of fields, got {got}"
    if kind in ("list_type", "tuple_type"):
        return f"expected a list, got {got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected yes/no (or true/false), got {got}"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return f"expected a number, got {got}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {got}"
    if kind == "string_type":
        return f"expected text, got {got}"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s), got {ctx.get('actual_length')}"
    if kind in ("literal_error", "enum"):
        choices = [part for part in str(ctx.get("expected", "")).split("'") if part.strip(", or")]
        guess = closest_name(str(value), choices) if isinstance(value, str) else None
        hint = f' (did you mean "{guess}"?)' if guess else ""
        return f"got {got}{hint}; expected one of: {', '.join(choices)}"
    return detail["msg"]


def _known_fields(loc: Loc, extra: str) -> list[str]:
    """The field names (as YAML spells them) of the model at ``loc`` in a scenario that has no
    field ``extra``. Where an entry may be one of several models (a mailbox or a range of
    mailboxes), those of the ones without ``extra``."""
    models = _models(_model_at(loc))
    fitting = [model for model in models if extra not in _field_names(model)] or models
    names: dict[str, None] = {}
    for model in fitting:
        names.update(dict.fromkeys(_field_names(model)))
    return list(names)


def _field_names(model: type[BaseModel]) -> list[str]:
    return [
        field.validation_alias if isinstance(field.validation_alias, str) else name
        for name, field in model.model_fields.items()
    ]


def _model_at(loc: Loc) -> Any:
    current: Any = Scenario
    for part in loc:
        current = _strip(current)
        if current is Step and isinstance(part, str) and part in STEPS:
            current = STEPS.model(part)
        elif isinstance(part, int):
            args = get_args(current)
            current = args[0] if args else None
        elif isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part) or next(
                (f for f in current.model_fields.values() if f.validation_alias == part), None
            )
            current = field.annotation if field is not None else None
        else:
            return None
    return _strip(current)


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The models ``annotation`` is, or is a union of."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in (Union, types.UnionType):
        return [model for arg in get_args(annotation) for model in _models(_strip(arg))]
    return []


def _strip(annotation: Any) -> Any:
    """``annotation`` without Annotated metadata, and without None when it is Optional."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation
