"""Unsolicited MWI: at start-up, on every change, and after the phone registers again.

The NOTIFYs are chan_sip's (reference §2.1, §5b): sent to the peer's ``host=`` (the proxy) for
``defaultuser``, a new dialog each time, no Subscription-State, CRLF body lines.
"""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

from harness.core.mailbox import MailboxId
from harness.sip.address import Address
from harness.sip.message import Request, parse_message
from harness.sip.uri import URI
from harness.targets import PeerEntry
from tests.voicemail.integration.conftest import Bed, BedFactory
from tests.voicemail.integration.restart import restart


def sent_by_server(bed: Bed, method: str) -> list[Request]:
    """White-box: the requests the voicemail server put on the wire, oldest first."""
    host, port = bed.server.address
    requests = []
    for record in bed.wire:
        if record.direction != "out" or record.local != (host, port):
            continue
        message = parse_message(record.data)
        if isinstance(message, Request) and message.method == method:
            requests.append(message)
    return requests


async def test_a_server_started_over_stored_messages_lights_the_lamp_without_a_call(
    make_bed: BedFactory,
) -> None:
    bed = await make_bed()
    since = await restart(bed, messages={"2000": {"INBOX": 2, "Old": 1}})
    check = await bed.lamp("2000", True, (2, 1), since=since)
    assert check.status == "met", check.detail
    assert not [m for m in bed.wire if m.data.startswith(b"INVITE ")], "a call was made"


async def test_a_deposit_lights_the_lamp_through_the_proxy(make_bed: BedFactory) -> None:
    bed = await make_bed()
    since = await bed.lamp_settled("2000")
    await bed.deposit("2000", skip_greeting=True)
    check = await bed.lamp("2000", True, (1, 0), since=since)
    assert check.status == "met", check.detail


async def test_a_retrieval_that_deletes_the_last_message_turns_the_lamp_off(
    make_bed: BedFactory,
) -> None:
    bed = await make_bed()
    since = await restart(bed, messages={"2000": {"INBOX": 1}})
    lit = await bed.lamp("2000", True, (1, 0), since=since)
    assert lit.status == "met", lit.detail
    assert lit.state is not None
    call = await bed.login("2000")
    # Keys cut the menu short, as in app_voicemail: delete the first message, then leave.
    assert "vm-onefor" in await bed.hear(call, "vm-onefor")
    await call.send_dtmf("7")
    assert "vm-deleted" in await bed.hear(call, "vm-deleted")
    await call.send_dtmf("#")
    await bed.finish(call)
    check = await bed.lamp("2000", False, (0, 0), since=lit.state.at + 1e-6)
    assert check.status == "met", check.detail
    assert bed.count("2000") == 0


async def test_a_phone_that_registers_again_gets_its_lamp_state(make_bed: BedFactory) -> None:
    bed = await make_bed()
    since = await restart(bed, messages={"2000": {"INBOX": 1}})
    first = await bed.lamp("2000", True, (1, 0), since=since)
    assert first.status == "met", first.detail
    assert first.state is not None
    # The proxy replicates the REGISTER to the voicemail server, which answers with MWI.
    await bed.phones["2000"].register()
    again = await bed.lamp("2000", True, (1, 0), since=first.state.at + 1e-6)
    assert again.status == "met", again.detail


async def test_register_static_peer_challenge_answers_a_copied_register_as_chan_sip(
    make_bed: BedFactory,
) -> None:
    bed = await make_bed()
    since = await restart(
        bed, messages={"2000": {"INBOX": 1}}, sip_general={"register_static_peer": "challenge"}
    )
    first = await bed.lamp("2000", True, (1, 0), since=since)
    assert first.status == "met", first.detail
    assert first.state is not None
    # The proxy copies the REGISTER; as chan_sip, the server challenges it and sends no MWI.
    await bed.phones["2000"].register()
    again = await bed.lamp("2000", True, (1, 0), since=first.state.at + 1e-6, within=1.5)
    assert again.status != "met", again.detail
    host, port = bed.server.address
    answers = [
        parse_message(record.data)
        for record in bed.wire
        if record.direction == "out" and record.local == (host, port)
    ]
    assert [
        a.status
        for a in answers
        if not isinstance(a, Request) and (a.header("CSeq") or "").endswith("REGISTER")
    ] == [401]


