"""Limits on the state a stranger can make the server hold, in sip.conf's words.

``call-limit`` bounds calls at once (503 with Retry-After beyond), ``tcpauthtimeout`` closes
silent TCP connections, ``tcpauthlimit`` bounds how many are held (both only for connections
not from a configured peer, as in chan_sip: the proxy's long-lived connection stays), a
message longer than the server takes is answered 413, and subscriptions are bounded per
mailbox and per source address (``submaxpermailbox``, ``submaxperhost``).
"""

from __future__ import annotations

import contextlib
import socket
import time
import uuid
from pathlib import Path

from harness.voicemail.overload import OverloadPolicy
from tests.voicemail.hostile.server_thread import SIP_CONF, ServerThread
from tests.voicemail.hostile.test_dialog_matching import (
    SDP,
    dial,
    final_status,
    invite,
    udp_socket,
)


def test_calls_beyond_call_limit_get_503_with_retry_after(tmp_path: Path) -> None:
    with (
        ServerThread(tmp_path, sip_conf="[general]\ncall-limit=1\n") as server,
        udp_socket() as first,
        udp_socket() as second,
    ):
        leg = dial(server, first)
        invite(second, server, uuid.uuid4().hex, "f2", SDP.format(rtp=40010))
        second.settimeout(2.0)
        answer = b""
        while not answer.startswith(b"SIP/2.0 5") and not answer.startswith(b"SIP/2.0 2"):
            answer = second.recv(65536)
        assert answer.startswith(b"SIP/2.0 503"), answer[:60]
        assert b"\r\nRetry-After: " in answer
        assert leg.request("BYE", 2).startswith(b"SIP/2.0 200")


def _first_final(sock: socket.socket) -> bytes:
    sock.settimeout(2.0)
    answer = b""
    while not answer.startswith(b"SIP/2.0 5") and not answer.startswith(b"SIP/2.0 2"):
        answer = sock.recv(65536)
    return answer


def test_calls_are_refused_503_while_the_loop_runs_late_and_admitted_ones_go_on(
    tmp_path: Path,
) -> None:
    policy = OverloadPolicy(max_lag=0.1, window=1.0, interval=0.02)
    with (
        ServerThread(tmp_path, overload=policy) as server,
        udp_socket() as first,
        udp_socket() as second,
        udp_socket() as third,
    ):
        leg = dial(server, first)
        # The loop is saturated: twice held 200 ms, every callback (the media clock's too)
        # runs late. One such pause alone would be a garbage collection, not overload.
        for _ in range(2):
            server.loop.call_soon_threadsafe(time.sleep, 0.2)
            time.sleep(0.25)
        invite(second, server, uuid.uuid4().hex, "f2", SDP.format(rtp=40010))
        answer = _first_final(second)
        assert answer.startswith(b"SIP/2.0 503"), answer[:60]
        assert b"\r\nRetry-After: 5\r\n" in answer
        assert leg.request("BYE", 2).startswith(b"SIP/2.0 200")
        time.sleep(1.1)  # a second of a prompt loop: calls come in again
        invite(third, server, uuid.uuid4().hex, "f3", SDP.format(rtp=40020))
        assert _first_final(third).startswith(b"SIP/2.0 200")


def test_a_silent_tcp_connection_is_closed_after_tcpauthtimeout(tmp_path: Path) -> None:
    with (
        ServerThread(tmp_path, sip_conf="[general]\ntcpauthtimeout=1\n") as server,
        socket.create_connection(server.address, timeout=3) as sock,
    ):
        started = time.monotonic()
        assert sock.recv(100) == b""
        assert time.monotonic() - started < 2.5


def test_a_known_peers_tcp_connection_outlives_tcpauthtimeout(tmp_path: Path) -> None:
    """The proxy's long-lived connection stays; a stranger's silent one is closed."""
    conf = "[general]\ntcpauthtimeout=1\ntcpauthlimit=1\n" + PEER
    with ServerThread(tmp_path, sip_conf=conf) as server:
        proxy = socket.create_connection(server.address, timeout=3, source_address=("127.0.0.1", 0))
        stranger = socket.create_connection(
            server.address, timeout=3, source_address=("127.0.0.2", 0)
        )
        with proxy, stranger:
            started = time.monotonic()
            # The proxy's connection does not count against tcpauthlimit=1: the stranger's is
            # taken, then closed after tcpauthtimeout.
            assert stranger.recv(100) == b""
            assert 0.7 < time.monotonic() - started < 2.5
            time.sleep(0.6)
            proxy.settimeout(0.2)
            with contextlib.suppress(TimeoutError):  # no answer: still open, as it should be
                assert proxy.recv(100) != b""
            assert subscribe_tcp(proxy, server).startswith(b"SIP/2.0 200")


