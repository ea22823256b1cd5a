"""The commented examples of fixtures/configs/realtime load as their comments say."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from harness.core.mailbox import MailboxId
from harness.peers.postgres import PostgresCluster
from harness.voicemail.conf.server_config import load_config

EXAMPLES = Path(__file__).resolve().parents[3] / "fixtures" / "configs" / "realtime"
EXPECTED = [MailboxId("2000", "default"), MailboxId("2001", "default"), MailboxId("3000", "sales")]


def test_the_sqlite_example_loads_its_mailboxes_and_peers(tmp_path: Path) -> None:
    directory = shutil.copytree(EXAMPLES / "sqlite", tmp_path / "etc")
    with sqlite3.connect(directory / "realtime.sqlite3") as db:
        db.executescript((directory / "schema.sql").read_text())
    db.close()
    config = load_config(directory)
    assert list(config.voicemail.mailboxes) == EXPECTED
    assert [peer.name for peer in config.sip.peers] == ["2000", "2001", "3000"]
    bob = config.mailbox(EXPECTED[1])
    assert bob is not None
    assert bob.effective("maxmsg") == 50
    assert not config.warnings


def test_the_pgsql_example_loads_its_mailboxes_and_peers(
    postgres: PostgresCluster, tmp_path: Path
) -> None:
    import psycopg  # noqa: PLC0415

    directory = shutil.copytree(EXAMPLES / "pgsql", tmp_path / "etc")
    with psycopg.connect(postgres.conninfo(), autocommit=True) as admin:
        admin.execute('CREATE DATABASE "example"')
    try:
        with psycopg.connect(postgres.conninfo("example")) as db:
            db.execute((directory / "ast_config.sql").read_text().encode())
        (directory / "res_pgsql.conf").write_text(
            f"[general]\ndbsock={postgres.socket_dir}\ndbuser={postgres.user}\n"
        )
        (directory / "extconfig.conf").write_text(
            (directory / "extconfig.conf").read_text().replace("pgsql,asterisk,", "pgsql,example,")
        )
        config = load_config(directory)
    finally:
        with psycopg.connect(postgres.conninfo(), autocommit=True) as admin:
            admin.execute('DROP DATABASE "example" WITH (FORCE)')
    assert list(config.voicemail.mailboxes) == EXPECTED
    assert [(peer.name, peer.host, peer.port) for peer in config.sip.peers] == [
        ("2000", "127.0.0.1", 5070),
        ("3000", "127.0.0.1", 5070),
    ]
    sales = config.mailbox(EXPECTED[2])
    assert sales is not None
    assert not sales.pin_changeable
    assert not config.warnings
