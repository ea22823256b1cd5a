"""PJSUA2 phones behind Kamailio with the embedded voicemail server: lamp, deposit, retrieval.

Two real phones, each a PJSUA2 child process registered at Kamailio: Bob (2000) lets Alice's
call ring out, Alice leaves a message after the beep, Bob's lamp lights from the NOTIFY
Kamailio relays. Bob dials the retrieval number, logs in, listens, deletes and leaves with
RFC 2833 digits, hears the message Alice left, and his lamp goes out.

(A phone calling its own number reaches its mailbox's menu, not its greeting: hence two.)
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.core.mailbox import MailboxId
from harness.media.signature import find_message_codes
from harness.media.wav import read_wav, write_wav
from harness.peers.kamailio import KAMAILIO_BINARY, Kamailio
from harness.peers.pjsua import PjsuaError, PjsuaPhone
from harness.peers.signed_speech import signed_speech
from harness.sip.message import Request, parse_message
from harness.sip.transport import WireMessage
from harness.targets import EmbeddedTarget, MailboxEntry, PeerEntry

BOB = MailboxId("2000", "default")
PIN = "4321"
CODE = "PJSUA7"
#: Kamailio's no-answer timer: Bob's phone rings this long before voicemail answers.
RING_SECONDS = 1.0


@pytest.fixture
def peers_present(require_module: Callable[..., str], require_peer: Callable[..., str]) -> None:
    require_module("pjsua2", "pjsua2-python")
    # /usr/sbin, where Debian puts Kamailio, is not on every user's PATH.
    if shutil.which("kamailio") is None:
        require_peer("kamailio", KAMAILIO_BINARY)


pytestmark = pytest.mark.usefixtures("peers_present")


@dataclass
class Bed:
    kamailio: Kamailio
    target: EmbeddedTarget
    bob: PjsuaPhone
    alice: PjsuaPhone
    wire: list[WireMessage]

    def invites_at_the_server(self) -> list[Request]:
        received = [parse_message(r.data) for r in self.wire if r.direction == "in"]
        return [m for m in received if isinstance(m, Request) and m.method == "INVITE"]


async def _settled(target: EmbeddedTarget, within: float = 10.0) -> None:
    """Wait until the server's start-up NOTIFYs (404: nobody registered yet) are answered."""
    assert target.server is not None
    notifier = target.server.notifier
    assert notifier is not None
    for _ in range(round(within / 0.01)):
        if notifier.pending() == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"NOTIFYs still pending after {within:g} s")


@asynccontextmanager
async def pjsua_bed(log_dir: Path) -> AsyncIterator[Bed]:
    kamailio = Kamailio(no_answer_timeout=RING_SECONDS, reply_timeout=2.0, log_dir=log_dir)
    target = EmbeddedTarget([MailboxEntry(BOB, PIN)], [PeerEntry("2000", BOB)])
    kamailio.voicemail = await target.start(kamailio.address)
    assert target.server is not None
    wire: list[WireMessage] = []
    target.server.transport.subscribe(wire.append)
    bob = PjsuaPhone("2000", kamailio.address, log_dir=log_dir)
    alice = PjsuaPhone("2001", kamailio.address, log_dir=log_dir)
    try:
        async with kamailio:
            await _settled(target)
            try:
                await asyncio.gather(bob.start(), alice.start())
                assert await bob.register() == 200
                assert await alice.register() == 200
                yield Bed(kamailio, target, bob, alice, wire)
            finally:
                await asyncio.gather(bob.close(), alice.close())
    finally:
        await target.close()


async def _leave_message(bed: Bed, message: Path, heard: Path) -> None:
    """Alice calls Bob, skips his greeting with '#' and speaks ``message`` after the beep."""
    call = await bed.alice.dial("2000", record=heard)
    await call.wait_confirmed(RING_SECONDS + 10)
    await call.wait_for_prompt("vm-theperson", 10)
    await call.send_dtmf("#")
    await call.wait_for_prompt("beep", 10)
    await call.play_to_end(message)
    await call.hangup()


async def test_pjsua2_phones_deposit_light_the_lamp_retrieve_and_put_it_out(
    tmp_path: Path,
) -> None:
    message = tmp_path / "message.wav"
    write_wav(message, signed_speech(CODE))
    async with pjsua_bed(tmp_path) as bed:
        server = bed.target.server
        assert server is not None
        assert bed.bob.lamp is None

        await _leave_message(bed, message, tmp_path / "alice-heard.wav")
        lamp = await bed.bob.wait_lamp(True, timeout=10)
        assert lamp.counts == (1, 0)
        # Bob's phone rang and was left to ring out.
        [rang] = bed.bob.calls_received
        assert "sip:2001@" in rang
        [stored] = server.spool.messages(BOB)
        audio, _ = read_wav(stored.audio)
        assert find_message_codes(audio) == [CODE]

        lit = len(bed.bob.mwi)
        call = await bed.bob.dial("*97", record=tmp_path / "bob-heard.wav")
        await call.wait_confirmed(10)
        await call.wait_for_prompt("vm-password", 10)
        await call.send_dtmf(PIN + "#")
        await call.wait_for_prompt("vm-youhave", 10)
        await call.send_dtmf("1")
        await call.wait_for_prompt("vm-first", 10)
        await call.send_dtmf("1")  # skip the envelope: straight to the message
        await call.wait_for_code(CODE, 10)
        await call.send_dtmf("7")
        await call.wait_for_prompt("vm-deleted", 10)
        await call.send_dtmf("#")
        # The server says goodbye and hangs up (the phone may not play out the last of it).
        await call.wait_released(10)
        assert "vm-incorrect" not in call.heard_prompts()

        lamp = await bed.bob.wait_lamp(False, after=lit, timeout=10)
        assert lamp.counts == (0, 0)
        assert server.spool.messages(BOB) == []

        # Both phones offered G.711 with telephone-event at 8 kHz only.
        invites = bed.invites_at_the_server()
        assert len(invites) == 2
        for invite in invites:
            offer = invite.body.decode()
            assert offer.count("telephone-event") == 1, offer
            assert "telephone-event/8000" in offer


async def test_a_command_the_phone_refuses_names_the_reason(tmp_path: Path) -> None:
    async with PjsuaPhone("2002", ("127.0.0.1", 9), log_dir=tmp_path) as phone:
        with pytest.raises(PjsuaError, match="register before dialling"):
            await phone.dial("2000")
        with pytest.raises(PjsuaError, match="no call 42"):
            await phone.command("hangup", call=42)
    assert phone.pid is None
