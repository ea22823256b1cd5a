"""voicemail.conf and sip.conf loaded from a database, as Asterisk's static realtime loads them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.core.mailbox import MailboxId
from harness.voicemail.conf.dialect import ConfigError
from harness.voicemail.conf.server_config import load_config
from tests.voicemail.realtime.conftest import Database

FIXTURE = Path(__file__).resolve().parents[3] / "fixtures" / "configs" / "standalone"

VOICEMAIL_GENERAL = "[general]\nformat=wav\nmaxmsg=50\n"
SIP_GENERAL = "[general]\nuseragent=vmharness\n"


def test_static_rows_load_the_same_configuration_as_the_files(
    database: Database, tmp_path: Path
) -> None:
    database.create("static", "ast_config")
    after = database.add_file(
        "ast_config", "voicemail.conf", (FIXTURE / "voicemail.conf").read_text()
    )
    database.add_file("ast_config", "sip.conf", (FIXTURE / "sip.conf").read_text(), after)
    directory = database.configure(
        tmp_path / "etc", {"voicemail.conf": "ast_config", "sip.conf": "ast_config"}
    )
    from_files, from_rows = load_config(FIXTURE), load_config(directory)
    assert from_rows.voicemail.mailboxes.keys() == from_files.voicemail.mailboxes.keys()
    for mailbox, config in from_files.voicemail.mailboxes.items():
        loaded = from_rows.voicemail.mailboxes[mailbox]
        assert (loaded.pin, loaded.full_name, loaded.email) == (
            config.pin,
            config.full_name,
            config.email,
        )
        assert loaded.overrides == config.overrides
    # Every setting the same; only where each was written differs (a row, not a line).
    general = dataclasses.replace(
        from_rows.voicemail.general, options=from_files.voicemail.general.options
    )
    assert general == from_files.voicemail.general
    assert [(p.name, p.host, p.defaultuser, p.mailboxes) for p in from_rows.sip.peers] == [
        (p.name, p.host, p.defaultuser, p.mailboxes) for p in from_files.sip.peers
    ]


def test_commented_rows_are_left_out(database: Database, tmp_path: Path) -> None:
    database.create("static", "ast_config")
    database.add_file("ast_config", "voicemail.conf", "[default]\n2000 => 1\n2001 => 2\n")
    database.execute("UPDATE ast_config SET commented = 1 WHERE var_name = ?", ("2001",))
    directory = database.configure(tmp_path / "etc", {"voicemail.conf": "ast_config"})
    assert list(load_config(directory).voicemail.mailboxes) == [MailboxId("2000", "default")]


def test_voicemail_and_peers_tables_take_general_from_the_files(
    database: Database, tmp_path: Path
) -> None:
    database.create("voicemail", "voicemail")
    database.create("peers", "sippeers")
    database.many(
        "INSERT INTO voicemail (uniqueid, context, mailbox, password, fullname, email, tz) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (1, "default", "2000", "4321", "Alice", "alice@example.com", None),
            (2, "sales", "3000", "-99", "Bob", None, "eastern"),
        ],
    )
    database.many(
        "INSERT INTO sippeers (id, name, type, host, port, defaultuser, mailbox) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(1, "2000", "peer", "127.0.0.1", 5070, "2000", "2000@default,3000@sales")],
    )
    directory = database.configure(
        tmp_path / "etc", {"voicemail.conf": "voicemail", "sip.conf": "sippeers"}
    )
    (directory / "voicemail.conf").write_text(
        VOICEMAIL_GENERAL + "[zonemessages]\neastern=America/New_York|'vm-received' Q\n"
    )
    (directory / "sip.conf").write_text(SIP_GENERAL)
    config = load_config(directory)
    alice = config.mailbox(MailboxId("2000", "default"))
    bob = config.mailbox(MailboxId("3000", "sales"))
    assert alice is not None
    assert bob is not None
    assert (alice.login_pin, alice.full_name, alice.email) == ("4321", "Alice", "alice@example.com")
    assert (bob.login_pin, bob.pin_changeable, bob.effective("tz")) == ("99", False, "eastern")
    assert config.voicemail.general.maxmsg == 50
    (peer,) = config.sip.peers
    assert (peer.host, peer.port, peer.defaultuser) == ("127.0.0.1", 5070, "2000")
    assert peer.mailboxes == (MailboxId("2000", "default"), MailboxId("3000", "sales"))
    assert config.sip.general.useragent == "vmharness"
    assert not config.warnings


def test_a_bad_value_in_a_row_names_the_driver_table_and_row(
    database: Database, tmp_path: Path
) -> None:
    database.create("voicemail", "voicemail")
    database.execute(
        "INSERT INTO voicemail (uniqueid, context, mailbox, password, maxmsg) "
        "VALUES (7, 'default', '2000', '1', -3)"
    )
    directory = database.configure(tmp_path / "etc", {"voicemail.conf": "voicemail"})
    with pytest.raises(
        ConfigError, match=rf"^{database.driver}:{database.database}/voicemail:7: .*maxmsg"
    ):
        load_config(directory)


def test_a_missing_table_names_the_extconfig_line(database: Database, tmp_path: Path) -> None:
    directory = database.configure(tmp_path / "etc", {"voicemail.conf": "nosuchtable"})
    with pytest.raises(ConfigError, match=r"^extconfig.conf:2: voicemail.conf: .*nosuchtable"):
        load_config(directory)


def test_a_table_of_another_shape_is_refused_with_the_columns_wanted(
    database: Database, tmp_path: Path
) -> None:
    database.execute("CREATE TABLE boxes (box VARCHAR(10), pin VARCHAR(10))")
    directory = database.configure(tmp_path / "etc", {"voicemail.conf": "boxes"})
    with pytest.raises(
        ConfigError,
        match=r"^extconfig.conf:2: voicemail.conf: table boxes has neither .*mailbox, password",
    ):
        load_config(directory)


def test_a_database_that_is_not_there_is_refused_at_its_mapping(tmp_path: Path) -> None:
    directory = tmp_path / "etc"
    directory.mkdir()
    (directory / "extconfig.conf").write_text(
        "[settings]\n; moved to the database\nvoicemail.conf => sqlite3,missing.db,ast_config\n"
    )
    with pytest.raises(
        ConfigError,
        match=r"^extconfig.conf:3: voicemail.conf: sqlite3:.*missing.db: no such database file",
    ):
        load_config(directory)
