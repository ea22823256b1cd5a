"""In-dialog requests belong to a call only with its Call-ID and both tags (RFC 3261 §12.2.2).

A stranger who saw a Call-ID (or guessed one) must not end, steer or redirect someone else's
call: a BYE, INFO or re-INVITE with made-up tags gets 481 as Asterisk answers, a CANCEL that
matches no INVITE transaction gets 481, and a re-INVITE with the right tags from another
address does not move the media unless sip.conf's ``nat=`` says the caller is behind NAT.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.voicemail.hostile.server_thread import ServerThread

SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio {rtp} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


@dataclass
class Leg:
    """The caller's side of one call set up over a raw UDP socket."""

    sock: socket.socket
    call_id: str
    from_tag: str
    to_tag: str
    server: tuple[str, int]

    def request(
        self,
        method: str,
        cseq: int,
        *,
        sock: socket.socket | None = None,
        from_tag: str | None = None,
        to_tag: str | None = None,
        body: str = "",
        extra: str = "",
        signal: str = "5",
    ) -> bytes:
        """Send an in-dialog request and return the first final answer's status line."""
        sender = sock or self.sock
        port = sender.getsockname()[1]
        content = "Content-Type: application/sdp\r\n" if body else ""
        if method == "INFO":
            content, body = (
                "Content-Type: application/dtmf-relay\r\n",
                f"Signal={signal}\r\nDuration=100\r\n",
            )
        text = (
            f"{method} sip:1000@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport\r\n"
            f"From: <sip:+15551230000@127.0.0.1>;tag={from_tag or self.from_tag}\r\n"
            f"To: <sip:1000@127.0.0.1>;tag={to_tag or self.to_tag}\r\n"
            f"Call-ID: {self.call_id}\r\nCSeq: {cseq} {method}\r\n"
            f"Contact: <sip:caller@127.0.0.1:{port}>\r\n{extra}{content}"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        )
        sender.sendto(text.encode(), self.server)
        return final_status(sender)


def final_status(sock: socket.socket) -> bytes:
    """The status line of the first final response arriving on ``sock`` (b'' on silence)."""
    sock.settimeout(2.0)
    for _ in range(200):
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return b""
        line = data.split(b"\r\n", 1)[0]
        if line.startswith(b"SIP/2.0 ") and not line.startswith(b"SIP/2.0 1"):
            return line
    return b""


