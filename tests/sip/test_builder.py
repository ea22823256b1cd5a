"""Building requests, responses and CANCELs; every header written parses back."""

from __future__ import annotations

import pytest

from harness.sip.address import Address
from harness.sip.builder import (
    make_cancel,
    make_response,
    new_branch,
    new_call_id,
    new_request,
    new_tag,
    reason_phrase,
)
from harness.sip.message import Message, Request, parse_message
from harness.sip.uri import URI
from harness.sip.via import MAGIC_COOKIE, Via

LOCAL = ("192.0.2.1", 5070)


def register(**overrides: object) -> Request:
    arguments: dict[str, object] = {
        "from_address": '"Phone 2000" <sip:2000@example.com>',
        "to_address": "<sip:2000@example.com>",
        "local": LOCAL,
    }
    arguments.update(overrides)
    return new_request("REGISTER", "sip:example.com", **arguments)  # type: ignore[arg-type]


def round_trip(message: Message) -> Message:
    """Encode, parse, and re-read every structured header; returns the parsed message."""
    again = parse_message(message.to_bytes())
    for name in ("From", "To", "Contact", "Route", "Record-Route"):
        for value in again.header_values(name):
            Address.parse(value)
    for value in again.header_values("Via"):
        Via.parse(value)
    if isinstance(again, Request):
        URI.parse(again.uri)
    again.cseq  # noqa: B018 - raises when malformed
    assert again.without_header("Content-Length") == message
    return again


def test_identifiers_are_fresh_and_well_formed() -> None:
    branches = {new_branch() for _ in range(100)}
    assert len(branches) == 100
    assert all(branch.startswith(MAGIC_COOKIE) for branch in branches)
    assert len({new_tag() for _ in range(100)}) == 100
    assert new_call_id("example.com").endswith("@example.com")
    assert new_call_id() != new_call_id()


@pytest.mark.parametrize("method", ["REGISTER", "INVITE", "SUBSCRIBE", "NOTIFY", "OPTIONS"])
def test_new_request_fills_the_mandatory_headers(method: str) -> None:
    request = new_request(
        method,
        "sip:2000@example.com",
        from_address="<sip:vm@example.com>",
        to_address="<sip:2000@example.com>",
        local=LOCAL,
        cseq=5,
        headers=(("Event", "message-summary"),),
        body=b"Messages-Waiting: yes\r\n",
        content_type="application/simple-message-summary",
    )
    round_trip(request)
    via = Via.parse(request.header("Via") or "")
    assert (via.transport, via.host, via.port) == ("UDP", "192.0.2.1", 5070)
    assert (via.branch or "").startswith(MAGIC_COOKIE)
    assert via.param("rport") == ""
    assert request.header("Max-Forwards") == "70"
    assert Address.parse(request.header("From") or "").tag
    assert Address.parse(request.header("To") or "").tag is None
    assert request.call_id
    assert request.cseq == (5, method)
    assert request.header("Contact") == "<sip:vm@192.0.2.1:5070>"
    assert request.header("Event") == "message-summary"
    assert request.header("Content-Type") == "application/simple-message-summary"


def test_new_request_keeps_what_it_is_given() -> None:
    request = register(
        call_id="abc@host",
        from_tag="mine",
        branch="z9hG4bKfixed",
        contact="<sip:2000@192.0.2.1:5070>;expires=3600",
        route=("<sip:proxy.example.com;lr>",),
        transport="TCP",
    )
    round_trip(request)
    assert request.call_id == "abc@host"
    assert Address.parse(request.header("From") or "").tag == "mine"
    assert Address.parse(request.header("From") or "").display_name == "Phone 2000"
    assert request.header("Via") == "SIP/2.0/TCP 192.0.2.1:5070;branch=z9hG4bKfixed;rport"
    assert request.header("Contact") == "<sip:2000@192.0.2.1:5070>;expires=3600"
    assert request.header_values("Route") == ["<sip:proxy.example.com;lr>"]


def test_default_contact_names_a_non_udp_transport() -> None:
    request = register(transport="TCP")
    assert request.header("Contact") == "<sip:2000@192.0.2.1:5070;transport=tcp>"


