"""Opening the database an extconfig.conf mapping names, with Asterisk's connection files.

``sqlite3``: the database is a section of ``res_config_sqlite3.conf`` whose ``dbfile=`` is the
file, as in Asterisk; without that file (or section) the database is the file's path itself,
relative to the configuration directory.

``pgsql``: the database is the database name; ``res_pgsql.conf`` ``[general]`` gives ``dbhost``,
``dbport``, ``dbuser``, ``dbpass`` and ``dbsock`` (a directory holding the Unix socket), as in
Asterisk. What it leaves out libpq takes from its usual environment (``PGHOST``, ``PGUSER``…).
"""

from __future__ import annotations

from pathlib import Path

from harness.voicemail.conf.dialect import read_conf
from harness.voicemail.conf.extconfig import Mapping
from harness.voicemail.realtime.driver import RealtimeDriver

__all__ = ["open_driver"]

_PGSQL_OPTIONS = {"dbhost": "host", "dbport": "port", "dbuser": "user", "dbpass": "password"}


def open_driver(mapping: Mapping, directory: Path) -> RealtimeDriver:
    """A connection to the database ``mapping`` names; RealtimeError when it cannot be opened."""
    if mapping.driver == "sqlite3":
        from harness.voicemail.realtime.sqlite import SqliteDriver  # noqa: PLC0415

        return SqliteDriver(_sqlite_file(mapping.database, directory))
    # psycopg loads libpq: only a configuration that names PostgreSQL pays for it.
    from harness.voicemail.realtime.pgsql import PgsqlDriver  # noqa: PLC0415

    return PgsqlDriver(_pgsql_params(mapping.database, directory))


def _sqlite_file(database: str, directory: Path) -> Path:
    settings = directory / "res_config_sqlite3.conf"
    if settings.is_file():
        section = read_conf(settings, root=directory).section(database)
        dbfile = None if section is None else section.value("dbfile")
        if dbfile:
            return directory / dbfile
    return directory / database


def _pgsql_params(database: str, directory: Path) -> dict[str, str]:
    params = {"dbname": database}
    settings = directory / "res_pgsql.conf"
    general = read_conf(settings, root=directory).section("general") if settings.is_file() else None
    if general is None:
        return params
    for option, param in _PGSQL_OPTIONS.items():
        value = general.value(option)
        if value:
            params[param] = value
    socket_dir = general.value("dbsock")
    if socket_dir:
        params["host"] = socket_dir
    return params
