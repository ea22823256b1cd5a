"""One deposit end to end over real loopback sockets: phone, proxy, voicemail server, spool."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from harness.core.mailbox import MailboxId
from harness.core.mwi import Counts, LampExpectation
from harness.media import g711
from harness.media.signal import correlation, speech_like
from harness.media.wav import read_wav
from harness.sim.phone import CallFailed, Phone
from harness.sim.proxy import SimProxy
from harness.sip.message import Request, Response, parse_message
from harness.sip.transport import WireMessage
from harness.targets import EmbeddedTarget, MailboxEntry, PeerEntry

BOX = MailboxId("2000", "default")


@dataclass
class Bed:
    proxy: SimProxy
    target: EmbeddedTarget
    phone: Phone
    caller: Phone
    wire: list[WireMessage]


@pytest.fixture
async def bed() -> AsyncIterator[Bed]:
    wire: list[WireMessage] = []
    proxy = SimProxy(("127.0.0.1", 9), mailboxes={"2000": BOX})
    proxy.transport.subscribe(wire.append)
    await proxy.start()
    target = EmbeddedTarget([MailboxEntry(BOX, "4321")], [PeerEntry("2000", BOX)])
    proxy.voicemail = await target.start(proxy.address)
    assert target.server is not None
    target.server.transport.subscribe(wire.append)
    phone = Phone("2000", proxy.address)
    caller = Phone("+15551230000", proxy.address)
    for party in (phone, caller):
        party.transport.subscribe(wire.append)
        await party.start()
    assert (await phone.register()).status == 200
    yield Bed(proxy, target, phone, caller, wire)
    for party in (caller, phone):
        await party.close()
    await target.close()
    await proxy.close()


async def deposit(bed: Bed, seconds: float) -> tuple[npt.NDArray[np.int16], float]:
    """Leave ``seconds`` of audio; the audio sent and the loop time the call began."""
    sent = speech_like(seconds, "deposit")
    started = asyncio.get_running_loop().time()
    call = await bed.caller.dial("2000")
    # Speak after the beep, as a caller does: the recording starts when the beep ends.
    assert await call.wait_for_prompt("beep")
    await call.wait_quiet(0.2)
    await call.play(sent)
    await call.hangup()
    assert bed.target.server is not None
    await bed.target.server.wait_idle()
    return sent, started


async def test_recording_is_what_the_caller_sent(bed: Bed) -> None:
    sent, _ = await deposit(bed, 3.0)
    assert bed.target.server is not None
    [message] = bed.target.server.spool.messages(BOX)
    recorded, rate = read_wav(message.audio)
    assert rate == 8000
    assert abs(len(recorded) / 8000 - 3.0) < 0.1
    expected = g711.decode(g711.encode(sent, "PCMU"), "PCMU")
    assert correlation(expected, recorded) > 0.95
    assert message.info.duration == 3
    assert message.info.callerid == "+15551230000"
    assert message.folder == "INBOX"
    assert message.number == 0


async def test_notify_reaches_the_phone_through_the_proxy(bed: Bed) -> None:
    _, started = await deposit(bed, 1.0)
    now = asyncio.get_running_loop().time()
    check = await bed.phone.wait_lamp(LampExpectation(True, Counts(1, 0), 5.0), started, now)
    assert check.status == "met", check.detail
    notify = bed.phone.notifies[-1]
    assert b"Messages-Waiting: yes\r\n" in notify.request.body
    assert b"Voice-Message: 1/0 (0/0)\r\n" in notify.request.body
    assert notify.status == 200
    # The 200 travels back through the proxy to the voicemail server, which then has no
    # NOTIFY pending any more.
    assert bed.target.server is not None
    assert bed.target.server.notifier is not None
    notifier = bed.target.server.notifier
    for _ in range(100):
        if notifier.pending() == 0:
            break
        await asyncio.sleep(0.01)
    assert notifier.pending() == 0
    answers = [
        message
        for record in bed.wire
        if record.party == "voicemail" and record.direction == "in"
        for message in [parse_message(record.data)]
        if isinstance(message, Response) and message.cseq[1] == "NOTIFY"
    ]
    assert any(response.status == 200 for response in answers)
    relayed = [
        message
        for record in bed.wire
        if record.party == "proxy" and record.direction == "out"
        for message in [parse_message(record.data)]
        if isinstance(message, Request) and message.method == "NOTIFY"
    ]
    assert relayed
    assert relayed[-1].uri.startswith("sip:2000@")


async def test_call_for_an_unknown_mailbox_is_refused_and_creates_nothing(bed: Bed) -> None:
    bed.proxy.mailboxes["2999"] = MailboxId("2999")
    with pytest.raises(CallFailed) as refused:
        await bed.caller.dial("2999")
    assert refused.value.response.status == 404
    assert "2999@default" in refused.value.response.reason
    assert not (bed.target.spool / "default" / "2999").exists()


def _exchange(address: tuple[str, int], data: bytes, timeout: float = 1.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.bind(("127.0.0.1", 0))
        sock.sendto(data, address)
        try:
            return sock.recv(65536)
        except TimeoutError:
            return None


BROKEN = (
    b"OPTIONS sip:voicemail@127.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKbroken1\r\n"
    b"From: <sip:probe@127.0.0.1>;tag=1\r\n"
    b"To: <sip:voicemail@127.0.0.1>\r\n"
    b"Call-ID: broken-1\r\n"
    b"CSeq: 1 OPTIONS\r\n"
    b"this line has no colon\r\n"
    b"Content-Length: 0\r\n\r\n"
)


async def test_unparsable_requests_get_400_or_are_dropped_and_service_goes_on(bed: Bed) -> None:
    assert bed.target.server is not None
    address = bed.target.server.address
    reply = await asyncio.to_thread(_exchange, address, BROKEN)
    assert reply is not None
    assert reply.startswith(b"SIP/2.0 400 ")
    assert b"Call-ID: broken-1" in reply
    garbage = await asyncio.to_thread(_exchange, address, b"\x00\xffnot sip at all\r\n\r\n", 0.5)
    assert garbage is None
    # The server still takes calls.
    _, started = await deposit(bed, 0.5)
    now = asyncio.get_running_loop().time()
    check = await bed.phone.wait_lamp(LampExpectation(True, Counts(1, 0), 5.0), started, now)
    assert check.status == "met", check.detail


async def test_a_reinvite_mid_message_is_answered_and_the_message_is_whole(bed: Bed) -> None:
    sent = speech_like(2.0, "reinvite")
    call = await bed.caller.dial("2000")
    assert await call.wait_for_prompt("beep")
    await call.wait_quiet(0.2)
    await call.play(sent[:8000])
    response = await call.reinvite()
    assert response.status == 200
    assert b"m=audio" in response.body
    await call.play(sent[8000:])
    await call.hangup()
    assert bed.target.server is not None
    await bed.target.server.wait_idle()
    [message] = bed.target.server.spool.messages(BOX)
    recorded, _ = read_wav(message.audio)
    assert abs(len(recorded) / 8000 - 2.0) < 0.1
    expected = g711.decode(g711.encode(sent, "PCMU"), "PCMU")
    assert correlation(expected, recorded) > 0.95
