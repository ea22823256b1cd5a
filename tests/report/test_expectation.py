"""Expectations in plain words, from the step as the scenario file wrote it."""

from __future__ import annotations

from typing import Any

import pytest

from harness.report.expectation import expectation


@pytest.mark.parametrize(
    ("kind", "spec", "sentence"),
    [
        (
            "expect_notify",
            {"phone": "2000", "waiting": True, "voice": "2/0", "within": 1.0},
            "phone 2000 receives a NOTIFY with Messages-Waiting: yes, Voice-Message: 2/0 "
            "within 1 s",
        ),
        (
            "deposit",
            {
                "to": "2000@default",
                "from": "+1555",
                "reason": "user-busy",
                "seconds": 4.0,
                "expect_status": 200,
            },
            "a call from +1555 to 2000@default (user-busy) is forwarded to the voicemail server, "
            "answered 200, and leaves 4 s of audio",
        ),
        (
            "deposit",
            {
                "to": "9@default",
                "from": "1",
                "reason": "no-answer",
                "seconds": 3.0,
                "expect_status": 404,
            },
            "a call from 1 to 9@default (no-answer) is answered 404",
        ),
        (
            "expect_spool",
            {"mailbox": "2000@default", "folder": "Old", "count": 1},
            "2000@default folder Old holds 1 message",
        ),
        (
            "expect_no_notify",
            {"phone": "2000", "within": 2.0},
            "phone 2000 receives no NOTIFY for 2 s",
        ),
        (
            "retrieve",
            {"phone": "2000", "pin": "4321", "keys": ["1", "7", "#"]},
            "phone 2000 calls voicemail, logs in with PIN 4321 and presses 1 7 #",
        ),
        ("wait", {"seconds": 0.5}, "0.5 s pass"),
    ],
)
def test_known_steps_read_as_sentences(kind: str, spec: dict[str, Any], sentence: str) -> None:
    assert expectation(kind, spec) == sentence


def test_an_unknown_step_or_field_lists_what_was_written() -> None:
    assert expectation("transfer", {"to": "3000", "blind": True}) == (
        "transfer succeeds (to: 3000, blind: yes)"
    )
    assert expectation("expect_notify", {"lamp": "on"}) == "expect notify succeeds (lamp: on)"
