"""What a deposit stores: Urgent messages, one copy per mailbox, and the caller's audio intact."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import numpy as np
import pytest

from harness.core.mailbox import MailboxId
from harness.media.playback_link import PlaybackLink
from harness.media.session import use_playback_process
from harness.media.signal import correlation, speech_like
from harness.media.signature import find_message_codes, message_signature
from harness.media.wav import read_wav
from harness.voicemail.flows.callflow import Action, Play, Prompt, Record
from harness.voicemail.session import CallSession
from tests.voicemail.integration.conftest import BedFactory, coded_greeting

RATE = 8000


def info_lines(text: str) -> dict[str, str]:
    """The ``key=value`` lines of a ``msgNNNN.txt``."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


async def test_a_priority_urgent_invite_leaves_an_urgent_message_counted_as_new(
    make_bed: BedFactory,
) -> None:
    bed = await make_bed()
    bed.put_greeting("2000", "unavail", coded_greeting("GREET"))
    since = await bed.lamp_settled("2000")
    await bed.deposit("2000", 0.5, headers=(("Priority", "urgent"),))
    assert (bed.count("2000", "Urgent"), bed.count("2000", "INBOX")) == (1, 0)
    [message] = bed.server.spool.messages(MailboxId("2000"), "Urgent")
    assert info_lines(message.text.read_text())["flag"] == "Urgent"
    # Urgent counts as new (chan_sip writes the urgent pair as a constant "(0/0)").
    check = await bed.lamp("2000", True, (1, 0), since=since)
    assert check.status == "met", check.detail


@pytest.mark.parametrize("convention", ["request-uri", "diversion"])
async def test_a_deposit_for_two_mailboxes_leaves_one_copy_in_each(
    make_bed: BedFactory, convention: str
) -> None:
    # The caller's side names both boxes; the proxy adds its own convention on the way.
    bed = await make_bed(
        {"2000": "4321", "2001": "4321"}, phones=["2000", "2001"], convention=convention
    )
    bed.put_greeting("2000", "unavail", coded_greeting("GREET"))
    since = await bed.lamp_settled("2000")
    await bed.lamp_settled("2001")
    call = await bed.deposit(
        "2000", 0.5, signature="BOTH", headers=(("X-Voicemail-Mailbox", "2000&2001"),)
    )
    # The greeting is the first mailbox's.
    assert find_message_codes(call.heard()) == ["GREET"]
    for box in ("2000", "2001"):
        [message] = bed.server.spool.messages(MailboxId(box))
        assert find_message_codes(read_wav(message.audio)[0]) == ["BOTH"], box
        assert info_lines(message.text.read_text())["context"] == "default"
        check = await bed.lamp(box, True, (1, 0), since=since)
        assert check.status == "met", f"{box}: {check.detail}"


async def test_the_message_is_the_callers_audio_intact(make_bed: BedFactory) -> None:
    bed = await make_bed(general={"envelope": "no", "sayduration": "no"})
    bed.put_greeting("2000", "unavail", coded_greeting("GREET"))
    sent = np.concatenate((message_signature("INTACT"), speech_like(1.0, "integrity")))
    await bed.deposit("2000", audio=sent)

    [message] = bed.server.spool.messages(MailboxId("2000"))
    stored, _ = read_wav(message.audio)
    assert abs(len(stored) - len(sent)) / RATE <= 0.1, (len(stored), len(sent))
    assert correlation(sent, stored) > 0.95

    owner = await bed.menu("2000")
    for prompt, key in (("vm-password", "4321#"), ("vm-youhave", "1")):
        assert await owner.wait_for_prompt(prompt), owner.heard_prompts()
        await owner.send_dtmf(key)
    assert "INTACT" in await bed.codes(owner, "INTACT"), owner.heard_prompts()
    await owner.hangup()
    await bed.server.wait_idle()


@pytest.fixture
async def playback_process() -> AsyncIterator[PlaybackLink]:
    """A playback process for the test's loop: it paces the prompts and reads the sockets of
    every RTP session opened from now on, the server's included (as under ``serve``)."""
    link = await PlaybackLink.start()
    use_playback_process(link)
    yield link
    use_playback_process(None)
    await link.close()


async def test_the_last_packet_before_the_bye_is_kept_when_a_playback_process_reads_it(
    playback_process: PlaybackLink, make_bed: BedFactory
) -> None:
    # The BYE overtakes the caller's last packet, which the process still holds in its batch:
    # the server takes what the process holds before it ends the recording.
    bed = await make_bed(general={"envelope": "no"})
    quiet = (speech_like(0.5, "last") * 0.05).astype(np.int16)
    spoken = np.concatenate((message_signature("LAST"), quiet))
    padding = np.zeros(-len(spoken) % 160, dtype=np.int16)
    last_packet = (np.sin(2 * np.pi * 1000 * np.arange(160) / RATE) * 20000).astype(np.int16)
    await bed.deposit("2000", audio=np.concatenate((spoken, padding, last_packet)))

    [message] = bed.server.spool.messages(MailboxId("2000"))
    stored, _ = read_wav(message.audio)
    assert find_message_codes(stored) == ["LAST"]
    ending = stored[-160:].astype(np.float64)
    assert np.sqrt(np.mean(ending**2)) > 5000, "the message lost the caller's last packet"


