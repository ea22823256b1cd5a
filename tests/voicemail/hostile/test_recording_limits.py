"""A message is as long as the caller really spoke: wall clock and samples, not timestamps.

RTP timestamps are the sender's word. 100 packets whose timestamps jump almost a minute each
used to make a 5,902 s message out of 17 KB (and hundreds of MB of memory), because gaps up to
a minute are filled with silence and ``maxsecs`` was only applied when its timer fired.
"""

from __future__ import annotations

import time
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.media.rtp import RtpPacket
from tests.voicemail.hostile.server_thread import ServerThread
from tests.voicemail.hostile.test_dialog_matching import Leg, dial, udp_socket

JUMP = 8000 * 59  # just under the receiver's one-minute gap fill


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    sip_conf = "[general]\ndtmfmode=info\n"
    with ServerThread(tmp_path_factory.mktemp("limits"), sip_conf=sip_conf) as running:
        yield running


def wait_until_recording(server: ServerThread, leg: Leg) -> None:
    def recording() -> bool:
        assert server.server is not None
        call = server.server._calls.get(leg.call_id)
        return call is not None and call.session._recording is not None

    deadline = time.monotonic() + 15
    while not server.call(recording):
        assert time.monotonic() < deadline, "the deposit never started recording"
        time.sleep(0.05)


def rtp_port(server: ServerThread, call_id: str) -> int:
    def read() -> int:
        assert server.server is not None
        return server.server._calls[call_id].rtp.local_port

    return server.call(read)


def stored_seconds(spool: Path) -> list[float]:
    seconds = []
    for path in sorted(spool.rglob("msg*.wav")):
        with wave.open(str(path)) as audio:
            seconds.append(audio.getnframes() / audio.getframerate())
    return seconds


def test_timestamp_jumps_do_not_lengthen_a_message(server: ServerThread) -> None:
    with udp_socket() as sock, udp_socket() as media:
        leg = dial(server, sock)
        time.sleep(0.3)
        assert leg.request("INFO", 2, signal="#").startswith(b"SIP/2.0 200")  # skip greeting
        assert leg.request("INFO", 3, signal="#").startswith(b"SIP/2.0 200")  # and intro
        wait_until_recording(server, leg)
        target = ("127.0.0.1", rtp_port(server, leg.call_id))
        ssrc, base = 0x1234, int(uuid.uuid4().int % 2**31)
        for number in range(100):
            packet = RtpPacket(0, number, (base + number * JUMP) % 2**32, ssrc, b"\x7e" * 160)
            media.sendto(packet.encode(), target)
            time.sleep(0.002)
        time.sleep(0.2)
        assert leg.request("BYE", 4).startswith(b"SIP/2.0 200")
    server.run(server.server.wait_idle() if server.server else _nothing())
    lengths = stored_seconds(server.spool)
    assert lengths, "no message was stored"
    assert max(lengths) < 5, f"a 100-packet call made a {max(lengths):.0f} s message"


async def _nothing() -> None:
    return None
