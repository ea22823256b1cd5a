"""When a phone takes the far end's audio for a menu waiting for a key.

The phone presses a key once the far end spoke and then fell silent; a stall of the phone's own
process must not look like that silence, or it presses the key into the message it meant to hear.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from harness.media import g711
from harness.media.rtp import RtpPacket
from harness.media.session import RtpSession
from harness.media.wav import read_wav
from harness.sim.phone import MENU_QUIET, Call, Phone
from harness.sip.dialog import Dialog
from harness.sip.message import Response
from harness.sip.sdp import Negotiated

LOUD = np.full(160, 3000, dtype=np.int16)
SILENT = np.zeros(160, dtype=np.int16)


class FarEnd:
    """Sends 20 ms PCMU packets to the phone's RTP port from a plain socket."""

    def __init__(self, port: int) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.port = port
        self.sequence = 0

    def send(self, pcm: np.ndarray) -> None:
        payload = g711.encode(pcm, "PCMU")
        packet = RtpPacket(0, self.sequence, self.sequence * 160, 0x1234, payload)
        self.socket.sendto(packet.encode(), ("127.0.0.1", self.port))
        self.sequence += 1


@pytest.fixture
async def call_and_far_end() -> AsyncIterator[tuple[Call, FarEnd]]:
    rtp = await RtpSession.open()
    negotiated = Negotiated("127.0.0.1", 9, 0, "PCMU", 101, 20)
    # Listening uses the media only: the signalling parts of a call stay out of these tests.
    call = Call(cast(Phone, None), cast(Dialog, None), rtp, negotiated, cast(Response, None))
    far_end = FarEnd(rtp.local_address[1])
    try:
        yield call, far_end
    finally:
        far_end.socket.close()
        rtp.close()


async def _read(seconds: float) -> None:
    """Let the phone read what arrived (a bounded wait on loopback)."""
    await asyncio.sleep(seconds)


async def test_a_far_end_that_stops_sending_after_speaking_is_quiet(
    call_and_far_end: tuple[Call, FarEnd],
) -> None:
    call, far_end = call_and_far_end
    far_end.send(LOUD)
    await _read(0.05)
    assert await call.wait_quiet(0.3, timeout=2.0)


async def test_a_late_stream_is_not_silence_before_that_much_silence_came(
    call_and_far_end: tuple[Call, FarEnd],
) -> None:
    call, far_end = call_and_far_end

    async def late_silence() -> None:
        # 20 ms packets every 40 ms: the far end (a busy server) runs at half speed.
        for _ in range(15):
            far_end.send(SILENT)
            await asyncio.sleep(0.04)

    far_end.send(LOUD)
    await _read(0.02)
    sender = asyncio.create_task(late_silence())
    assert not await call.wait_quiet(0.4, timeout=0.5)
    await sender
    far_end.send(LOUD)
    assert await call.wait_quiet(0.4, timeout=2.0)


async def test_a_stall_of_the_phone_is_not_taken_for_the_menu_waiting(
    call_and_far_end: tuple[Call, FarEnd],
) -> None:
    call, far_end = call_and_far_end
    far_end.send(LOUD)
    for _ in range(5):
        far_end.send(SILENT)
    await _read(0.05)
    # The process stalls (its loop blocked) while the far end's speech goes on arriving.
    time.sleep(0.5)
    far_end.send(LOUD)
    assert not await call.wait_quiet(0.4, timeout=0.3)


def test_a_menu_pause_outlasts_the_silence_between_two_spoken_numbers(
    require_sounds: Path,
) -> None:
    """A message's time is said word by word ("six", "fifty", "nine", "p-m"): the quiet a
    retrieval waits for before its next key is longer than the gap between any two of them,
    or the key goes in before the message has played."""
    leads, trails = [], []
    for path in (require_sounds / "digits").glob("*.wav"):
        audio, _ = read_wav(path)
        loud = np.flatnonzero(np.abs(audio.astype(np.int32)) > 1000)
        if loud.size:
            leads.append(int(loud[0]))
            trails.append(int(audio.size - loud[-1]))
    longest_gap = (max(leads) + max(trails)) / 8000
    assert 0.4 < longest_gap < MENU_QUIET
