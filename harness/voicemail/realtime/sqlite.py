"""The ``sqlite3`` realtime driver: Python's own sqlite3, a file and no server to run."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.voicemail.realtime.driver import RealtimeError, Value, order_clause, quote

__all__ = ["SqliteDriver"]


class SqliteDriver:
    """A connection to one SQLite database file (opened read-write, never created)."""

    def __init__(self, path: Path) -> None:
        self.name = f"sqlite3:{path}"
        if not path.is_file():
            raise RealtimeError(f"{self.name}: no such database file")
        try:
            # mode=rw: a mistyped path must not quietly become an empty database.
            self._db = sqlite3.connect(f"file:{path}?mode=rw", uri=True, check_same_thread=False)
        except sqlite3.Error as error:
            raise RealtimeError(f"{self.name}: {error}") from error

    def columns(self, table: str) -> tuple[str, ...]:
        """The table's column names, lower-case."""
        try:
            cursor = self._db.execute(f"SELECT * FROM {quote(table)} LIMIT 0")
        except sqlite3.Error as error:
            raise RealtimeError(f"{self.name}: table {table}: {error}") from error
        return tuple(str(column[0]).lower() for column in cursor.description)

    def select(
        self,
        table: str,
        columns: Sequence[str],
        where: Mapping[str, Value],
        order_by: Sequence[str],
    ) -> list[tuple[Value, ...]]:
        """The rows of ``table`` matching ``where``."""
        sql = f"SELECT {', '.join(map(quote, columns))} FROM {quote(table)}"
        if where:
            sql += " WHERE " + " AND ".join(f"{quote(name)} = ?" for name in where)
        sql += order_clause(order_by)
        try:
            return list(self._db.execute(sql, tuple(where.values())))
        except sqlite3.Error as error:
            raise RealtimeError(f"{self.name}: table {table}: {error}") from error

    def update(self, table: str, values: Mapping[str, Value], where: Mapping[str, Value]) -> int:
        """Change the rows matching ``where``; the number changed."""
        sets = ", ".join(f"{quote(name)} = ?" for name in values)
        conditions = " AND ".join(f"{quote(name)} = ?" for name in where)
        sql = f"UPDATE {quote(table)} SET {sets} WHERE {conditions}"
        try:
            with self._db:
                cursor = self._db.execute(sql, (*values.values(), *where.values()))
        except sqlite3.Error as error:
            raise RealtimeError(f"{self.name}: table {table}: {error}") from error
        return cursor.rowcount

    def close(self) -> None:
        """Close the connection."""
        self._db.close()
