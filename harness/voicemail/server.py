"""The standalone voicemail server: SIP in front, the spool behind, NOTIFYs out to the proxy.

A call forwarded by the proxy is resolved to a mailbox by the routing core, answered, recorded
until the caller hangs up (or ``maxsecs``), and stored in Asterisk's spool layout. Then every
sip.conf peer whose ``mailbox=`` covers the mailbox gets a message-summary NOTIFY, sent to the
peer's ``host=`` (the proxy) with the Request-URI user ``defaultuser``, for the proxy to relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.core.mailbox import MailboxId
from harness.core.mwi import MailboxCounts, MessageSummary
from harness.core.routing import Resolution, Router, RoutingError
from harness.media.session import RtpSession
from harness.media.wav import wav_bytes
from harness.sip import sdp
from harness.sip.address import Address
from harness.sip.builder import make_response, new_tag
from harness.sip.dialog import Dialog
from harness.sip.message import Request
from harness.sip.transaction import Peer, ServerTransaction
from harness.sip.transport import SipTransport, TransactionFailed
from harness.sip.uri import URI
from harness.voicemail.config import ServerConfig, SipPeer
from harness.voicemail.deposit import Deposit, MessageIds
from harness.voicemail.notifier import MwiTarget, Notifier, build_notify
from harness.voicemail.store import MailboxFullError, Spool

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Recording:
    """A deposit call in progress."""

    deposit: Deposit
    dialog: Dialog
    rtp: RtpSession
    negotiated: sdp.Negotiated
    limit: asyncio.TimerHandle | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


def mwi_target(peer: SipPeer) -> MwiTarget | None:
    """Where a peer's unsolicited NOTIFYs go, or None when it has no static address."""
    if peer.host is None or peer.dynamic or not peer.gets_mwi:
        return None
    user = peer.defaultuser or peer.name
    uri = URI(scheme="sip", user=user, host=peer.host, port=peer.port)
    return MwiTarget(
        name=peer.name,
        mailboxes=peer.mailboxes,
        uri=uri,
        destination=(peer.host, peer.port),
        style="buggymwi" if peer.buggymwi else "asterisk",
        vmexten=peer.vmexten,
    )


