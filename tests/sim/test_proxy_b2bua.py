"""Quirks of a proxy that stands in the call: B2BUA legs, session-timer refreshes, 100rel."""

from __future__ import annotations

import asyncio

import pytest

from harness.sim.profiles import ProxyProfile
from harness.sip.address import Address
from harness.sip.message import Message, Response
from tests.sim.conftest import SimBedFactory, on_wire, requests


def tag(message: Message, name: str) -> str | None:
    address = message.address(name)
    return None if address is None else address.tag


async def test_b2bua_gives_the_voicemail_server_a_call_of_its_own(sim_bed: SimBedFactory) -> None:
    bed = await sim_bed("diversion-pbx")
    since = await bed.lamp_settled("2000")
    await bed.deposit("2000", 0.5, skip_greeting=True)
    assert bed.count("2000") == 1
    caller_invite = requests(bed, "proxy", "in", "INVITE")[0]
    (invite,) = requests(bed, "voicemail", "in", "INVITE")
    assert invite.call_id != caller_invite.call_id
    assert tag(invite, "From") != tag(caller_invite, "From")
    assert Address.parse(invite.header("From") or "").uri.user == "+15551230000"
    # Only the proxy's Via and Contact: nothing of the caller's transaction or address.
    (via,) = invite.vias()
    assert (via.host, via.port) == bed.proxy.address
    contact = invite.address("Contact")
    assert contact is not None
    assert (contact.uri.host, contact.uri.port) == bed.proxy.address
    assert invite.header("Diversion") is not None
    # The caller's ACK and BYE reach the server in the server's own dialog.
    for method in ("ACK", "BYE"):
        (mapped,) = requests(bed, "voicemail", "in", method)
        assert mapped.call_id == invite.call_id
        assert tag(mapped, "From") == tag(invite, "From")
    (ok,) = [m for _, m in on_wire(bed, "phone +15551230000", "in", status=200, method="INVITE")]
    assert tag(ok, "To") != tag(
        next(m for _, m in on_wire(bed, "voicemail", "out", status=200, method="INVITE")), "To"
    )
    check = await bed.lamp("2000", True, (1, 0), since=since)
    assert check.status == "met", check.detail


async def test_b2bua_maps_info_keys_and_the_servers_bye(sim_bed: SimBedFactory) -> None:
    bed = await sim_bed("diversion-pbx", general={"maxlogins": "1", "envelope": "no"}, dtmf="info")
    call = await bed.login("2000", "1111", dtmf="info")
    assert await bed.hung_up_by_server(call), "no BYE after the refused PIN"
    assert call.heard_prompts() == ["vm-password", "vm-incorrect", "vm-goodbye"]
    await bed.server.wait_idle()
    infos = requests(bed, "voicemail", "in", "INFO")
    assert len(infos) == 5  # 1111#
    (bye,) = requests(bed, "voicemail", "out", "BYE")
    (relayed,) = requests(bed, "phone 2000", "in", "BYE")
    assert bye.call_id == infos[0].call_id != relayed.call_id == call.dialog.call_id
    answers = on_wire(bed, "voicemail", "in", method="BYE", status=200)
    assert [m.status for _, m in answers if isinstance(m, Response)] == [200]


async def test_session_timer_refreshes_the_voicemail_leg(sim_bed: SimBedFactory) -> None:
    profile = ProxyProfile(quirks=("b2bua",)).with_quirks({"session-timer": {"interval": 0.4}})
    bed = await sim_bed(profile)
    call = await bed.deposit("2000", 1.5, skip_greeting=True)
    assert bed.count("2000") == 1
    invites = requests(bed, "voicemail", "in", "INVITE")
    assert len(invites) >= 3, [i.cseq for i in invites]
    first, *refreshes = invites
    assert first.header("Session-Expires") == "90;refresher=uac"
    assert "timer" in first.header_values("Supported")
    for refresh in refreshes:
        assert refresh.call_id == first.call_id
        assert refresh.header("Session-Expires") == "90;refresher=uac"
        assert tag(refresh, "To") is not None
    answered = on_wire(bed, "voicemail", "out", method="INVITE", status=200)
    assert len(answered) == len(invites)
    assert len(requests(bed, "voicemail", "in", "ACK")) == len(invites)
    # The caller saw none of it: its dialog has the one INVITE.
    assert len(requests(bed, "proxy", "in", "INVITE")) == 1
    assert call.ended.is_set()
    await asyncio.sleep(0.6)
    assert len(requests(bed, "voicemail", "in", "INVITE")) == len(invites), "refreshed after BYE"


async def test_100rel_sends_reliable_ringing_the_caller_pracks(sim_bed: SimBedFactory) -> None:
    bed = await sim_bed(ProxyProfile(quirks=("100rel",)))
    await bed.deposit("2000", 0.5, skip_greeting=True)
    assert bed.count("2000") == 1
    ringing = [m for _, m in on_wire(bed, "phone +15551230000", "in", status=180)]
    assert ringing
    assert {(m.header("Require"), m.header("RSeq")) for m in ringing} == {("100rel", "1")}
    (prack,) = requests(bed, "proxy", "in", "PRACK")
    assert prack.header("RAck") == "1 1 INVITE"
    answers = on_wire(bed, "proxy", "out", method="PRACK", status=200)
    assert [m.status for _, m in answers if isinstance(m, Response)] == [200]
    # The ringing phone's own 180 is not relayed: the caller hears the proxy's.
    assert requests(bed, "phone 2000", "in", "INVITE")
    assert len(ringing) == 1


async def test_100rel_retransmits_until_the_prack(
    sim_bed: SimBedFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    bed = await sim_bed(ProxyProfile(quirks=("100rel",)), no_answer_timeout=1.2)
    caller = await bed.caller()
    monkeypatch.setattr(caller, "_prack", lambda *_: None)
    call = await caller.dial("2000")
    await call.hangup()
    ringing = [record for record, _ in on_wire(bed, "proxy", "out", status=180)]
    # T1 = 0.5 s, doubling: sent at 0, 0.5 and 1.5 s while the phone rang for 1.2 s.
    assert len(ringing) in (2, 3), len(ringing)
    assert ringing[1].monotonic - ringing[0].monotonic == pytest.approx(0.5, abs=0.15)
