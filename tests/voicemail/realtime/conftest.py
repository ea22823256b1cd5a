"""Databases to load a configuration from: an SQLite file (no server needed) and a real
PostgreSQL, a throwaway cluster made with initdb and started with pg_ctl on a Unix socket for
the session, stopped after. Without PostgreSQL installed its tests skip with the reason (and
fail under CI=true, which must have it)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.peers.postgres import PostgresCluster, binaries
from harness.voicemail.conf.dialect import parse_conf
from harness.voicemail.realtime.schema import (
    PEERS_TABLE,
    STATIC_TABLE,
    VOICEMAIL_TABLE,
    static_rows,
)

DRIVERS = ("sqlite3", "pgsql")


class Database:
    """One empty database and how a configuration directory reaches it."""

    def __init__(self, driver: str, connection: Any, database: str, settings: dict[str, str]):
        self.driver = driver
        self.connection = connection
        #: The database argument of an extconfig.conf mapping.
        self.database = database
        #: Connection files to write next to extconfig.conf (name → text).
        self.settings = settings

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement and commit (``?`` placeholders on either driver)."""
        if self.driver == "pgsql":
            sql = sql.replace("?", "%s")
        self.connection.execute(sql, tuple(params))
        self.connection.commit()

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each of ``rows`` and commit."""
        if self.driver == "pgsql":
            sql = sql.replace("?", "%s")
            with self.connection.cursor() as cursor:
                cursor.executemany(sql, rows)
        else:
            self.connection.executemany(sql, rows)
        self.connection.commit()

    def create(self, layout: str, table: str) -> None:
        """An empty table of ``layout`` (static, voicemail or peers)."""
        ddl = {"static": STATIC_TABLE, "voicemail": VOICEMAIL_TABLE, "peers": PEERS_TABLE}
        self.execute(ddl[layout].format(table=table))

    def add_file(self, table: str, filename: str, text: str, first_id: int = 1) -> int:
        """The configuration file ``text`` as static rows of ``filename``; the next free id."""
        rows = static_rows(
            parse_conf(text, Path(filename)),
            filename,
            first_id,
            descending=self.driver == "pgsql",
        )
        self.many(
            f"INSERT INTO {table} (id, cat_metric, var_metric, commented, filename, category, "
            "var_name, var_val) VALUES (?, ?, ?, 0, ?, ?, ?, ?)",
            [
                (r.id, r.cat_metric, r.var_metric, r.filename, r.category, r.var_name, r.var_val)
                for r in rows
            ],
        )
        return first_id + len(rows)

    def configure(self, directory: Path, mappings: dict[str, str]) -> Path:
        """extconfig.conf in ``directory`` mapping each file to its table, with the connection
        files this database needs."""
        directory.mkdir(parents=True, exist_ok=True)
        lines = ["[settings]"] + [
            f"{name} => {self.driver},{self.database},{table}" for name, table in mappings.items()
        ]
        (directory / "extconfig.conf").write_text("\n".join(lines) + "\n")
        for name, text in self.settings.items():
            (directory / name).write_text(text)
        return directory


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster for the session."""
    bindir = binaries()
    if bindir is None:
        reason = "PostgreSQL is not installed (apt-get install postgresql; .ci/run installs it)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason}; CI must have every peer")
        pytest.skip(reason)
    with PostgresCluster(bindir) as cluster:
        yield cluster


def _sqlite(directory: Path) -> Iterator[Database]:
    directory.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(directory / "realtime.sqlite3")
    yield Database("sqlite3", connection, "realtime.sqlite3", {})
    connection.close()


def _pgsql(cluster: PostgresCluster, name: str) -> Iterator[Database]:
    import psycopg  # noqa: PLC0415

    with psycopg.connect(cluster.conninfo(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    settings = f"[general]\ndbsock={cluster.socket_dir}\ndbuser={cluster.user}\n"
    connection = psycopg.connect(cluster.conninfo(name))
    yield Database("pgsql", connection, name, {"res_pgsql.conf": settings})
    connection.close()
    with psycopg.connect(cluster.conninfo(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


_counter = iter(range(1_000_000))


@pytest.fixture(params=DRIVERS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty database of each driver, reached from the directory ``tmp_path / "etc"``."""
    if request.param == "sqlite3":
        yield from _sqlite(tmp_path / "etc")
    else:
        cluster = request.getfixturevalue("postgres")
        yield from _pgsql(cluster, f"test{next(_counter)}_{os.getpid()}")
