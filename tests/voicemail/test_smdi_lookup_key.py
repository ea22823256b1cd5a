"""What a call is looked up by on the SMDI MD queue: as an Asterisk dialplan chooses."""

from __future__ import annotations

import pytest

from harness.sip.builder import new_request
from harness.sip.message import Request
from harness.voicemail.smdi import SmdiOptions, lookup_key


def invite(*headers: tuple[str, str]) -> Request:
    return new_request(
        "INVITE",
        "sip:smdi@192.0.2.10",
        from_address="<sip:2001@pbx.example.com>",
        to_address="<sip:smdi@192.0.2.10>",
        local=("192.0.2.5", 5060),
        headers=headers,
    )


@pytest.mark.parametrize(
    ("key", "found"),
    [
        ("request-uri", "smdi"),
        ("caller-id", "2001"),
        ("header:X-Station", "2002"),
        ("header:X-Missing", ""),
    ],
)
def test_the_lookup_key_is_the_request_uri_the_caller_id_or_a_header(key: str, found: str) -> None:
    assert lookup_key(invite(("X-Station", "2002")), key) == found


def test_an_unknown_lookup_key_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="expected request-uri, caller-id or header:NAME"):
        SmdiOptions(key="to")
