"""The registrar of the simulated proxy: who is registered where (RFC 3261 §10).

Phones register here; a REGISTER may have to answer a digest challenge first, and may be copied
to the voicemail server as a third-party registration (Kamailio's ``uac_reg`` idea), so the
server resends MWI to a phone that comes back.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.sim.digest import DigestGate
from harness.sim.relay import Relay
from harness.sip.address import Address
from harness.sip.builder import make_response, new_request
from harness.sip.message import Request, Response
from harness.sip.transaction import ServerTransaction
from harness.sip.uri import URI


@dataclass(frozen=True, slots=True)
class Binding:
    """A registered contact of one user."""

    contact: URI
    expires_at: float


class Registrar:
    """Each user's registered contacts, kept from REGISTER requests."""

    def __init__(self, relay: Relay) -> None:
        self._relay = relay
        behaviour = relay.behaviour
        challenge = behaviour.register_challenge
        self._gate = None if challenge is None else DigestGate(challenge)
        #: Each user's registered contacts, the most recent last.
        self.bindings: dict[str, tuple[Binding, ...]] = {}

    async def register(self, request: Request, transaction: ServerTransaction) -> None:
        """Answer a REGISTER, updating the bindings of the user in its To."""
        if self._gate is not None:
            refusal = self._gate.refusal(request)
            if refusal is not None:
                self._relay.send_response(transaction, refusal)
                return
        user = Address.parse(request.header("To") or "").uri.user
        if not user:
            self._relay.respond(transaction, request, 400, "Bad Request (To without a user)")
            return
        kept, response = self._update(request, list(self.bindings.get(user, ())))
        if kept:
            self.bindings[user] = tuple(kept)
        else:
            self.bindings.pop(user, None)
        self._relay.send_response(transaction, response)
        if self._relay.behaviour.replicate_register and kept:
            await self._replicate(user, kept[-1])

    def _update(self, request: Request, kept: list[Binding]) -> tuple[list[Binding], Response]:
        """The bindings after ``request``'s Contacts, and the 200 listing those it added."""
        expires_header = request.header("Expires")
        response = make_response(request, 200, "OK")
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
            kept.append(Binding(contact.uri, self._relay.loop_time() + seconds))
            response = response.with_header(
                "Contact", str(Address(contact.uri).with_params(expires=str(seconds)))
            )
        return kept, response

    async def _replicate(self, user: str, binding: Binding) -> None:
        """Third-party REGISTER of ``user`` at the voicemail server."""
        relay = self._relay
        voicemail = relay.voicemail
        transport = relay.transport_to(voicemail)
        host, port = relay.address
        aor = Address(URI(scheme="sip", user=user, host=host, port=port))
        remaining = max(1, int(binding.expires_at - relay.loop_time()))
        request = new_request(
            "REGISTER",
            URI(scheme="sip", host=voicemail[0], port=voicemail[1]),
            from_address=aor,
            to_address=aor,
            local=relay.address,
            transport=transport,
            contact=Address(binding.contact),
            headers=[("Expires", str(remaining))],
        )
        await relay.send(request, voicemail, transport)

    def lookup(self, user: str) -> list[Binding]:
        """The contacts a request for ``user`` goes to: every live one when forking, else the
        most recent."""
        now = self._relay.loop_time()
        live = [binding for binding in self.bindings.get(user, ()) if binding.expires_at >= now]
        if live:
            self.bindings[user] = tuple(live)
        else:
            self.bindings.pop(user, None)
        return live if self._relay.behaviour.fork else live[-1:]

    def contacts(self, user: str) -> list[URI]:
        """The contact URIs a request for ``user`` goes to (see :meth:`lookup`)."""
        return [binding.contact for binding in self.lookup(user)]
