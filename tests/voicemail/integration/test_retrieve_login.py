"""Logging in to VoiceMailMain over SIP: the PIN, wrong PINs, ``maxlogins`` and asking for the box.

A registered phone dialling *97 is sent to its own mailbox, so only the PIN is asked; an outside
caller is asked for the mailbox first (``vm-login``).
"""

from __future__ import annotations

import asyncio

from tests.voicemail.integration.conftest import BedFactory

GENERAL = {"envelope": "no"}


async def test_the_right_pin_logs_in(make_bed: BedFactory) -> None:
    bed = await make_bed(general=GENERAL)
    call = await bed.login("2000")
    heard = await bed.hear(call, "vm-youhave")
    assert heard == ["vm-password", "vm-youhave"], heard
    await call.hangup()


async def test_a_wrong_pin_is_refused_and_asked_again(make_bed: BedFactory) -> None:
    bed = await make_bed(general=GENERAL)
    call = await bed.login("2000", "1111")
    first = await bed.hear(call, "vm-password", after=1)
    assert first == ["vm-incorrect", "vm-password"], first
    await bed.press(call, "4321#")
    second = await bed.hear(call, "vm-youhave", after=3)
    assert second == ["vm-youhave"], second
    await call.hangup()


async def test_maxlogins_wrong_pins_end_the_call(make_bed: BedFactory) -> None:
    bed = await make_bed(general=GENERAL)
    since = await bed.lamp_settled("2000")
    call = await bed.login("2000", "1111")
    for attempt in range(2):
        refused = await bed.hear(call, "vm-password", after=1 + 2 * attempt)
        assert refused == ["vm-incorrect", "vm-password"], refused
        await bed.press(call, "1111#")
    assert await bed.hung_up_by_server(call), "no BYE after the third refusal"
    heard = call.heard_prompts()
    assert heard == [
        *("vm-password", "vm-incorrect"),
        *("vm-password", "vm-incorrect"),
        *("vm-password", "vm-incorrect", "vm-goodbye"),
    ], heard
    await bed.server.wait_idle()
    # Nobody logged in, so no MWI goes out; a NOTIFY would have been sent with the BYE, and
    # half a second is ample for it to cross the proxy.
    await asyncio.sleep(0.5)
    assert bed.phones["2000"].notifies_since(since) == []


async def test_maxlogins_is_read_from_voicemail_conf(make_bed: BedFactory) -> None:
    bed = await make_bed(general={**GENERAL, "maxlogins": "1"})
    call = await bed.login("2000", "1111")
    assert await bed.hung_up_by_server(call), "no BYE after the refusal"
    assert call.heard_prompts() == ["vm-password", "vm-incorrect", "vm-goodbye"]


async def test_an_outside_caller_is_asked_for_the_mailbox(make_bed: BedFactory) -> None:
    bed = await make_bed(general=GENERAL)
    phone = await bed.caller()
    call = await phone.dial("*97")
    assert await call.wait_for_prompt("vm-login"), call.heard_prompts()
    await bed.press(call, "2000#")
    assert "vm-password" in await bed.hear(call, "vm-password")
    await bed.press(call, "4321#")
    heard = await bed.hear(call, "vm-youhave")
    assert heard == ["vm-login", "vm-password", "vm-youhave"], heard
    await call.hangup()


async def test_an_unknown_mailbox_is_refused_like_a_wrong_pin(make_bed: BedFactory) -> None:
    bed = await make_bed(general=GENERAL)
    phone = await bed.caller()
    call = await phone.dial("*97")
    assert await call.wait_for_prompt("vm-login"), call.heard_prompts()
    await bed.press(call, "2999#")
    # The PIN is asked even for a box that does not exist, so callers cannot probe for boxes.
    assert "vm-password" in await bed.hear(call, "vm-password")
    await bed.press(call, "4321#")
    heard = await bed.hear(call, "vm-incorrect-mailbox")
    assert heard == ["vm-login", "vm-password", "vm-incorrect-mailbox"], heard
    await bed.press(call, "2000#")
    await bed.hear(call, "vm-password", after=3)
    await bed.press(call, "4321#")
    assert "vm-youhave" in await bed.hear(call, "vm-youhave", after=3)
    await call.hangup()
