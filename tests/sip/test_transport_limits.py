"""The transport bounds the transactions a stranger can open: beyond them, 503 Retry-After."""

from __future__ import annotations

import asyncio
import socket
import uuid

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