def test_tcp_connections_beyond_tcpauthlimit_are_closed(tmp_path: Path) -> None:
    with ServerThread(tmp_path, sip_conf="[general]\ntcpauthlimit=2\n") as server:
        held = [socket.create_connection(server.address, timeout=2) for _ in range(2)]
        time.sleep(0.1)
        try:
            with socket.create_connection(server.address, timeout=2) as extra:
                assert extra.recv(100) == b""
            held[0].settimeout(0.2)
            with contextlib.suppress(TimeoutError):  # no answer: still open, as it should be
                assert held[0].recv(100) != b""
        finally:
            for sock in held:
                sock.close()


def test_a_message_longer_than_allowed_is_answered_413(tmp_path: Path) -> None:
    with (
        ServerThread(tmp_path) as server,
        socket.create_connection(server.address, timeout=2) as sock,
    ):
        port = sock.getsockname()[1]
        head = (
            "INVITE sip:1000@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/TCP 127.0.0.1:{port};branch=z9hG4bKbig\r\n"
            "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:1000@127.0.0.1>\r\n"
            "Call-ID: big\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n"
            "Content-Length: 20000000\r\n\r\n"
        )
        sock.sendall(head.encode())
        assert sock.recv(65536).startswith(b"SIP/2.0 413 ")


#: Mailbox 1000's peer: SUBSCRIBE is taken only from a configured peer's address.
PEER = "\n[1000]\ntype=friend\nhost=127.0.0.1\ninsecure=port\nmailbox=1000@default\n"


def subscribe(sock: socket.socket, server: ServerThread) -> bytes:
    port = sock.getsockname()[1]
    text = (
        "SUBSCRIBE sip:1000@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{uuid.uuid4().hex[:12]};rport\r\n"
        f"From: <sip:1000@127.0.0.1>;tag={uuid.uuid4().hex[:8]}\r\n"
        f"To: <sip:1000@127.0.0.1>\r\nCall-ID: {uuid.uuid4().hex}\r\nCSeq: 1 SUBSCRIBE\r\n"
        f"Contact: <sip:1000@127.0.0.1:{port}>\r\nEvent: message-summary\r\n"
        "Expires: 600\r\nContent-Length: 0\r\n\r\n"
    )
    sock.sendto(text.encode(), server.address)
    return final_status(sock)


def subscribe_tcp(sock: socket.socket, server: ServerThread) -> bytes:
    port = sock.getsockname()[1]
    text = (
        "SUBSCRIBE sip:1000@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP 127.0.0.1:{port};branch=z9hG4bK{uuid.uuid4().hex[:12]}\r\n"
        f"From: <sip:1000@127.0.0.1>;tag={uuid.uuid4().hex[:8]}\r\n"
        f"To: <sip:1000@127.0.0.1>\r\nCall-ID: {uuid.uuid4().hex}\r\nCSeq: 1 SUBSCRIBE\r\n"
        f"Contact: <sip:1000@127.0.0.1:{port};transport=tcp>\r\nEvent: message-summary\r\n"
        "Expires: 600\r\nContent-Length: 0\r\n\r\n"
    )
    sock.settimeout(2)
    sock.sendall(text.encode())
    return sock.recv(65536)


def test_subscriptions_are_bounded_per_mailbox(tmp_path: Path) -> None:
    with (
        ServerThread(tmp_path, sip_conf="[general]\nsubmaxpermailbox=2\n" + PEER) as server,
        udp_socket() as sock,
    ):
        assert subscribe(sock, server).startswith(b"SIP/2.0 200")
        assert subscribe(sock, server).startswith(b"SIP/2.0 200")
        assert subscribe(sock, server).startswith(b"SIP/2.0 503")


def test_subscriptions_are_bounded_per_source_address(tmp_path: Path) -> None:
    with (
        ServerThread(tmp_path, sip_conf="[general]\nsubmaxperhost=1\n" + PEER) as server,
        udp_socket() as sock,
    ):
        assert subscribe(sock, server).startswith(b"SIP/2.0 200")
        assert subscribe(sock, server).startswith(b"SIP/2.0 503")


def test_a_subscriber_contact_host_name_is_resolved_for_its_notify(tmp_path: Path) -> None:
    with ServerThread(tmp_path, sip_conf=SIP_CONF + PEER) as server, udp_socket() as sock:
        port = sock.getsockname()[1]
        text = (
            "SUBSCRIBE sip:1000@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{uuid.uuid4().hex[:12]};rport\r\n"
            f"From: <sip:1000@127.0.0.1>;tag=a\r\nTo: <sip:1000@127.0.0.1>\r\n"
            f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 SUBSCRIBE\r\n"
            f"Contact: <sip:1000@localhost:{port}>\r\nEvent: message-summary\r\n"
            "Expires: 600\r\nContent-Length: 0\r\n\r\n"
        )
        sock.sendto(text.encode(), server.address)
        sock.settimeout(2)
        heads = [sock.recv(65536).split(b"\r\n", 1)[0] for _ in range(2)]
        assert heads[0].startswith(b"SIP/2.0 200"), heads
        assert heads[1].startswith(b"NOTIFY sip:1000@localhost:"), heads
        assert server.records.failures() == []
