"""A simulated SIP proxy: registrar, call forwarding to voicemail, and MWI relay.

It behaves like the proxy of the standalone-voicemail design: phones register here; a call to a
registered user rings the phone, and when the phone is busy, does not answer in time or is not
registered, the call goes to the voicemail server with the profile's header convention; a NOTIFY
from the voicemail server is relayed to the phone registered for its Request-URI user (404 when
none). It is a transaction-stateful proxy (RFC 3261 §16) that record-routes, so ACK and BYE
pass through it as they would through Kamailio.

The profile's quirks (:mod:`harness.sim.profiles`) change that behaviour the way real proxies
do: how headers are written, what is forwarded, over which transport, with what delay or loss,
and whether the proxy stands in the call as a B2BUA towards the voicemail server.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.core.mailbox import MailboxId
from harness.core.routing import Reason, Redirect, convention
from harness.sim.profiles import (
    B2bua,
    CompactHeaders,
    Delay,
    DigestChallengeNotify,
    DigestChallengeRegister,
    DropFirst,
    FoldedHeaders,
    Fork,
    LowerCaseHeaders,
    NotifyDrop,
    NotifyReject,
    NotifyUnregistered,
    ProxyProfile,
    Reliable100rel,
    RewriteRequestUri,
    SessionTimer,
    StripXHeaders,
    TcpToVoicemail,
)
from harness.sip.address import Address
from harness.sip.auth import DigestChallenger, parse_auth_params
from harness.sip.builder import make_cancel, make_response, new_request, new_tag, without_tag
from harness.sip.dialog import TARGET_REFRESH_METHODS, Dialog, DialogError
from harness.sip.errors import SIPParseError
from harness.sip.message import Header, Message, Request, Response, encode, parse_message
from harness.sip.transaction import ClientTransaction, Peer, ServerTransaction, TransactionError
from harness.sip.transport import SipTransport, TransactionFailed, TransportName
from harness.sip.uri import URI
from harness.sip.via import Via

log = logging.getLogger(__name__)

_BUSY = {486, 600}
#: Headers a B2BUA writes itself on each leg rather than copying from the other.
_LEG_HEADERS = frozenset(
    {
        "via",
        "from",
        "to",
        "call-id",
        "cseq",
        "contact",
        "route",
        "record-route",
        "max-forwards",
        "content-length",
        "content-type",
        "rseq",
        "rack",
        "require",
        "authorization",
        "proxy-authorization",
    }
)


@dataclass(frozen=True, slots=True)
class Binding:
    """A registered contact of one user."""

    contact: URI
    expires_at: float


@dataclass(slots=True)
class _Inbound:
    """An INVITE from a caller that the proxy is handling, until its final response."""

    request: Request
    transaction: ServerTransaction
    #: The To tag of the responses the proxy itself sends in this call.
    to_tag: str = field(default_factory=new_tag)
    #: Client transactions forwarding it, to CANCEL when the caller does.
    branches: list[tuple[ClientTransaction, Peer, TransportName]] = field(default_factory=list)
    cancelled: bool = False
    final_sent: bool = False
    rseq: int = 0
    #: The reliable provisional response waiting for its PRACK (100rel).
    unacked: Response | None = None
    retransmit: asyncio.TimerHandle | None = None


@dataclass(slots=True)
class _Leg:
    """One side of a B2BUA call: the proxy's dialog with the phone or the voicemail server."""

    dialog: Dialog
    transport: TransportName = "UDP"
    #: For each INVITE received on this leg (by CSeq), the CSeq of the INVITE it became on the
    #: other leg: the ACK received here is mapped to that one.
    acks: dict[int, int] = field(default_factory=dict)
    #: The ACKs sent on this leg, by CSeq, re-sent when their 2xx is retransmitted.
    sent_acks: dict[int, Request] = field(default_factory=dict)
    #: Keeps the proxy's own requests on this leg in CSeq order.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(slots=True)
class _Bridge:
    """A call the proxy bridges as a B2BUA: ``a`` towards the caller, ``b`` the voicemail."""

    a: _Leg
    b: _Leg
    #: The session description offered on the voicemail leg (re-offered by session refreshes).
    offer: bytes = b""
    refresher: asyncio.Task[None] | None = None

    def other(self, leg: _Leg) -> _Leg:
        """The leg that is not ``leg``."""
        return self.b if leg is self.a else self.a


