"""The forwarding part of the simulated proxy: requests on, responses back (RFC 3261 §16).

:class:`Relay` owns the proxy's transport: it prepares a request for the next hop (Via,
Max-Forwards, Route, Record-Route), sends it in a client transaction after the profile's delay,
passes provisional and final responses upstream, routes in-dialog requests by their Route set,
and relays a voicemail server's NOTIFY to the contacts of the user it names. The other parts
(registrar, B2BUA, reliable provisionals) send through it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any

from harness.sim.behaviour import ProxyBehaviour
from harness.sim.digest import DigestGate
from harness.sim.inbound import Inbound
from harness.sip.address import Address
from harness.sip.builder import make_cancel, make_response
from harness.sip.errors import SIPParseError
from harness.sip.message import Header, Message, Request, Response
from harness.sip.transaction import Peer, ServerTransaction, TransactionError
from harness.sip.transport import SipTransport, TransactionFailed, TransportName
from harness.sip.uri import URI
from harness.sip.via import Via

log = logging.getLogger(__name__)

#: The contacts registered for a user, freshest last (the registrar's lookup).
Contacts = Callable[[str], Sequence[URI]]


class Relay:
    """Request forwarding and NOTIFY relay over the proxy's transport."""

    def __init__(self, transport: SipTransport, behaviour: ProxyBehaviour, voicemail: Peer) -> None:
        self.transport = transport
        self.behaviour = behaviour
        #: The voicemail server calls are redirected to.
        self.voicemail = voicemail
        #: The INVITEs being handled, by ``id`` of their server transaction.
        self.calls: dict[int, Inbound] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        challenge = behaviour.notify_challenge
        self._notify_gate = None if challenge is None else DigestGate(challenge)

    @property
    def address(self) -> Peer:
        """Where the proxy listens."""
        return self.transport.local

    def loop_time(self) -> float:
        """The running loop's clock."""
        return asyncio.get_running_loop().time()

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coroutine`` until it ends or the proxy closes."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coroutine)
        self.keep(task)
        return task

    def keep(self, task: asyncio.Task[Any]) -> None:
        """Cancel ``task`` when the proxy closes, unless it ended before."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel_tasks(self) -> None:
        """Cancel every task still running (the proxy is closing)."""
        for task in list(self._tasks):
            task.cancel()

    # -- addressing ---------------------------------------------------------------------------

    def names_us(self, uri: URI) -> bool:
        """Whether ``uri`` points at the proxy."""
        host, port = self.address
        return uri.host == host and (uri.port or 5060) == port

    def is_ours(self, request: Request) -> bool:
        """Whether the Request-URI points at the proxy (an unreadable one counts as ours)."""
        try:
            uri = URI.parse(request.uri)
        except SIPParseError:
            return True
        return self.names_us(uri)

    def next_route(self, request: Request) -> URI | None:
        """The first Route entry that is not us (ours is consumed: loose routing, §16.4)."""
        for value in request.header_values("Route"):
            uri = Address.parse(value).uri
            if not self.names_us(uri):
                return uri
        return None

    def transport_to(self, destination: Peer) -> TransportName:
        """The transport requests to ``destination`` go over."""
        if destination == self.voicemail:
            return self.behaviour.voicemail_transport
        return "UDP"

    def _record_route(self) -> str:
        host, port = self.address
        return f"<sip:{host}:{port};lr>"

    # -- responding ---------------------------------------------------------------------------

    def respond(
        self,
        transaction: ServerTransaction,
        request: Request,
        status: int,
        reason: str | None = None,
        *,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Answer ``request`` with a response of the proxy's own."""
        self.send_response(transaction, make_response(request, status, reason, headers=headers))

    def send_response(self, transaction: ServerTransaction, response: Response) -> None:
        """Send ``response`` in ``transaction``, unless the transaction is over."""
        try:
            self.transport.respond(transaction, response)
        except TransactionError as error:
            # The caller gave up (CANCEL answered) while a branch was still answering.
            log.debug("proxy: %s not sent: %s", response.status, error)

    # -- forwarding ---------------------------------------------------------------------------

    def prepare(
        self, request: Request, uri: URI | None = None, transport: TransportName = "UDP"
    ) -> Request:
        """RFC 3261 §16.6: new Request-URI, Max-Forwards decremented, our Via on top."""
        forwards = request.header("Max-Forwards")
        hops = int(forwards) - 1 if forwards and forwards.isdigit() else 69
        routes = [
            value
            for value in request.header_values("Route")
            if not self.names_us(Address.parse(value).uri)
        ]
        headers = [
            header
            for header in request.headers
            if header.key not in ("route", "max-forwards")
            and not self.behaviour.strips(header.name)
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

    async def forward(
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
        transport = self.transport_to(destination)
        if record_route and self.behaviour.record_route:
            request = request.with_header("Record-Route", self._record_route(), first=True)
        return await self.send(
            self.prepare(request, uri, transport),
            destination,
            transport,
            provisional=lambda r: self.relay_provisional(transaction, r),
            inbound=self.calls.get(id(transaction)),
            delayed=delayed,
        )

    async def send(
        self,
        request: Request,
        destination: Peer,
        transport: TransportName = "UDP",
        *,
        provisional: Callable[[Response], None] | None = None,
        inbound: Inbound | None = None,
        delayed: bool = False,
    ) -> Response | None:
        """Send ``request`` in a client transaction, after the profile's delay (unless
        ``delayed`` already); its final response, or None when none came (or the path could
        not be opened)."""
        if not delayed:
            await self.delay(request.method)
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

    async def delay(self, method: str) -> None:
        """Wait as long as the profile holds requests of ``method`` back."""
        seconds = self.behaviour.delay_for(method)
        if seconds:
            await asyncio.sleep(seconds)

    def send_stateless(self, message: Message, destination: Peer, transport: TransportName) -> None:
        """Send outside any transaction (over TCP once the connection is open)."""
        if transport == "TCP":
            self.spawn(self._send_stateless_tcp(message, destination))
            return
        self.transport.send_stateless(message, destination)

    async def _send_stateless_tcp(self, message: Message, destination: Peer) -> None:
        try:
            await self.transport.connect(destination)
        except OSError as error:
            log.info("proxy: cannot reach %s:%s over TCP: %s", *destination, error)
            return
        self.transport.send_stateless(message, destination)

    def cancel_branches(self, inbound: Inbound) -> None:
        """CANCEL every client transaction still forwarding ``inbound``."""
        for client, destination, transport in list(inbound.branches):
            _, cancelled = self.transport.start_request(
                make_cancel(client.request), destination, transport=transport
            )
            cancelled.add_done_callback(_consume)

    async def route_onward(
        self, request: Request, transaction: ServerTransaction | None, route: URI | None
    ) -> None:
        """In-dialog requests (ACK, BYE, re-INVITE, in-dialog NOTIFY) follow Route or the URI."""
        reject = self.behaviour.notify_reject
        if reject is not None and reject.in_dialog and request.method == "NOTIFY" and transaction:
            self.respond(transaction, request, reject.status)
            return
        target = route or URI.parse(request.uri)
        destination = (target.host, target.port or 5060)
        transport = self.transport_to(destination)
        outgoing = self.prepare(request, transport=transport)
        if transaction is None:
            await self.delay(request.method)
            self.send_stateless(outgoing, destination, transport)
            return
        response = await self.send(
            outgoing,
            destination,
            transport,
            provisional=lambda r: self.relay_provisional(transaction, r),
        )
        self.relay_final(transaction, response)

    # -- responses upstream -------------------------------------------------------------------

    def relay_provisional(self, transaction: ServerTransaction, response: Response) -> None:
        """Pass a provisional response upstream, unless it is hop by hop or superseded."""
        if response.status == 100:
            return  # 100 Trying is hop by hop
        inbound = self.calls.get(id(transaction))
        if inbound is not None and (inbound.final_sent or self.behaviour.reliable_ringing):
            return  # with 100rel the caller hears the proxy's own reliable ringing
        self.send_response(transaction, _strip_top_via(response))

    def relay_final(
        self, transaction: ServerTransaction, response: Response | None, *, own: bool = False
    ) -> None:
        """Send the final response upstream: one received (its top Via, ours, removed), or
        one the proxy built itself (``own``), or for None a 408 (487 when cancelled)."""
        inbound = self.calls.get(id(transaction))
        if inbound is not None:
            if inbound.final_sent:
                return
            inbound.final_sent = True
        if response is None:
            self.send_response(transaction, _no_answer(transaction.request, inbound))
            return
        if not own:
            response = _strip_top_via(response)
        if (
            not own
            and transaction.request.method == "INVITE"
            and 200 <= response.status < 300
            and not self.behaviour.record_route
        ):
            # Without Record-Route the ACK bypasses the proxy, so the 2xx is passed on
            # statelessly rather than retransmitted until an ACK that never comes (RFC 6026).
            self.send_stateless(response, _via_destination(response), "UDP")
            return
        self.send_response(transaction, response)

    def pass_stray(self, response: Response) -> None:
        """Pass a retransmitted 2xx on statelessly by its Via (RFC 3261 §16.7)."""
        stripped = _strip_top_via(response)
        if stripped.header("Via") is None:
            return
        self.send_stateless(stripped, _via_destination(stripped), "UDP")

    # -- MWI and subscriptions ----------------------------------------------------------------

    async def notify(
        self, request: Request, transaction: ServerTransaction, contacts: Contacts
    ) -> None:
        """Relay a voicemail server's NOTIFY to the phones of the user it names."""
        if self._notify_gate is not None:
            refusal = self._notify_gate.refusal(request)
            if refusal is not None:
                self.send_response(transaction, refusal)
                return
        if self._notify_refused(request, transaction):
            return
        user = URI.parse(request.uri).user or ""
        targets = contacts(user)
        if not targets:
            self.respond(transaction, request, self.behaviour.notify_unregistered)
            return
        relays = [
            self.forward(request, (contact.host, contact.port or 5060), transaction, uri=contact)
            for contact in targets
        ]
        # One contact is awaited directly: its answer goes back without an extra loop turn.
        responses = [await relays[0]] if len(relays) == 1 else await asyncio.gather(*relays)
        self.relay_final(transaction, _best(responses))

    def _notify_refused(self, request: Request, transaction: ServerTransaction) -> bool:
        """Whether a broken proxy's profile refuses or swallows the NOTIFY (answered if so)."""
        reject = self.behaviour.notify_reject
        if reject is not None:
            self.respond(transaction, request, reject.status)
            return True
        drop = self.behaviour.notify_drop
        if drop is not None:
            if drop.answer == "ok":
                self.respond(transaction, request, 200)
            return True
        return False

    async def subscribe(self, request: Request, transaction: ServerTransaction) -> None:
        """Forward a SUBSCRIBE to the voicemail server, record-routed."""
        response = await self.forward(request, self.voicemail, transaction, record_route=True)
        self.relay_final(transaction, response)


def _no_answer(request: Request, inbound: Inbound | None) -> Response:
    """The proxy's own final response when none came: 487 once cancelled, else 408."""
    if inbound is not None and inbound.cancelled:
        return make_response(request, 487, "Request Terminated", to_tag=inbound.to_tag)
    to_tag = inbound.to_tag if inbound is not None else None
    return make_response(request, 408, "Request Timeout", to_tag=to_tag)


def _best(responses: Iterable[Response | None]) -> Response | None:
    """The response a forking proxy passes back (RFC 3261 §16.7): a 2xx, else the lowest."""
    answered = [response for response in responses if response is not None]
    if not answered:
        return None
    return min(answered, key=lambda response: (response.status >= 300, response.status))


def _via_destination(response: Response) -> Peer:
    """Where a response goes: its top Via's received/rport, else its sent-by (§18.2.2)."""
    via = Via.parse(response.header("Via") or "")
    port = via.param("rport")
    host = via.param("received") or via.host
    return host, int(port) if port else (via.port or 5060)


def _strip_top_via(response: Response) -> Response:
    """``response`` without its top Via (the proxy's own, on the way back)."""
    values = response.header_values("Via")[1:]
    headers = [header for header in response.headers if header.key != "via"]
    position = next((i for i, h in enumerate(response.headers) if h.key == "via"), 0)
    vias = tuple(Header("Via", value) for value in values)
    return dataclasses.replace(
        response, headers=(*headers[:position], *vias, *headers[position:]), raw=None
    )


def _consume(future: asyncio.Future[Response]) -> None:
    """Read a fire-and-forget transaction's outcome so a failure is not reported as unhandled."""
    if not future.cancelled():
        future.exception()
