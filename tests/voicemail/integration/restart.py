"""Restarting a bed's voicemail server, as an administrator does after editing its files.

The server is stopped, the spool may be given messages (restored from a backup, say, or left
by an Asterisk the server replaces) and sip.conf new peers or ``[general]`` options; then a
new server starts on the same configuration directory and spool, and the proxy forwards to it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from harness.core.mailbox import MailboxId
from harness.media.signal import speech_like
from harness.media.wav import wav_bytes
from harness.targets import PeerEntry
from harness.voicemail.metadata import MessageInfo
from harness.voicemail.store import Spool
from tests.voicemail.integration.conftest import Bed

_numbers = itertools.count(1)


async def restart(
    bed: Bed,
    *,
    messages: Mapping[str, Mapping[str, int]] | None = None,
    peers: Iterable[PeerEntry] | None = None,
    sip_general: Mapping[str, str] | None = None,
    status_port: int | None = None,
) -> float:
    """Stop the server, store ``messages`` and start it again; the loop time just before.

    ``messages`` is what :func:`store_messages` puts into the spool; ``peers`` and
    ``sip_general`` replace the sip.conf peers and ``[general]`` options; ``status_port``
    opens the status endpoint (0: any free port).
    """
    for user in bed.phones:
        if user in bed.proxy.bindings:
            # Registered phones get their first NOTIFY from this server before it stops.
            await bed.lamp_settled(user)
    await bed.server.close()
    target = bed.target
    if peers is not None:
        target.peers = tuple(peers)
    if sip_general is not None:
        target.sip_general = dict(sip_general)
    target.status_port = status_port
    store_messages(target.spool, messages or {})
    since = bed.now()
    bed.proxy.voicemail = await target.start(bed.proxy.address)
    bed.server.transport.subscribe(bed.wire.append)
    return since


def store_messages(spool: Path, messages: Mapping[str, Mapping[str, int]]) -> None:
    """Put messages into a spool as a restore from backup would: ``messages`` maps
    ``box[@context]`` to message counts by folder (``{"INBOX": 2, "Old": 1}``)."""
    store = Spool(spool)
    for box, folders in messages.items():
        mailbox = MailboxId.parse(box)
        for folder, count in folders.items():
            for _ in range(count):
                store.save(mailbox, _audio(), _info(mailbox, folder), folder=folder)


def _audio() -> bytes:
    return wav_bytes(speech_like(1.0, "restored"))


def _info(mailbox: MailboxId, folder: str) -> MessageInfo:
    now = int(time.time())
    return MessageInfo(
        origmailbox=mailbox.box,
        context=mailbox.context,
        exten=mailbox.box,
        rdnis=mailbox.box,
        callerid='"Restored" <5550100>',
        origtime=now,
        msg_id=f"{now}-{next(_numbers):08x}",
        duration=1,
        flag="Urgent" if folder == "Urgent" else "",
    )
