"""Configuration files moved into an SQLite database as static realtime rows, with the
extconfig.conf that maps them, as an operator moving to a database does (and as the embedded
server fed from a database is set up)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from harness.voicemail.conf.dialect import read_conf
from harness.voicemail.realtime.driver import quote
from harness.voicemail.realtime.schema import STATIC_TABLE, static_rows

__all__ = ["move_to_sqlite"]


def move_to_sqlite(
    directory: Path,
    names: Sequence[str],
    *,
    database: str = "realtime.sqlite3",
    table: str = "ast_config",
) -> Path:
    """Store the files ``names`` of ``directory`` as rows of ``table`` in the SQLite file
    ``database`` there (made anew), write extconfig.conf mapping them, and remove the files,
    so the rows are all the server reads. Returns the database's path."""
    path = directory / database
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute(STATIC_TABLE.format(table=table))
        next_id = 1
        for name in names:
            rows = static_rows(read_conf(directory / name, root=directory), name, next_id)
            db.executemany(
                f"INSERT INTO {quote(table)} (id, cat_metric, var_metric, commented, filename, "
                "category, var_name, var_val) VALUES (?, ?, ?, 0, ?, ?, ?, ?)",
                [
                    (
                        r.id,
                        r.cat_metric,
                        r.var_metric,
                        r.filename,
                        r.category,
                        r.var_name,
                        r.var_val,
                    )
                    for r in rows
                ],
            )
            next_id += len(rows)
    db.close()
    mappings = "".join(f"{name} => sqlite3,{database},{table}\n" for name in names)
    (directory / "extconfig.conf").write_text(f"[settings]\n{mappings}")
    for name in names:
        (directory / name).unlink()
    return path
