"""The transport's public extension points: the wire style it writes in, and the hook that lets
each message pass, drops it or holds it back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from harness.sip.address import Address
from harness.sip.builder import make_response, new_request
from harness.sip.message import Request, parse_message
from harness.sip.transaction import Peer, ServerTransaction, Timers
from harness.sip.transport import (
    Drop,
    Hold,
    Pass,
    SipTransport,
    TransactionFailed,
    Verdict,
    WireEvent,
    WireMessage,
    WireStyle,
)
from harness.sip.uri import URI

FAST = Timers(t1=0.05, t2=0.2, t4=0.2)


def options(sender: SipTransport, receiver: SipTransport) -> Request:
    host, port = receiver.local
    address = Address(URI(scheme="sip", user="2000", host=host, port=port))
    return new_request(
        "OPTIONS",
        URI(scheme="sip", host=host, port=port),
        from_address=address,
        to_address=address,
        local=sender.local,
    )


@dataclass
class Recorder:
    """A hook that remembers what it saw and answers with the verdicts it is given, in turn."""

    verdicts: list[Verdict] = field(default_factory=list)
    seen: list[WireEvent] = field(default_factory=list)

    def __call__(self, event: WireEvent) -> Verdict:
        self.seen.append(event)
        return self.verdicts.pop(0) if self.verdicts else Pass()


@dataclass
class Pair:
    client: SipTransport
    server: SipTransport
    wire: list[WireMessage]
    received: list[Request]


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    wire: list[WireMessage] = []
    received: list[Request] = []
    client = SipTransport(party="client", timers=FAST)
    server = SipTransport(party="server", timers=FAST)

    async def answer(request: Request, transaction: ServerTransaction | None, _: Peer) -> None:
        received.append(request)
        if transaction is not None:
            server.respond(transaction, make_response(request, 200))

    server.handler = answer
    for transport in (client, server):
        transport.subscribe(wire.append)
        await transport.start()
    yield Pair(client, server, wire, received)
    await client.close()
    await server.close()


def sent(wire: list[WireMessage], party: str) -> list[bytes]:
    return [record.data for record in wire if record.party == party and record.direction == "out"]


async def test_default_style_writes_messages_as_built(pair: Pair) -> None:
    assert pair.client.style.plain
    request = options(pair.client, pair.server)

    await pair.client.request(request, pair.server.local)

    assert sent(pair.wire, "client") == [request.to_bytes()]


async def test_style_rewrites_everything_the_transport_serialises(pair: Pair) -> None:
    pair.server.style = WireStyle(compact=True, header_case="lower", fold_at=30)

    response = await pair.client.request(options(pair.client, pair.server), pair.server.local)

    assert response.status == 200
    (data,) = sent(pair.wire, "server")
    head = data.split(b"\r\n\r\n")[0].decode()
    assert "\r\nv: " in head
    assert "\r\ni: " in head
    assert "\r\nl: " in head
    assert "\r\ncseq: " in head
    assert "\r\n " in head  # the long Via is folded
    assert parse_message(data).header("Via") == response.header("Via")


async def test_style_encodes_as_encode_does() -> None:
    request = new_request(
        "OPTIONS", "sip:a@192.0.2.1", from_address="<sip:b@x>", to_address="<sip:a@x>",
        local=("192.0.2.2", 5060),
    )  # fmt: skip
    style = WireStyle(compact=True)

    assert not style.plain
    assert b"\r\nf: " in style.encode(request)
    assert WireStyle().encode(request) == request.to_bytes()


async def test_hook_sees_each_message_both_ways(pair: Pair) -> None:
    hook = Recorder()
    pair.server.hook = hook

    await pair.client.request(options(pair.client, pair.server), pair.server.local)

    assert [(event.direction, type(event.message).__name__) for event in hook.seen] == [
        ("in", "Request"),
        ("out", "Response"),
    ]
    assert hook.seen[0].remote == pair.client.local
    assert hook.seen[1].transport == "UDP"


async def test_dropped_request_is_logged_with_the_reason_and_retransmitted(pair: Pair) -> None:
    pair.server.hook = Recorder([Drop("lost on purpose")])

    response = await pair.client.request(options(pair.client, pair.server), pair.server.local)

    assert response.status == 200
    arrivals = [
        record for record in pair.wire if record.party == "server" and record.direction == "in"
    ]
    assert [record.error for record in arrivals] == ["lost on purpose", None]
    assert len(pair.received) == 1


async def test_dropped_outgoing_message_never_reaches_the_wire(pair: Pair) -> None:
    pair.client.hook = Recorder([Drop("lost")] * 100)

    with pytest.raises(TransactionFailed):
        await pair.client.request(options(pair.client, pair.server), pair.server.local)

    assert sent(pair.wire, "client") == []
    assert pair.received == []


async def test_held_message_crosses_later(pair: Pair) -> None:
    pair.client.hook = Recorder([Hold(0.3)] * 20)
    loop = asyncio.get_running_loop()
    started = loop.time()

    response = await pair.client.request(options(pair.client, pair.server), pair.server.local)

    assert response.status == 200
    assert loop.time() - started >= 0.3
    assert len(pair.received) == 1  # the retransmissions during the hold were absorbed


async def test_held_incoming_message_is_processed_later(pair: Pair) -> None:
    pair.server.hook = Recorder([Hold(0.2)] * 20)
    loop = asyncio.get_running_loop()
    started = loop.time()

    response = await pair.client.request(options(pair.client, pair.server), pair.server.local)

    assert response.status == 200
    assert loop.time() - started >= 0.2


async def test_raw_bytes_reach_the_hook_unparsed(pair: Pair) -> None:
    hook = Recorder([Drop("never")])
    pair.client.hook = hook

    pair.client.send_raw(b"junk\r\n\r\n", pair.server.local)

    assert hook.seen[0].message is None
    assert hook.seen[0].data == b"junk\r\n\r\n"
    assert sent(pair.wire, "client") == []
