"""Walking a pydantic ``loc`` back to the YAML line and column it names."""

from __future__ import annotations

from textwrap import dedent

import yaml
from yaml.nodes import Node

from harness.yaml_problems import (
    Location,
    describe_node,
    describe_value,
    field_path,
    line_and_column,
    locate,
)

SOURCE = dedent(
    """\
    name: demo
    steps:
      - deposit: {to: "2000", seconds: abc}
      - parallel:
          - wait: 1
    quirks:
      - compact-headers
    """
)


def _compose(text: str) -> Node:
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    assert node is not None
    return node


def root() -> Node:
    node = yaml.compose(SOURCE, Loader=yaml.SafeLoader)
    assert node is not None
    return node


def test_a_scalar_is_pointed_at_itself() -> None:
    assert locate(root(), ("steps", 0, "deposit", "seconds")) == Location(
        3, 36, ("steps", 0, "deposit", "seconds")
    )


def test_an_unknown_field_is_pointed_at_by_its_key() -> None:
    assert locate(root(), ("name",), at_key=True) == Location(1, 1, ("name",))
    assert locate(root(), ("name",)) == Location(1, 7, ("name",))


def test_a_collection_is_pointed_at_by_the_key_that_introduces_it() -> None:
    assert locate(root(), ("steps", 0, "deposit")) == Location(3, 5, ("steps", 0, "deposit"))


def test_a_list_item_collection_is_pointed_at_by_its_own_start() -> None:
    assert locate(root(), ("steps", 1)) == Location(4, 5, ("steps", 1))


def test_a_missing_field_is_pointed_at_by_the_mapping_that_lacks_it() -> None:
    where = locate(root(), ("steps", 0, "deposit", "reason"))
    assert (where.line, where.column) == (3, 5)
    assert where.walked == ("steps", 0, "deposit", "reason")


def test_an_index_past_the_end_stops_at_the_list() -> None:
    assert locate(root(), ("quirks", 5)) == Location(6, 1, ("quirks",))


def test_short_forms_pass_over_a_key_met_at_a_list() -> None:
    loc = ("steps", 1, "parallel", "steps", 0, "wait")
    assert locate(root(), loc, short_forms=True) == Location(
        5, 15, ("steps", 1, "parallel", 0, "wait")
    )
    assert locate(root(), loc).walked == ("steps", 1, "parallel")


def test_field_path_reads_like_the_yaml() -> None:
    assert field_path(("steps", 2, "deposit", "seconds")) == "steps[2].deposit.seconds"
    assert field_path((0, "a")) == "[0].a"
    assert field_path(()) == ""


def test_values_and_nodes_are_described_as_written() -> None:
    assert describe_value(None) == "nothing"
    assert describe_value("abc") == '"abc"'
    assert describe_value({"a": 1}) == "a mapping"
    assert describe_value([1]) == "a list"
    assert describe_value(3) == "3"
    node = root()
    assert describe_node(node) == "a mapping"
    assert describe_node(_compose("[1]")) == "a list"
    assert describe_node(_compose("hello")) == '"hello"'


def test_line_and_column_count_from_one() -> None:
    node = root()
    assert line_and_column(node) == (1, 1)
    assert line_and_column(node.start_mark) == (1, 1)
