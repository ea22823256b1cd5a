"""Unsolicited MWI: at start-up, on every change, and after the phone registers again."""

from __future__ import annotations

from tests.voicemail.integration.conftest import BedFactory


async def test_a_deposit_lights_the_lamp_through_the_proxy(make_bed: BedFactory) -> None:
    bed = await make_bed()
    since = bed.now()
    await bed.deposit("2000")
    check = await bed.lamp("2000", True, (1, 0), since=since)
    assert check.status == "met", check.detail


async def test_a_phone_that_registers_again_gets_its_lamp_state(make_bed: BedFactory) -> None:
    bed = await make_bed()
    since = bed.now()
    await bed.deposit("2000")
    first = await bed.lamp("2000", True, (1, 0), since=since)
    assert first.status == "met", first.detail
    assert first.state is not None
    # The proxy replicates the REGISTER to the voicemail server, which answers with MWI.
    await bed.phones["2000"].register()
    again = await bed.lamp("2000", True, (1, 0), since=first.state.at + 1e-6)
    assert again.status == "met", again.detail
