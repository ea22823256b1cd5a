"""The server's read-only status endpoint: mailbox counts and the calls in progress, as JSON."""

from __future__ import annotations

from harness.media.signal import speech_like
from tests.voicemail.integration.conftest import BedFactory
from tests.voicemail.integration.restart import restart
from tests.voicemail.integration.status_client import get_status


async def test_the_status_shows_mailbox_counts_and_the_calls_in_progress(
    make_bed: BedFactory,
) -> None:
    bed = await make_bed({"2000": "4321", "2001": "4321"}, phones=["2000"])
    await restart(bed, messages={"2000": {"INBOX": 1, "Old": 2}}, status_port=0)
    assert bed.server.status_port is not None
    address = (bed.server.address[0], bed.server.status_port)

    status, idle = await get_status(address)
    assert status == 200
    assert idle["mailboxes"] == {
        "2000@default": {"new": 1, "old": 2, "urgent": 0},
        "2001@default": {"new": 0, "old": 0, "urgent": 0},
    }
    assert idle["calls"] == []

    caller = await bed.caller()
    call = await caller.dial("2000")
    assert await bed.wait_audio(call), "no greeting was heard"
    _, busy = await get_status(address)
    assert busy["calls"] == [
        {"call_id": call.dialog.call_id, "kind": "deposit", "mailbox": "2000@default"}
    ]

    await call.send_dtmf("#")
    assert await call.wait_for_prompt("beep"), call.heard_prompts()
    await call.wait_quiet(0.2)
    await call.play(speech_like(0.5, "status"))
    await call.hangup()
    await bed.server.wait_idle()
    _, after = await get_status(address)
    assert after["mailboxes"]["2000@default"] == {"new": 2, "old": 2, "urgent": 0}
    assert after["calls"] == []


async def test_the_status_endpoint_answers_404_off_its_path(make_bed: BedFactory) -> None:
    bed = await make_bed()
    await restart(bed, status_port=0)
    assert bed.server.status_port is not None
    status, body = await get_status((bed.server.address[0], bed.server.status_port), "/admin")
    assert (status, body) == (404, {"error": "not found"})
