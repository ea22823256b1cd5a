"""Quirks of the path: TCP towards the voicemail server, lost requests, added delay."""

from __future__ import annotations

import pytest

from harness.sim.phone import CallFailed
from harness.sim.profiles import ProxyProfile
from tests.sim.conftest import SimBedFactory, on_wire, requests


async def test_tcp_to_voicemail_carries_every_request_to_the_server_over_tcp(
    sim_bed: SimBedFactory,
) -> None:
    bed = await sim_bed("rfc4458-ims", tcp=True)
    since = await bed.lamp_settled("2000")
    await bed.deposit("2000", 0.5, skip_greeting=True)
    assert bed.count("2000") == 1
    to_server = on_wire(bed, "proxy", "out", peer=bed.server.address)
    sent = {(record.transport, message.method) for record, message in to_server}  # type: ignore[union-attr]
    assert sent == {("TCP", "REGISTER"), ("TCP", "INVITE"), ("TCP", "ACK"), ("TCP", "BYE")}
    (invite,) = requests(bed, "voicemail", "in", "INVITE")
    assert invite.vias()[0].transport == "TCP"
    assert "target=" in invite.uri
    # The server's NOTIFYs come back over UDP and reach the phone.
    check = await bed.lamp("2000", True, (1, 0), since=since)
    assert check.status == "met", check.detail


async def test_tcp_to_a_server_not_listening_on_tcp_fails_the_call(
    sim_bed: SimBedFactory,
) -> None:
    bed = await sim_bed(ProxyProfile(quirks=("tcp-to-voicemail",)), register=False)
    with pytest.raises(CallFailed) as failed:
        await (await bed.caller()).dial("2000")
    assert failed.value.response.status == 408
    assert requests(bed, "voicemail", "in", "INVITE") == []


async def test_drop_first_loses_the_first_invite_and_its_retransmission_gets_through(
    sim_bed: SimBedFactory,
) -> None:
    bed = await sim_bed(ProxyProfile().with_quirks({"drop-first": {"methods": ["INVITE"]}}))
    await bed.deposit("2000", 0.5, skip_greeting=True)
    assert bed.count("2000") == 1
    dropped = [
        record
        for record in bed.wire
        if record.party == "proxy" and record.error and "drop-first" in record.error
    ]
    assert len(dropped) == 1
    assert dropped[0].data.startswith(b"INVITE ")
    sent = requests(bed, "phone +15551230000", "out", "INVITE")
    assert len(sent) == 2
    assert sent[0].call_id == sent[1].call_id
    assert len(requests(bed, "proxy", "in", "INVITE")) == 1


async def test_drop_first_notify_makes_the_server_retransmit(sim_bed: SimBedFactory) -> None:
    bed = await sim_bed(
        ProxyProfile().with_quirks({"drop-first": {"methods": ["NOTIFY"], "count": 2}}),
        register=False,
    )
    await bed.phones["2000"].register()
    await bed.lamp_settled("2000")
    sent = requests(bed, "voicemail", "out", "NOTIFY")
    dropped = [record for record in bed.wire if record.party == "proxy" and record.error]
    assert len(dropped) == 2
    # The start-up NOTIFY (no phone yet) and its first retransmission were lost.
    assert len({notify.call_id for notify in sent}) <= 2
    assert len(sent) >= 3


async def test_delay_holds_each_forwarded_request_of_the_named_methods(
    sim_bed: SimBedFactory,
) -> None:
    profile = ProxyProfile().with_quirks({"delay": {"seconds": 0.3, "methods": ["INVITE"]}})
    bed = await sim_bed(profile)
    await bed.lamp_settled("2000")
    await bed.deposit("2000", 0.5, skip_greeting=True)
    assert bed.count("2000") == 1
    (received, _), *_ = on_wire(bed, "proxy", "in", method="INVITE")
    forwarded = [record for record, _ in on_wire(bed, "proxy", "out", method="INVITE")]
    assert forwarded[0].monotonic - received.monotonic >= 0.3
    # NOTIFYs are not delayed.
    notify_in = [record for record, _ in on_wire(bed, "proxy", "in", method="NOTIFY")]
    notify_out = [record for record, _ in on_wire(bed, "proxy", "out", method="NOTIFY")]
    assert notify_out[-1].monotonic - notify_in[-1].monotonic < 0.2