class _ProxyTransport(SipTransport):
    """The proxy's sockets: they write headers the way the profile's proxy does (everything
    it sends, the transaction layer's own ACKs and retransmissions included), and lose the
    first requests of a kind when the profile says so."""

    def __init__(self, profile: ProxyProfile, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._drop = profile.quirk(DropFirst)
        self._dropped: dict[str, int] = {}
        self._style = _style_of(profile)

    def _write(self, data: bytes, destination: Peer, transport: TransportName) -> None:
        if self._style:
            with contextlib.suppress(SIPParseError):
                data = encode(parse_message(data), **self._style)
        super()._write(data, destination, transport)

    def _process(
        self, message: Message, data: bytes, source: Peer, transport: TransportName
    ) -> None:
        drop = self._drop
        if drop is not None and isinstance(message, Request) and drop.drops(message.method):
            seen = self._dropped.get(message.method, 0)
            if seen < drop.count:
                self._dropped[message.method] = seen + 1
                reason = f"dropped on purpose (drop-first: {message.method} {seen + 1} of "
                self._emit("in", data, source, transport, error=f"{reason}{drop.count})")
                return
        super()._process(message, data, source, transport)


class SimProxy:
    """A proxy on loopback in front of one voicemail server."""

    def __init__(
        self,
        voicemail: Peer,
        profile: ProxyProfile | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        mailboxes: dict[str, MailboxId] | None = None,
    ) -> None:
        self.voicemail = voicemail
        self.profile = profile or ProxyProfile()
        self.transport: SipTransport = _ProxyTransport(
            self.profile, host=host, port=port, party="proxy"
        )
        self.transport.handler = self._on_request
        self.transport.stray_handler = self._on_stray_response
        #: Each user's registered contacts, the most recent last.
        self.bindings: dict[str, tuple[Binding, ...]] = {}
        #: Which mailbox each user's calls go to; users not listed use ``user@default``.
        self.mailboxes = dict(mailboxes or {})
        #: Users whose calls go straight to voicemail (call forward unconditional).
        self.forward_unconditional: set[str] = set(self.profile.forward_unconditional)
        self._inbound: dict[int, _Inbound] = {}
        self._bridges: dict[str, tuple[_Bridge, _Leg]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._challengers: dict[str, DigestChallenger] = {}

    async def start(self) -> None:
        """Bind the proxy's socket."""
        await self.transport.start()

    async def close(self) -> None:
        """Stop refreshing sessions and close the socket."""
        for task in list(self._tasks):
            task.cancel()
        for inbound in self._inbound.values():
            if inbound.retransmit is not None:
                inbound.retransmit.cancel()
        await self.transport.close()

    @property
    def address(self) -> Peer:
        """Where phones and the voicemail server send to."""
        return self.transport.local

    @property
    def domain(self) -> str:
        """The domain users register in: the proxy's host:port."""
        host, port = self.address
        return f"{host}:{port}"

    def mailbox_of(self, user: str) -> MailboxId:
        """The mailbox a user's unanswered calls go to."""
        return self.mailboxes.get(user) or MailboxId(user)

    def _loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- dispatch ------------------------------------------------------------------------------

    async def _on_request(
        self, request: Request, transaction: ServerTransaction | None, source: Peer
    ) -> None:
        route = self._next_route(request)
        if route is not None or not self._is_ours(request):
            await self._route_onward(request, transaction, route)
            return
        bridged = self._bridges.get(request.call_id)
        if request.method == "PRACK" and transaction is not None:
            self._prack(request, transaction)
            return
        if bridged is not None and request.method != "CANCEL":
            await self._bridged(request, transaction, *bridged)
            return
        if transaction is None:
            return  # an ACK addressed to us: nothing to do
        handlers = {
            "REGISTER": self._register,
            "INVITE": self._invite,
            "NOTIFY": self._relay_to_user,
            "SUBSCRIBE": self._subscribe,
            "OPTIONS": self._options,
            "CANCEL": self._cancel,
        }
        handler = handlers.get(request.method)
        if handler is None:
            self._respond(transaction, request, 405, "Method Not Allowed")
            return
        await handler(request, transaction)

    def _respond(
        self,
        transaction: ServerTransaction,
        request: Request,
        status: int,
        reason: str | None = None,
        *,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        self._send_response(transaction, make_response(request, status, reason, headers=headers))

    def _send_response(self, transaction: ServerTransaction, response: Response) -> None:
        try:
            self.transport.respond(transaction, response)
        except TransactionError as error:
            # The caller gave up (CANCEL answered) while a branch was still answering.
            log.debug("proxy: %s not sent: %s", response.status, error)

    def _is_ours(self, request: Request) -> bool:
        try:
            uri = URI.parse(request.uri)
        except SIPParseError:
            return True
        return self._names_us(uri)

    def _names_us(self, uri: URI) -> bool:
        host, port = self.address
        return uri.host == host and (uri.port or 5060) == port

    def _next_route(self, request: Request) -> URI | None:
        """The first Route entry that is not us (ours is consumed: loose routing, §16.4)."""
        for value in request.header_values("Route"):
            uri = Address.parse(value).uri
            if not self._names_us(uri):
                return uri
        return None

    # -- registrar -----------------------------------------------------------------------------

    async def _register(self, request: Request, transaction: ServerTransaction) -> None:
        challenge = self.profile.quirk(DigestChallengeRegister)
        if challenge is not None and not self._authorized(request, transaction, challenge):
            return
        to = Address.parse(request.header("To") or "")
        user = to.uri.user
        if not user:
            self._respond(transaction, request, 400, "Bad Request (To without a user)")
            return
        expires_header = request.header("Expires")
        response = make_response(request, 200, "OK")
        kept = list(self.bindings.get(user, ()))
        for value in request.header_values("Contact"):
            if value.strip() == "*":
                kept = []
                continue
            contact = Address.parse(value)
            expires = contact.param("expires") or expires_header or "3600"
            seconds = int(expires) if expires.isdigit() else 3600
            kept = [binding for binding in kept if binding.contact != contact.uri]
            if seconds == 0:
                continue
            kept.append(Binding(contact.uri, self._loop_time() + seconds))
            response = response.with_header(
                "Contact", str(Address(contact.uri).with_params(expires=str(seconds)))
            )
        if kept:
            self.bindings[user] = tuple(kept)
        else:
            self.bindings.pop(user, None)
        self._send_response(transaction, response)
        if self.profile.replicate_register and kept:
            await self._replicate(user, kept[-1])

    async def _replicate(self, user: str, binding: Binding) -> None:
        """Third-party REGISTER of ``user`` at the voicemail server (Kamailio's uac_reg idea)."""
        transport = self._transport_to(self.voicemail)
        aor = Address(URI(scheme="sip", user=user, host=self.address[0], port=self.address[1]))
        remaining = max(1, int(binding.expires_at - self._loop_time()))
        request = new_request(
            "REGISTER",
            URI(scheme="sip", host=self.voicemail[0], port=self.voicemail[1]),
            from_address=aor,
            to_address=aor,
            local=self.transport.local,
            transport=transport,
            contact=Address(binding.contact),
            headers=[("Expires", str(remaining))],
        )
        await self._send(request, self.voicemail, transport)

    def _lookup(self, user: str) -> list[Binding]:
        """The contacts a request for ``user`` goes to: every live one when forking, else the
        most recent."""
        now = self._loop_time()
        live = [binding for binding in self.bindings.get(user, ()) if binding.expires_at >= now]
        if live:
            self.bindings[user] = tuple(live)
        else:
            self.bindings.pop(user, None)
        return live if self.profile.has(Fork.name) else live[-1:]

    def _authorized(
        self,
        request: Request,
        transaction: ServerTransaction,
        options: DigestChallengeRegister | DigestChallengeNotify,
    ) -> bool:
        """Whether ``request`` carries valid credentials; if not, it is answered 401/407."""
        challenger = self._challengers.get(options.name)
        if challenger is None:
            challenger = DigestChallenger(options.realm, {}, proxy=options.status == 407)
            self._challengers[options.name] = challenger
        name = "Proxy-Authorization" if challenger.proxy else "Authorization"
        answer = request.header(name)
        if answer is not None:
            with contextlib.suppress(ValueError):
                username = parse_auth_params(answer)[1].get("username", "")
                challenger.users[username] = options.password_of(username)
                if challenger.verify(request) is not None:
                    return True
        self._respond(transaction, request, options.status, headers=[challenger.challenge()])
        return False

    # -- calls ---------------------------------------------------------------------------------

    async def _invite(self, request: Request, transaction: ServerTransaction) -> None:
        inbound = _Inbound(request, transaction)
        self._inbound[id(transaction)] = inbound
        try:
            self._respond(transaction, request, 100, "Trying")
            if self.profile.has(Reliable100rel.name):
                self._send_reliable(inbound, 180)
            await self._route_call(inbound)
        finally:
            if inbound.retransmit is not None:
                inbound.retransmit.cancel()
            self._inbound.pop(id(transaction), None)

    async def _route_call(self, inbound: _Inbound) -> None:
        request = inbound.request
        user = URI.parse(request.uri).user or ""
        if user in self.profile.retrieval_users:
            await self._to_voicemail_menu(inbound, user)
            return
        bindings = self._lookup(user)
        reason = Reason.UNAVAILABLE
        if user in self.forward_unconditional:
            reason = Reason.UNCONDITIONAL
        elif bindings:
            outcome = await self._ring(inbound, bindings)
            if outcome is None:
                return  # answered (or the caller gave up): the final response is relayed
            reason = outcome
        redirect = Redirect(self.mailbox_of(user), reason, self.domain)
        forwarded = convention(self.profile.convention).apply(request, redirect, self._vm_uri())
        rewrite = self.profile.quirk(RewriteRequestUri)
        if rewrite is not None:
            forwarded = _retarget(forwarded, URI.parse(forwarded.uri).with_user(rewrite.user))
        await self._to_voicemail(inbound, forwarded)

    def _vm_uri(self) -> URI:
        return URI(scheme="sip", host=self.voicemail[0], port=self.voicemail[1])

    async def _to_voicemail_menu(self, inbound: _Inbound, user: str) -> None:
        """A phone dialled the voicemail number: send it to the menu, naming its own mailbox."""
        request = inbound.request
        caller = Address.parse(request.header("From") or "").uri.user or ""
        voicemail = self._vm_uri()
        forwarded = request
        if caller and caller in self.mailboxes:
            redirect = Redirect(self.mailbox_of(caller), Reason.UNKNOWN, self.domain)
            forwarded = convention(self.profile.convention).apply(request, redirect, voicemail)
        menu = URI.parse(forwarded.uri).with_user(user) if forwarded is not request else None
        await self._to_voicemail(inbound, _retarget(forwarded, menu or voicemail.with_user(user)))

    async def _to_voicemail(self, inbound: _Inbound, forwarded: Request) -> None:
        """Send the call to the voicemail server, proxied or bridged, and relay the outcome."""
        if inbound.cancelled:
            self._relay_final(inbound.transaction, None)
            return
        if self.profile.has(B2bua.name):
            await self._bridge(inbound, forwarded)
            return
        response = await self._forward(
            forwarded, self.voicemail, inbound.transaction, record_route=True
        )
        self._relay_final(inbound.transaction, response)

    async def _ring(self, inbound: _Inbound, bindings: list[Binding]) -> Reason | None:
        """Ring every contact in ``bindings`` at once; the redirect reason if none takes the
        call, None when one answered or the caller gave up (its final response relayed)."""
        # The phones ring once the (delayed) INVITE reaches them: the time to answer starts then.
        await self._delay("INVITE")
        tasks: set[asyncio.Task[Response | None]] = set()
        for binding in bindings:
            target = binding.contact
            tasks.add(
                asyncio.ensure_future(
                    self._forward(
                        inbound.request,
                        (target.host, target.port or 5060),
                        inbound.transaction,
                        uri=target,
                        record_route=True,
                        delayed=True,
                    )
                )
            )
        deadline = self._loop_time() + self.profile.no_answer_timeout
        answered: Response | None = None
        busy = False
        pending = tasks
        while pending and answered is None:
            remaining = deadline - self._loop_time()
            if remaining <= 0:
                break
            done, pending = await asyncio.wait(
                pending, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                response = task.result()
                if response is None:
                    continue
                if response.status < 300 and answered is None:
                    answered = response
                busy = busy or response.status in _BUSY
        timed_out = bool(pending) and answered is None
        if pending:
            self._cancel_branches(inbound)
            if answered is None:
                # The phones' 487s come before the call moves on, as Kamailio's would.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*pending), 32.0)
            else:
                for task in pending:
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        if answered is not None:
            self._relay_final(inbound.transaction, answered)
            return None
        if inbound.cancelled:
            self._relay_final(inbound.transaction, None)
            return None
        if busy:
            return Reason.USER_BUSY
        return Reason.NO_ANSWER if timed_out else Reason.UNAVAILABLE

    def _cancel_branches(self, inbound: _Inbound) -> None:
        for client, destination, transport in list(inbound.branches):
            _, cancelled = self.transport.start_request(
                make_cancel(client.request), destination, transport=transport
            )
            cancelled.add_done_callback(_consume)

    async def _cancel(self, request: Request, transaction: ServerTransaction) -> None:
        self._respond(transaction, request, 200, "OK")
        target = self.transport.layer.cancel_target(request)
        inbound = None if target is None else self._inbound.get(id(target))
        if inbound is None or inbound.final_sent:
            return
        inbound.cancelled = True
        if inbound.branches:
            self._cancel_branches(inbound)  # their 487 is relayed
        else:
            self._relay_final(inbound.transaction, None)

    # -- 100rel --------------------------------------------------------------------------------

    def _send_reliable(self, inbound: _Inbound, status: int) -> None:
        """A provisional response of the proxy's own, sent reliably (RFC 3262)."""
        inbound.rseq += 1
        response = make_response(
            inbound.request,
            status,
            to_tag=inbound.to_tag,
            contact=Address(self.transport.contact()),
            headers=[("Require", "100rel"), ("RSeq", str(inbound.rseq))],
        )
        inbound.unacked = response
        self._send_response(inbound.transaction, response)
        self._arm_reliable(inbound, self.transport.layer.timers.t1)

    def _arm_reliable(self, inbound: _Inbound, interval: float) -> None:
        loop = asyncio.get_running_loop()
        inbound.retransmit = loop.call_later(interval, self._retransmit_reliable, inbound, interval)

    def _retransmit_reliable(self, inbound: _Inbound, interval: float) -> None:
        """RFC 3262 §3: T1, doubling, until the PRACK (or the final response), at most 64*T1."""
        inbound.retransmit = None
        if inbound.unacked is None or inbound.final_sent:
            return
        if interval * 2 > self.transport.layer.timers.timeout:
            return
        self._send_response(inbound.transaction, inbound.unacked)
        self._arm_reliable(inbound, interval * 2)

    def _prack(self, request: Request, transaction: ServerTransaction) -> None:
        """Answer a PRACK of one of the proxy's reliable provisional responses."""
        parts = (request.header("RAck") or "").split()
        for inbound in self._inbound.values():
            unacked = inbound.unacked
            if unacked is None or inbound.request.call_id != request.call_id:
                continue
            number, method = inbound.request.cseq
            if parts == [unacked.header("RSeq"), str(number), method]:
                inbound.unacked = None
                if inbound.retransmit is not None:
                    inbound.retransmit.cancel()
                    inbound.retransmit = None
                self._respond(transaction, request, 200)
                return
        self._respond(transaction, request, 481, "Call/Transaction Does Not Exist")

    # -- B2BUA ---------------------------------------------------------------------------------

    async def _bridge(self, inbound: _Inbound, forwarded: Request) -> None:
        """Place the call to the voicemail server as a new call of the proxy's own."""
        request = inbound.request
        transport = self._transport_to(self.voicemail)
        session = self.profile.quirk(SessionTimer)
        headers = self._end_to_end(forwarded)
        if session is not None:
            headers = _with_supported(headers, "timer")
            headers.append(("Session-Expires", f"{session.expires};refresher=uac"))
        sender = without_tag(Address.parse(request.header("From") or ""))
        invite = new_request(
            "INVITE",
            forwarded.uri,
            from_address=sender,
            to_address=without_tag(Address.parse(forwarded.header("To") or "")),
            local=self.transport.local,
            transport=transport,
            contact=Address(self.transport.contact()),
            headers=headers,
            body=request.body,
            content_type=request.header("Content-Type")
            or ("application/sdp" if request.body else None),
        )

        def provisional(response: Response) -> None:
            if response.status == 100 or self.profile.has(Reliable100rel.name):
                return
            if inbound.final_sent:
                return
            self._send_response(inbound.transaction, self._mapped(request, response, inbound))

        response = await self._send(
            invite, self.voicemail, transport, provisional=provisional, inbound=inbound
        )
        if response is None or response.status >= 300:
            mapped = None if response is None else self._mapped(request, response, inbound)
            self._relay_final(inbound.transaction, mapped, own=True)
            return
        b_dialog = Dialog.from_uac(invite, response)
        if inbound.final_sent:
            # The caller gave up as the voicemail server answered: end the orphan at once.
            self._send_stateless(b_dialog.create_ack(), b_dialog.next_hop(), transport)
            bye = b_dialog.create_request("BYE")
            self._spawn(self._send(bye, b_dialog.next_hop(), transport))
            return
        answer = self._mapped(request, response, inbound)
        a_dialog = Dialog.from_uas(request, answer, local=self.transport.local)
        bridge = _Bridge(_Leg(a_dialog), _Leg(b_dialog, transport), offer=request.body)
        bridge.a.acks[request.cseq[0]] = invite.cseq[0]
        self._bridges[request.call_id] = (bridge, bridge.a)
        self._bridges[invite.call_id] = (bridge, bridge.b)
        self._relay_final(inbound.transaction, answer, own=True)
        if session is not None:
            bridge.refresher = self._spawn(self._refresh(bridge, session))

    def _mapped(self, request: Request, response: Response, inbound: _Inbound | None) -> Response:
        """``response`` from one leg as the answer to ``request`` on the other."""
        contact = None
        if response.has("Contact") and request.method in TARGET_REFRESH_METHODS:
            contact = Address(self.transport.contact())
        return make_response(
            request,
            response.status,
            response.reason,
            to_tag=None if inbound is None else inbound.to_tag,
            contact=contact,
            headers=self._end_to_end(response),
            body=response.body,
            content_type=response.header("Content-Type"),
        )

    def _end_to_end(self, message: Message) -> list[tuple[str, str]]:
        """The headers of ``message`` that a B2BUA carries over to the other leg."""
        strip = self.profile.quirk(StripXHeaders)
        return [
            (header.name, header.value)
            for header in message.headers
            if header.key not in _LEG_HEADERS and (strip is None or not strip.strips(header.name))
        ]

    async def _bridged(
        self, request: Request, transaction: ServerTransaction | None, bridge: _Bridge, leg: _Leg
    ) -> None:
        """An in-dialog request on one leg of a bridged call, re-sent on the other."""
        other = bridge.other(leg)
        number, method = request.cseq
        if transaction is None:
            if request.method == "ACK" and number in leg.acks:
                ack = other.dialog.create_ack(leg.acks.pop(number))
                other.sent_acks[ack.cseq[0]] = ack
                self._send_stateless(ack, other.dialog.next_hop(), other.transport)
            return
        try:
            in_order = leg.dialog.receive_request(request)
        except DialogError:
            self._respond(transaction, request, 481, "Call/Transaction Does Not Exist")
            return
        if not in_order:
            self._respond(transaction, request, 500, "Server Internal Error (CSeq out of order)")
            return
        if method == "INVITE" and leg is bridge.a and request.body:
            bridge.offer = request.body
        async with other.lock:
            onward = other.dialog.create_request(
                method,
                headers=self._end_to_end(request),
                body=request.body,
                content_type=request.header("Content-Type"),
            )
            response = await self._send(onward, other.dialog.next_hop(), other.transport)
        if method == "BYE":
            self._unbridge(bridge)
        if response is None:
            self._relay_final(transaction, None)
            return
        if 200 <= response.status < 300:
            other.dialog.receive_response(response)
            if method == "INVITE":
                leg.acks[number] = onward.cseq[0]
        self._send_response(transaction, self._mapped(request, response, None))

    async def _refresh(self, bridge: _Bridge, session: SessionTimer) -> None:
        """Session-timer refreshes (RFC 4028) of the voicemail leg, for as long as it lasts."""
        leg = bridge.b
        while True:
            await asyncio.sleep(session.interval)
            async with leg.lock:
                invite = leg.dialog.create_request(
                    "INVITE",
                    headers=[
                        ("Session-Expires", f"{session.expires};refresher=uac"),
                        ("Supported", "timer"),
                    ],
                    body=bridge.offer,
                    content_type="application/sdp" if bridge.offer else None,
                )
                response = await self._send(invite, leg.dialog.next_hop(), leg.transport)
            if response is None or response.status >= 300:
                log.info("proxy: session refresh got %s", response and response.status)
                if response is None or response.status in (404, 408, 410, 481):
                    return
                continue
            leg.dialog.receive_response(response)
            ack = leg.dialog.create_ack(invite.cseq[0])
            leg.sent_acks[invite.cseq[0]] = ack
            self._send_stateless(ack, leg.dialog.next_hop(), leg.transport)

    def _unbridge(self, bridge: _Bridge) -> None:
        for leg in (bridge.a, bridge.b):
            self._bridges.pop(leg.dialog.call_id, None)
        if bridge.refresher is not None:
            bridge.refresher.cancel()

    # -- MWI and subscriptions -----------------------------------------------------------------

    async def _relay_to_user(self, request: Request, transaction: ServerTransaction) -> None:
        challenge = self.profile.quirk(DigestChallengeNotify)
        if challenge is not None and not self._authorized(request, transaction, challenge):
            return
        reject = self.profile.quirk(NotifyReject)
        if reject is not None:
            self._respond(transaction, request, reject.status)
            return
        drop = self.profile.quirk(NotifyDrop)
        if drop is not None:
            if drop.answer == "ok":
                self._respond(transaction, request, 200)
            return
        user = URI.parse(request.uri).user or ""
        bindings = self._lookup(user)
        if not bindings:
            unregistered = self.profile.quirk(NotifyUnregistered)
            self._respond(transaction, request, unregistered.status if unregistered else 404)
            return
        relays = [
            self._forward(
                request,
                (binding.contact.host, binding.contact.port or 5060),
                transaction,
                uri=binding.contact,
            )
            for binding in bindings
        ]
        # One contact is awaited directly: its answer goes back without an extra loop turn.
        responses = [await relays[0]] if len(relays) == 1 else await asyncio.gather(*relays)
        self._relay_final(transaction, _best(responses))

    async def _subscribe(self, request: Request, transaction: ServerTransaction) -> None:
        response = await self._forward(request, self.voicemail, transaction, record_route=True)
        self._relay_final(transaction, response)

    async def _options(self, request: Request, transaction: ServerTransaction) -> None:
        self._respond(transaction, request, 200, "OK")

    # -- forwarding ----------------------------------------------------------------------------

    def _record_route(self) -> str:
        host, port = self.address
        return f"<sip:{host}:{port};lr>"

    def _transport_to(self, destination: Peer) -> TransportName:
        if destination == self.voicemail and self.profile.has(TcpToVoicemail.name):
            return "TCP"
        return "UDP"

    def _prepare(
        self, request: Request, uri: URI | None = None, transport: TransportName = "UDP"
    ) -> Request:
        """RFC 3261 §16.6: new Request-URI, Max-Forwards decremented, our Via on top."""
        forwards = request.header("Max-Forwards")
        hops = int(forwards) - 1 if forwards and forwards.isdigit() else 69
        routes = [
            value
            for value in request.header_values("Route")
            if not self._names_us(Address.parse(value).uri)
        ]
        strip = self.profile.quirk(StripXHeaders)
        headers = [
            header
            for header in request.headers
            if header.key not in ("route", "max-forwards")
            and (strip is None or not strip.strips(header.name))
        ]
        via = Header("Via", str(self.transport.via(transport)))
        rebuilt = (
            via,
            *headers,
            Header("Max-Forwards", str(hops)),
            *(Header("Route", value) for value in routes),
        )
        return Request(
            method=request.method,
            uri=str(uri) if uri is not None else request.uri,
            headers=rebuilt,
            body=request.body,
            version=request.version,
        )

    async def _forward(
        self,
        request: Request,
        destination: Peer,
        transaction: ServerTransaction,
        *,
        uri: URI | None = None,
        record_route: bool = False,
        delayed: bool = False,
    ) -> Response | None:
        """Forward in a client transaction; provisional responses go upstream as they come.
        ``delayed``: the profile's delay was already waited."""
        transport = self._transport_to(destination)
        if record_route and self.profile.record_route:
            request = request.with_header("Record-Route", self._record_route(), first=True)
        return await self._send(
            self._prepare(request, uri, transport),
            destination,
            transport,
            provisional=lambda r: self._relay_provisional(transaction, r),
            inbound=self._inbound.get(id(transaction)),
            delayed=delayed,
        )

    async def _send(
        self,
        request: Request,
        destination: Peer,
        transport: TransportName = "UDP",
        *,
        provisional: Callable[[Response], None] | None = None,
        inbound: _Inbound | None = None,
        delayed: bool = False,
    ) -> Response | None:
        """Send ``request`` in a client transaction, after the profile's delay (unless
        ``delayed`` already); its final response, or None when none came (or the path could
        not be opened)."""
        if not delayed:
            await self._delay(request.method)
        if inbound is not None and inbound.cancelled and request.method == "INVITE":
            return None
        try:
            if transport == "TCP":
                await self.transport.connect(destination)
            client, future = self.transport.start_request(
                request, destination, transport=transport, provisional=provisional
            )
        except OSError as error:
            log.info("proxy: cannot send %s to %s:%s: %s", request.method, *destination, error)
            return None
        branch = (client, destination, transport)
        if inbound is not None:
            inbound.branches.append(branch)
        try:
            return await future
        except TransactionFailed:
            return None
        finally:
            if inbound is not None:
                inbound.branches.remove(branch)

    async def _delay(self, method: str) -> None:
        delay = self.profile.quirk(Delay)
        if delay is not None and delay.applies(method):
            await asyncio.sleep(delay.seconds)

    def _send_stateless(
        self, message: Message, destination: Peer, transport: TransportName
    ) -> None:
        if transport == "TCP":
            self._spawn(self._send_stateless_tcp(message, destination))
            return
        self.transport.send_stateless(message, destination)

    async def _send_stateless_tcp(self, message: Message, destination: Peer) -> None:
        try:
            await self.transport.connect(destination)
        except OSError as error:
            log.info("proxy: cannot reach %s:%s over TCP: %s", *destination, error)
            return
        self.transport.send_stateless(message, destination)

    async def _route_onward(
        self, request: Request, transaction: ServerTransaction | None, route: URI | None
    ) -> None:
        """In-dialog requests (ACK, BYE, re-INVITE, in-dialog NOTIFY) follow Route or the URI."""
        reject = self.profile.quirk(NotifyReject)
        if reject is not None and reject.in_dialog and request.method == "NOTIFY" and transaction:
            self._respond(transaction, request, reject.status)
            return
        target = route or URI.parse(request.uri)
        destination = (target.host, target.port or 5060)
        transport = self._transport_to(destination)
        outgoing = self._prepare(request, transport=transport)
        if transaction is None:
            await self._delay(request.method)
            self._send_stateless(outgoing, destination, transport)
            return
        response = await self._send(
            outgoing,
            destination,
            transport,
            provisional=lambda r: self._relay_provisional(transaction, r),
        )
        self._relay_final(transaction, response)

    def _relay_provisional(self, transaction: ServerTransaction, response: Response) -> None:
        if response.status == 100:
            return  # 100 Trying is hop by hop
        inbound = self._inbound.get(id(transaction))
        if inbound is not None and (inbound.final_sent or self.profile.has(Reliable100rel.name)):
            return  # with 100rel the caller hears the proxy's own reliable ringing
        self._send_response(transaction, _strip_top_via(response))

    def _relay_final(
        self, transaction: ServerTransaction, response: Response | None, *, own: bool = False
    ) -> None:
        """Send the final response upstream: one received (its top Via, ours, removed), or
        one the proxy built itself (``own``), or for None a 408 (487 when cancelled)."""
        inbound = self._inbound.get(id(transaction))
        if inbound is not None:
            if inbound.final_sent:
                return
            inbound.final_sent = True
        request = transaction.request
        if response is None:
            status, reason = (
                (487, "Request Terminated")
                if inbound and inbound.cancelled
                else (
                    408,
                    "Request Timeout",
                )
            )
            to_tag = inbound.to_tag if inbound is not None else None
            response = make_response(request, status, reason, to_tag=to_tag)
            own = True
        if not own:
            response = _strip_top_via(response)
        if (
            not own
            and request.method == "INVITE"
            and 200 <= response.status < 300
            and not self.profile.record_route
        ):
            # Without Record-Route the ACK bypasses the proxy, so the 2xx is passed on
            # statelessly rather than retransmitted until an ACK that never comes (RFC 6026).
            self._send_stateless(response, _via_destination(response), "UDP")
            return
        self._send_response(transaction, response)

    def _on_stray_response(self, response: Response, source: Peer) -> None:
        """A retransmitted 2xx to INVITE: re-send a bridged call's ACK, or pass it on
        statelessly by its Via (RFC 3261 §16.7)."""
        bridged = self._bridges.get(response.call_id)
        if bridged is not None:
            _, leg = bridged
            with contextlib.suppress(SIPParseError):
                ack = leg.sent_acks.get(response.cseq[0])
                if ack is not None:
                    self._send_stateless(ack, leg.dialog.next_hop(), leg.transport)
            return
        stripped = _strip_top_via(response)
        if stripped.header("Via") is None:
            return
        self._send_stateless(stripped, _via_destination(stripped), "UDP")


def _style_of(profile: ProxyProfile) -> dict[str, Any]:
    """The :func:`encode` switches of the profile's header quirks (empty: plain)."""
    style: dict[str, Any] = {}
    if profile.has(CompactHeaders.name):
        style["compact"] = True
    if profile.has(LowerCaseHeaders.name):
        style["header_case"] = "lower"
    folded = profile.quirk(FoldedHeaders)
    if folded is not None:
        style["fold_at"] = folded.width
    return style


def _best(responses: Iterable[Response | None]) -> Response | None:
    """The response a forking proxy passes back (RFC 3261 §16.7): a 2xx, else the lowest."""
    answered = [response for response in responses if response is not None]
    if not answered:
        return None
    return min(answered, key=lambda response: (response.status >= 300, response.status))


def _retarget(request: Request, uri: URI) -> Request:
    return dataclasses.replace(request, uri=str(uri), raw=None)


def _with_supported(headers: list[tuple[str, str]], tag: str) -> list[tuple[str, str]]:
    """``headers`` whose Supported lists ``tag`` (added to the first, or as a new line)."""
    out: list[tuple[str, str]] = []
    added = False
    for name, value in headers:
        if not added and name.lower() in ("supported", "k"):
            tags = [item.strip() for item in value.split(",") if item.strip()]
            out.append((name, ", ".join(tags if tag in tags else [*tags, tag])))
            added = True
            continue
        out.append((name, value))
    if not added:
        out.append(("Supported", tag))
    return out


def _via_destination(response: Response) -> Peer:
    """Where a response goes: its top Via's received/rport, else its sent-by (§18.2.2)."""
    via = Via.parse(response.header("Via") or "")
    port = via.param("rport")
    host = via.param("received") or via.host
    return host, int(port) if port else (via.port or 5060)


def _consume(future: asyncio.Future[Response]) -> None:
    """Read a fire-and-forget transaction's outcome so a failure is not reported as unhandled."""
    if not future.cancelled():
        future.exception()


def _strip_top_via(response: Response) -> Response:
    values = response.header_values("Via")[1:]
    headers = [header for header in response.headers if header.key != "via"]
    position = next((i for i, h in enumerate(response.headers) if h.key == "via"), 0)
    vias = tuple(Header("Via", value) for value in values)
    return dataclasses.replace(
        response, headers=(*headers[:position], *vias, *headers[position:]), raw=None
    )
