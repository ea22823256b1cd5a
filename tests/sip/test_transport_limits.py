"""The transport bounds the transactions a stranger can open: beyond them, 503 Retry-After."""

from __future__ import annotations

import asyncio
import errno
import socket
import uuid
from typing import Any

import pytest

from harness.sip.builder import make_response
from harness.sip.message import Request
from harness.sip.transaction import Peer, ServerTransaction
from harness.sip.transport import SipTransport


def options(port: int, method: str = "OPTIONS") -> bytes:
    return (
        f"{method} sip:vm@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{uuid.uuid4().hex[:12]};rport\r\n"
        "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:vm@127.0.0.1>\r\n"
        f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


async def test_requests_beyond_the_pending_transaction_bound_get_503() -> None:
    server = SipTransport(party="vm", max_transactions=3)

    def never_answer(request: Request, transaction: ServerTransaction | None, source: Peer) -> None:
        return None

    server.handler = never_answer
    await server.start()
    loop = asyncio.get_running_loop()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            for _ in range(5):
                await loop.sock_sendto(sock, options(sock.getsockname()[1]), server.local)
            answers = []
            for _ in range(2):
                data = await asyncio.wait_for(loop.sock_recv(sock, 65536), 2)
                answers.append(data)
        assert all(answer.startswith(b"SIP/2.0 503 ") for answer in answers), answers
        assert all(b"\r\nRetry-After: " in answer for answer in answers)
        assert server.layer.transaction_count == 3
    finally:
        await server.close()


async def test_answered_transactions_held_for_retransmissions_do_not_count_toward_503() -> None:
    server = SipTransport(party="vm", max_transactions=3)

    def answer_options_only(
        request: Request, transaction: ServerTransaction | None, source: Peer
    ) -> None:
        if transaction is not None and request.method == "OPTIONS":
            server.respond(transaction, make_response(request, 200, to_tag="vm"))

    server.handler = answer_options_only
    await server.start()
    loop = asyncio.get_running_loop()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            port = sock.getsockname()[1]

            async def ask(method: str) -> bytes:
                await loop.sock_sendto(sock, options(port, method), server.local)
                return await asyncio.wait_for(loop.sock_recv(sock, 65536), 2)

            # Ten answered at once: all held (Timer J) but none in progress.
            answers = [await ask("OPTIONS") for _ in range(10)]
            assert all(answer.startswith(b"SIP/2.0 200 ") for answer in answers), answers
            assert server.layer.transaction_count == 10
            # Three left unanswered reach the bound; the next request is refused.
            for _ in range(3):
                await loop.sock_sendto(sock, options(port, "MESSAGE"), server.local)
            refused = await ask("OPTIONS")
        assert refused.startswith(b"SIP/2.0 503 "), refused
        assert b"\r\nRetry-After: " in refused
        assert server.layer.in_progress_count == 3
    finally:
        await server.close()


async def test_a_port_taken_for_tcp_moves_both_listeners_to_one_free_for_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The UDP socket's ephemeral port may already be someone's TCP port (another process's
    listener or connection): the transport tries another rather than failing to start."""
    start_server = asyncio.start_server
    tried: list[int] = []

    async def first_port_taken(*args: Any, **kwargs: Any) -> asyncio.Server:
        tried.append(args[2])
        if len(tried) == 1:
            raise OSError(errno.EADDRINUSE, "address already in use")
        return await start_server(*args, **kwargs)

    monkeypatch.setattr(asyncio, "start_server", first_port_taken)
    server = SipTransport(party="vm", tcp=True)
    await server.start()
    try:
        assert len(tried) == 2
        assert tried[1] == server.port != tried[0]
        with socket.create_connection(("127.0.0.1", server.port), timeout=2):
            pass
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with pytest.raises(OSError, match="in use"):  # UDP is on that port too
            probe.bind(("127.0.0.1", server.port))
        probe.close()
    finally:
        await server.close()
