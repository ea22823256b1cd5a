"""What a realtime database driver does: list a table's columns, select rows, update one.

Drivers are adapters (they touch the database); everything above them works on plain tuples.
Identifiers come from extconfig.conf, never from a caller on the wire, and are checked against
:data:`IDENTIFIER` before any SQL is built with them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Protocol

__all__ = ["IDENTIFIER", "RealtimeDriver", "RealtimeError", "Value", "order_clause", "quote"]

#: A table or column name this server will put into SQL: ``name`` or ``schema.name``.
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?\Z")

Value = str | int | float | None


class RealtimeError(Exception):
    """A database that cannot be used: the reason names the driver, database and table."""


def quote(name: str) -> str:
    """``name`` as a quoted SQL identifier (``"schema"."table"``); RealtimeError if it is not
    a plain identifier."""
    if not IDENTIFIER.match(name):
        raise RealtimeError(f"{name!r} is not a plain table or column name")
    return ".".join(f'"{part}"' for part in name.split("."))


def order_clause(order_by: Sequence[str]) -> str:
    """`` ORDER BY …`` for column names, ``-name`` for descending; empty for none."""
    if not order_by:
        return ""
    terms = [
        f"{quote(name[1:])} DESC" if name.startswith("-") else quote(name) for name in order_by
    ]
    return " ORDER BY " + ", ".join(terms)


class RealtimeDriver(Protocol):
    """One open database connection."""

    #: How messages name the database: ``sqlite3:/path/realtime.sqlite3``, ``pgsql:asterisk``.
    name: str

    def columns(self, table: str) -> tuple[str, ...]:
        """The table's column names, lower-case; RealtimeError when there is no such table."""
        ...

    def select(
        self,
        table: str,
        columns: Sequence[str],
        where: Mapping[str, Value],
        order_by: Sequence[str],
    ) -> list[tuple[Value, ...]]:
        """``SELECT columns FROM table WHERE a = ? AND … ORDER BY …`` (``-name``: descending)."""
        ...

    def update(self, table: str, values: Mapping[str, Value], where: Mapping[str, Value]) -> int:
        """``UPDATE table SET … WHERE …``, committed; the number of rows changed."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...
