"""The standalone voicemail server: SIP in front, the spool behind, NOTIFYs out to the proxy.

A call forwarded by the proxy is told apart (deposit or retrieval) and resolved to a mailbox by
the routing core, answered, and handed to a call flow —
:class:`~harness.voicemail.flows.leave.Leave`
(VoiceMail) or :class:`~harness.voicemail.flows.retrieve.flow.Retrieval` (VoiceMailMain) — that a
:class:`~harness.voicemail.session.CallSession` runs on the call's RTP stream. Every change of
a mailbox then goes out as MWI: unsolicited NOTIFYs to every sip.conf peer whose ``mailbox=``
covers it (sent to its ``host=``, the proxy), in-dialog NOTIFYs to subscribers, and the
``externnotify`` program.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from harness.core.mailbox import MailboxId
from harness.core.mwi import MailboxCounts, MessageSummary
from harness.core.routing import Reason, Resolution, Routed, Router, RoutingError
from harness.media.dtmf import DtmfError, parse_dtmf, parse_dtmf_relay
from harness.media.prompts import GeneratedPrompts, PromptLibrary
from harness.media.session import RtpSession, receive_lag
from harness.sip import sdp
from harness.sip.address import Address
from harness.sip.auth import DigestChallenger
from harness.sip.builder import make_response, new_tag
from harness.sip.dialog import Dialog, DialogError
from harness.sip.errors import SIPParseError
from harness.sip.message import Request
from harness.sip.transaction import Peer, ServerTransaction, Timers
from harness.sip.transport import SipTransport, TransactionFailed
from harness.sip.uri import URI
from harness.sip.validation import check_support
from harness.voicemail.access import Access, notify_hop, resolve_hosts
from harness.voicemail.conf.dialect import ConfigError
from harness.voicemail.conf.server_config import ServerConfig, load_config
from harness.voicemail.conf.sip_conf import SipPeer
from harness.voicemail.conf.voicemail_conf import MailboxConfig
from harness.voicemail.decoy import DecoyServices
from harness.voicemail.deposit import Deposit, MessageIds
from harness.voicemail.flows.callflow import CallFlow
from harness.voicemail.flows.leave import Leave, LeaveOptions
from harness.voicemail.flows.retrieve.flow import Retrieval
from harness.voicemail.flows.retrieve.options import RetrieveOptions
from harness.voicemail.incoming import IncomingCall
from harness.voicemail.limits import MAX_CALL_AUDIO, RETRY_AFTER, ServerLimits
from harness.voicemail.lockout import LockoutPolicy, PinLockout
from harness.voicemail.notifier import MwiTarget, Notifier, authorized_notify, build_notify
from harness.voicemail.overload import Overload, OverloadPolicy
from harness.voicemail.peer_address import PeerAddressError, resolve_peer
from harness.voicemail.recording import recover
from harness.voicemail.reload import ReloadOutcome, config_change
from harness.voicemail.services import CallServices
from harness.voicemail.session import CallSession, DtmfMode
from harness.voicemail.smdi import SmdiOptions, SmdiService
from harness.voicemail.store import Spool
from harness.voicemail.subscriptions import Subscriptions

log = logging.getLogger(__name__)

Pcm = npt.NDArray[np.int16]
_DTMF_MODES: dict[str, DtmfMode] = {
    "rfc2833": "rfc2833",
    "rfc4733": "rfc2833",
    "info": "info",
    "shortinfo": "info",
    "inband": "inband",
    "auto": "auto",
}


def mwi_targets(config: ServerConfig) -> tuple[MwiTarget, ...]:
    """Every peer of ``config`` that gets unsolicited NOTIFYs, as the notifier's targets."""
    targets = (mwi_target(peer) for peer in config.sip.peers)
    return tuple(target for target in targets if target is not None)


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
        username=peer.defaultuser or peer.fromuser or peer.name,
        secret=peer.secret,
    )


@dataclass(frozen=True, slots=True)
class _Routing:
    """Where an INVITE goes: ``deposit`` is the checked resolution of a deposit (None for a
    retrieval); ``smdi_callerid`` the caller an SMDI MD message named."""

    routed: Routed
    deposit: Resolution | None
    smdi_callerid: str | None
    #: A stranger's deposit for a mailbox that does not exist, answered as any other.
    unknown: bool = False

    @property
    def mailbox(self) -> MailboxId | None:
        """The mailbox the call is for, when known."""
        if self.deposit is not None:
            return self.deposit.mailbox
        return self.routed.resolution.mailbox if self.routed.resolution is not None else None


#: Seconds a caller refused for overload is told to wait: load passes quicker than a full
#: call-limit frees up.
OVERLOAD_RETRY_AFTER = 5
#: Seconds a BYE waits for the caller's last packets from the playback process: beyond that
#: the process is stuck, and the call ends with what arrived.
DRAIN_TIMEOUT = 1.0


