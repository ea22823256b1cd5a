"""The tables this server reads, as SQL both SQLite and PostgreSQL accept, and a configuration
file turned into static realtime rows (what an operator moving files into a database does)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.voicemail.conf.dialect import ConfFile

__all__ = [
    "PEERS_TABLE",
    "STATIC_TABLE",
    "VOICEMAIL_TABLE",
    "StaticRow",
    "static_rows",
]

#: Asterisk's static realtime table (``ast_config``): one row per line of a file.
STATIC_TABLE = """
CREATE TABLE {table} (
    id INTEGER PRIMARY KEY,
    cat_metric INTEGER NOT NULL DEFAULT 0,
    var_metric INTEGER NOT NULL DEFAULT 0,
    commented INTEGER NOT NULL DEFAULT 0,
    filename VARCHAR(128) NOT NULL,
    category VARCHAR(128) NOT NULL DEFAULT 'default',
    var_name VARCHAR(128) NOT NULL,
    var_val VARCHAR(255) NOT NULL
)
"""

#: Asterisk's realtime ``voicemail`` table, the columns this server reads: one row per mailbox.
#: Any other voicemail.conf per-mailbox option may be added as a column of its own name.
VOICEMAIL_TABLE = """
CREATE TABLE {table} (
    uniqueid INTEGER PRIMARY KEY,
    context VARCHAR(80) NOT NULL DEFAULT 'default',
    mailbox VARCHAR(80) NOT NULL,
    password VARCHAR(80) NOT NULL,
    fullname VARCHAR(80),
    email VARCHAR(80),
    pager VARCHAR(80),
    attach VARCHAR(3),
    tz VARCHAR(30),
    maxmsg INTEGER,
    UNIQUE (context, mailbox)
)
"""

#: Asterisk's ``sippeers`` table, the columns a standalone MWI peer needs: one row per peer.
#: Any other sip.conf peer option may be added as a column of its own name.
PEERS_TABLE = """
CREATE TABLE {table} (
    id INTEGER PRIMARY KEY,
    name VARCHAR(80) NOT NULL UNIQUE,
    type VARCHAR(6) NOT NULL DEFAULT 'peer',
    host VARCHAR(80),
    port INTEGER,
    defaultuser VARCHAR(80),
    mailbox VARCHAR(255),
    secret VARCHAR(80),
    context VARCHAR(80)
)
"""


@dataclass(frozen=True, slots=True)
class StaticRow:
    """One row of the static realtime table."""

    id: int
    cat_metric: int
    var_metric: int
    filename: str
    category: str
    var_name: str
    var_val: str


def static_rows(
    conf: ConfFile, filename: str, first_id: int = 1, *, descending: bool = False
) -> list[StaticRow]:
    """Every option of ``conf``'s sections (templates applied, templates themselves left out)
    as rows of ``filename``, numbered from ``first_id``. ``descending`` numbers the sections'
    ``cat_metric`` from the highest down, the order Asterisk's pgsql driver reads them in."""
    rows: list[StaticRow] = []
    sections = conf.instances()
    for index, section in enumerate(sections):
        cat_metric = len(sections) - 1 - index if descending else index
        for var_metric, option in enumerate(section.options):
            row_id = first_id + len(rows)
            rows.append(
                StaticRow(
                    row_id,
                    cat_metric,
                    var_metric,
                    filename,
                    section.name,
                    option.name,
                    option.value,
                )
            )
    return rows
