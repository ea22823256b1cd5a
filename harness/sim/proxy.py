"""A simulated SIP proxy: registrar, call forwarding to voicemail, and MWI relay.

It behaves like the proxy of the standalone-voicemail design: phones register here; a call to a
registered user rings the phone, and when the phone is busy, does not answer in time or is not
registered, the call goes to the voicemail server with the profile's header convention; a NOTIFY
from the voicemail server is relayed to the phone registered for its Request-URI user (404 when
none). It is a transaction-stateful proxy (RFC 3261 §16) that record-routes, so ACK and BYE
pass through it as they would through Kamailio.

The profile (:mod:`harness.sim.profiles`) is resolved once into a
:class:`~harness.sim.behaviour.ProxyBehaviour`, which changes that behaviour the way real
proxies do: how headers are written, what is forwarded, over which transport, with what delay
or loss, and whether the proxy stands in the call as a B2BUA towards the voicemail server.
:class:`SimProxy` routes calls and composes the parts that do the rest: the
:class:`~harness.sim.registrar.Registrar`, the :class:`~harness.sim.relay.Relay` (forwarding and
NOTIFY relay), the :class:`~harness.sim.b2bua.B2bua` and the
:class:`~harness.sim.reliable.ReliableProvisionals`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from dataclasses import dataclass

from harness.core.mailbox import MailboxId
from harness.core.routing import CONVENTIONS, Reason, Redirect
from harness.sim.b2bua import B2bua
from harness.sim.behaviour import ProxyBehaviour
from harness.sim.inbound import Inbound
from harness.sim.loss import LossyLink
from harness.sim.profiles import ProxyProfile
from harness.sim.registrar import Binding, Registrar
from harness.sim.relay import Relay
from harness.sim.reliable import ReliableProvisionals, stop
from harness.sip.address import Address
from harness.sip.message import Request, Response
from harness.sip.transaction import Peer, ServerTransaction
from harness.sip.transport import SipTransport
from harness.sip.uri import URI

_BUSY = {486, 600}
#: How long the phones' 487s may take once their ringing is cancelled.
_CANCEL_GRACE = 32.0


@dataclass(frozen=True, slots=True)
class _Ringing:
    """How ringing a user's phones ended."""

    answered: Response | None
    busy: bool
    timed_out: bool


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
        self.profile = profile or ProxyProfile()
        #: What the profile makes the proxy do.
        self.behaviour = ProxyBehaviour.of(self.profile)
        drop = self.behaviour.drop_first
        self.transport = SipTransport(
            host=host,
            port=port,
            party="proxy",
            style=self.behaviour.wire,
            hook=None if drop is None else LossyLink(drop),
        )
        self.transport.handler = self._on_request
        self.transport.stray_handler = self._on_stray_response
        self.relay = Relay(self.transport, self.behaviour, voicemail)
        self.registrar = Registrar(self.relay)
        self.b2bua = B2bua(self.relay)
        self.reliable = ReliableProvisionals(self.relay)
        #: Which mailbox each user's calls go to; users not listed use ``user@default``.
        self.mailboxes = dict(mailboxes or {})
        #: Users whose calls go straight to voicemail (call forward unconditional).
        self.forward_unconditional: set[str] = set(self.profile.forward_unconditional)

    @property
    def voicemail(self) -> Peer:
        """The voicemail server calls are redirected to (set it once the server is up)."""
        return self.relay.voicemail

    @voicemail.setter
    def voicemail(self, address: Peer) -> None:
        self.relay.voicemail = address

    @property
    def bindings(self) -> dict[str, tuple[Binding, ...]]:
        """Each user's registered contacts, the most recent last."""
        return self.registrar.bindings

    @bindings.setter
    def bindings(self, bindings: dict[str, tuple[Binding, ...]]) -> None:
        self.registrar.bindings = bindings

    async def start(self) -> None:
        """Bind the proxy's socket."""
        await self.transport.start()

    async def close(self) -> None:
        """Stop refreshing sessions and close the socket."""
        self.relay.cancel_tasks()
        for inbound in self.relay.calls.values():
            stop(inbound)
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

    # -- dispatch ------------------------------------------------------------------------------

    async def _on_request(
        self, request: Request, transaction: ServerTransaction | None, source: Peer
    ) -> None:
        relay = self.relay
        route = relay.next_route(request)
        if route is not None or not relay.is_ours(request):
            await relay.route_onward(request, transaction, route)
            return
        if request.method == "PRACK" and transaction is not None:
            self.reliable.prack(request, transaction)
            return
        if self.b2bua.bridges(request.call_id) and request.method != "CANCEL":
            await self.b2bua.in_dialog(request, transaction)
            return
        if transaction is None:
            return  # an ACK addressed to us: nothing to do
        method = request.method
        if method == "REGISTER":
            await self.registrar.register(request, transaction)
        elif method == "INVITE":
            await self._invite(request, transaction)
        elif method == "NOTIFY":
            await relay.notify(request, transaction, self.registrar.contacts)
        elif method == "SUBSCRIBE":
            await relay.subscribe(request, transaction)
        elif method == "OPTIONS":
            relay.respond(transaction, request, 200, "OK")
        elif method == "CANCEL":
            self._cancel(request, transaction)
        else:
            relay.respond(transaction, request, 405, "Method Not Allowed")

    def _on_stray_response(self, response: Response, source: Peer) -> None:
        """A retransmitted 2xx to INVITE: re-send a bridged call's ACK, or pass it on
        statelessly by its Via (RFC 3261 §16.7)."""
        if not self.b2bua.resend_ack(response):
            self.relay.pass_stray(response)

    # -- calls ---------------------------------------------------------------------------------

    async def _invite(self, request: Request, transaction: ServerTransaction) -> None:
        inbound = Inbound(request, transaction)
        self.relay.calls[id(transaction)] = inbound
        try:
            self.relay.respond(transaction, request, 100, "Trying")
            if self.behaviour.reliable_ringing:
                self.reliable.send(inbound, 180)
            await self._route_call(inbound)
        finally:
            stop(inbound)
            self.relay.calls.pop(id(transaction), None)

    async def _route_call(self, inbound: Inbound) -> None:
        request = inbound.request
        user = URI.parse(request.uri).user or ""
        if user in self.behaviour.retrieval_users:
            await self._to_voicemail_menu(inbound, user)
            return
        bindings = self.registrar.lookup(user)
        reason = Reason.UNAVAILABLE
        if user in self.forward_unconditional:
            reason = Reason.UNCONDITIONAL
        elif bindings:
            outcome = await self._ring(inbound, bindings)
            if outcome is None:
                return  # answered (or the caller gave up): the final response is relayed
            reason = outcome
        redirect = Redirect(self.mailbox_of(user), reason, self.domain)
        forwarded = self._apply_convention(request, redirect)
        pilot = self.behaviour.pilot_user
        if pilot is not None:
            forwarded = _retarget(forwarded, URI.parse(forwarded.uri).with_user(pilot))
        await self._to_voicemail(inbound, forwarded)

    def _apply_convention(self, request: Request, redirect: Redirect) -> Request:
        return CONVENTIONS[self.behaviour.convention].apply(request, redirect, self._vm_uri())

    def _vm_uri(self) -> URI:
        host, port = self.voicemail
        return URI(scheme="sip", host=host, port=port)

    async def _to_voicemail_menu(self, inbound: Inbound, user: str) -> None:
        """A phone dialled the voicemail number: send it to the menu, naming its own mailbox."""
        request = inbound.request
        caller = Address.parse(request.header("From") or "").uri.user or ""
        forwarded = request
        if caller and caller in self.mailboxes:
            redirect = Redirect(self.mailbox_of(caller), Reason.UNKNOWN, self.domain)
            forwarded = self._apply_convention(request, redirect)
        menu = URI.parse(forwarded.uri).with_user(user) if forwarded is not request else None
        target = menu or self._vm_uri().with_user(user)
        await self._to_voicemail(inbound, _retarget(forwarded, target))

    async def _to_voicemail(self, inbound: Inbound, forwarded: Request) -> None:
        """Send the call to the voicemail server, proxied or bridged, and relay the outcome."""
        relay = self.relay
        if inbound.cancelled:
            relay.relay_final(inbound.transaction, None)
            return
        if self.behaviour.b2bua:
            await self.b2bua.bridge(inbound, forwarded)
            return
        response = await relay.forward(
            forwarded, relay.voicemail, inbound.transaction, record_route=True
        )
        relay.relay_final(inbound.transaction, response)

    async def _ring(self, inbound: Inbound, bindings: list[Binding]) -> Reason | None:
        """Ring every contact in ``bindings`` at once; the redirect reason if none takes the
        call, None when one answered or the caller gave up (its final response relayed)."""
        # The phones ring once the (delayed) INVITE reaches them: the time to answer starts then.
        await self.relay.delay("INVITE")
        tasks = {
            asyncio.ensure_future(self._ring_one(inbound, binding.contact)) for binding in bindings
        }
        ringing = await self._wait_for_answer(inbound, tasks)
        if ringing.answered is not None:
            self.relay.relay_final(inbound.transaction, ringing.answered)
            return None
        if inbound.cancelled:
            self.relay.relay_final(inbound.transaction, None)
            return None
        if ringing.busy:
            return Reason.USER_BUSY
        return Reason.NO_ANSWER if ringing.timed_out else Reason.UNAVAILABLE

    async def _ring_one(self, inbound: Inbound, contact: URI) -> Response | None:
        return await self.relay.forward(
            inbound.request,
            (contact.host, contact.port or 5060),
            inbound.transaction,
            uri=contact,
            record_route=True,
            delayed=True,
        )

    async def _wait_for_answer(
        self, inbound: Inbound, tasks: set[asyncio.Task[Response | None]]
    ) -> _Ringing:
        """Wait for the first phone to answer, all to refuse, or the no-answer timeout; the
        phones still ringing then are cancelled."""
        relay = self.relay
        deadline = relay.loop_time() + self.behaviour.no_answer_timeout
        answered: Response | None = None
        busy = False
        pending = tasks
        while pending and answered is None:
            remaining = deadline - relay.loop_time()
            if remaining <= 0:
                break
            done, pending = await asyncio.wait(
                pending, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            for response in (task.result() for task in done):
                if response is None:
                    continue
                if response.status < 300 and answered is None:
                    answered = response
                busy = busy or response.status in _BUSY
        timed_out = bool(pending) and answered is None
        if pending:
            relay.cancel_branches(inbound)
            if answered is None:
                # The phones' 487s come before the call moves on, as Kamailio's would.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*pending), _CANCEL_GRACE)
            else:
                for task in pending:
                    relay.keep(task)
        return _Ringing(answered, busy, timed_out)

    def _cancel(self, request: Request, transaction: ServerTransaction) -> None:
        relay = self.relay
        relay.respond(transaction, request, 200, "OK")
        target = self.transport.layer.cancel_target(request)
        inbound = None if target is None else relay.calls.get(id(target))
        if inbound is None or inbound.final_sent:
            return
        inbound.cancelled = True
        if inbound.branches:
            relay.cancel_branches(inbound)  # their 487 is relayed
        else:
            relay.relay_final(inbound.transaction, None)


def _retarget(request: Request, uri: URI) -> Request:
    return dataclasses.replace(request, uri=str(uri), raw=None)
