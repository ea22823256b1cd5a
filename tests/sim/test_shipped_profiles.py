"""Each shipped profile end to end: the benign ones deliver the message and light the lamp; the
broken ones break what they are shipped to break."""

from __future__ import annotations

import pytest

from harness.sim.phone import CallFailed
from tests.sim.conftest import SimBedFactory, requests

BENIGN = ("generic", "kamailio-like", "diversion-pbx", "history-info-sbc", "rfc4458-ims")


@pytest.mark.parametrize("name", BENIGN)
async def test_a_benign_profile_delivers_the_message_and_lights_the_lamp(
    sim_bed: SimBedFactory, name: str
) -> None:
    bed = await sim_bed(name, tcp=name == "rfc4458-ims")
    since = await bed.lamp_settled("2000")
    await bed.deposit("2000", 0.5, skip_greeting=True)
    assert bed.count("2000") == 1
    check = await bed.lamp("2000", True, (1, 0), since=since)
    assert check.status == "met", check.detail


async def test_strips_x_headers_leaves_the_invite_without_a_mailbox(
    sim_bed: SimBedFactory,
) -> None:
    # Only X-Voicemail names the mailbox here; by default the server would fall back on the
    # Request-URI user, which the x-voicemail convention also sets.
    bed = await sim_bed("strips-x-headers", chain=("x-voicemail",))
    with pytest.raises(CallFailed) as failed:
        await (await bed.caller()).dial("2000")
    assert failed.value.response.status == 404
    (invite,) = requests(bed, "voicemail", "in", "INVITE")
    assert not invite.has("X-Voicemail-Mailbox")
    assert not invite.has("X-Voicemail-Context")
    assert bed.count("2000") == 0
    # Retrieval does not depend on the header: the menu still answers the phone's own box.
    call = await bed.login("2000")
    assert await bed.hear(call, "vm-youhave") == ["vm-password", "vm-youhave"]
    await call.hangup()
