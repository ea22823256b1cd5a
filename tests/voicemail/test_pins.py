"""PINs where Asterisk keeps them: the mailbox line of voicemail.conf, or secret.conf."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.core.mailbox import MailboxId
from harness.voicemail.conf.dialect import ConfigError
from harness.voicemail.conf.voicemail_conf import MailboxConfig, load_voicemail_conf
from harness.voicemail.pins import PinChangeError, change_pin, read_spool_pin, stored_pin

CONF = (
    b"; voicemail for the front office\r\n"
    b"[general]\r\n"
    b"format=wav\r\n"
    b"\r\n"
    b"[default]\r\n"
    b"1234 => 4242,Alice M\xfcller,alice@example.com,,attach=no|tz=eastern ; front desk\r\n"
    b"2000=>-1111,Bob\r\n"
    b"3000 =>  ,Carol ; no PIN yet\r\n"
    b"4000 => 5555\r\n"
)


def load(directory: Path, data: bytes = CONF) -> dict[str, MailboxConfig]:
    (directory / "voicemail.conf").write_bytes(data)
    config = load_voicemail_conf(directory / "voicemail.conf")
    return {mailbox.box: box for mailbox, box in config.mailboxes.items()}


def conf_change(directory: Path, box: str, pin: str) -> None:
    config = load(directory)[box]
    change_pin(config, pin, directory / "spool", "voicemailconf", config_dir=directory)


@pytest.mark.parametrize(
    ("box", "pin", "before", "after"),
    [
        ("1234", "9876", b"1234 => 4242,Alice", b"1234 => 9876,Alice"),
        ("3000", "1", b"3000 =>  ,Carol", b"3000 =>  1,Carol"),
        ("4000", "123456", b"4000 => 5555\r\n", b"4000 => 123456\r\n"),
    ],
)
def test_only_the_pin_of_the_mailbox_line_changes(
    tmp_path: Path, box: str, pin: str, before: bytes, after: bytes
) -> None:
    conf_change(tmp_path, box, pin)

    assert (tmp_path / "voicemail.conf").read_bytes() == CONF.replace(before, after)
    assert load(tmp_path, (tmp_path / "voicemail.conf").read_bytes())[box].pin == pin
    assert [p.name for p in tmp_path.iterdir()] == ["voicemail.conf"]  # no temporary left


def test_the_rest_of_the_line_keeps_its_fields_and_comment(tmp_path: Path) -> None:
    conf_change(tmp_path, "1234", "0000")

    changed = load(tmp_path, (tmp_path / "voicemail.conf").read_bytes())["1234"]
    assert (changed.pin, changed.full_name, changed.email) == (
        "0000",
        "Alice M\xfcller",
        "alice@example.com",
    )
    assert dict(changed.options) == {"attach": "no", "tz": "eastern"}
    assert (changed.file, changed.line) == ("voicemail.conf", 6)


def test_a_changed_line_is_not_overwritten(tmp_path: Path) -> None:
    config = load(tmp_path)["1234"]
    edited = CONF.replace(b"4242,Alice", b"4243,Alice")
    (tmp_path / "voicemail.conf").write_bytes(edited)

    with pytest.raises(PinChangeError, match=r"voicemail.conf:6: the line changed since it was"):
        change_pin(config, "9876", tmp_path / "spool", "voicemailconf", config_dir=tmp_path)
    assert (tmp_path / "voicemail.conf").read_bytes() == edited


@pytest.mark.parametrize(
    "edit",
    [
        lambda data: data.replace(b"[general]\r\n", b""),  # every line moved up one
        lambda data: data.replace(b"Alice M\xfcller", b"Alice Miller"),
        lambda data: data.replace(b"1234 =>", b"1235 =>"),
        lambda data: b"; short now\n",
    ],
    ids=["moved", "name", "box", "truncated"],
)
def test_a_line_that_no_longer_matches_is_refused(
    tmp_path: Path, edit: Callable[[bytes], bytes]
) -> None:
    config = load(tmp_path)["1234"]
    edited = edit(CONF)
    (tmp_path / "voicemail.conf").write_bytes(edited)

    with pytest.raises(PinChangeError, match=r"voicemail.conf:6: the "):
        change_pin(config, "9876", tmp_path / "spool", "voicemailconf", config_dir=tmp_path)
    assert (tmp_path / "voicemail.conf").read_bytes() == edited


def test_a_pin_marked_with_a_dash_cannot_be_changed(tmp_path: Path) -> None:
    with pytest.raises(PinChangeError, match=r"2000@default: the PIN starts with '-'"):
        conf_change(tmp_path, "2000", "1234")
    assert (tmp_path / "voicemail.conf").read_bytes() == CONF


@pytest.mark.parametrize("pin", ["", "12 34", "1,2", "12;3", "-123", "12\n3", "\uff11\uff12"])
def test_a_pin_must_be_keys(tmp_path: Path, pin: str) -> None:
    with pytest.raises(
        PinChangeError, match=r"1234@default: new PIN .* must be keys 0-9, \* or A-D"
    ):
        conf_change(tmp_path, "1234", pin)
    assert (tmp_path / "voicemail.conf").read_bytes() == CONF


def test_the_file_keeps_its_permissions_and_its_symbolic_link(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "voicemail.conf").write_bytes(CONF)
    os.chmod(real / "voicemail.conf", 0o640)
    (tmp_path / "voicemail.conf").symlink_to(real / "voicemail.conf")
    config = load_voicemail_conf(tmp_path / "voicemail.conf").mailboxes[MailboxId("1234")]

    change_pin(config, "9876", tmp_path / "spool", "voicemailconf", config_dir=tmp_path)

    assert (tmp_path / "voicemail.conf").is_symlink()
    assert b"1234 => 9876,Alice" in (real / "voicemail.conf").read_bytes()
    assert stat.S_IMODE(os.stat(real / "voicemail.conf").st_mode) == 0o640


def test_a_mailbox_in_an_included_file_is_changed_there(tmp_path: Path) -> None:
    (tmp_path / "users").mkdir()
    (tmp_path / "users" / "office.conf").write_bytes(b"; office\n5000 => 1111,Dave\n")
    main = b'[general]\n[default]\n#include "users/office.conf"\n'
    (tmp_path / "voicemail.conf").write_bytes(main)
    config = load_voicemail_conf(tmp_path / "voicemail.conf").mailboxes[MailboxId("5000")]

    change_pin(config, "2222", tmp_path / "spool", "voicemailconf", config_dir=tmp_path)

    assert (tmp_path / "users" / "office.conf").read_bytes() == b"; office\n5000 => 2222,Dave\n"
    assert (tmp_path / "voicemail.conf").read_bytes() == main


def test_a_mailbox_written_in_a_template_is_refused(tmp_path: Path) -> None:
    data = b"[general]\n[shared](!)\n6000 => 1111,Eve\n[sales](shared)\n"
    (tmp_path / "voicemail.conf").write_bytes(data)
    config = load_voicemail_conf(tmp_path / "voicemail.conf").mailboxes[MailboxId("6000", "sales")]

    with pytest.raises(PinChangeError, match=r"voicemail.conf:3: .* is written in \[shared\]"):
        change_pin(config, "2222", tmp_path / "spool", "voicemailconf", config_dir=tmp_path)
    assert (tmp_path / "voicemail.conf").read_bytes() == data


def test_a_relative_file_needs_the_configuration_directory(tmp_path: Path) -> None:
    config = load(tmp_path)["1234"]

    with pytest.raises(
        ValueError, match=r"voicemail.conf:6: a relative file name needs config_dir"
    ):
        change_pin(config, "9876", tmp_path / "spool", "voicemailconf")


def test_an_unknown_location_is_an_error(tmp_path: Path) -> None:
    config = load(tmp_path)["1234"]

    with pytest.raises(ValueError, match=r"passwordlocation 'database': expected one of"):
        change_pin(config, "9876", tmp_path / "spool", "database", config_dir=tmp_path)


# -- passwordlocation=spooldir -------------------------------------------------------------


def test_spooldir_writes_secret_conf_and_leaves_voicemail_conf_alone(tmp_path: Path) -> None:
    config = load(tmp_path)["1234"]
    box_dir = tmp_path / "spool" / "default" / "1234"

    change_pin(config, "7777", box_dir, "spooldir")

    assert (box_dir / "secret.conf").read_bytes() == b"[general]\npassword=7777\n"
    assert stat.S_IMODE(os.stat(box_dir / "secret.conf").st_mode) == 0o600
    assert read_spool_pin(box_dir) == "7777"
    assert (tmp_path / "voicemail.conf").read_bytes() == CONF
    assert list((box_dir / "tmp").iterdir()) == []

    change_pin(config, "8888", box_dir, "spooldir")
    assert read_spool_pin(box_dir) == "8888"


def test_secret_conf_overrides_voicemail_conf_with_spooldir_only(tmp_path: Path) -> None:
    general = CONF.replace(b"format=wav", b"passwordlocation=spooldir")
    spooled = load(tmp_path, general)["1234"]
    plain = load(tmp_path, CONF)["1234"]
    box_dir = tmp_path / "spool" / "default" / "1234"

    assert stored_pin(spooled, box_dir) == "4242"  # no secret.conf yet
    change_pin(spooled, "7777", box_dir, "spooldir")
    assert stored_pin(spooled, box_dir) == "7777"
    assert stored_pin(plain, box_dir) == "4242"


def test_a_dash_in_secret_conf_keeps_the_pin(tmp_path: Path) -> None:
    spooled = load(tmp_path, CONF.replace(b"format=wav", b"passwordlocation=spooldir"))["1234"]
    box_dir = tmp_path / "box"
    box_dir.mkdir()
    (box_dir / "secret.conf").write_text("[general]\npassword = -1357\n")

    assert stored_pin(spooled, box_dir) == "-1357"
    with pytest.raises(PinChangeError, match="starts with '-'"):
        change_pin(spooled, "2468", box_dir, "spooldir")
    assert read_spool_pin(box_dir) == "-1357"


@pytest.mark.parametrize(
    ("text", "pin"),
    [
        ("[general]\npassword=1234\n", "1234"),
        (";!\n;! Automatically generated\n[general]\npassword = 5678 ; set by phone\n", "5678"),
        ("[general]\nsomething=else\n", None),
        ("[other]\npassword=1234\n", None),
        ("[general]\npassword=\n", ""),
    ],
)
def test_secret_conf_is_read_as_asterisk_writes_it(
    tmp_path: Path, text: str, pin: str | None
) -> None:
    (tmp_path / "secret.conf").write_text(text)

    assert read_spool_pin(tmp_path) == pin


def test_no_secret_conf_means_no_spool_pin(tmp_path: Path) -> None:
    assert read_spool_pin(tmp_path) is None
    assert read_spool_pin(tmp_path / "missing") is None


def test_a_broken_secret_conf_is_named(tmp_path: Path) -> None:
    (tmp_path / "secret.conf").write_text("password=1234\n")

    with pytest.raises(ConfigError, match=r"secret.conf:1: option outside any section"):
        read_spool_pin(tmp_path)