async def test_a_server_slow_to_start_recording_keeps_what_was_said_right_after_the_beep(
    make_bed: BedFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A loaded server comes round to start the recording a while after the beep has ended,
    # and meanwhile reads the caller's first words: they are the message's, not lost.
    do = CallSession._do

    async def late(session: CallSession, action: Action) -> None:
        if isinstance(action, Record):
            await asyncio.sleep(0.5)
        await do(session, action)

    monkeypatch.setattr(CallSession, "_do", late)
    bed = await make_bed(general={"envelope": "no"})
    sent = np.concatenate((message_signature("PROMPT"), speech_like(1.0, "prompt")))
    phone = await bed.caller("+15551230000")
    call = await phone.dial("2000")
    assert await call.wait_for_prompt("beep"), call.heard_prompts()
    await call.wait_quiet(0.1)
    await call.play(sent)
    await call.hangup()
    await bed.server.wait_idle()

    [message] = bed.server.spool.messages(MailboxId("2000"))
    stored, _ = read_wav(message.audio)
    assert abs(len(stored) - len(sent)) / RATE <= 0.1, (len(stored), len(sent))
    assert find_message_codes(stored) == ["PROMPT"]


async def test_a_server_slow_to_answer_the_callers_key_records_as_much_as_a_quick_one(
    make_bed: BedFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A caller presses '#' in the greeting and speaks on cue, not waiting for the beep. A
    # loaded server that takes 0.3 s to start the beep still records from where the key put
    # the beep's end: the message is as long as on a quick server, not 0.3 s shorter.
    slow: list[bool] = []
    do = CallSession._do

    async def late(session: CallSession, action: Action) -> None:
        if slow and isinstance(action, Play) and Prompt("beep") in action.items:
            await asyncio.sleep(0.3)
        await do(session, action)

    monkeypatch.setattr(CallSession, "_do", late)
    bed = await make_bed(general={"envelope": "no"})
    spoken = np.concatenate((np.zeros(RATE, np.int16), message_signature("CUE")))
    for quick in (True, False):
        if not quick:
            slow.append(True)
        call = await (await bed.caller("+15551230000")).dial("2000")
        await asyncio.sleep(0.3)
        await call.send_dtmf("#")
        await call.play(spoken)
        await call.hangup()
        await bed.server.wait_idle()

    messages = sorted(bed.server.spool.messages(MailboxId("2000")), key=lambda m: m.audio.name)
    quick_audio, slow_audio = (read_wav(message.audio)[0] for message in messages)
    assert find_message_codes(slow_audio) == ["CUE"]
    lengths = (len(quick_audio) / RATE, len(slow_audio) / RATE)
    assert abs(lengths[1] - lengths[0]) <= 0.1, lengths


async def test_a_caller_reviewing_a_long_message_hears_all_of_it_and_it_is_kept_whole(
    make_bed: BedFactory,
) -> None:
    # Three seconds: most of it is on disk (flushed as it settles) by the time it is reviewed.
    bed = await make_bed(general={"review": "yes", "envelope": "no"})
    sent = np.concatenate((message_signature("REVIEW"), speech_like(3.0, "review")))
    phone = await bed.caller("+15551230000")
    call = await phone.dial("2000")
    assert await call.wait_for_prompt("beep"), call.heard_prompts()
    await call.wait_quiet(0.2)
    await call.play(sent)
    await call.send_dtmf("#")
    assert await call.wait_for_prompt("vm-review"), call.heard_prompts()
    await bed.press(call, "2")
    assert await bed.codes(call, "REVIEW") == ["REVIEW"], call.heard_prompts()
    await bed.press(call, "1")
    await bed.finish(call)

    [message] = bed.server.spool.messages(MailboxId("2000"))
    stored, _ = read_wav(message.audio)
    assert abs(len(stored) - len(sent)) / RATE <= 0.1, (len(stored), len(sent))
    assert correlation(sent, stored) > 0.95
    assert find_message_codes(stored) == ["REVIEW"]


async def test_a_message_marked_urgent_in_review_is_journalled_and_stored_urgent(
    make_bed: BedFactory,
) -> None:
    bed = await make_bed(general={"review": "yes", "envelope": "no"})
    phone = await bed.caller("+15551230000")
    call = await phone.dial("2000")
    assert await call.wait_for_prompt("beep"), call.heard_prompts()
    await call.wait_quiet(0.2)
    await call.play(speech_like(1.5, "urgent"))
    await call.send_dtmf("#")
    assert await call.wait_for_prompt("vm-review"), call.heard_prompts()
    await bed.press(call, "4")
    assert await call.wait_for_prompt("vm-marked-urgent"), call.heard_prompts()
    # Still in the review menu: should the server die now, start-up recovers it as Urgent.
    tmp = bed.server.spool.mailbox_dir(MailboxId("2000")) / "tmp"
    (header,) = tmp.glob("rec-*.json")
    journal = json.loads(header.read_text())
    assert journal["folder"] == "Urgent"
    assert info_lines(journal["info"])["flag"] == "Urgent"
    await bed.press(call, "1")
    await bed.finish(call)

    assert (bed.count("2000", "Urgent"), bed.count("2000", "INBOX")) == (1, 0)
