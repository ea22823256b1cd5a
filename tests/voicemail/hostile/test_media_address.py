"""The caller's SDP decides where media goes, checked and resolved once; NAT only when told.

A NUL or garbage in ``c=`` refuses the call with 488 (it used to kill the call's RTP socket
and leave the call hanging), a host name is resolved once when the offer is taken (it used to
be resolved for every packet) or, with ``sdphostnames=refuse``, refused with 488, and packets
from another address move the media only with ``nat=comedia`` (symmetric RTP), as in chan_sip.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.media.rtp import RtpPacket
from tests.voicemail.hostile.server_thread import ServerThread
from tests.voicemail.hostile.test_dialog_matching import (
    SDP,
    dial,
    final_status,
    invite,
    live_calls,
    media_target,
    udp_socket,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with ServerThread(tmp_path_factory.mktemp("media")) as running:
        yield running


def offer(address: str, port: int = 40000) -> str:
    return SDP.format(rtp=port).replace("c=IN IP4 127.0.0.1", f"c=IN IP4 {address}")


@pytest.mark.parametrize("address", ["127.0.0.1\x00", "127.0.0.1\x00.example", "-x-", "1.2.3"])
def test_a_garbled_connection_address_refuses_the_call_with_488(
    server: ServerThread, address: str
) -> None:
    with udp_socket() as sock:
        call_id = uuid.uuid4().hex
        invite(sock, server, call_id, "f1", offer(address))
        status = final_status(sock)
    assert status.startswith(b"SIP/2.0 488"), status
    assert b"c= address" in status
    assert call_id not in live_calls(server)
    assert server.records.failures() == []


def test_a_host_name_is_resolved_once_when_the_call_is_taken(server: ServerThread) -> None:
    with udp_socket() as sock:
        leg = dial(server, sock, offer("localhost", 40002))
        try:
            assert media_target(server, leg.call_id) == ("127.0.0.1", 40002)
        finally:
            leg.request("BYE", 2)


def test_with_sdphostnames_refuse_a_host_name_is_refused_with_488(tmp_path: Path) -> None:
    refuse = "[general]\nsdphostnames=refuse\n"
    with ServerThread(tmp_path, sip_conf=refuse) as server, udp_socket() as sock:
        call_id = uuid.uuid4().hex
        invite(sock, server, call_id, "f1", offer("localhost", 40004))
        status = final_status(sock)
        assert status.startswith(b"SIP/2.0 488"), status
        assert b"sdphostnames" in status
        assert call_id not in live_calls(server)
        leg = dial(server, sock, offer("127.0.0.1", 40006))
        assert leg.request("BYE", 2).startswith(b"SIP/2.0 200")


def rtp_from(sock: socket.socket, server: ServerThread, call_id: str) -> None:
    """Send a few PCMU packets to the call's RTP port from ``sock``."""

    def port() -> int:
        assert server.server is not None
        return server.server._calls[call_id].rtp.local_port

    target = ("127.0.0.1", server.call(port))
    for number in range(3):
        packet = RtpPacket(
            payload_type=0, sequence=number, timestamp=160 * number, ssrc=7, payload=b"\xff" * 160
        )
        sock.sendto(packet.encode(), target)
    time.sleep(0.1)


def test_without_nat_packets_from_elsewhere_do_not_move_the_media(server: ServerThread) -> None:
    with udp_socket() as sock, udp_socket() as elsewhere:
        leg = dial(server, sock)
        try:
            rtp_from(elsewhere, server, leg.call_id)
            assert media_target(server, leg.call_id) == ("127.0.0.1", 40000)
        finally:
            leg.request("BYE", 2)


def test_with_nat_comedia_media_follows_the_packets_and_the_reinvite(tmp_path: Path) -> None:
    nat = "[general]\nnat=force_rport,comedia\n"
    with ServerThread(tmp_path, sip_conf=nat) as server, udp_socket() as sock:
        with udp_socket("127.0.0.2") as elsewhere:
            leg = dial(server, sock)
            rtp_from(elsewhere, server, leg.call_id)
            assert media_target(server, leg.call_id) == elsewhere.getsockname()
            status = leg.request("INVITE", 2, sock=elsewhere, body=SDP.format(rtp=41000))
            assert status.startswith(b"SIP/2.0 200"), status
        assert leg.request("BYE", 3).startswith(b"SIP/2.0 200")