async def test_the_notify_is_shaped_as_chan_sip_sends_it(make_bed: BedFactory) -> None:
    bed = await make_bed()
    # The peer's name is not the phone's user: only defaultuser= says where the NOTIFY goes.
    peer = PeerEntry("desk-2000", MailboxId("2000"), options=(("defaultuser", "2000"),))
    since = await restart(bed, messages={"2000": {"INBOX": 1}}, peers=[peer])
    check = await bed.lamp("2000", True, (1, 0), since=since)
    assert check.status == "met", check.detail
    phone = bed.phones["2000"]
    received = phone.notifies_since(since)[-1].request
    host, port = bed.server.address
    proxy_host, proxy_port = bed.proxy.address

    sent = sent_by_server(bed, "NOTIFY")[-1]
    assert URI.parse(sent.uri) == URI(scheme="sip", user="2000", host=proxy_host, port=proxy_port)
    sender = Address.parse(received.header("From") or "")
    assert (sender.display_name, sender.uri.user) == ("asterisk", "asterisk")
    assert (sender.uri.host, sender.uri.port) == (host, port)
    assert sender.tag
    to = Address.parse(received.header("To") or "")
    assert (to.uri.user, to.uri.host, to.uri.port, to.tag) == ("2000", proxy_host, proxy_port, None)
    assert received.cseq == (102, "NOTIFY")
    assert received.header("Event") == "message-summary"
    assert received.header("Content-Type") == "application/simple-message-summary"
    assert not received.has("Subscription-State")
    assert not received.has("Expires")
    assert received.body == (
        b"Messages-Waiting: yes\r\n"
        + f"Message-Account: sip:asterisk@{host}:{port}\r\n".encode()
        + b"Voice-Message: 1/0 (0/0)\r\n"
    )
    # Every unsolicited NOTIFY is a dialog of its own.
    notifies = phone.notifies
    assert len(notifies) >= 2
    assert len({n.request.call_id for n in notifies}) == len(notifies)


async def test_buggymwi_leaves_out_the_urgent_counts(make_bed: BedFactory) -> None:
    bed = await make_bed()
    peer = PeerEntry("2000", MailboxId("2000"), options=(("buggymwi", "yes"),))
    since = await restart(bed, messages={"2000": {"INBOX": 1}}, peers=[peer])
    check = await bed.lamp("2000", True, (1, 0), since=since)
    assert check.status == "met", check.detail
    body = bed.phones["2000"].notifies_since(since)[-1].request.body
    assert body.endswith(b"\r\nVoice-Message: 1/0\r\n"), body


async def test_a_peer_with_two_mailboxes_sees_their_counts_summed(make_bed: BedFactory) -> None:
    bed = await make_bed({"2000": "4321", "2001": "4321"}, phones=["2000"])
    peer = PeerEntry("2000", MailboxId("2000"), options=(("mailbox", "2001@default"),))
    messages = {"2000": {"INBOX": 1}, "2001": {"INBOX": 2, "Old": 1}}
    since = await restart(bed, messages=messages, peers=[peer])
    check = await bed.lamp("2000", True, (3, 1), since=since)
    assert check.status == "met", check.detail
    assert check.state is not None
    # A change of the second mailbox alone reaches the peer too, summed again.
    await bed.deposit("2001", skip_greeting=True)
    after = await bed.lamp("2000", True, (4, 1), since=check.state.at + 1e-6)
    assert after.status == "met", after.detail


async def test_an_urgent_message_counts_as_new(make_bed: BedFactory) -> None:
    bed = await make_bed()
    since = await bed.lamp_settled("2000")
    await bed.deposit("2000", headers=(("Priority", "urgent"),), skip_greeting=True)
    check = await bed.lamp("2000", True, (1, 0), since=since)
    assert check.status == "met", check.detail
    assert (bed.count("2000", "Urgent"), bed.count("2000")) == (1, 0)


async def test_externnotify_runs_with_the_new_counts(make_bed: BedFactory, tmp_path: Path) -> None:
    calls = tmp_path / "calls.txt"
    script = tmp_path / "notify.sh"
    script.write_text(f'#!/bin/sh\necho "$@" >> "{calls}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    bed = await make_bed(general={"externnotify": str(script)})
    await bed.deposit("2000", skip_greeting=True)
    # The shell creates the file before echo writes the line: wait for the whole line.
    deadline = bed.now() + 5
    while not (calls.exists() and calls.read_text().endswith("\n")) and bed.now() < deadline:
        await asyncio.sleep(0.05)
    assert calls.exists(), "externnotify was not run"
    assert calls.read_text().splitlines() == ["default 2000 1 0 0"]