class VoicemailServer:
    """The embedded voicemail server on the running asyncio loop."""

    def __init__(
        self,
        config: ServerConfig,
        spool: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 5060,
        router: Router | None = None,
    ) -> None:
        self.config = config
        self.spool = Spool(spool, config.voicemail.general.format[0])
        self.router = router or Router()
        self.user_agent = config.sip.general.useragent
        self.transport = SipTransport(host=host, port=port, party="voicemail")
        self.transport.handler = self._on_request
        self.notifier: Notifier | None = None
        self._recordings: dict[str, _Recording] = {}
        self._ids = MessageIds()
        self._channels = itertools.count(1)
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._storing: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> Peer:
        """The SIP address the proxy forwards calls to."""
        return self.transport.local

    async def start(self) -> None:
        """Bind, then send every peer its mailbox state (as Asterisk does at load)."""
        await self.transport.start()
        targets = tuple(
            target
            for target in (mwi_target(peer) for peer in self.config.sip.peers)
            if target is not None
        )
        host, port = self.address
        # chan_sip writes the port into Message-Account only when it is not the default.
        account_host = host if port == 5060 else f"{host}:{port}"
        self.notifier = Notifier(targets, account_host=account_host)
        self.notifier.resync(self._counts, self._now())
        self._pump()

    async def close(self) -> None:
        """Stop: calls in progress are hung up and saved first, then the sockets close."""
        for recording in list(self._recordings.values()):
            self._store_later(recording, hangup=True)
        await self.wait_idle()
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await self.transport.close()

    async def wait_idle(self) -> None:
        """Wait until every finished call is stored (and its NOTIFYs are queued)."""
        while self._storing:
            await asyncio.gather(*self._storing, return_exceptions=True)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _counts(self, mailbox: MailboxId) -> MailboxCounts:
        return self.spool.counts(mailbox)

    # -- SIP -------------------------------------------------------------------------------------

    async def _on_request(
        self, request: Request, transaction: ServerTransaction | None, source: Peer
    ) -> None:
        if transaction is None:
            return  # the ACK of our 2xx: the transaction layer already stopped retransmitting
        if request.method == "INVITE":
            await self._invite(request, transaction, source)
        elif request.method == "BYE":
            await self._bye(request, transaction)
        elif request.method in ("OPTIONS", "CANCEL"):
            self._respond(transaction, request, 200)
        else:
            self._respond(transaction, request, 405)

    def _respond(
        self,
        transaction: ServerTransaction,
        request: Request,
        status: int,
        reason: str | None = None,
    ) -> None:
        response = make_response(request, status, reason, headers=[("Server", self.user_agent)])
        self.transport.respond(transaction, response)

    async def _invite(self, request: Request, transaction: ServerTransaction, source: Peer) -> None:
        if Address.parse(request.header("To") or "").tag is not None:
            self._respond(transaction, request, 481, "Call/Transaction Does Not Exist")
            return
        resolution = self._resolve(request, transaction)
        if resolution is None:
            return
        try:
            offer = sdp.parse(request.body)
            rtp = await RtpSession.open(self.transport.host)
            answer, negotiated = sdp.answer(offer, self.transport.host, rtp.local_port)
        except sdp.SdpError as error:
            self._respond(transaction, request, 488, f"Not Acceptable Here ({error})")
            return
        rtp.remote = (negotiated.remote_address, negotiated.remote_port)
        rtp.telephone_event_pt = negotiated.telephone_event_pt
        rtp.ptime = negotiated.ptime
        response = make_response(
            request,
            200,
            to_tag=new_tag(),
            contact=Address(self.transport.contact("voicemail")),
            headers=[("Server", self.user_agent), ("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS")],
            body=bytes(answer),
            content_type="application/sdp",
        )
        dialog = Dialog.from_uas(request, response, local=self.transport.local)
        channel = f"SIP/{source[0]}-{next(self._channels):08x}"
        deposit = Deposit.from_invite(request, resolution, channel, time.time())
        recording = _Recording(deposit, dialog, rtp, negotiated)
        maxsecs = self._mailbox_setting(resolution.mailbox, "maxsecs")
        if maxsecs:
            recording.limit = asyncio.get_running_loop().call_later(
                maxsecs, self._store_later, recording, True
            )
        self._recordings[dialog.call_id] = recording
        self.transport.respond(transaction, response)
        log.info("deposit for %s from %s (%s)", resolution.mailbox, deposit.callerid, channel)

    def _resolve(self, request: Request, transaction: ServerTransaction) -> Resolution | None:
        """The mailbox the INVITE names, or None after answering why it cannot be served."""
        try:
            resolution = self.router.resolve(request)
        except RoutingError as error:
            self._respond(transaction, request, 400, f"Bad Request ({error})")
            return None
        if resolution is None:
            chain = ", ".join(self.router.chain)
            self._respond(transaction, request, 404, f"Not Found (no mailbox named; tried {chain})")
            return None
        if self.config.mailbox(resolution.mailbox) is None:
            self._respond(transaction, request, 404, f"Not Found (no mailbox {resolution.mailbox})")
            return None
        return resolution

    def _mailbox_setting(self, mailbox: MailboxId, option: str) -> int:
        box = self.config.mailbox(mailbox)
        if box is None:
            return 0
        value = box.effective(option)  # type: ignore[call-overload]
        return int(value or 0)

    async def _bye(self, request: Request, transaction: ServerTransaction) -> None:
        recording = self._recordings.get(request.call_id)
        if recording is None:
            self._respond(transaction, request, 481, "Call/Transaction Does Not Exist")
            return
        self._respond(transaction, request, 200)
        self._store_later(recording, hangup=False)

    def _store_later(self, recording: _Recording, hangup: bool) -> None:
        task = asyncio.ensure_future(self._finish(recording, hangup=hangup))
        self._storing.add(task)
        task.add_done_callback(self._storing.discard)

    async def _finish(self, recording: _Recording, *, hangup: bool) -> None:
        """End a recording: hang up if asked, store what was recorded, and notify."""
        if self._recordings.pop(recording.dialog.call_id, None) is None:
            await recording.done.wait()
            return
        if recording.limit is not None:
            recording.limit.cancel()
        audio = recording.rtp.received_audio(
            recording.negotiated.codec, recording.negotiated.payload_type
        )
        recording.rtp.close()
        if hangup:
            with contextlib.suppress(TransactionFailed):
                bye = recording.dialog.create_request("BYE")
                await self.transport.request(bye, recording.dialog.next_hop())
        try:
            await self._store(recording.deposit, audio)
        finally:
            recording.done.set()

    async def _store(self, deposit: Deposit, samples: npt.NDArray[np.int16]) -> None:
        duration = len(samples) / 8000
        mailbox = deposit.mailbox
        minsecs = self._mailbox_setting(mailbox, "minsecs")
        if duration < max(minsecs, 0) or len(samples) == 0:
            log.info("deposit for %s discarded: %.2f s is under minsecs", mailbox, duration)
            return
        info = deposit.info(duration, self._ids.next(deposit.started))
        maxmsg = self._mailbox_setting(mailbox, "maxmsg") or 100
        try:
            stored = await asyncio.to_thread(
                self.spool.save, mailbox, wav_bytes(samples), info, max_messages=maxmsg
            )
        except MailboxFullError as error:
            log.warning("deposit for %s lost: %s", mailbox, error)
            return
        log.info("stored %s/%s for %s (%.1f s)", stored.folder, stored.name, mailbox, duration)
        self.mailbox_changed(mailbox)

    # -- MWI -------------------------------------------------------------------------------------

    def mailbox_changed(self, mailbox: MailboxId) -> None:
        """Tell every peer covering ``mailbox`` its new state."""
        if self.notifier is None:
            return
        self.notifier.mailbox_changed(mailbox, self._counts, self._now())
        self._pump()

    def _pump(self) -> None:
        if self.notifier is None:
            return
        for due in self.notifier.due(self._now()):
            self._spawn(self._send_notify(due.target, due.summary))
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.notifier.next_timer()
        if deadline is not None:
            self._timer = asyncio.get_running_loop().call_at(deadline, self._pump)

    async def _send_notify(self, target: MwiTarget, summary: MessageSummary) -> None:
        request = build_notify(target, summary, self.address, user_agent=self.user_agent)
        status: int | None
        try:
            response = await self.transport.request(request, target.destination)
            status = response.status
        except TransactionFailed:
            status = None
        if status is None or status >= 300:
            log.info("NOTIFY to %s (%s): %s", target.name, target.uri, status or "no answer")
        assert self.notifier is not None
        self.notifier.answered(target, status, self._now())
        self._pump()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
