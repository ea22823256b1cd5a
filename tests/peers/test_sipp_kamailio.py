"""SIPp as a real caller and a real phone, through Kamailio, with the embedded voicemail server.

The SIPp phone registers 2000 at Kamailio and rings unanswered; the SIPp caller calls 2000,
Kamailio's no-answer timer sends the call to the voicemail server, and the caller skips the
greeting with RFC 4733 '#' and speaks a signed message from a pcap the harness generated. The
server stores it and lights the lamp: its NOTIFY goes to Kamailio, which relays it to the phone.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from harness.core.mailbox import MailboxId
from harness.media.signature import find_message_codes
from harness.media.wav import read_wav
from harness.peers.kamailio import KAMAILIO_BINARY, Kamailio
from harness.peers.signed_speech import signed_speech
from harness.peers.sipp import SCENARIOS, KeyPress, Sipp, run_sipp, write_rtp_pcap
from harness.sip.message import Request, parse_message
from harness.sip.transport import WireMessage
from harness.targets import EmbeddedTarget, MailboxEntry, PeerEntry

OWNER = MailboxId("2000", "default")
CALLER = "5551234"
CODE = "SIPP42"
#: Kamailio's no-answer timer: short, the phone never answers.
RING_SECONDS = 1.0
RATE = 8000


@pytest.fixture
def peers_present(require_peer: Callable[..., str]) -> None:
    require_peer("sipp")
    # /usr/sbin, where Debian puts Kamailio, is not on every user's PATH.
    if shutil.which("kamailio") is None:
        require_peer("kamailio", KAMAILIO_BINARY)


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


def _deposit_audio() -> tuple[npt.NDArray[np.int16], list[KeyPress]]:
    """What the caller sends: '#' half a second in (skip the greeting), silence while the beep
    plays, then the signed message and a little silence before the hang-up."""
    lead_in = np.zeros(2 * RATE, dtype=np.int16)
    tail = np.zeros(RATE // 2, dtype=np.int16)
    return np.concatenate((lead_in, signed_speech(CODE), tail)), [KeyPress(0.5, "#")]


@pytest.mark.usefixtures("peers_present")
async def test_sipp_phone_sees_the_lamp_of_a_message_sipp_left_through_kamailio(
    tmp_path: Path,
) -> None:
    kamailio = Kamailio(no_answer_timeout=RING_SECONDS, reply_timeout=2.0, log_dir=tmp_path)
    target = EmbeddedTarget([MailboxEntry(OWNER, "4321")], [PeerEntry("2000", OWNER)])
    kamailio.voicemail = await target.start(kamailio.address)
    assert target.server is not None
    wire: list[WireMessage] = []
    target.server.transport.subscribe(wire.append)
    try:
        async with kamailio:
            await _settled(target)
            phone = Sipp(
                SCENARIOS / "phone-mwi.xml",
                kamailio.address,
                calls=2,
                timeout=30,
                trace_dir=tmp_path / "sipp-phone",
            )
            async with phone:
                registered = await run_sipp(
                    SCENARIOS / "phone-register.xml",
                    kamailio.address,
                    variables={"user": "2000", "contact_port": str(phone.port), "expires": "600"},
                    timeout=10,
                    trace_dir=tmp_path / "sipp-register",
                )
                assert registered.returncode == 0, registered.describe()

                audio, keys = _deposit_audio()
                write_rtp_pcap(tmp_path / "deposit.pcap", audio, keys=keys)
                caller = await run_sipp(
                    SCENARIOS / "deposit-via-proxy.xml",
                    kamailio.address,
                    variables={"user": "2000", "caller": CALLER},
                    hold_ms=round(audio.size * 1000 / RATE),
                    cwd=tmp_path,
                    timeout=30,
                    trace_dir=tmp_path / "sipp-caller",
                )
                assert caller.returncode == 0, caller.describe()
                assert (caller.successful_calls, caller.failed_calls) == (1, 0)

                await target.server.wait_idle()
                rang = await phone.wait()
        # The answering side's exit code can lie (peers.md): its counters are what tells.
        assert (rang.successful_calls, rang.failed_calls) == (2, 0), rang.describe()
        assert rang.returncode == 0, rang.describe()
        assert "rang unanswered" in rang.logs
        assert "lamp Messages-Waiting: yes Voice-Message: 1/0: 1 new, 0 old" in rang.logs

        [message] = target.server.spool.messages(OWNER)
        assert message.info.callerid == f'"SIPp caller" <{CALLER}>'
        recorded, _ = read_wav(message.audio)
        assert find_message_codes(recorded) == [CODE]

        received = [parse_message(record.data) for record in wire if record.direction == "in"]
        [invite] = [m for m in received if isinstance(m, Request) and m.method == "INVITE"]
        assert invite.header("X-Voicemail-Mailbox") == "2000"
        # ACK and BYE followed Kamailio's Record-Route: its Via is on top.
        for method in ("ACK", "BYE"):
            [request] = [m for m in received if isinstance(m, Request) and m.method == method]
            top = request.vias()[0]
            assert (top.host, top.port) == kamailio.address, method
    finally:
        await target.close()
