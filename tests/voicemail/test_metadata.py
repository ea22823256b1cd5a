"""The msgNNNN.txt information file: Asterisk's layout and date line, and reading it back."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from harness.voicemail.metadata import MessageInfo, origdate

INFO = MessageInfo(
    origmailbox="1234",
    context="from-proxy",
    exten="1234",
    rdnis="2000",
    callerid='"Alice" <5551234>',
    origtime=1767625445,
    msg_id="1767625445-0000002a",
    duration=12,
    callerchan="PJSIP/proxy-00000001",
    priority=2,
)

#: The example of the protocol reference (§3.5), in Asterisk's write order.
EXPECTED_TEXT = """\
;
; Message Information file
;
[message]
origmailbox=1234
context=from-proxy
macrocontext=
exten=1234
rdnis=2000
priority=2
callerchan=PJSIP/proxy-00000001
callerid="Alice" <5551234>
origdate=Mon Jan  5 03:04:05 PM UTC 2026
origtime=1767625445
category=
msg_id=1767625445-0000002a
flag=
duration=12
"""


def strftime_origdate(unix_time: int) -> str:
    """What the C library writes for Asterisk's format, as an independent check of the table."""
    return datetime.fromtimestamp(unix_time, UTC).strftime("%a %b %e %r UTC %Y")


def test_text_is_asterisks_layout_in_write_order() -> None:
    assert INFO.to_text() == EXPECTED_TEXT


@pytest.mark.parametrize(
    ("unix_time", "expected"),
    [
        (1767625445, "Mon Jan  5 03:04:05 PM UTC 2026"),
        (0, "Thu Jan  1 12:00:00 AM UTC 1970"),  # midnight is 12 AM
        (1767571200 + 59, "Mon Jan  5 12:00:59 AM UTC 2026"),
        (1767574800, "Mon Jan  5 01:00:00 AM UTC 2026"),
        (1767614399, "Mon Jan  5 11:59:59 AM UTC 2026"),
        (1767614400, "Mon Jan  5 12:00:00 PM UTC 2026"),  # noon is 12 PM
        (1767618000, "Mon Jan  5 01:00:00 PM UTC 2026"),
        (1767657599, "Mon Jan  5 11:59:59 PM UTC 2026"),
        (1709210096, "Thu Feb 29 12:34:56 PM UTC 2024"),  # leap day, two-digit day unpadded
        (1735689599, "Tue Dec 31 11:59:59 PM UTC 2024"),
    ],
)
def test_origdate_is_strftime_r_in_utc(unix_time: int, expected: str) -> None:
    assert origdate(unix_time) == expected
    assert strftime_origdate(unix_time) == expected  # the table itself is right
    assert dataclasses.replace(INFO, origtime=unix_time).origdate == expected


def test_origdate_drops_fractions_of_a_second() -> None:
    assert origdate(1767625445.999) == "Mon Jan  5 03:04:05 PM UTC 2026"


@pytest.mark.parametrize("unix_time", range(1767571200, 1767571200 + 2 * 86400, 3599))
def test_origdate_matches_strftime_across_two_days(unix_time: int) -> None:
    assert origdate(unix_time) == strftime_origdate(unix_time)


def test_round_trip() -> None:
    assert MessageInfo.from_text(INFO.to_text()) == INFO


def test_round_trip_with_every_field_set() -> None:
    info = dataclasses.replace(
        INFO,
        category="sales; leads",
        flag="Urgent",
        macrocontext="macro-vm",
        callerid='"O\'Brien, Pat" <+15551234>',
        rdnis="unknown",
    )

    assert MessageInfo.from_text(info.to_text()) == info


def test_reads_an_asterisk_file_with_crlf_and_without_optional_fields() -> None:
    text = (
        ";\r\n; Message Information file\r\n;\r\n[message]\r\n"
        "origmailbox=2000\r\ncontext=default\r\nexten=2000\r\nrdnis=unknown\r\n"
        "priority=1\r\ncallerchan=SIP/192.0.2.1-00000002\r\ncallerid=5551234\r\n"
        "origdate=Mon Jan  5 03:04:05 PM UTC 2026\r\norigtime=1767625445\r\n"
        "category=\r\nmsg_id=1767625445-00000000\r\nflag=\r\nduration=4\r\n"
    )

    info = MessageInfo.from_text(text)

    assert info == MessageInfo(
        origmailbox="2000",
        context="default",
        exten="2000",
        rdnis="unknown",
        callerid="5551234",
        origtime=1767625445,
        msg_id="1767625445-00000000",
        duration=4,
        callerchan="SIP/192.0.2.1-00000002",
    )


def test_empty_duration_reads_as_zero() -> None:
    # Asterisk appends duration= after recording; a file caught before that has none.
    text = EXPECTED_TEXT.replace("duration=12", "duration=")

    assert MessageInfo.from_text(text).duration == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"msg0003\.txt: not a message information file \(no \[message\] section\)"),
        ("origmailbox=1\n", r"msg0003\.txt: not a message information file"),
        ("[other]\nx=1\n", r"no \[message\] section"),
        (EXPECTED_TEXT.replace("duration=12", "duration=12s"), r"duration='12s' is not a number"),
        (EXPECTED_TEXT.replace("origtime=1767625445", "origtime=soon"), r"origtime='soon'"),
        (EXPECTED_TEXT.replace("msg_id=1767625445-0000002a\n", ""), r"missing msg_id"),
        (
            EXPECTED_TEXT.replace("origmailbox=1234\n", "").replace("callerid=", "callerID="),
            r"missing origmailbox, callerid",
        ),
        (EXPECTED_TEXT + "duration=13\n", r"msg0003\.txt.*duration"),
    ],
)
def test_broken_files_give_a_clear_value_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MessageInfo.from_text(text, "INBOX/msg0003.txt")


@pytest.mark.parametrize("field", ["callerid", "category", "callerchan"])
def test_a_line_break_in_a_value_is_refused(field: str) -> None:
    changes: dict[str, Any] = {field: "Bob\nduration=999"}
    with pytest.raises(ValueError, match=f"{field}=.*line break"):
        dataclasses.replace(INFO, **changes)
