"""A deposit's information: caller ID and redirect details as app_voicemail writes them."""

from __future__ import annotations

import re

import pytest

from harness.core.mailbox import MailboxId
from harness.core.routing import CONVENTIONS, Convention, Reason, Redirect, Resolution, Router
from harness.sip.builder import new_request
from harness.sip.message import Request, parse_message
from harness.sip.uri import URI
from harness.voicemail.deposit import Deposit, MessageIds
from harness.voicemail.incoming import IncomingCall
from harness.voicemail.metadata import MessageInfo

VOICEMAIL = URI(scheme="sip", host="192.0.2.10", port=5070)
STARTED = 1767625445.75


def invite(from_address: str = '"Alice" <sip:5551234@pbx.example.com>') -> Request:
    return new_request(
        "INVITE",
        "sip:2000@pbx.example.com",
        from_address=from_address,
        to_address="<sip:2000@pbx.example.com>",
        local=("192.0.2.5", 5060),
    )


def forwarded(name: Convention, reason: Reason = Reason.USER_BUSY) -> Request:
    """The INVITE as the voicemail server receives it from a proxy using convention ``name``."""
    redirect = Redirect(MailboxId("2000"), reason, "pbx.example.com")
    parsed = parse_message(CONVENTIONS[name].apply(invite(), redirect, VOICEMAIL).to_bytes())
    assert isinstance(parsed, Request)
    return parsed


# --------------------------------------------------------------------------- caller ID


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ('"Alice" <sip:5551234@pbx.example.com>', '"Alice" <5551234>'),
        ('"Alice Smith" <sip:+15551234@pbx.example.com;user=phone>', '"Alice Smith" <+15551234>'),
        ("Alice <sip:5551234@pbx.example.com>", '"Alice" <5551234>'),
        ("<sip:5551234@pbx.example.com>", "5551234"),
        ("sip:5551234@pbx.example.com", "5551234"),
        ('"" <sip:5551234@pbx.example.com>', "5551234"),
        ("<tel:+15551234>", "+15551234"),
        ('"Alice" <sip:pbx.example.com>', "Alice"),
        ("<sip:pbx.example.com>", "Unknown"),
        ('"Anonymous" <sip:anonymous@anonymous.invalid>', '"Anonymous" <anonymous>'),
    ],
)
def test_caller_id_as_ast_callerid_merge_writes_it(sender: str, expected: str) -> None:
    assert IncomingCall.parse(invite(sender)).callerid == expected


def test_caller_id_without_from_or_with_a_broken_one_is_unknown() -> None:
    assert IncomingCall.parse(invite().without_header("From")).callerid == "Unknown"
    assert (
        IncomingCall.parse(invite().replace_header("From", '"Alice <sip:5551234@x>')).callerid
        == "Unknown"
    )


# --------------------------------------------------------------------------- from_invite


@pytest.mark.parametrize(
    ("name", "exten", "rdnis"),
    [
        (Convention.X_VOICEMAIL, "2000", "unknown"),
        (Convention.REQUEST_URI, "2000", "unknown"),
        (Convention.TO, "2000", "unknown"),
        (Convention.DIVERSION, "2000", "2000"),
        (Convention.HISTORY_INFO, "2000", "2000"),
        (Convention.RFC4458, "voicemail", "2000"),
    ],
)
def test_deposit_from_each_convention(name: Convention, exten: str, rdnis: str) -> None:
    request = forwarded(name)
    resolution = Router.of([name]).resolve(request)
    assert resolution is not None

    deposit = Deposit.from_call(
        IncomingCall.parse(request), resolution, "SIP/192.0.2.1-00000001", STARTED
    )

    assert deposit.mailbox == MailboxId("2000")
    assert deposit.callerid == '"Alice" <5551234>'
    # exten is the Request-URI user (${EXTEN}), or the box when the Request-URI has none.
    assert deposit.exten == exten
    assert deposit.rdnis == rdnis
    assert deposit.reason is resolution.reason
    assert deposit.callerchan == "SIP/192.0.2.1-00000001"
    assert deposit.started == STARTED