def test_ipv6_local_address_is_bracketed() -> None:
    request = register(local=("2001:db8::1", 5060))
    round_trip(request)
    assert Via.parse(request.header("Via") or "").host == "[2001:db8::1]"
    assert request.header("Contact") == "<sip:2000@[2001:db8::1]:5060>"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"from_address": "not an address <"}, "From"),
        ({"cseq": 2**31}, "CSeq"),
        ({"body": b"x"}, "content_type"),
    ],
)
def test_new_request_names_bad_input(overrides: dict[str, object], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        register(**overrides)


def test_new_request_refuses_a_bad_method() -> None:
    with pytest.raises(ValueError, match="invalid method"):
        new_request(
            "BAD METHOD", "sip:a@b", from_address="sip:a@b", to_address="sip:a@b", local=LOCAL
        )


def test_response_copies_what_rfc_3261_8_2_6_asks() -> None:
    request = (
        register()
        .with_header("Via", "SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKproxy")
        .with_header("Record-Route", "<sip:proxy.example.com;lr>")
    )
    response = make_response(request, 200, to_tag="reg", contact="<sip:2000@192.0.2.1:5070>")

    round_trip(response)
    assert (response.status, response.reason) == (200, "OK")
    assert response.header_values("Via") == request.header_values("Via")
    assert response.header("From") == request.header("From")
    assert Address.parse(response.header("To") or "").tag == "reg"
    assert response.call_id == request.call_id
    assert response.cseq == request.cseq
    assert response.header_values("Record-Route") == ["<sip:proxy.example.com;lr>"]
    assert response.header("Contact") == "<sip:2000@192.0.2.1:5070>"


def test_100_trying_has_no_to_tag_and_echoes_timestamp() -> None:
    request = register().with_header("Timestamp", "54")
    trying = make_response(request, 100)
    assert Address.parse(trying.header("To") or "").tag is None
    assert trying.header("Timestamp") == "54"


def test_error_response_carries_no_record_route_and_keeps_an_existing_to_tag() -> None:
    request = (
        register()
        .replace_header("To", "<sip:2000@example.com>;tag=already")
        .with_header("Record-Route", "<sip:proxy.example.com;lr>")
    )
    response = make_response(request, 481)
    assert response.reason == "Call/Transaction Does Not Exist"
    assert not response.has("Record-Route")
    assert Address.parse(response.header("To") or "").tag == "already"


def test_response_without_tag_argument_gets_a_fresh_tag() -> None:
    tag = Address.parse(make_response(register(), 404).header("To") or "").tag
    assert tag


@pytest.mark.parametrize(
    ("status", "reason"), [(99, "outside"), (700, "outside"), (299, "reason=")]
)
def test_response_status_must_be_known(status: int, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        make_response(register(), status)
    with pytest.raises(ValueError, match=reason):
        reason_phrase(status)


def test_unregistered_status_takes_the_reason_given() -> None:
    assert make_response(register(), 299, "Custom").reason == "Custom"


def test_cancel_mirrors_the_request_it_cancels() -> None:
    invite = new_request(
        "INVITE",
        "sip:2000@example.com",
        from_address="<sip:1000@example.com>",
        to_address="<sip:2000@example.com>",
        local=LOCAL,
        cseq=9,
        route=("<sip:proxy.example.com;lr>",),
    ).with_header("Via", "SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKbelow")
    cancel = make_cancel(invite)
    round_trip(cancel)
    assert cancel.method == "CANCEL"
    assert cancel.uri == invite.uri
    assert cancel.header_values("Via") == [invite.header("Via")]
    assert cancel.cseq == (9, "CANCEL")
    for name in ("From", "To", "Call-ID"):
        assert cancel.header(name) == invite.header(name)
    assert cancel.header_values("Route") == invite.header_values("Route")


def test_ack_cannot_be_cancelled() -> None:
    ack = register().replace_header("CSeq", "1 ACK")
    ack = Request("ACK", ack.uri, ack.headers)
    with pytest.raises(ValueError, match="ACK cannot be cancelled"):
        make_cancel(ack)
