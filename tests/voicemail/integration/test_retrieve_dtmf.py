"""Keys in each DTMF mode, end to end: the phone's sip.conf peer says how it sends them.

RFC 4733 telephone-events are the default; ``dtmfmode=info`` makes the server take SIP INFO
(``application/dtmf-relay``) and ``dtmfmode=inband`` makes it listen for the tones in the audio.
Each test logs in with the PIN, plays a message and leaves with ``#``, all in that one mode.
"""

from __future__ import annotations

import pytest

from harness.sim.phone import DtmfMode
from tests.voicemail.integration.conftest import BedFactory


@pytest.mark.parametrize(
    ("dtmfmode", "sends"),
    [(None, "rfc2833"), ("info", "info"), ("inband", "inband")],
)
async def test_the_menu_works_in_each_dtmf_mode(
    make_bed: BedFactory, dtmfmode: str | None, sends: DtmfMode
) -> None:
    dtmf = {} if dtmfmode is None else {"2000": dtmfmode}
    bed = await make_bed(general={"envelope": "no"}, dtmf=dtmf)
    await bed.deposit("2000", 0.3, signature="KEYS", skip_greeting=True)
    call = await bed.login("2000", dtmf=sends)
    assert "vm-youhave" in await bed.hear(call, "vm-youhave")
    await call.send_dtmf("1", sends)
    assert await bed.codes(call, "KEYS") == ["KEYS"]
    assert "vm-advopts" in await bed.hear(call, "vm-advopts")
    await call.send_dtmf("#", sends)
    assert await bed.hung_up_by_server(call), call.heard_prompts()
    assert call.heard_prompts()[-1] == "vm-goodbye"


@pytest.mark.parametrize(
    ("dtmfmode", "ignored"), [("info", "rfc2833"), ("rfc2833", "info"), ("inband", "info")]
)
async def test_keys_in_another_mode_are_not_taken(
    make_bed: BedFactory, dtmfmode: DtmfMode, ignored: DtmfMode
) -> None:
    bed = await make_bed(general={"envelope": "no"}, dtmf={"2000": dtmfmode})
    call = await bed.menu("2000")
    assert await call.wait_for_prompt("vm-password"), call.heard_prompts()
    await bed.press(call, "9999#", dtmf=ignored)  # a wrong PIN, in a mode the peer does not use
    await call.send_dtmf("4321#", dtmfmode)
    # Had the wrong PIN been taken, the uninterruptible vm-incorrect would come first.
    heard = await bed.hear(call, "vm-youhave")
    assert heard == ["vm-password", "vm-youhave"], heard
    await call.hangup()