def test_redirect_information_of_a_later_header_fills_rdnis_and_greeting() -> None:
    request = forwarded(Convention.X_VOICEMAIL).with_header(
        "Diversion", "<sip:3000@pbx.example.com>;reason=user-busy;counter=1"
    )
    resolution = Router().resolve(request)
    assert resolution is not None

    deposit = Deposit.from_call(IncomingCall.parse(request), resolution, "SIP/x-1", STARTED)

    assert deposit.mailbox == MailboxId("2000")
    assert deposit.rdnis == "3000"
    assert deposit.busy is True


@pytest.mark.parametrize(
    ("reason", "busy"),
    [(None, False), *((reason, reason is Reason.USER_BUSY) for reason in Reason)],
)
def test_only_a_busy_redirect_plays_the_busy_greeting(reason: Reason | None, busy: bool) -> None:
    resolution = Resolution(MailboxId("2000"), reason, "diversion", "2000")

    deposit = Deposit.from_call(IncomingCall.parse(invite()), resolution, "SIP/x-1", STARTED)

    assert deposit.busy is busy


def test_exten_falls_back_to_the_box_when_the_request_uri_is_unreadable() -> None:
    request = Request("INVITE", "sip:bad host", invite().headers)
    resolution = Resolution(MailboxId("2000"), None, "x-voicemail")

    deposit = Deposit.from_call(IncomingCall.parse(request), resolution, "SIP/x-1", STARTED)

    assert deposit.exten == "2000"


def test_info_fills_every_field_of_the_message_file() -> None:
    request = forwarded(Convention.DIVERSION, Reason.NO_ANSWER)
    resolution = Router().resolve(request)
    assert resolution is not None
    deposit = Deposit.from_call(
        IncomingCall.parse(request), resolution, "SIP/192.0.2.1-00000001", STARTED
    )

    info = deposit.info(12.9, "1767625445-0000002a")

    assert info == MessageInfo(
        origmailbox="2000",
        context="default",
        exten="2000",
        rdnis="2000",
        callerid='"Alice" <5551234>',
        origtime=1767625445,
        msg_id="1767625445-0000002a",
        duration=12,
        callerchan="SIP/192.0.2.1-00000001",
    )
    assert "origdate=Mon Jan  5 03:04:05 PM UTC 2026\n" in info.to_text()


def test_urgent_deposit_is_flagged() -> None:
    resolution = Resolution(MailboxId("2000", "sales"), None, "x-voicemail")
    deposit = Deposit.from_call(IncomingCall.parse(invite()), resolution, "SIP/x-1", STARTED)

    assert deposit.info(3, "1-00000000", urgent=True).flag == "Urgent"
    assert deposit.info(3, "1-00000000").flag == ""
    assert deposit.info(3, "1-00000000").context == "sales"


# --------------------------------------------------------------------------- msg_id


def test_message_ids_are_time_and_eight_hex_digits_of_a_counter() -> None:
    ids = MessageIds()

    first = ids.next(1767625445.9)
    second = ids.next(1767625445.1)
    third = ids.next(1767625500)

    assert (first, second, third) == (
        "1767625445-00000000",
        "1767625445-00000001",
        "1767625500-00000002",
    )
    assert all(re.fullmatch(r"[0-9]+-[0-9a-f]{8}", value) for value in (first, second, third))


def test_message_ids_start_where_asked_and_wrap_at_32_bits() -> None:
    ids = MessageIds(start=0xFFFFFFFE)

    values = [ids.next(10) for _ in range(3)]

    assert values == ["10-fffffffe", "10-ffffffff", "10-00000000"]
    assert MessageIds(start=42).next(1) == "1-0000002a"


def test_message_ids_are_unique_across_many_deposits() -> None:
    ids = MessageIds()

    values = {ids.next(1767625445) for _ in range(1000)}

    assert len(values) == 1000


def test_the_txt_context_is_the_channels_not_the_mailboxs() -> None:
    # Asterisk writes ast_channel_context(): the calling peer's context=, whatever the box's.
    resolution = Resolution(MailboxId("2000", "sales"), None, "x-voicemail")
    deposit = Deposit.from_call(
        IncomingCall.parse(invite()), resolution, "SIP/x-1", STARTED, "from-proxy"
    )

    assert deposit.info(3, "1-00000000").context == "from-proxy"
    assert deposit.info(3, "1-00000000").origmailbox == "2000"
