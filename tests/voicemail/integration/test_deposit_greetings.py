"""What a caller hears before the beep: each greeting kind, and ``#`` to skip the instructions."""

from __future__ import annotations

import numpy as np
import pytest

from harness.media.signal import speech_like
from harness.media.signature import find_message_codes, message_signature
from harness.sim.phone import AnswerMode
from tests.voicemail.integration.conftest import BedFactory, coded_greeting

#: "The person at extension 2000 is unavailable", then the instructions and the beep.
DEFAULT_UNAVAIL = [
    "vm-theperson",
    "digits/2",
    "digits/0",
    "digits/0",
    "digits/0",
    "vm-isunavail",
    "vm-intro",
    "beep",
]
DEFAULT_BUSY = [*DEFAULT_UNAVAIL[:5], "vm-isonphone", "vm-intro", "beep"]


async def test_the_default_unavailable_greeting_names_the_mailbox(make_bed: BedFactory) -> None:
    bed = await make_bed()
    call = await bed.deposit("2000", 0.5)
    assert call.heard_prompts() == DEFAULT_UNAVAIL
    assert bed.count("2000") == 1


async def test_a_busy_callee_gets_the_default_busy_greeting(make_bed: BedFactory) -> None:
    # Diversion carries the reason; X-Voicemail (the default) would not.
    bed = await make_bed(convention="diversion")
    bed.phones["2000"].answer_mode = "busy"
    call = await bed.deposit("2000", 0.5)
    assert call.heard_prompts() == DEFAULT_BUSY
    assert bed.count("2000") == 1


async def test_a_recorded_unavailable_greeting_replaces_the_default(make_bed: BedFactory) -> None:
    bed = await make_bed()
    bed.put_greeting("2000", "unavail", coded_greeting("UNAV"))
    call = await bed.deposit("2000", 0.5)
    assert find_message_codes(call.heard()) == ["UNAV"]
    assert call.heard_prompts() == ["vm-intro", "beep"]
    assert bed.count("2000") == 1


async def test_a_recorded_busy_greeting_is_what_a_busy_callees_caller_hears(
    make_bed: BedFactory,
) -> None:
    bed = await make_bed(convention="diversion")
    bed.put_greeting("2000", "unavail", coded_greeting("UNAV"))
    bed.put_greeting("2000", "busy", coded_greeting("BUSY"))
    bed.phones["2000"].answer_mode = "busy"
    call = await bed.deposit("2000", 0.5)
    assert find_message_codes(call.heard()) == ["BUSY"]
    assert call.heard_prompts() == ["vm-intro", "beep"]


@pytest.mark.parametrize("answer_mode", ["busy", "no-answer"])
async def test_a_temporary_greeting_overrides_both_others(
    make_bed: BedFactory, answer_mode: AnswerMode
) -> None:
    bed = await make_bed(convention="diversion")
    for kind in ("unavail", "busy", "temp"):
        bed.put_greeting("2000", kind, coded_greeting(kind.upper()))
    bed.phones["2000"].answer_mode = answer_mode
    call = await bed.deposit("2000", 0.5)
    assert find_message_codes(call.heard()) == ["TEMP"]
    assert call.heard_prompts() == ["vm-intro", "beep"]


async def test_a_recorded_name_stands_for_the_person_at_the_box(make_bed: BedFactory) -> None:
    bed = await make_bed()
    bed.put_greeting("2000", "greet", coded_greeting("NAME"))
    call = await bed.deposit("2000", 0.5)
    assert find_message_codes(call.heard()) == ["NAME"]
    assert call.heard_prompts() == ["vm-isunavail", "vm-intro", "beep"]


async def test_a_greeting_recorded_in_the_mailbox_options_is_what_callers_hear(
    make_bed: BedFactory,
) -> None:
    bed = await make_bed()
    owner = await bed.menu("2000")
    # Each answer cuts the menu short as soon as it starts to speak.
    for prompt, key in (("vm-password", "4321#"), ("vm-youhave", "0"), ("vm-options", "1")):
        assert await owner.wait_for_prompt(prompt), owner.heard_prompts()
        await owner.send_dtmf(key)
    assert await owner.wait_for_prompt("vm-rec-unv"), owner.heard_prompts()
    assert await owner.wait_for_prompt("beep"), owner.heard_prompts()
    await owner.wait_quiet(0.2)
    await owner.play(np.concatenate((message_signature("MINE"), speech_like(0.5, "greeting"))))
    await owner.send_dtmf("#")
    assert await owner.wait_for_prompt("vm-review"), owner.heard_prompts()
    await owner.send_dtmf("1")  # keep it
    assert await owner.wait_for_prompt("vm-msgsaved"), owner.heard_prompts()
    await owner.hangup()
    await bed.server.wait_idle()

    call = await bed.deposit("2000", 0.5)
    assert find_message_codes(call.heard()) == ["MINE"]
    assert call.heard_prompts() == ["vm-intro", "beep"]


async def test_pound_during_the_greeting_skips_the_instructions(make_bed: BedFactory) -> None:
    bed = await make_bed()
    caller = await bed.caller()
    call = await caller.dial("2000")
    assert await call.wait_for_prompt("vm-theperson"), call.heard_prompts()
    await call.send_dtmf("#")
    assert await call.wait_for_prompt("beep"), call.heard_prompts()
    await call.wait_quiet(0.2)
    await call.play(speech_like(0.5, "after the pound"))
    await call.hangup()
    await bed.server.wait_idle()
    heard = call.heard_prompts()
    # The greeting is cut short and the instructions never start: straight to the beep.
    assert heard[0] == "vm-theperson", heard
    assert heard[-1] == "beep", heard
    assert "vm-isunavail" not in heard, heard
    assert "vm-intro" not in heard, heard
    assert bed.count("2000") == 1