def udp_socket(host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    return sock


def invite(
    sock: socket.socket, server: ServerThread, call_id: str, from_tag: str, body: str
) -> None:
    """Send an INVITE for mailbox 1000 from ``sock``."""
    port = sock.getsockname()[1]
    text = (
        f"INVITE sip:1000@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport\r\n"
        f"From: <sip:+15551230000@127.0.0.1>;tag={from_tag}\r\nTo: <sip:1000@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@127.0.0.1:{port}>\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    )
    sock.sendto(text.encode(), server.address)


def dial(server: ServerThread, sock: socket.socket, body: str = SDP.format(rtp=40000)) -> Leg:
    """INVITE mailbox 1000 from ``sock``, wait for the 200 and ACK it."""
    port = sock.getsockname()[1]
    call_id, from_tag = uuid.uuid4().hex, uuid.uuid4().hex[:8]
    invite(sock, server, call_id, from_tag, body)
    sock.settimeout(2.0)
    while True:
        data = sock.recv(65536).decode()
        if data.startswith("SIP/2.0 200"):
            break
    to_line = next(line for line in data.split("\r\n") if line.lower().startswith("to:"))
    to_tag = to_line.split("tag=", 1)[1].split(";")[0]
    leg = Leg(sock, call_id, from_tag, to_tag, server.address)
    ack = (
        f"ACK sip:voicemail@127.0.0.1:{server.address[1]} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport\r\n"
        f"From: <sip:+15551230000@127.0.0.1>;tag={from_tag}\r\n"
        f"To: <sip:1000@127.0.0.1>;tag={to_tag}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    sock.sendto(ack.encode(), server.address)
    return leg


def live_calls(server: ServerThread) -> set[str]:
    return server.call(lambda: set(server.server._calls) if server.server else set())


def media_target(server: ServerThread, call_id: str) -> tuple[str, int] | None:
    def read() -> tuple[str, int] | None:
        assert server.server is not None
        return server.server._calls[call_id].rtp.remote

    return server.call(read)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with ServerThread(tmp_path_factory.mktemp("dialogs")) as running:
        yield running


@pytest.fixture
def leg(server: ServerThread) -> Iterator[Leg]:
    with udp_socket() as sock:
        leg = dial(server, sock)
        yield leg
        leg.request("BYE", 99)


def test_a_bye_with_made_up_tags_is_481_and_the_call_goes_on(
    server: ServerThread, leg: Leg
) -> None:
    with udp_socket() as stranger:
        status = leg.request("BYE", 2, sock=stranger, from_tag="forged", to_tag="guessed")
    assert status.startswith(b"SIP/2.0 481"), status
    assert leg.call_id in live_calls(server)
    assert leg.request("BYE", 3).startswith(b"SIP/2.0 200")


def test_an_info_with_a_wrong_to_tag_is_481(server: ServerThread, leg: Leg) -> None:
    assert leg.request("INFO", 2, to_tag="wrong").startswith(b"SIP/2.0 481")
    assert leg.request("INFO", 3).startswith(b"SIP/2.0 200")


def test_a_reinvite_with_wrong_tags_is_answered_481(server: ServerThread, leg: Leg) -> None:
    status = leg.request("INVITE", 2, from_tag="forged", body=SDP.format(rtp=41000))
    assert status.startswith(b"SIP/2.0 481"), status
    assert server.records.failures() == []


def test_a_reinvite_from_another_address_does_not_move_the_media(
    server: ServerThread, leg: Leg
) -> None:
    before = media_target(server, leg.call_id)
    with udp_socket("127.0.0.2") as elsewhere:
        status = leg.request("INVITE", 2, sock=elsewhere, body=SDP.format(rtp=41000))
    assert not status.startswith(b"SIP/2.0 2"), status
    assert media_target(server, leg.call_id) == before


def test_a_reinvite_from_another_port_of_the_callers_host_moves_the_media(
    server: ServerThread, leg: Leg
) -> None:
    with udp_socket() as new_connection:
        status = leg.request("INVITE", 2, sock=new_connection, body=SDP.format(rtp=41002))
    assert status.startswith(b"SIP/2.0 200"), status
    assert media_target(server, leg.call_id) == ("127.0.0.1", 41002)


def test_a_reinvite_from_the_caller_moves_the_media(server: ServerThread, leg: Leg) -> None:
    status = leg.request("INVITE", 2, body=SDP.format(rtp=41000))
    assert status.startswith(b"SIP/2.0 200"), status
    assert media_target(server, leg.call_id) == ("127.0.0.1", 41000)


def test_a_cancel_matching_no_invite_is_481(server: ServerThread) -> None:
    with udp_socket() as sock:
        leg = Leg(sock, uuid.uuid4().hex, "f", "t", server.address)
        assert leg.request("CANCEL", 1).startswith(b"SIP/2.0 481")


def raw_request(server: ServerThread, uri: str, extra: str) -> bytes:
    """Send an OPTIONS to ``uri`` with ``extra`` header lines; the final answer's head."""
    with udp_socket() as sock:
        port = sock.getsockname()[1]
        text = (
            f"OPTIONS {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport\r\n"
            "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:1000@127.0.0.1>\r\n"
            f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\n{extra}Content-Length: 0\r\n\r\n"
        )
        sock.sendto(text.encode(), server.address)
        sock.settimeout(2.0)
        return sock.recv(65536).split(b"\r\n\r\n", 1)[0]


def test_a_request_requiring_an_unknown_extension_is_420_naming_it(server: ServerThread) -> None:
    head = raw_request(server, "sip:1000@127.0.0.1", "Require: foo, timer\r\n")
    assert head.startswith(b"SIP/2.0 420 "), head
    assert b"\r\nUnsupported: foo, timer" in head


def test_a_request_uri_of_an_unknown_scheme_is_416(server: ServerThread) -> None:
    head = raw_request(server, "http://voicemail.example/1000", "")
    assert head.startswith(b"SIP/2.0 416 "), head


def test_a_notify_matches_no_subscription_of_the_server_so_is_481(server: ServerThread) -> None:
    with udp_socket() as sock:
        leg = Leg(sock, uuid.uuid4().hex, "f", "t", server.address)
        assert leg.request("NOTIFY", 1, extra="Event: message-summary\r\n").startswith(
            b"SIP/2.0 481"
        )
