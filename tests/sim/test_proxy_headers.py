"""Quirks of how the proxy writes and rewrites what it forwards: header spelling, folding,
Record-Route, stripped X- headers, a rewritten Request-URI."""

from __future__ import annotations

import pytest

from harness.core.routing import Convention
from harness.sim.phone import CallFailed
from harness.sim.profiles import ProxyProfile
from harness.sip.message import parse_message
from harness.sip.uri import URI
from tests.sim.conftest import SimBedFactory, raw_to_voicemail, requests


@pytest.mark.parametrize(
    ("quirk", "present", "absent"),
    [
        (
            "compact-headers",
            [b"\r\nv: SIP/2.0/UDP", b"\r\ni: ", b"\r\nf: ", b"\r\nt: "],
            [b"\r\nVia:"],
        ),
        (
            "lower-case-headers",
            [b"\r\ncall-id: ", b"\r\ncseq: ", b"\r\nx-voicemail-mailbox: "],
            [b"\r\nCall-ID:"],
        ),
        ("folded-headers", [b"\r\n "], []),
    ],
)
async def test_header_spelling_quirks_show_on_the_wire_and_the_deposit_works(
    sim_bed: SimBedFactory, quirk: str, present: list[bytes], absent: list[bytes]
) -> None:
    bed = await sim_bed(ProxyProfile(quirks=(quirk,)))
    await bed.deposit("2000", 0.5, skip_greeting=True)
    assert bed.count("2000") == 1
    (invite,) = raw_to_voicemail(bed, "INVITE")
    for text in present:
        assert text in invite, (text, invite)
    for text in absent:
        assert text not in invite
    # What the phones get is written the same way.
    relayed = [
        record.data
        for record in bed.wire
        if record.party == "phone 2000" and record.direction == "in"
    ]
    assert all(present[0] in data for data in relayed), relayed


async def test_record_route_keeps_the_proxy_in_the_dialog(sim_bed: SimBedFactory) -> None:
    bed = await sim_bed(ProxyProfile(quirks=("record-route",)))
    await bed.deposit("2000", 0.5, skip_greeting=True)
    (invite,) = requests(bed, "voicemail", "in", "INVITE")
    assert invite.header_values("Record-Route") == [f"<sip:{bed.proxy.domain};lr>"]
    assert len(requests(bed, "proxy", "in", "BYE")) == 1
    assert len(requests(bed, "proxy", "in", "ACK")) == 1


async def test_without_record_route_ack_and_bye_go_straight_to_the_server(
    sim_bed: SimBedFactory,
) -> None:
    bed = await sim_bed(ProxyProfile(quirks=("no-record-route",)))
    since = await bed.lamp_settled("2000")
    await bed.deposit("2000", 0.5, skip_greeting=True)
    assert bed.count("2000") == 1
    (invite,) = requests(bed, "voicemail", "in", "INVITE")
    assert not invite.has("Record-Route")
    assert requests(bed, "proxy", "in", "BYE") == []
    assert requests(bed, "proxy", "in", "ACK") == []
    assert len(requests(bed, "voicemail", "in", "BYE")) == 1
    # The 2xx is passed on once, not retransmitted for an ACK the proxy never sees.
    oks = [
        message
        for record in bed.wire
        if record.party == "proxy"
        and record.direction == "out"
        and (message := parse_message(record.data)).start_line().startswith("SIP/2.0 200")
        and message.cseq[1] == "INVITE"
    ]
    assert len(oks) == 1
    check = await bed.lamp("2000", True, (1, 0), since=since)
    assert check.status == "met", check.detail


async def test_strip_x_headers_loses_the_mailbox_on_purpose(sim_bed: SimBedFactory) -> None:
    # Only X-Voicemail names the mailbox here; by default the server would fall back on the
    # Request-URI user, which the x-voicemail convention also sets.
    bed = await sim_bed(
        ProxyProfile(quirks=("strip-x-headers",)), register=False, chain=("x-voicemail",)
    )
    phone = await bed.caller()
    with pytest.raises(CallFailed) as failed:
        await phone.dial("2000", headers=(("X-Account", "77"), ("Subject", "hi")))
    assert failed.value.response.status == 404
    (invite,) = requests(bed, "voicemail", "in", "INVITE")
    assert not invite.has("X-Voicemail-Mailbox")
    assert not invite.has("X-Account")
    assert invite.header("Subject") == "hi"
    (sent,) = requests(bed, "proxy", "in", "INVITE")
    assert sent.header("X-Account") == "77"


async def test_strip_x_headers_keeps_what_it_is_told_to(sim_bed: SimBedFactory) -> None:
    profile = ProxyProfile().with_quirks(
        {"strip-x-headers": {"keep": ["x-voicemail-mailbox", "X-Voicemail-Context"]}}
    )
    bed = await sim_bed(profile)
    await bed.deposit("2000", 0.5, skip_greeting=True, headers=(("X-Account", "77"),))
    assert bed.count("2000") == 1
    (invite,) = requests(bed, "voicemail", "in", "INVITE")
    assert invite.header("X-Voicemail-Mailbox") == "2000"
    assert not invite.has("X-Account")


@pytest.mark.parametrize(("convention", "stored"), [("x-voicemail", 1), ("request-uri", 0)])
async def test_rewrite_request_uri_puts_the_pilot_number_in_the_request_uri(
    sim_bed: SimBedFactory, convention: str, stored: int
) -> None:
    profile = ProxyProfile(convention=Convention(convention)).with_quirks(
        {"rewrite-request-uri": {"user": "8500"}}
    )
    bed = await sim_bed(profile)
    if stored:
        await bed.deposit("2000", 0.5, skip_greeting=True)
    else:
        with pytest.raises(CallFailed):
            await (await bed.caller()).dial("2000")
    (invite,) = requests(bed, "voicemail", "in", "INVITE")
    assert URI.parse(invite.uri).user == "8500"
    assert bed.count("2000") == stored
