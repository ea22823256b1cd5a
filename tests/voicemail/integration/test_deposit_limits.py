"""voicemail.conf limits on a deposit: minsecs, maxmsg, maxsecs and maxsilence."""

from __future__ import annotations

import asyncio

import numpy as np

from harness.core.mailbox import MailboxId
from harness.media.signal import speech_like
from harness.media.signature import find_message_codes
from harness.media.wav import read_wav
from harness.sim.phone import Call
from tests.voicemail.integration.conftest import Bed, BedFactory, coded_greeting

RATE = 8000


async def quick_bed(make_bed: BedFactory, **general: str) -> Bed:
    """Mailbox 2000 with ``general`` settings and a short recorded greeting (it is not tested)."""
    bed = await make_bed(general=general)
    bed.put_greeting("2000", "unavail", coded_greeting("GREET"))
    return bed


def stored_seconds(bed: Bed) -> tuple[float, dict[str, str]]:
    """White-box: the length of 2000's only INBOX message, and its ``[message]`` lines."""
    messages = bed.server.spool.messages(MailboxId("2000"))
    assert len(messages) == 1, [m.name for m in messages]
    pcm, _ = read_wav(messages[0].audio)
    lines = messages[0].text.read_text().splitlines()
    return len(pcm) / RATE, dict(line.split("=", 1) for line in lines if "=" in line)


async def talk_until_hung_up(call: Call, audio: np.ndarray, within: float) -> float:
    """Speak ``audio`` until the server hangs up; how long that took (fails after ``within``)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    talking = asyncio.ensure_future(call.play(audio))
    try:
        await asyncio.wait_for(call.ended.wait(), within)
    finally:
        call.rtp.stop_sending()
        await talking
    return loop.time() - started


async def test_a_message_shorter_than_minsecs_is_discarded_and_the_lamp_stays_off(
    make_bed: BedFactory,
) -> None:
    bed = await quick_bed(make_bed, minsecs="2")
    since = await bed.lamp_settled("2000")
    await bed.deposit("2000", 1.0)
    await bed.assert_nothing_left("2000", since)


async def test_a_message_as_long_as_minsecs_is_kept(make_bed: BedFactory) -> None:
    bed = await quick_bed(make_bed, minsecs="2")
    since = await bed.lamp_settled("2000")
    await bed.deposit("2000", 2.2)
    assert bed.count("2000") == 1
    check = await bed.lamp("2000", True, (1, 0), since=since)
    assert check.status == "met", check.detail


async def test_a_full_mailbox_is_told_and_nothing_is_overwritten(make_bed: BedFactory) -> None:
    bed = await quick_bed(make_bed, maxmsg="1")
    await bed.deposit("2000", 0.5, signature="FIRST")
    box = bed.target.spool / "default" / "2000"
    before = {path: path.read_bytes() for path in box.rglob("msg*")}
    counts = bed.server.counts(MailboxId("2000"))

    caller = await bed.caller("+15559870000")
    call = await caller.dial("2000")
    await asyncio.wait_for(call.ended.wait(), 5.0)
    await bed.server.wait_idle()
    heard = call.heard_prompts()
    assert heard[-1] == "vm-mailboxfull", heard
    assert "beep" not in heard, heard
    assert {path: path.read_bytes() for path in box.rglob("msg*")} == before
    assert bed.server.counts(MailboxId("2000")) == counts
    stored = bed.server.spool.messages(MailboxId("2000"))
    assert [find_message_codes(read_wav(m.audio)[0]) for m in stored] == [["FIRST"]]


async def test_maxsecs_cuts_a_long_message_and_hangs_up(make_bed: BedFactory) -> None:
    bed = await quick_bed(make_bed, maxsecs="1")
    caller = await bed.caller()
    call = await caller.dial("2000")
    assert await call.wait_for_prompt("beep"), call.heard_prompts()
    # A phone streams without a break: the caller talks through the tone and on for 4 s.
    took = await talk_until_hung_up(call, speech_like(4.0, "a long story"), within=3.5)
    assert took < 3.5
    await bed.server.wait_idle()
    assert call.heard_prompts()[-1] == "auth-thankyou"
    seconds, text = stored_seconds(bed)
    assert abs(seconds - 1.0) <= 0.1, seconds
    assert text["duration"] == "1"


async def test_maxsilence_ends_the_recording(make_bed: BedFactory) -> None:
    bed = await quick_bed(make_bed, maxsilence="1")
    caller = await bed.caller()
    call = await caller.dial("2000")
    assert await call.wait_for_prompt("beep"), call.heard_prompts()
    await call.wait_quiet(0.2)
    words = speech_like(1.5, "then silence")
    took = await talk_until_hung_up(
        call, np.concatenate((words, np.zeros(4 * RATE, dtype=np.int16))), within=4.5
    )
    # One second of silence ends it, well before the caller's 5.5 s are over.
    assert took < 4.5
    await bed.server.wait_idle()
    assert call.heard_prompts()[-1] == "auth-thankyou"
    # The silence that ended the recording is not kept.
    seconds, _ = stored_seconds(bed)
    assert abs(seconds - len(words) / RATE) <= 0.1, seconds
