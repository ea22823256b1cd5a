"""An INVITE read once into IncomingCall."""

from __future__ import annotations

from harness.sip.builder import new_request
from harness.sip.message import Request
from harness.sip.uri import URI
from harness.voicemail.incoming import IncomingCall

SDP = (
    b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def invite(body: bytes = SDP) -> Request:
    return new_request(
        "INVITE",
        URI.parse("sip:2000@vm.example.com"),
        from_address='"Alice" <sip:5551234@pbx.example.com>',
        to_address="<sip:2000@vm.example.com>",
        local=("192.0.2.5", 5060),
        body=body,
        content_type="application/sdp",
    )


def test_the_caller_the_extension_and_the_offer_are_read() -> None:
    call = IncomingCall.parse(invite())
    assert call.caller == "5551234"
    assert call.callerid == '"Alice" <5551234>'
    assert call.request_user == "2000"
    assert not call.in_dialog
    assert not call.urgent
    assert call.offer is not None
    assert call.offer_problem is None
    assert call.call_id == call.request.call_id


def test_priority_marks_a_call_urgent() -> None:
    for value, urgent in (("urgent", True), (" Emergency ", True), ("normal", False)):
        call = IncomingCall.parse(invite().with_header("Priority", value))
        assert call.urgent is urgent


def test_a_tag_on_to_is_a_call_in_progress() -> None:
    request = invite().replace_header("To", "<sip:2000@vm.example.com>;tag=abc")
    assert IncomingCall.parse(request).in_dialog


def test_what_cannot_be_read_is_none() -> None:
    request = invite(b"not sdp").without_header("From")
    call = IncomingCall.parse(request)
    assert call.caller is None
    assert call.callerid == "Unknown"
    assert call.offer is None
    assert call.offer_problem
