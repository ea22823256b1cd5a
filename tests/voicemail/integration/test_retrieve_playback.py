"""Keys while a message plays: fast-forward, rewind, pause and restart, heard as position changes.

The message carries signatures at known places, with speech between them, so what the phone
hears after a key tells where playback went. ``skipms`` is 1.5 s (voicemail.conf), which keeps
the messages short. A key is pressed as soon as a signature has been heard, while the message
still flows.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from harness.media.signal import speech_like
from harness.media.signature import message_signature
from harness.sim.phone import Call
from tests.voicemail.integration.conftest import Bed, BedFactory

RATE = 8000
SKIPMS = 1500


def _message(*marks: tuple[float, str], length: float) -> npt.NDArray[np.int16]:
    """``length`` seconds of speech with the signature ``code`` starting at each ``(at, code)``."""
    audio = speech_like(length, "playback").copy()
    for at, code in marks:
        start = round(at * RATE)
        frame = message_signature(code)
        assert start + frame.size <= audio.size, f"{code} at {at} s does not fit"
        audio[start : start + frame.size] = frame
    return audio


#: Signatures A, B and C spread over a message (the fast-forward tests).
FF_LAYOUT = _message((0.0, "A"), (1.2, "B"), (3.2, "C"), length=4.2)


async def _playing(make_bed: BedFactory, audio: npt.NDArray[np.int16]) -> tuple[Bed, Call]:
    """Leave ``audio`` for 2000, log in and start playing it; the bed and the call."""
    bed = await make_bed(general={"envelope": "no", "skipms": str(SKIPMS)})
    await bed.deposit("2000", audio=audio, skip_greeting=True)
    call = await bed.login("2000")
    await bed.hear(call, "vm-youhave")
    await call.send_dtmf("1")
    return bed, call


async def test_the_layout_plays_in_full_without_a_key(make_bed: BedFactory) -> None:
    bed, call = await _playing(make_bed, FF_LAYOUT)
    assert await bed.codes(call, "C") == ["A", "B", "C"]
    await call.hangup()


async def test_pound_fast_forwards_past_a_signature(make_bed: BedFactory) -> None:
    # A ends at 0.48 s; a key at p lands at p + 1.5, after B (1.2-1.68) and not past the start
    # of C (3.2) for any p up to 1.7 s.
    bed, call = await _playing(make_bed, FF_LAYOUT)
    assert await bed.codes(call, "A") == ["A"]
    await call.send_dtmf("#")
    assert await bed.codes(call, "C") == ["A", "C"]
    await call.hangup()


async def test_pound_past_the_end_returns_to_the_menu(make_bed: BedFactory) -> None:
    bed, call = await _playing(make_bed, _message((0.0, "A"), (1.3, "B"), length=2.0))
    assert await bed.codes(call, "A") == ["A"]
    mark = len(call.heard_prompts())
    await call.send_dtmf("#")  # about 2.1 s: past the 2 s message
    menu = await bed.hear(call, "vm-advopts", after=mark, timeout=5.0)
    assert menu == ["vm-advopts"], menu
    assert await bed.codes(call, "B", timeout=0.5) == ["A"]
    await call.hangup()


async def test_star_rewinds_by_skipms(make_bed: BedFactory) -> None:
    # C ends at 3.08 s; a key at p lands at p - 1.5, after B (0.6-1.08) and not past the start
    # of C (2.6) for any p up to 4.1 s, before the message ends.
    layout = _message((0.0, "A"), (0.6, "B"), (2.6, "C"), length=4.6)
    bed, call = await _playing(make_bed, layout)
    assert await bed.codes(call, "C") == ["A", "B", "C"]
    await call.send_dtmf("*")
    assert await bed.codes(call, "C", times=2) == ["A", "B", "C", "C"]
    await call.hangup()


async def test_2_restarts_the_message(make_bed: BedFactory) -> None:
    bed, call = await _playing(make_bed, _message((0.0, "A"), (0.8, "B"), length=2.8))
    assert await bed.codes(call, "B") == ["A", "B"]
    await call.send_dtmf("2")
    assert await bed.codes(call, "B", times=2) == ["A", "B", "A", "B"]
    await call.hangup()


async def test_0_pauses_and_0_resumes_where_it_was(make_bed: BedFactory) -> None:
    # Unpaused, B (2.0-2.48 s) would be heard within 2 s of A.
    bed, call = await _playing(make_bed, _message((0.0, "A"), (2.0, "B"), length=2.8))
    assert await bed.codes(call, "A") == ["A"]
    await call.send_dtmf("0")
    assert await bed.codes(call, "B", timeout=3.0) == ["A"], "B was heard while paused"
    await call.send_dtmf("0")
    # From where it stopped: B, and not A again.
    assert await bed.codes(call, "B", timeout=5.0) == ["A", "B"]
    await call.hangup()
