"""Stopping the server: only callers still on the line get its BYE."""

from __future__ import annotations

from tests.voicemail.integration.conftest import BedFactory


async def test_a_caller_who_hung_up_gets_no_bye_and_the_stop_is_prompt(
    make_bed: BedFactory,
) -> None:
    bed = await make_bed(general={"envelope": "no"})
    await bed.deposit("2000", 0.3, signature="AAA", skip_greeting=True)
    call = await bed.login("2000")
    await bed.hear(call, "vm-youhave")
    await call.send_dtmf("1")
    assert await bed.codes(call, "AAA") == ["AAA"]
    await call.hangup()
    for phone in [*bed.phones.values(), *bed.callers.values()]:
        await phone.close()
    # The caller's BYE ended the dialog: a BYE now would go unanswered (the phone is gone)
    # and hold the stop up for its whole timeout.
    started = bed.now()
    await bed.server.close()
    assert bed.now() - started < 1.0
    sent = [m.data for m in bed.wire if m.party == "voicemail" and m.direction == "out"]
    assert not [data for data in sent if data.startswith(b"BYE ")]
