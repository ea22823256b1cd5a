"""A simulated SIP proxy: registrar, call forwarding to voicemail, and MWI relay.

It behaves like the proxy of the standalone-voicemail design: phones register here; a call to a
registered user rings the phone, and when the phone is busy, does not answer in time or is not
registered, the call goes to the voicemail server with the profile's header convention; a NOTIFY
from the voicemail server is relayed to the phone registered for its Request-URI user (404 when
none). It is a transaction-stateful proxy (RFC 3261 §16) that record-routes, so ACK and BYE
pass through it as they would through Kamailio.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from dataclasses import dataclass

from harness.core.mailbox import MailboxId
from harness.core.routing import Reason, Redirect, convention
from harness.sim.profiles import ProxyProfile
from harness.sip.address import Address
from harness.sip.builder import make_cancel, make_response, new_request
from harness.sip.errors import SIPParseError
from harness.sip.message import Header, Request, Response
from harness.sip.transaction import Peer, ServerTransaction
from harness.sip.transport import SipTransport, TransactionFailed
from harness.sip.uri import URI
from harness.sip.via import Via

log = logging.getLogger(__name__)

_BUSY = {486, 600}
_UNAVAILABLE = {404, 408, 410, 480, 503}


@dataclass(frozen=True, slots=True)
class Binding:
    """A registered contact of one user."""

    contact: URI
    expires_at: float


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
        self.transport = SipTransport(host=host, port=port, party="proxy")
        self.transport.handler = self._on_request
        self.transport.stray_handler = self._on_stray_response
        self.bindings: dict[str, Binding] = {}
        #: Which mailbox each user's calls go to; users not listed use ``user@default``.
        self.mailboxes = dict(mailboxes or {})
        #: Users whose calls go straight to voicemail (call forward unconditional).
        self.forward_unconditional: set[str] = set(self.profile.forward_unconditional)

    async def start(self) -> None:
        """Bind the proxy's socket."""
        await self.transport.start()

    async def close(self) -> None:
        """Close the socket."""
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

    # -- dispatch ------------------------------------------------------------------------------

    async def _on_request(
        self, request: Request, transaction: ServerTransaction | None, source: Peer
    ) -> None:
        route = self._next_route(request)
        if route is not None or not self._is_ours(request):
            await self._route_onward(request, transaction, route)
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
        self, transaction: ServerTransaction, request: Request, status: int, reason: str
    ) -> None:
        self.transport.respond(transaction, make_response(request, status, reason))

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
        to = Address.parse(request.header("To") or "")
        user = to.uri.user
        if not user:
            self._respond(transaction, request, 400, "Bad Request (To without a user)")
            return
        contacts = request.header_values("Contact")
        expires_header = request.header("Expires")
        response = make_response(request, 200, "OK")
        for value in contacts:
            if value.strip() == "*":
                self.bindings.pop(user, None)
                continue
            contact = Address.parse(value)
            expires = contact.param("expires") or expires_header or "3600"
            seconds = int(expires) if expires.isdigit() else 3600
            if seconds == 0:
                self.bindings.pop(user, None)
                continue
            self.bindings[user] = Binding(contact.uri, self._loop_time() + seconds)
            response = response.with_header(
                "Contact", str(Address(contact.uri).with_params(expires=str(seconds)))
            )
        self.transport.respond(transaction, response)
        if self.profile.replicate_register and user in self.bindings:
            await self._replicate(user, self.bindings[user])

    async def _replicate(self, user: str, binding: Binding) -> None:
        """Third-party REGISTER of ``user`` at the voicemail server (Kamailio's uac_reg idea)."""
        aor = Address(URI(scheme="sip", user=user, host=self.address[0], port=self.address[1]))
        remaining = max(1, int(binding.expires_at - self._loop_time()))
        request = new_request(
            "REGISTER",
            URI(scheme="sip", host=self.voicemail[0], port=self.voicemail[1]),
            from_address=aor,
            to_address=aor,
            local=self.transport.local,
            contact=Address(binding.contact),
            headers=[("Expires", str(remaining))],
        )
        with contextlib.suppress(TransactionFailed):
            await self.transport.request(request, self.voicemail)

    def _lookup(self, user: str) -> Binding | None:
        binding = self.bindings.get(user)
        if binding is not None and binding.expires_at < self._loop_time():
            del self.bindings[user]
            return None
        return binding

    # -- calls ---------------------------------------------------------------------------------

    async def _invite(self, request: Request, transaction: ServerTransaction) -> None:
        user = URI.parse(request.uri).user or ""
        self._respond(transaction, request, 100, "Trying")
        if user in self.profile.retrieval_users:
            await self._to_voicemail_menu(request, transaction, user)
            return
        binding = self._lookup(user)
        reason = Reason.UNAVAILABLE
        if user in self.forward_unconditional:
            reason = Reason.UNCONDITIONAL
        elif binding is not None:
            outcome = await self._ring(request, transaction, binding)
            if outcome is None:
                return  # answered (or the caller gave up): the final response is relayed
            reason = outcome
        redirect = Redirect(self.mailbox_of(user), reason, self.domain)
        voicemail = URI(scheme="sip", host=self.voicemail[0], port=self.voicemail[1])
        forwarded = convention(self.profile.convention).apply(request, redirect, voicemail)
        response = await self._forward(forwarded, self.voicemail, transaction, record_route=True)
        self._relay_final(transaction, response)

    async def _to_voicemail_menu(
        self, request: Request, transaction: ServerTransaction, user: str
    ) -> None:
        """A phone dialled the voicemail number: send it to the menu, naming its own mailbox."""
        caller = Address.parse(request.header("From") or "").uri.user or ""
        voicemail = URI(scheme="sip", host=self.voicemail[0], port=self.voicemail[1])
        forwarded = request
        if caller and caller in self.mailboxes:
            redirect = Redirect(self.mailbox_of(caller), Reason.UNKNOWN, self.domain)
            forwarded = convention(self.profile.convention).apply(request, redirect, voicemail)
        menu = URI.parse(forwarded.uri).with_user(user) if forwarded is not request else None
        target = menu or voicemail.with_user(user)
        response = await self._forward(
            forwarded, self.voicemail, transaction, uri=target, record_route=True
        )
        self._relay_final(transaction, response)

    async def _ring(
        self, request: Request, transaction: ServerTransaction, binding: Binding
    ) -> Reason | None:
        """Try the registered phone; the redirect reason if it does not take the call."""
        target = binding.contact
        outgoing = self._prepare(request.with_header("Record-Route", self._record_route()), target)
        destination = (target.host, target.port or 5060)
        branch, future = self.transport.start_request(
            outgoing, destination, provisional=lambda r: self._relay_provisional(transaction, r)
        )
        try:
            response = await asyncio.wait_for(
                asyncio.shield(future), self.profile.no_answer_timeout
            )
        except TimeoutError:
            _, cancelled = self.transport.start_request(make_cancel(branch.request), destination)
            cancelled.add_done_callback(_consume)
            with contextlib.suppress(TransactionFailed, TimeoutError):
                await asyncio.wait_for(future, 32.0)
            return Reason.NO_ANSWER
        except TransactionFailed:
            return Reason.UNAVAILABLE
        if response.status < 300:
            self._relay_final(transaction, response)
            return None
        if response.status in _BUSY:
            return Reason.USER_BUSY
        if response.status == 487:
            self._relay_final(transaction, response)
            return None
        return Reason.UNAVAILABLE

    async def _cancel(self, request: Request, transaction: ServerTransaction) -> None:
        self._respond(transaction, request, 200, "OK")

    # -- MWI and subscriptions -----------------------------------------------------------------

    async def _relay_to_user(self, request: Request, transaction: ServerTransaction) -> None:
        user = URI.parse(request.uri).user or ""
        binding = self._lookup(user)
        if binding is None:
            self._respond(transaction, request, 404, "Not Found")
            return
        target = binding.contact
        response = await self._forward(
            request, (target.host, target.port or 5060), transaction, uri=target
        )
        self._relay_final(transaction, response)

    async def _subscribe(self, request: Request, transaction: ServerTransaction) -> None:
        response = await self._forward(request, self.voicemail, transaction, record_route=True)
        self._relay_final(transaction, response)

    async def _options(self, request: Request, transaction: ServerTransaction) -> None:
        self._respond(transaction, request, 200, "OK")

    # -- forwarding ----------------------------------------------------------------------------

    def _record_route(self) -> str:
        host, port = self.address
        return f"<sip:{host}:{port};lr>"

    def _prepare(self, request: Request, uri: URI | None = None) -> Request:
        """RFC 3261 §16.6: new Request-URI, Max-Forwards decremented, our Via on top."""
        forwards = request.header("Max-Forwards")
        hops = int(forwards) - 1 if forwards and forwards.isdigit() else 69
        routes = [
            value
            for value in request.header_values("Route")
            if not self._names_us(Address.parse(value).uri)
        ]
        headers = [
            header for header in request.headers if header.key not in ("route", "max-forwards")
        ]
        via = Header("Via", str(self.transport.via()))
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
    ) -> Response | None:
        """Forward in a client transaction; provisional responses go upstream as they come."""
        if record_route:
            request = request.with_header("Record-Route", self._record_route(), first=True)
        outgoing = self._prepare(request, uri)
        try:
            return await self.transport.request(
                outgoing,
                destination,
                provisional=lambda r: self._relay_provisional(transaction, r),
            )
        except TransactionFailed:
            return None

    async def _route_onward(
        self, request: Request, transaction: ServerTransaction | None, route: URI | None
    ) -> None:
        """In-dialog requests (ACK, BYE, re-INVITE, in-dialog NOTIFY) follow Route or the URI."""
        target = route or URI.parse(request.uri)
        destination = (target.host, target.port or 5060)
        outgoing = self._prepare(request)
        if transaction is None:
            self.transport.send_stateless(outgoing, destination)
            return
        try:
            response = await self.transport.request(
                outgoing,
                destination,
                provisional=lambda r: self._relay_provisional(transaction, r),
            )
        except TransactionFailed:
            response = None
        self._relay_final(transaction, response)

    def _relay_provisional(self, transaction: ServerTransaction, response: Response) -> None:
        if response.status == 100:
            return  # 100 Trying is hop by hop
        self.transport.respond(transaction, _strip_top_via(response))

    def _relay_final(self, transaction: ServerTransaction, response: Response | None) -> None:
        if response is None:
            self.transport.respond(
                transaction, make_response(transaction.request, 408, "Request Timeout")
            )
            return
        self.transport.respond(transaction, _strip_top_via(response))

    def _on_stray_response(self, response: Response, source: Peer) -> None:
        """A retransmitted 2xx to INVITE: pass it on statelessly by its Via (RFC 3261 §16.7)."""
        stripped = _strip_top_via(response)
        top = stripped.header("Via")
        if top is None:
            return
        via = Via.parse(top)
        port = via.param("rport")
        host = via.param("received") or via.host
        destination = (host, int(port) if port else (via.port or 5060))
        self.transport.send_stateless(stripped, destination)


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