@dataclass(slots=True)
class _Call:
    """A voicemail call in progress."""

    dialog: Dialog
    rtp: RtpSession
    session: CallSession
    kind: str
    mailbox: MailboxId | None
    task: asyncio.Task[None] | None = None
    #: Where the INVITE came from: in-dialog requests from elsewhere do not move the media.
    source: Peer | None = None
    #: The caller sent BYE: the dialog is over, stopping sends it no BYE of its own.
    caller_hung_up: bool = False


class VoicemailServer:
    """The voicemail server on the running asyncio loop."""

    def __init__(
        self,
        config: ServerConfig,
        spool: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 5060,
        router: Router | None = None,
        prompts: PromptLibrary | None = None,
        status_port: int | None = None,
        unsolicited_state: str | None = None,
        smdi: SmdiOptions | None = None,
        tcp: bool = False,
        mwi_rate: float | None = None,
        overload: OverloadPolicy | None = None,
    ) -> None:
        self.config = config
        #: New calls are refused 503 while the event loop runs late (None: never for that).
        self.overload = None if overload is None else Overload(overload)
        self._overload_probe: asyncio.TimerHandle | None = None
        #: Unsolicited NOTIFYs per second at most (None: unpaced), so a resync of thousands
        #: of peers does not flood the proxy.
        self.mwi_rate = mwi_rate
        self.spool = Spool(spool, config.voicemail.general.format[0])
        self.router = router or Router()
        self.prompts: PromptLibrary = prompts or GeneratedPrompts()
        self.user_agent = config.sip.general.useragent
        timers = Timers(t1=config.sip.general.timert1 / 1000)
        self.limits = ServerLimits.from_sip(config.sip.general)
        # ``tcp``: SIP over TCP on the same port too, for a proxy that forwards over TCP.
        self.transport = SipTransport(
            host=host,
            port=port,
            party="voicemail",
            timers=timers,
            tcp=tcp,
            tcp_limits=self.limits.tcp,
            max_transactions=self.limits.transactions,
        )
        self.transport.handler = self._on_request
        self.transport.known_peer = self._known_peer
        self.status_port = status_port
        #: ``None`` sends chan_sip's unsolicited NOTIFY; ``"active"`` adds PJSIP's header.
        self.unsolicited_state = unsolicited_state
        self.notifier: Notifier | None = None
        self.subscriptions: Subscriptions | None = None
        self.smdi_options = smdi or SmdiOptions(key=config.voicemail.general.smdi_lookup_key)
        #: The SMDI interface ``smdiport`` names, once started with ``smdienable=yes``.
        self.smdi: SmdiService | None = None
        #: Called with each call's Call-ID and RTP session as the call ends (RTP statistics).
        self.on_media_closed: Callable[[str, RtpSession], None] | None = None
        self._calls: dict[str, _Call] = {}
        #: Who may SUBSCRIBE and REGISTER (see :mod:`access`); host names resolved at start.
        self.access = Access.from_peers(config.sip.peers)
        self._digest = DigestChallenger(config.sip.general.realm, self.access.credentials())
        general = config.voicemail.general
        #: Failed logins per mailbox across calls (``lockoutlogins``/``lockoutsecs``).
        self.lockout = PinLockout(LockoutPolicy(general.lockoutlogins, general.lockoutsecs))
        self._ids = MessageIds()
        self._channels = itertools.count(1)
        self._timer: asyncio.TimerHandle | None = None
        self._subscription_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._status_server: asyncio.Server | None = None
        self.started = time.time()

    @property
    def address(self) -> Peer:
        """The SIP address the proxy forwards calls to."""
        return self.transport.local

    async def start(self) -> None:
        """Bind, then send every peer its mailbox state (as Asterisk does at load)."""
        await self.transport.start()
        await self._admit_peers()
        targets = mwi_targets(self.config)
        host, port = self.address
        # chan_sip writes the port into Message-Account only when it is not the default.
        account_host = host if port == 5060 else f"{host}:{port}"
        self.notifier = Notifier(targets, account_host=account_host, rate=self.mwi_rate)
        general = self.config.sip.general
        min_expires = min(general.subminexpiry, general.submaxexpiry)
        self.subscriptions = Subscriptions(
            local=self.address,
            account_host=account_host,
            # defaultexpiry serves REGISTER too and may lie outside the subscription bounds.
            default_expires=min(max(general.defaultexpiry, min_expires), general.submaxexpiry),
            min_expires=min_expires,
            max_expires=general.submaxexpiry,
            user_agent=self.user_agent,
            max_per_mailbox=self.limits.subscriptions_per_mailbox,
            max_per_host=self.limits.subscriptions_per_host,
            reuse_branch=general.mwi_notify_branch == "reuse",
        )
        if self.status_port is not None:
            self._status_server = await asyncio.start_server(
                self._serve_status, host, self.status_port
            )
            self.status_port = self._status_server.sockets[0].getsockname()[1]
        await asyncio.to_thread(recover, self.spool, self._maxmsg_by_mailbox())
        await asyncio.to_thread(self.spool.load_counts, self.config.voicemail.mailboxes)
        self.smdi = await SmdiService.open(self.config, self.smdi_options, self.counts)
        self.resync()
        self._probe_loop()

    def _probe_loop(self, expected: float | None = None) -> None:
        """Measure how late the loop runs a timer, and how late it takes the callers' audio
        from a playback process; ask for the next measure."""
        if self.overload is None:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if expected is not None:
            self.overload.probe(expected, now, receive_lag())
        interval = self.overload.policy.interval
        self._overload_probe = loop.call_at(now + interval, self._probe_loop, now + interval)

    def _maxmsg_by_mailbox(self) -> dict[MailboxId, int]:
        boxes = self.config.voicemail.mailboxes
        found = {mailbox: self.config.mailbox(mailbox) for mailbox in boxes}
        return {mailbox: box.effective("maxmsg") for mailbox, box in found.items() if box}

    async def close(self) -> None:
        """Stop: what callers recorded is saved, then each gets a BYE, then sockets close."""
        live = [call.dialog for call in self._calls.values() if not call.caller_hung_up]
        for call in list(self._calls.values()):
            call.session.hung_up()
        calls = [call.task for call in self._calls.values() if call.task is not None]
        if calls:
            await asyncio.wait(calls, timeout=10)
        if live:
            await asyncio.wait([asyncio.ensure_future(self._bye_on_stop(d)) for d in live])
        for timer in (self._timer, self._subscription_timer, self._overload_probe):
            if timer is not None:
                timer.cancel()
        if self._status_server is not None:
            self._status_server.close()
        for task in list(self._tasks):
            task.cancel()
        if self.smdi is not None:
            await self.smdi.close()
        await self.transport.close()

    async def _bye_on_stop(self, dialog: Dialog) -> None:
        """A BYE to a caller as the server stops; a caller who does not answer is not waited
        for long."""
        with contextlib.suppress(TransactionFailed, TimeoutError):
            await asyncio.wait_for(self.hang_up(dialog), 2)

    async def wait_idle(self) -> None:
        """Wait until no call is in progress (their messages are stored by then)."""
        while self._calls:
            tasks = [call.task for call in self._calls.values() if call.task is not None]
            if not tasks:
                await asyncio.sleep(0.01)
                continue
            await asyncio.wait(tasks)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def counts(self, mailbox: MailboxId) -> MailboxCounts:
        """A mailbox's message counts now, as the spool keeps them."""
        return self.spool.counts(mailbox)

    def next_message_id(self, unix_time: float) -> str:
        """A new ``msg_id`` for a message recorded at ``unix_time``."""
        return self._ids.next(unix_time)

    async def _admit_peers(self) -> None:
        """Who may SUBSCRIBE and REGISTER, and with which secrets: the configured peers (their
        ``host=`` names resolved off the event loop)."""
        peers = self.config.sip.peers
        self.access = Access.from_peers(peers, await asyncio.to_thread(resolve_hosts, peers))
        self._digest.users = self.access.credentials()

    async def reload_config(self) -> None:
        """Read the configuration files again (after a PIN was written into them)."""
        await self.reload()

    async def reload(self) -> ReloadOutcome:
        """Read the configuration again, from files or the database, and run it: mailboxes
        added are counted and their peers get their lamp state, mailboxes removed keep their
        spool. A configuration that cannot be read leaves the running one in place."""
        try:
            config = await asyncio.to_thread(load_config, self.config.directory)
        except ConfigError as error:
            outcome = ReloadOutcome(None, str(error))
            log.warning("%s", outcome)
            return outcome
        change = config_change(self.config, config)
        for warning in set(config.warnings) - set(self.config.warnings):
            log.warning("warning: %s", warning)
        await asyncio.to_thread(self.spool.load_counts, change.added)
        self.config = config
        await self._admit_peers()
        if self.notifier is not None:
            self.notifier.replace_targets(mwi_targets(config), self.counts, self._now())
            self._pump()
        if self.smdi is not None:
            for mailbox in change.added:
                self.smdi.lamp(mailbox, self.counts(mailbox).waiting)
        outcome = ReloadOutcome(change)
        log.info("%s", outcome)
        return outcome

    # -- SIP -------------------------------------------------------------------------------------

    async def _on_request(
        self, request: Request, transaction: ServerTransaction | None, source: Peer
    ) -> None:
        if transaction is None:
            return  # the ACK of our 2xx: the transaction layer already stopped retransmitting
        refusal = check_support(request)
        if refusal is not None:
            headers = list(refusal.headers)
            self._respond(transaction, request, refusal.status, refusal.reason, headers)
            return
        handlers = {
            "INVITE": self._invite,
            "BYE": self._bye,
            "INFO": self._info,
            "SUBSCRIBE": self._subscribe,
            "REGISTER": self._register,
        }
        handler = handlers.get(request.method)
        if handler is not None:
            await handler(request, transaction, source)
        elif request.method == "CANCEL":
            self._cancel(request, transaction)
        elif request.method == "NOTIFY":
            # The server subscribes to nothing, so no NOTIFY belongs to a dialog of its own.
            self._respond(transaction, request, 481, "Subscription Does Not Exist")
        elif request.method == "OPTIONS":
            self._respond(transaction, request, 200)
        else:
            self._respond(transaction, request, 405)

    def _respond(
        self,
        transaction: ServerTransaction,
        request: Request,
        status: int,
        reason: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        lines = [("Server", self.user_agent), *(headers or [])]
        response = make_response(request, status, reason, headers=lines)
        self.transport.respond(transaction, response)

    async def _invite(self, request: Request, transaction: ServerTransaction, source: Peer) -> None:
        incoming = IncomingCall.parse(request)
        if incoming.in_dialog:
            await self._reinvite(request, transaction, source)
            return
        if self._challenged(request, transaction, source):
            return
        if len(self._calls) >= self.limits.call_limit:
            log.warning(
                "call from %s refused: %d calls (call-limit)", incoming.caller, len(self._calls)
            )
            self._respond(
                transaction,
                request,
                503,
                f"Service Unavailable (call-limit {self.limits.call_limit} reached)",
                headers=[("Retry-After", str(RETRY_AFTER))],
            )
            return
        if self.overload is not None and not self.overload.admit(asyncio.get_running_loop().time()):
            log.warning("call from %s refused: the server is overloaded", incoming.caller)
            self._respond(
                transaction,
                request,
                503,
                "Service Unavailable (overloaded)",
                headers=[("Retry-After", str(OVERLOAD_RETRY_AFTER))],
            )
            return
        routing = await self._route(incoming, transaction, source)
        if routing is None:
            return
        media = await self._open_media(incoming, transaction)
        if media is None:
            return
        rtp, answer, negotiated = media
        response = make_response(
            request,
            200,
            to_tag=new_tag(),
            contact=Address(self.transport.contact("voicemail")),
            headers=[
                ("Server", self.user_agent),
                ("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, SUBSCRIBE"),
            ],
            body=bytes(answer),
            content_type="application/sdp",
        )
        try:
            dialog = Dialog.from_uas(request, response, local=self.transport.local)
        except DialogError as error:
            rtp.close()
            self._respond(transaction, request, 400, f"Bad Request ({error})")
            return
        channel = f"SIP/{source[0]}-{next(self._channels):08x}"
        flow, deposit = self._flow(incoming, routing, channel)
        services = DecoyServices if routing.unknown else CallServices
        session = CallSession(
            flow,
            rtp,
            negotiated,
            services(self, dialog, deposit, incoming.caller or source[0]),
            self.prompts,
            dtmf_mode=self._dtmf_mode(incoming),
            name=channel,
        )
        call = _Call(dialog, rtp, session, routing.routed.kind, routing.mailbox, source=source)
        self._calls[dialog.call_id] = call
        self.transport.respond(transaction, response)
        log.info("%s %s for %s from %s", channel, call.kind, call.mailbox, incoming.caller)
        call.task = asyncio.ensure_future(self._run_call(call))

    async def _route(
        self, incoming: IncomingCall, transaction: ServerTransaction, source: Peer
    ) -> _Routing | None:
        """Where the call goes, or None after answering why it cannot be taken."""
        request = incoming.request
        try:
            routed = self.router.classify(request)
        except RoutingError as error:
            self._respond(transaction, request, 400, f"Bad Request ({error})")
            return None
        # A PBX on SMDI names the mailbox in an MD message on the serial line, not in SIP.
        smdi_callerid: str | None = None
        if self.smdi is not None and self.smdi.applies(routed, self.config):
            found = await self.smdi.route(request)
            if found is not None:
                routed, smdi_callerid = found.routed, found.callerid
        if routed.kind != "deposit":
            return _Routing(routed, None, None)
        checked = self._check_deposit(routed.resolution, request, transaction, source)
        if checked is None:
            return None
        resolution, unknown = checked
        return _Routing(routed, resolution, smdi_callerid, unknown)

    def _flow(
        self, incoming: IncomingCall, routing: _Routing, channel: str
    ) -> tuple[CallFlow, Deposit | None]:
        """The call flow a routed call runs, and the deposit it leaves (None: retrieval)."""
        resolution = routing.deposit
        if resolution is None:
            retrieval = Retrieval(
                self._retrieve_options(), routing.mailbox, incoming.caller, call_time=time.time()
            )
            return retrieval, None
        deposit = Deposit.from_call(
            incoming, resolution, channel, time.time(), self._channel_context(incoming)
        )
        if routing.smdi_callerid is not None:
            deposit = dataclasses.replace(deposit, callerid=routing.smdi_callerid)
        return Leave(resolution.mailboxes, self._leave_options(incoming, resolution)), deposit

    async def _open_media(
        self, incoming: IncomingCall, transaction: ServerTransaction
    ) -> tuple[RtpSession, sdp.SessionDescription, sdp.Negotiated] | None:
        """The call's RTP session and SDP answer, or None after answering 488 why not."""
        request = incoming.request
        if incoming.offer is None:
            self._respond(
                transaction, request, 488, f"Not Acceptable Here ({incoming.offer_problem})"
            )
            return None
        rtp = await RtpSession.open(self.transport.host)
        try:
            answer, negotiated = sdp.answer(incoming.offer, self.transport.host, rtp.local_port)
        except sdp.SdpError as error:
            rtp.close()
            self._respond(transaction, request, 488, f"Not Acceptable Here ({error})")
            return None
        try:
            rtp.remote = await self._media_peer(negotiated)
        except PeerAddressError as error:
            rtp.close()
            self._respond(transaction, request, 488, f"Not Acceptable Here ({error})")
            return None
        rtp.symmetric = self.config.sip.general.symmetric_rtp
        rtp.receiver.max_bytes = MAX_CALL_AUDIO
        rtp.telephone_event_pt = negotiated.telephone_event_pt
        rtp.ptime = negotiated.ptime
        return rtp, answer, negotiated

    async def _media_peer(self, negotiated: sdp.Negotiated) -> tuple[str, int]:
        """Where an offer's media goes; a host name only as ``sdphostnames=`` allows."""
        names = self.config.sip.general.sdphostnames == "resolve"
        address, port = negotiated.remote_address, negotiated.remote_port
        return await resolve_peer(address, port, names=names)

    async def _reinvite(
        self, request: Request, transaction: ServerTransaction, source: Peer
    ) -> None:
        """A re-INVITE (a session-timer refresh, a phone moving its media): answer it and
        follow the new media address; the call flow goes on undisturbed."""
        call = self._in_dialog(request, transaction)
        if call is None:
            return
        moved = call.source is not None and call.source[0] != source[0]
        if moved and not self.config.sip.general.symmetric_rtp:
            # Only the caller's own host may move its media (or any, behind NAT); the port may
            # differ, as a proxy's new TCP connection's does.
            self._respond(transaction, request, 403, "Forbidden (re-INVITE from another address)")
            return
        if not call.dialog.receive_request(request):
            self._respond(transaction, request, 500, "Server Internal Error (CSeq out of order)")
            return
        body = b""
        if request.body:
            try:
                answer, negotiated = sdp.answer(
                    sdp.parse(request.body), self.transport.host, call.rtp.local_port
                )
                remote = await self._media_peer(negotiated)
            except (sdp.SdpError, PeerAddressError) as error:
                self._respond(transaction, request, 488, f"Not Acceptable Here ({error})")
                return
            call.rtp.remote = remote
            body = bytes(answer)
        response = make_response(
            request,
            200,
            contact=Address(self.transport.contact("voicemail")),
            headers=[("Server", self.user_agent)],
            body=body,
            content_type="application/sdp" if body else None,
        )
        self.transport.respond(transaction, response)

    def _check_deposit(
        self,
        resolution: Resolution | None,
        request: Request,
        transaction: ServerTransaction,
        source: Peer,
    ) -> tuple[Resolution, bool] | None:
        """The mailboxes a deposit goes to and whether one of them does not exist (a stranger's
        call then goes on as any other, see :mod:`decoy`), or None after answering why it
        cannot be taken."""
        if resolution is None:
            chain = ", ".join(self.router.chain)
            self._respond(transaction, request, 404, f"Not Found (no mailbox named; tried {chain})")
            return None
        missing = [str(box) for box in resolution.mailboxes if self.config.mailbox(box) is None]
        if not missing:
            return resolution, False
        names = ", ".join(missing)
        if self._hides_mailboxes(source):
            log.info("deposit for unknown %s from %s:%s taken as any other", names, *source)
            return resolution, True
        self._respond(transaction, request, 404, f"Not Found (no mailbox {names})")
        return None

    def _hides_mailboxes(self, source: Peer) -> bool:
        """Whether a request from ``source`` must not learn which mailboxes exist: it is not
        a configured peer (the proxy is told 404, to route around a wrong number), and
        ``alwaysauthreject`` is on."""
        trusted = self.access.peer_at(*source) is not None
        return self.config.sip.general.alwaysauthreject and not trusted

    async def _run_call(self, call: _Call) -> None:
        try:
            await call.session.run()
        except Exception:
            log.exception("%s: the call flow failed", call.session.name)
            with contextlib.suppress(TransactionFailed):
                await self.hang_up(call.dialog)
        finally:
            if self.on_media_closed is not None:
                self.on_media_closed(call.dialog.call_id, call.rtp)
            call.rtp.close()
            self._calls.pop(call.dialog.call_id, None)

    async def hang_up(self, dialog: Dialog) -> None:
        """Send BYE on ``dialog`` (the call's session ends the call from our side)."""
        bye = dialog.create_request("BYE")
        await self.transport.request(bye, dialog.next_hop())

    def _in_dialog(self, request: Request, transaction: ServerTransaction) -> _Call | None:
        """The call ``request`` belongs to by Call-ID and both tags, or None after a 481."""
        call = self._calls.get(request.call_id)
        if call is None or not call.dialog.matches(request):
            self._respond(transaction, request, 481, "Call/Transaction Does Not Exist")
            return None
        return call

    def _cancel(self, request: Request, transaction: ServerTransaction) -> None:
        """200 for a CANCEL of an INVITE transaction still known (§9.2), 481 otherwise."""
        if self.transport.layer.cancel_target(request) is None:
            self._respond(transaction, request, 481, "Call/Transaction Does Not Exist")
        else:
            self._respond(transaction, request, 200)

    async def _bye(self, request: Request, transaction: ServerTransaction, source: Peer) -> None:
        call = self._in_dialog(request, transaction)
        if call is None:
            return
        self._respond(transaction, request, 200)
        call.caller_hung_up = True
        # The caller's last words may still be with the playback process reading its socket.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_TIMEOUT):
                await call.rtp.drained()
        call.session.hung_up()

    async def _info(self, request: Request, transaction: ServerTransaction, source: Peer) -> None:
        call = self._in_dialog(request, transaction)
        if call is None:
            return
        kind = (request.header("Content-Type") or "").split(";")[0].strip().lower()
        try:
            if kind == "application/dtmf-relay":
                key = parse_dtmf_relay(request.body).signal
            elif kind == "application/dtmf":
                key = parse_dtmf(request.body)
            else:
                self._respond(transaction, request, 415, "Unsupported Media Type")
                return
        except DtmfError as error:
            self._respond(transaction, request, 400, f"Bad Request ({error})")
            return
        self._respond(transaction, request, 200)
        call.session.info_key(key)

    def _known_peer(self, source: Peer) -> bool:
        """Whether ``source`` is a configured peer's address (see :mod:`access`)."""
        return self.access.peer_at(*source) is not None

    def _challenged(self, request: Request, transaction: ServerTransaction, source: Peer) -> bool:
        """Answer 401 to an INVITE from a peer with a secret that did not prove it (unless
        the peer says ``insecure=invite``); whether it was challenged."""
        peer = self.access.peer_at(*source)
        if peer is None or not peer.challenges_invite:
            return False  # a stranger's call is a guest's, as chan_sip's allowguest takes it
        if self._digest.verify(request) == peer.username:
            return False
        name, value = self._digest.challenge()
        self._respond(transaction, request, 401, headers=[(name, value)])
        return True

    async def _refused(
        self, request: Request, transaction: ServerTransaction, source: Peer
    ) -> bool:
        """Answer 403 to a SUBSCRIBE or REGISTER that no peer entry allows (see
        :mod:`access`); whether it was refused."""
        peer = self.access.peer_at(*source)
        allowed = peer is not None
        if peer is not None and peer.needs_digest:
            if self._digest.verify(request) != peer.username:
                name, value = self._digest.challenge()
                response = make_response(request, 401, headers=[(name, value)])
                self.transport.respond(transaction, response)
                return True
            self.transport.trust(source)
        if allowed and request.method == "SUBSCRIBE":
            allowed = self.config.sip.general.allowsubscribe
            hop = notify_hop(request.header("Contact"), request.header_values("Record-Route"))
            allowed = allowed and hop is not None and self.access.allows(await _address_of(hop))
        if allowed:
            return False
        log.info("%s from %s:%s refused: not from a configured peer", request.method, *source)
        self._respond(transaction, request, 403, "Forbidden")
        return True

    async def _register(
        self, request: Request, transaction: ServerTransaction, source: Peer
    ) -> None:
        """A REGISTER the proxy replicates: the phone is back, so it gets its MWI again."""
        if await self._refused(request, transaction, source):
            return
        peer = self.access.peer_at(source[0])
        static = peer is not None and source[0] in peer.addresses
        if static and self.config.sip.general.register_static_peer == "challenge":
            # chan_sip: a peer that is not host=dynamic may not register; with
            # alwaysauthreject it is told so by a challenge it cannot meet.
            name, value = self._digest.challenge()
            self.transport.respond(
                transaction, make_response(request, 401, headers=[(name, value)])
            )
            return
        try:
            user = Address.parse(request.header("To") or "").uri.user or ""
        except SIPParseError:
            user = ""
        response = make_response(request, 200, headers=[("Server", self.user_agent)])
        for value in request.header_values("Contact"):
            response = response.with_header("Contact", value)
        self.transport.respond(transaction, response)
        if self.notifier is None:
            return
        for target in self.notifier.targets:
            if user in (target.uri.user, target.name):
                self.notifier.refresh(target.name, self.counts, self._now())
        self._pump()

    # -- per-call settings -------------------------------------------------------------------

    def _channel_context(self, incoming: IncomingCall) -> str:
        """The dialplan context chan_sip puts the call in: the calling peer's ``context=``
        (by From user), else ``[general]``'s."""
        peer = self.config.sip.peer(incoming.caller) if incoming.caller else None
        return peer.context if peer is not None else self.config.sip.general.context

    def _dtmf_mode(self, incoming: IncomingCall) -> DtmfMode:
        """The DTMF mode of the sip.conf peer the caller is (by From user), else [general]'s."""
        caller = incoming.caller
        peer = self.config.sip.peer(caller) if caller else None
        mode = peer.dtmfmode if peer is not None else self.config.sip.general.dtmfmode
        return _DTMF_MODES.get(mode.lower(), "rfc2833")

    def _leave_options(self, incoming: IncomingCall, resolution: Resolution) -> LeaveOptions:
        general = self.config.voicemail.general
        mailbox = resolution.mailbox
        # An unknown mailbox (a stranger's decoy deposit) behaves as one with [general]'s settings.
        box = self.config.mailbox(mailbox) or MailboxConfig(
            mailbox.box, mailbox.context, general=general
        )
        reason = resolution.reason
        greeting: Literal["busy", "unavail"] = "busy" if reason is Reason.USER_BUSY else "unavail"
        return LeaveOptions(
            greeting=greeting,
            urgent=incoming.urgent,
            operator=box.effective("operator"),
            # Asterisk offers '*' when an 'a' extension exists; with no dialplan here, an
            # exitcontext to leave to is what says one does.
            star_exit=box.effective("exitcontext") is not None,
            review=box.effective("review"),
            maxmsg=box.effective("maxmsg"),
            maxsecs=box.effective("maxsecs"),
            minsecs=box.effective("minsecs"),
            maxsilence=general.maxsilence,
            silencethreshold=general.silencethreshold,
        )

    def _retrieve_options(self) -> RetrieveOptions:
        general = self.config.voicemail.general
        return RetrieveOptions(
            maxlogins=general.maxlogins,
            moveheard=general.moveheard,
            skipms=general.skipms,
            envelope=general.envelope,
            sayduration=general.sayduration,
            saydurationm=general.saydurationm,
            saycid=general.saycid,
            nextaftercmd=general.nextaftercmd,
            messagewrap=general.messagewrap,
            minpassword=general.minpassword,
            maxgreet=general.maxgreet,
            maxsilence=general.maxsilence,
            silencethreshold=general.silencethreshold,
            tempgreetwarn=general.tempgreetwarn,
            forward_key=general.listen_control_forward_key,
            reverse_key=general.listen_control_reverse_key,
            pause_key=general.listen_control_pause_key,
            restart_key=general.listen_control_restart_key,
            stop_keys=general.listen_control_stop_key,
        )

    # -- MWI -------------------------------------------------------------------------------------

    def resync(self) -> None:
        """Send every peer its mailbox state now (start-up, or on demand)."""
        if self.notifier is None:
            return
        self.notifier.resync(self.counts, self._now())
        self._pump()

    def mailbox_changed(self, mailbox: MailboxId) -> None:
        """Tell peers, subscribers, the SMDI lamps and ``externnotify`` a mailbox's new counts."""
        if self.smdi is not None:
            self.smdi.lamp(mailbox, self.counts(mailbox).waiting)
        if self.notifier is None or self.subscriptions is None:
            return
        self.notifier.mailbox_changed(mailbox, self.counts, self._now())
        self._pump()
        for notify in self.subscriptions.mailbox_changed(mailbox, self.counts, self._now()):
            self._spawn(self._send_subscribed(notify))
        self._run_externnotify(mailbox)

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
        request = build_notify(
            target,
            summary,
            self.address,
            subscription_state=self.unsolicited_state,
            user_agent=self.user_agent,
        )
        status: int | None
        try:
            response = await self.transport.request(request, target.destination)
            retry = authorized_notify(request, response, target, self.transport.via())
            if retry is not None:
                response = await self.transport.request(retry, target.destination)
            status = response.status
        except TransactionFailed:
            status = None
        if status is None or status >= 300:
            log.info("NOTIFY to %s (%s): %s", target.name, target.uri, status or "no answer")
        if self.notifier is not None:
            self.notifier.answered(target, status, self._now())
        self._pump()

    async def _subscribe(
        self, request: Request, transaction: ServerTransaction, source: Peer
    ) -> None:
        assert self.subscriptions is not None
        if await self._refused(request, transaction, source):
            return
        outcome = self.subscriptions.subscribe(
            request,
            self._subscribed_mailboxes(request),
            self.counts,
            self._now(),
            source=source[0],
        )
        self.transport.respond(transaction, outcome.response)
        if outcome.notify is not None:
            self._spawn(self._send_subscribed(outcome.notify))
        self._arm_subscriptions()

    def _subscribed_mailboxes(self, request: Request) -> tuple[MailboxId, ...] | None:
        """A SUBSCRIBE's resource: the mailboxes of the peer named by its user, or user@default."""
        try:
            user = URI.parse(request.uri).user
        except SIPParseError:
            return None
        if not user:
            return None
        peer = self.config.sip.peer(user)
        if peer is not None and peer.mailboxes:
            return peer.mailboxes
        try:
            mailbox = MailboxId(user, self.router.default_context)
        except ValueError:
            return None
        return (mailbox,) if self.config.mailbox(mailbox) is not None else None

    async def _send_subscribed(self, notify: Request) -> None:
        assert self.subscriptions is not None
        status: int | None
        try:
            host, port = self.subscriptions.destination(notify)
            destination = await resolve_peer(host, port, what="subscriber host")
            response = await self.transport.request(notify, destination)
            status = response.status
        except (TransactionFailed, PeerAddressError) as error:
            log.info("NOTIFY %s: %s", notify.uri, error)
            status = None
        self.subscriptions.notify_answered(notify, status, self._now())
        self._arm_subscriptions()

    def _arm_subscriptions(self) -> None:
        if self._subscription_timer is not None:
            self._subscription_timer.cancel()
            self._subscription_timer = None
        assert self.subscriptions is not None
        deadline = self.subscriptions.next_timer()
        if deadline is not None:
            self._subscription_timer = asyncio.get_running_loop().call_at(
                deadline, self._expire_subscriptions
            )

    def _expire_subscriptions(self) -> None:
        self._subscription_timer = None
        assert self.subscriptions is not None
        for notify in self.subscriptions.handle_timer(self._now()):
            self._spawn(self._send_subscribed(notify))
        self._arm_subscriptions()

    def _run_externnotify(self, mailbox: MailboxId) -> None:
        program = self.config.voicemail.general.externnotify
        if not program:
            return
        counts = self.counts(mailbox)
        arguments = [mailbox.context, mailbox.box, str(counts.new), str(counts.old)]
        self._spawn(_run_program(program, [*arguments, str(counts.urgent)]))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- status ----------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What the status endpoint shows: mailbox counts, calls, subscriptions, pending MWI."""
        mailboxes = {}
        for mailbox in self.config.voicemail.mailboxes:
            counts = self.counts(mailbox)
            mailboxes[str(mailbox)] = {
                "new": counts.new,
                "old": counts.old,
                "urgent": counts.urgent,
            }
        calls = [
            {"call_id": call_id, "kind": call.kind, "mailbox": str(call.mailbox or "")}
            for call_id, call in self._calls.items()
        ]
        subscriptions = [
            {"subscriber": info.subscriber, "mailboxes": [str(m) for m in info.mailboxes]}
            for info in (self.subscriptions.active() if self.subscriptions else [])
        ]
        return {
            "server": self.user_agent,
            "sip": f"{self.address[0]}:{self.address[1]}",
            "uptime": round(time.time() - self.started, 3),
            "mailboxes": mailboxes,
            "calls": calls,
            "subscriptions": subscriptions,
            "mwi_pending": self.notifier.pending() if self.notifier else 0,
        }

    async def _serve_status(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """A read-only HTTP/1.0 answer: ``GET /status`` as JSON, anything else 404."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            method, target, *_ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            if method == "GET" and target in ("/", "/status"):
                body = json.dumps(self.status(), indent=2).encode()
                status_line = "200 OK"
            elif method == "POST" and target == "/reload":
                outcome = await self.reload()
                body = json.dumps(outcome.as_json(), indent=2).encode()
                status_line = "200 OK" if outcome.ok else "409 Conflict"
            else:
                body, status_line = b'{"error": "not found"}', "404 Not Found"
            writer.write(
                f"HTTP/1.0 {status_line}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ValueError, ConnectionError):
            pass
        finally:
            writer.close()


async def _run_program(program: str, arguments: list[str]) -> None:
    """Run ``externnotify`` as Asterisk does: ``<prog> <context> <box> <new> <old> <urgent>``."""
    try:
        process = await asyncio.create_subprocess_exec(
            program,
            *arguments,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, errors = await asyncio.wait_for(process.communicate(), 30)
    except (OSError, TimeoutError) as error:
        log.warning("externnotify %s failed: %s", program, error)
        return
    if process.returncode:
        log.warning(
            "externnotify %s exited %s: %s", program, process.returncode, errors.decode()[-200:]
        )


async def _address_of(host: str) -> str:
    """The address a NOTIFY to ``host`` goes to (a host name resolved once, off the event
    loop); ``host`` itself when it does not resolve, which no peer entry admits."""
    try:
        address, _ = await resolve_peer(host, 0, what="Contact host")
    except PeerAddressError:
        return host
    return address
