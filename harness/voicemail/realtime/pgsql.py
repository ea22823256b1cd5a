"""The ``pgsql`` realtime driver: PostgreSQL through psycopg 3."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import psycopg
from psycopg.conninfo import make_conninfo

from harness.voicemail.realtime.driver import RealtimeError, Value, order_clause, quote

__all__ = ["PgsqlDriver"]

#: How long a connection attempt may take before the load fails with the reason.
CONNECT_TIMEOUT = 5


class PgsqlDriver:
    """A connection to one PostgreSQL database; ``params`` are libpq's (host, port, dbname,
    user, password), ``host`` a directory for a Unix socket."""

    def __init__(self, params: Mapping[str, str]) -> None:
        shown = {key: value for key, value in params.items() if key != "password"}
        self.name = "pgsql:" + " ".join(f"{key}={value}" for key, value in shown.items())
        try:
            conninfo = make_conninfo("", **params)
            self._db = psycopg.connect(conninfo, connect_timeout=CONNECT_TIMEOUT, autocommit=True)
        except psycopg.Error as error:
            raise RealtimeError(f"{self.name}: {str(error).strip()}") from error

    def columns(self, table: str) -> tuple[str, ...]:
        """The table's column names, lower-case."""
        try:
            with self._db.cursor() as cursor:
                cursor.execute(f"SELECT * FROM {quote(table)} LIMIT 0")
                description = cursor.description or []
        except psycopg.Error as error:
            raise RealtimeError(f"{self.name}: table {table}: {str(error).strip()}") from error
        return tuple(column.name.lower() for column in description)

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
            sql += " WHERE " + " AND ".join(f"{quote(name)} = %s" for name in where)
        sql += order_clause(order_by)
        try:
            with self._db.cursor() as cursor:
                cursor.execute(sql.encode(), tuple(where.values()))
                return list(cursor.fetchall())
        except psycopg.Error as error:
            raise RealtimeError(f"{self.name}: table {table}: {str(error).strip()}") from error

    def update(self, table: str, values: Mapping[str, Value], where: Mapping[str, Value]) -> int:
        """Change the rows matching ``where``; the number changed."""
        sets = ", ".join(f"{quote(name)} = %s" for name in values)
        conditions = " AND ".join(f"{quote(name)} = %s" for name in where)
        sql = f"UPDATE {quote(table)} SET {sets} WHERE {conditions}"
        try:
            with self._db.cursor() as cursor:
                cursor.execute(sql.encode(), (*values.values(), *where.values()))
                return cursor.rowcount
        except psycopg.Error as error:
            raise RealtimeError(f"{self.name}: table {table}: {str(error).strip()}") from error

    def close(self) -> None:
        """Close the connection."""
        self._db.close()
