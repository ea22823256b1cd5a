"""extconfig.conf as an operator writes it: static mappings used, dynamic sippeers refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.voicemail.conf.dialect import ConfigError
from harness.voicemail.conf.extconfig import load_extconfig


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "extconfig.conf"
    path.write_text(text)
    return path


def test_static_mappings_name_driver_database_and_table(tmp_path: Path) -> None:
    ext = load_extconfig(
        write(
            tmp_path,
            "[settings]\nvoicemail.conf => sqlite3,asterisk,ast_config\n"
            "sip.conf => pgsql, asterisk , sip_static\n",
        )
    )
    voicemail, sip = ext.mapping("voicemail.conf"), ext.mapping("sip.conf")
    assert voicemail is not None
    assert sip is not None
    assert (voicemail.driver, voicemail.database, voicemail.table) == (
        "sqlite3",
        "asterisk",
        "ast_config",
    )
    assert (sip.driver, sip.database, sip.table, sip.line) == ("pgsql", "asterisk", "sip_static", 3)
    assert ext.mapping("smdi.conf") is None


@pytest.mark.parametrize("family", ["sippeers", "sipusers"])
def test_dynamic_peers_are_refused_in_one_line_saying_why(tmp_path: Path, family: str) -> None:
    path = write(tmp_path, f"[settings]\n{family} => pgsql,asterisk,sippeers\n")
    with pytest.raises(ConfigError) as caught:
        load_extconfig(path)
    message = str(caught.value)
    assert message.startswith("extconfig.conf:2: ")
    assert "\n" not in message
    assert "never gets its message-waiting NOTIFY" in message
    assert "sip.conf => pgsql,asterisk,<table>" in message


def test_other_dynamic_families_and_files_are_named_as_unused(tmp_path: Path) -> None:
    ext = load_extconfig(
        write(
            tmp_path,
            "[settings]\nvoicemail => pgsql,asterisk\nextensions.conf => pgsql,asterisk,ext\n",
        )
    )
    assert [str(warning) for warning in ext.warnings] == [
        "extconfig.conf:2: voicemail is mapped for dynamic realtime, which this server does not "
        "use: it loads everything at start and on reload (map voicemail.conf or sip.conf)",
        "extconfig.conf:3: extensions.conf is not read by this server: only voicemail.conf and "
        "sip.conf may come from a database",
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (
            "voicemail.conf => odbc,asterisk,ast_config",
            "driver 'odbc' is not one of sqlite3, pgsql",
        ),
        ("voicemail.conf => sqlite3", "expected driver,database[,table]"),
        ("voicemail.conf => sqlite3,asterisk", "name the table"),
        ("voicemail.conf => pgsql,a,t,b,t", "failover to a second database is not supported"),
    ],
)
def test_a_malformed_mapping_is_named_at_its_line(tmp_path: Path, line: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=rf"^extconfig.conf:3: .*{re.escape(reason)}"):
        load_extconfig(write(tmp_path, f"[settings]\n\n{line}\n"))


def test_a_file_mapped_twice_is_refused(tmp_path: Path) -> None:
    text = "[settings]\nsip.conf => sqlite3,a,t\nsip.conf => pgsql,b,t\n"
    with pytest.raises(
        ConfigError, match=r"^extconfig.conf:3: sip.conf is already mapped at extconfig.conf:2"
    ):
        load_extconfig(write(tmp_path, text))
