"""Reading the wire log as hops between named parties."""

from __future__ import annotations

from harness.scenario.wire import WireView, answers, distinct, final_answer, summary
from harness.sip.builder import make_response, new_request
from harness.sip.message import Request
from harness.sip.transaction import Peer
from harness.sip.transport import WireMessage

PHONE: Peer = ("127.0.0.1", 40000)
PROXY: Peer = ("127.0.0.1", 5060)
VOICEMAIL: Peer = ("127.0.0.1", 5070)


def invite() -> Request:
    return new_request(
        "INVITE",
        "sip:2000@127.0.0.1:5070",
        from_address="<sip:+1555@127.0.0.1>",
        to_address="<sip:2000@127.0.0.1>",
        local=PROXY,
        headers=[("X-Voicemail-Mailbox", "2000"), ("X-Other", "1"), ("Subject", "hi")],
    )


def record(party: str, direction: str, local: Peer, remote: Peer, data: bytes) -> WireMessage:
    return WireMessage(direction, data, local, remote, "UDP", 0.0, 0.0, party)  # type: ignore[arg-type]


def test_a_message_both_ends_recorded_crosses_once() -> None:
    request = invite()
    refused = make_response(request, 404, "Not Found").to_bytes()
    wire = [
        record("proxy", "out", PROXY, VOICEMAIL, request.to_bytes()),
        record("voicemail", "in", VOICEMAIL, PROXY, request.to_bytes()),
        record("proxy", "out", PROXY, VOICEMAIL, request.to_bytes()),  # a retransmission
        record("voicemail", "out", VOICEMAIL, PROXY, refused),
        record("proxy", "in", PROXY, VOICEMAIL, refused),
    ]

    crossings = WireView(wire, {}).crossings()

    assert [(c.index, c.sender, c.receiver) for c in crossings] == [
        (0, "proxy", "voicemail"),
        (2, "proxy", "voicemail"),  # the copy nobody received: the receiver is its address's
        (3, "voicemail", "proxy"),
    ]
    [(first, copies)] = distinct(c for c in crossings if isinstance(c.message, Request))
    assert (first.index, copies) == (0, 2)
    response = final_answer(first, crossings)
    assert response is not None
    assert response.status == 404
    assert [r.status for r in answers(first, crossings)] == [404]


def test_parties_the_harness_does_not_run_are_named_by_their_address() -> None:
    request = invite()
    wire = [record("voicemail", "in", VOICEMAIL, PROXY, request.to_bytes())]

    [crossing] = WireView(wire, {PROXY: "proxy"}).crossings()
    [unnamed] = WireView(wire, {}).crossings()

    assert (crossing.sender, crossing.receiver) == ("proxy", "voicemail")
    assert unnamed.sender == "127.0.0.1:5060"


def test_crossings_since_a_position_leave_earlier_ones_out() -> None:
    request = invite()
    wire = [
        record("voicemail", "in", VOICEMAIL, PROXY, request.to_bytes()),
        record("voicemail", "in", VOICEMAIL, PROXY, b"not SIP\r\n\r\n"),
        record("voicemail", "out", VOICEMAIL, PROXY, make_response(request, 200).to_bytes()),
    ]

    assert [c.index for c in WireView(wire, {}).crossings(1)] == [2]


def test_a_summary_shows_what_routes_a_call() -> None:
    text = summary(invite(), ("Subject",))

    assert text.startswith("INVITE sip:2000@127.0.0.1:5070 | From: <sip:+1555@127.0.0.1>;tag=")
    assert text.endswith(
        "| To: <sip:2000@127.0.0.1> | X-Voicemail-Mailbox: 2000 | Subject: hi | X-Other: 1"
    )
