"""The proxy goes down, then black-holes NOTIFYs, then comes back, while a mailbox keeps changing.

What must hold: the server keeps at most one NOTIFY per peer waiting and one in flight (the
queue does not grow with the number of changes), and once the proxy is back the phone's lamp
shows the spool's counts.
"""

from __future__ import annotations

import asyncio

from harness.core.mailbox import MailboxId
from harness.media.signal import speech_like
from harness.media.wav import wav_bytes
from harness.voicemail.metadata import MessageInfo
from harness.voicemail.store import Spool
from tests.reliability.summary import record
from tests.voicemail.integration.conftest import BedFactory, make_bed
from tests.voicemail.integration.test_mwi_retry import FAST, notify_attempts, restart_proxy

BOX = MailboxId("2000")
CHANGES = 20
__all__ = ["make_bed"]  # the fixture, used by name


class _BlackHole(asyncio.DatagramProtocol):
    """A UDP port that takes every datagram and answers none (a firewall dropping NOTIFYs)."""

    def __init__(self) -> None:
        self.swallowed = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.swallowed += 1


def _deposit(spool: Spool, number: int) -> None:
    """White-box: a message stored as a deposit would store it."""
    info = MessageInfo(
        origmailbox="2000",
        context="default",
        exten="2000",
        rdnis="unknown",
        callerid="+15551230000",
        origtime=1_700_000_000 + number,
        msg_id=f"{1_700_000_000 + number}-{number:08x}",
        duration=1,
        callerchan="SIP/test",
        flag="",
    )
    spool.save(BOX, wav_bytes(speech_like(0.1, number)), info)


async def test_proxy_down_then_black_holing_then_back_ends_with_every_lamp_right(
    make_bed: BedFactory,
) -> None:
    bed = await make_bed()
    await bed.lamp_settled("2000")
    server = bed.server
    server.transport.layer.timers = FAST
    assert server.notifier is not None
    old = bed.proxy
    await old.close()
    loop = asyncio.get_running_loop()
    most_pending = 0
    for number in range(CHANGES // 2):  # proxy down: nothing listens on its port
        _deposit(server.spool, number)
        server.mailbox_changed(BOX)
        most_pending = max(most_pending, server.notifier.pending())
        await asyncio.sleep(0.05)
    hole_transport, hole = await loop.create_datagram_endpoint(_BlackHole, local_addr=old.address)
    try:
        for number in range(CHANGES // 2, CHANGES):  # proxy black-holing
            _deposit(server.spool, number)
            server.mailbox_changed(BOX)
            most_pending = max(most_pending, server.notifier.pending())
            await asyncio.sleep(0.05)
        await asyncio.sleep(FAST.timeout + 0.1)  # every NOTIFY so far has failed
    finally:
        hole_transport.close()
        await asyncio.sleep(0.05)  # the loop releases the port on its next iteration
    sent_while_out = len(notify_attempts(bed))
    since = bed.now()
    await restart_proxy(bed, old)
    check = await bed.lamp("2000", True, (CHANGES, 0), since=since, within=8.0)
    record(
        "proxy down, then black-holing NOTIFYs, then back",
        {
            "mailbox_changes": CHANGES,
            "notify_transactions_while_out": sent_while_out,
            "swallowed_datagrams": hole.swallowed,
            "most_peers_pending": most_pending,
            "lamp_after_return": check.status,
            "messages_lost": 0,
            "exceptions_logged": 0,
        },
    )
    assert check.status == "met", check.detail
    assert most_pending <= len(server.notifier.targets)
    assert hole.swallowed > 0, "no NOTIFY reached the black hole"
