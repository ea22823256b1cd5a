"""Via values (RFC 3261 §20.42): sent-protocol, sent-by, parameters, white space."""

import pytest

from harness.sip.errors import SIPParseError
from harness.sip.via import Via


def test_plain_via() -> None:
    via = Via.parse(
        "SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;rport;received=192.0.2.1"
    )

    assert (via.protocol, via.transport, via.host, via.port) == (
        "SIP/2.0",
        "UDP",
        "pc33.atlanta.com",
        5066,
    )
    assert via.branch == "z9hG4bK776asdhds"
    assert via.param("rport") == ""
    assert via.param("received") == "192.0.2.1"
    assert via.sent_by == "pc33.atlanta.com:5066"


@pytest.mark.parametrize(
    ("text", "transport", "host", "branch"),
    [
        ("SIP  /   2.0 /UDP 192.0.2.2;branch=390skdjuw", "UDP", "192.0.2.2", "390skdjuw"),
        (
            "SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8",
            "TCP",
            "spindle.example.com",
            "z9hG4bK9ikj8",
        ),
        (
            "SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239",
            "UDP",
            "192.168.255.111",
            "z9hG4bK30239",
        ),
        (
            "SIP/2.0/tcp host.example.com;branch=z9hG4bK209%fzsnel234",
            "TCP",
            "host.example.com",
            "z9hG4bK209%fzsnel234",
        ),
        (
            "SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en",
            "UNKNOWN",
            "t4.example.com",
            "z9hG4bKasd0f3en",
        ),
        (
            "SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~",
            "TCP",
            "host1.example.com",
            "z9hG4bK-.!%66*_+`'~",
        ),
    ],
)
def test_linear_white_space_and_token_characters(
    text: str, transport: str, host: str, branch: str
) -> None:
    via = Via.parse(text)

    assert (via.transport, via.host, via.branch) == (transport, host, branch)


def test_ipv6_sent_by_with_spaces_around_the_port_colon() -> None:
    via = Via.parse("SIP/2.0/UDP [2001:db8::9] : 5060;branch=z9hG4bKx")

    assert (via.host, via.port) == ("[2001:db8::9]", 5060)


def test_via_without_branch_is_rfc2543_style() -> None:
    via = Via.parse("SIP/2.0/UDP iftgw.example.com")

    assert via.branch is None
    assert via.params == ()


@pytest.mark.parametrize(
    ("text", "offset", "reason"),
    [
        ("SIP/2.0 192.0.2.1", 0, "malformed Via"),
        ("SIP/2.0/UDP", 11, "without a sent-by host"),
        ("SIP/2.0/UDP 192.0.2.15;;", 23, "empty parameter"),
        ("SIP/2.0/UDP host:70000", 17, "out of range"),
        ("SIP/2.0/UDP bad_host", 12, "invalid host"),
        ("SIP/2.0/U@P host", 0, "invalid Via transport"),
    ],
)
def test_malformed_via(text: str, offset: int, reason: str) -> None:
    with pytest.raises(SIPParseError) as caught:
        Via.parse(text)

    assert reason in caught.value.reason
    assert caught.value.offset == offset


def test_with_params_keeps_order_and_drops_the_received_text() -> None:
    via = Via.parse("SIP/2.0/UDP  host:5060 ;branch=z9hG4bKa;rport")

    stamped = via.with_params(received="192.0.2.7", rport="5062")

    assert str(stamped) == "SIP/2.0/UDP host:5060;branch=z9hG4bKa;rport=5062;received=192.0.2.7"
    assert str(via) == "SIP/2.0/UDP  host:5060 ;branch=z9hG4bKa;rport"
    assert Via.parse(str(stamped)) == stamped
