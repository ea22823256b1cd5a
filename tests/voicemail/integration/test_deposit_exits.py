"""Leaving before the beep: ``*``, ``0`` (operator) and hanging up store nothing and tell no one."""

from __future__ import annotations

import asyncio

import pytest

from harness.sim.phone import Call
from tests.voicemail.integration.conftest import Bed, BedFactory

#: The voicemail.conf setting that makes each key leave the greeting.
EXIT_SETTINGS = {"*": {"exitcontext": "from-voicemail"}, "0": {"operator": "yes"}}


async def call_2000(bed: Bed) -> Call:
    """An outside caller reaches 2000's voicemail and is hearing the greeting."""
    caller = await bed.caller()
    call = await caller.dial("2000")
    assert await call.wait_for_prompt("vm-theperson"), call.heard_prompts()
    return call


@pytest.mark.parametrize("key", ["*", "0"])
async def test_an_exit_key_during_the_greeting_leaves_without_a_message(
    make_bed: BedFactory, key: str
) -> None:
    bed = await make_bed(general=EXIT_SETTINGS[key])
    since = await bed.lamp_settled("2000")
    call = await call_2000(bed)
    await call.send_dtmf(key)
    # The server ends the call: no instructions, no beep, nothing recorded.
    await asyncio.wait_for(call.ended.wait(), 3.0)
    heard = call.heard_prompts()
    assert "vm-isunavail" not in heard, heard
    assert "beep" not in heard, heard
    # The operator exit says it is transferring; '*' just leaves.
    assert ("transfer" in heard) == (key == "0"), heard
    await bed.server.wait_idle()
    await bed.assert_nothing_left("2000", since)


@pytest.mark.parametrize("key", ["*", "0"])
async def test_an_exit_key_that_is_not_configured_is_ignored(
    make_bed: BedFactory, key: str
) -> None:
    bed = await make_bed()
    call = await call_2000(bed)
    await call.send_dtmf(key)
    assert await call.wait_for_prompt("beep"), call.heard_prompts()
    assert not call.ended.is_set()
    assert call.heard_prompts() == [
        "vm-theperson",
        *["digits/2", "digits/0", "digits/0", "digits/0"],
        "vm-isunavail",
        "vm-intro",
        "beep",
    ]
    await call.hangup()
    await bed.server.wait_idle()


async def test_hanging_up_during_the_greeting_leaves_nothing(make_bed: BedFactory) -> None:
    bed = await make_bed()
    since = await bed.lamp_settled("2000")
    call = await call_2000(bed)
    await call.hangup()
    await bed.server.wait_idle()
    await bed.assert_nothing_left("2000", since)
