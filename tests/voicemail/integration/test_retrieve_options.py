"""Mailbox options (main menu 0): greetings recorded over the phone, and a new PIN.

A greeting is recorded the way a user does it: the prompt, the beep, speak (a signature the
next caller can be heard to get), ``#``, then ``1`` to keep it. A new PIN is keyed twice and is
written where ``passwordlocation`` says; the next login needs it.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.core.mailbox import MailboxId
from harness.media.signal import speech_like
from harness.media.signature import find_message_codes, message_signature
from harness.sim.phone import Call
from tests.voicemail.integration.conftest import Bed, BedFactory

GENERAL = {"envelope": "no"}
BOX = MailboxId("2000")


async def _options(bed: Bed) -> Call:
    """Log 2000 in and open the mailbox options; the call, at ``vm-options``."""
    call = await bed.login("2000")
    await bed.hear(call, "vm-youhave")
    await call.send_dtmf("0")
    assert "vm-options" in await bed.hear(call, "vm-options")
    return call


async def _record_greeting(bed: Bed, call: Call, key: str, prompt: str, code: str) -> list[str]:
    """Press ``key`` at the options, speak ``code`` after ``prompt`` and the beep, keep it;
    the prompts heard from the key on, up to the options menu that follows."""
    mark = len(call.heard_prompts())
    await call.send_dtmf(key)
    assert "beep" in await bed.hear(call, "beep", after=mark)
    await call.wait_quiet(0.2)  # the beep's tone
    await call.play(np.concatenate((message_signature(code), speech_like(0.4, code))))
    await call.send_dtmf("#")
    assert "vm-review" in await bed.hear(call, "vm-review", after=mark)
    await call.send_dtmf("1")
    return await bed.hear(call, "vm-options", after=mark)


async def test_a_recorded_unavailable_greeting_is_what_callers_hear(make_bed: BedFactory) -> None:
    bed = await make_bed(general=GENERAL)
    call = await _options(bed)
    said = await _record_greeting(bed, call, "1", "vm-rec-unv", "UNAVAIL")
    assert said == [
        "vm-rec-unv",
        "beep",
        "auth-thankyou",
        "vm-review",
        "vm-msgsaved",
        "vm-options",
    ], said
    await call.hangup()
    await bed.server.wait_idle()
    assert bed.server.spool.greetings(BOX) == frozenset({"unavail"})
    # The next caller hears the recording instead of the built-in greeting.
    deposit = await bed.deposit("2000", 0.3)
    assert find_message_codes(deposit.heard()) == ["UNAVAIL"]
    assert "vm-theperson" not in deposit.heard_prompts()
    assert deposit.heard_prompts() == ["vm-intro", "beep"]


async def test_a_recorded_temporary_greeting_is_what_callers_hear(make_bed: BedFactory) -> None:
    bed = await make_bed(general=GENERAL)
    call = await _options(bed)
    said = await _record_greeting(bed, call, "4", "vm-rec-temp", "TEMP")
    # With no temporary greeting yet, 4 records one straight away; the menu then says it exists.
    assert said == [
        *("vm-rec-temp", "beep", "auth-thankyou", "vm-review", "vm-msgsaved"),
        *("vm-tmpexists", "vm-options"),
    ], said
    await call.hangup()
    await bed.server.wait_idle()
    assert bed.server.spool.greetings(BOX) == frozenset({"temp"})
    deposit = await bed.deposit("2000", 0.3)
    assert find_message_codes(deposit.heard()) == ["TEMP"]


async def test_a_temporary_greeting_can_be_removed(make_bed: BedFactory) -> None:
    bed = await make_bed(general=GENERAL)
    call = await _options(bed)
    await _record_greeting(bed, call, "4", "vm-rec-temp", "TEMP")
    assert bed.server.spool.greetings(BOX) == frozenset({"temp"})
    mark = len(call.heard_prompts())
    await call.send_dtmf("4")
    assert "vm-tempgreeting2" in await bed.hear(call, "vm-tempgreeting2", after=mark)
    mark = len(call.heard_prompts())
    await call.send_dtmf("2")
    removed = await bed.hear(call, "vm-options", after=mark)
    # Removed, and the options no longer say a temporary greeting exists.
    assert removed == ["vm-tempremoved", "vm-options"], removed
    await call.hangup()
    await bed.server.wait_idle()
    assert bed.server.spool.greetings(BOX) == frozenset()
    deposit = await bed.deposit("2000", 0.3)
    assert find_message_codes(deposit.heard()) == []
    assert deposit.heard_prompts()[:1] == ["vm-theperson"], deposit.heard_prompts()


@pytest.mark.parametrize("location", ["voicemailconf", "spooldir"])
async def test_a_new_pin_replaces_the_old_one(make_bed: BedFactory, location: str) -> None:
    bed = await make_bed(general={**GENERAL, "passwordlocation": location})
    call = await _options(bed)
    mark = len(call.heard_prompts())
    await call.send_dtmf("5")
    assert "vm-newpassword" in await bed.hear(call, "vm-newpassword", after=mark)
    await bed.press(call, "5678#")
    assert "vm-reenterpassword" in await bed.hear(call, "vm-reenterpassword", after=mark)
    await bed.press(call, "5678#")
    changed = await bed.hear(call, "vm-options", after=mark)
    assert changed == ["vm-newpassword", "vm-reenterpassword", "vm-passchanged", "vm-options"]
    await call.hangup()
    await bed.server.wait_idle()

    conf = (bed.target.config_dir / "voicemail.conf").read_text()
    secret = bed.server.spool.mailbox_dir(BOX) / "secret.conf"
    if location == "voicemailconf":
        assert "2000 => 5678,2000" in conf.splitlines(), conf
        assert not secret.exists()
    else:
        assert "2000 => 4321,2000" in conf.splitlines(), conf
        assert "password=5678" in secret.read_text().split()

    # The old PIN is refused now, the new one opens the mailbox.
    again = await bed.login("2000", "4321")
    refused = await bed.hear(again, "vm-password", after=1)
    assert refused == ["vm-incorrect", "vm-password"], refused
    await bed.press(again, "5678#")
    assert "vm-youhave" in await bed.hear(again, "vm-youhave", after=3)
    await again.hangup()


async def test_a_mistyped_new_pin_changes_nothing(make_bed: BedFactory) -> None:
    bed = await make_bed(general=GENERAL)
    call = await _options(bed)
    mark = len(call.heard_prompts())
    await call.send_dtmf("5")
    await bed.hear(call, "vm-newpassword", after=mark)
    await bed.press(call, "5678#")
    await bed.hear(call, "vm-reenterpassword", after=mark)
    await bed.press(call, "5679#")
    said = await bed.hear(call, "vm-options", after=mark)
    assert said == [
        *("vm-newpassword", "vm-reenterpassword"),
        *("vm-mismatch", "vm-pls-try-again", "vm-options"),
    ], said
    await call.hangup()
    await bed.server.wait_idle()
    again = await bed.login("2000", "4321")
    assert await bed.hear(again, "vm-youhave") == ["vm-password", "vm-youhave"]
    await again.hangup()
