"""The simulated proxy as a back-to-back user agent towards the voicemail server (``b2bua``).

A redirected call becomes a new call of the proxy's own: a new Call-ID, new tags, the proxy's
Via and Contact on the voicemail leg. Responses, ACK, BYE and every other in-dialog request are
mapped between the two dialogs, both ways; with ``session-timer`` the voicemail leg is refreshed
by re-INVITEs (RFC 4028).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from harness.sim.inbound import Inbound
from harness.sim.profiles import SessionTimer
from harness.sim.relay import Relay
from harness.sip.address import Address
from harness.sip.builder import make_response, new_request, without_tag
from harness.sip.dialog import TARGET_REFRESH_METHODS, Dialog, DialogError
from harness.sip.errors import SIPParseError
from harness.sip.message import Message, Request, Response
from harness.sip.transaction import ServerTransaction
from harness.sip.transport import TransportName

log = logging.getLogger(__name__)

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


class B2bua:
    """The calls the proxy bridges, by the Call-ID of either leg."""

    def __init__(self, relay: Relay) -> None:
        self._relay = relay
        self._bridges: dict[str, tuple[_Bridge, _Leg]] = {}

    def bridges(self, call_id: str) -> bool:
        """Whether ``call_id`` is one leg of a bridged call."""
        return call_id in self._bridges

    async def bridge(self, inbound: Inbound, forwarded: Request) -> None:
        """Place the call to the voicemail server as a new call of the proxy's own."""
        relay = self._relay
        request = inbound.request
        transport = relay.transport_to(relay.voicemail)
        session = relay.behaviour.session_timer
        invite = self._invite(request, forwarded, transport, session)

        def provisional(response: Response) -> None:
            if response.status == 100 or relay.behaviour.reliable_ringing:
                return
            if inbound.final_sent:
                return
            relay.send_response(inbound.transaction, self._mapped(request, response, inbound))

        response = await relay.send(
            invite, relay.voicemail, transport, provisional=provisional, inbound=inbound
        )
        if response is None or response.status >= 300:
            mapped = None if response is None else self._mapped(request, response, inbound)
            relay.relay_final(inbound.transaction, mapped, own=True)
            return
        b_dialog = Dialog.from_uac(invite, response)
        if inbound.final_sent:
            # The caller gave up as the voicemail server answered: end the orphan at once.
            relay.send_stateless(b_dialog.create_ack(), b_dialog.next_hop(), transport)
            bye = b_dialog.create_request("BYE")
            relay.spawn(relay.send(bye, b_dialog.next_hop(), transport))
            return
        answer = self._mapped(request, response, inbound)
        a_dialog = Dialog.from_uas(request, answer, local=relay.address)
        bridge = _Bridge(_Leg(a_dialog), _Leg(b_dialog, transport), offer=request.body)
        bridge.a.acks[request.cseq[0]] = invite.cseq[0]
        self._bridges[request.call_id] = (bridge, bridge.a)
        self._bridges[invite.call_id] = (bridge, bridge.b)
        relay.relay_final(inbound.transaction, answer, own=True)
        if session is not None:
            bridge.refresher = relay.spawn(self._refresh(bridge, session))

    def _invite(
        self,
        request: Request,
        forwarded: Request,
        transport: TransportName,
        session: SessionTimer | None,
    ) -> Request:
        """The INVITE of the voicemail leg for the caller's ``request``, as ``forwarded``."""
        headers = self._end_to_end(forwarded)
        if session is not None:
            headers = _with_supported(headers, "timer")
            headers.append(("Session-Expires", f"{session.expires};refresher=uac"))
        sender = without_tag(Address.parse(request.header("From") or ""))
        return new_request(
            "INVITE",
            forwarded.uri,
            from_address=sender,
            to_address=without_tag(Address.parse(forwarded.header("To") or "")),
            local=self._relay.address,
            transport=transport,
            contact=Address(self._relay.transport.contact()),
            headers=headers,
            body=request.body,
            content_type=request.header("Content-Type")
            or ("application/sdp" if request.body else None),
        )

    def _mapped(self, request: Request, response: Response, inbound: Inbound | None) -> Response:
        """``response`` from one leg as the answer to ``request`` on the other."""
        contact = None
        if response.has("Contact") and request.method in TARGET_REFRESH_METHODS:
            contact = Address(self._relay.transport.contact())
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
        strips = self._relay.behaviour.strips
        return [
            (header.name, header.value)
            for header in message.headers
            if header.key not in _LEG_HEADERS and not strips(header.name)
        ]

    async def in_dialog(self, request: Request, transaction: ServerTransaction | None) -> None:
        """An in-dialog request on one leg of a bridged call, re-sent on the other."""
        bridge, leg = self._bridges[request.call_id]
        if transaction is None:
            self._ack(request, bridge, leg)
            return
        relay = self._relay
        try:
            in_order = leg.dialog.receive_request(request)
        except DialogError:
            relay.respond(transaction, request, 481, "Call/Transaction Does Not Exist")
            return
        if not in_order:
            relay.respond(transaction, request, 500, "Server Internal Error (CSeq out of order)")
            return
        other = bridge.other(leg)
        number, method = request.cseq
        if method == "INVITE" and leg is bridge.a and request.body:
            bridge.offer = request.body
        async with other.lock:
            onward = other.dialog.create_request(
                method,
                headers=self._end_to_end(request),
                body=request.body,
                content_type=request.header("Content-Type"),
            )
            response = await relay.send(onward, other.dialog.next_hop(), other.transport)
        if method == "BYE":
            self._unbridge(bridge)
        if response is None:
            relay.relay_final(transaction, None)
            return
        if 200 <= response.status < 300:
            other.dialog.receive_response(response)
            if method == "INVITE":
                leg.acks[number] = onward.cseq[0]
        relay.send_response(transaction, self._mapped(request, response, None))

    def _ack(self, request: Request, bridge: _Bridge, leg: _Leg) -> None:
        """An ACK on one leg: the ACK of the 2xx it maps to on the other."""
        number = request.cseq[0]
        if request.method != "ACK" or number not in leg.acks:
            return
        other = bridge.other(leg)
        ack = other.dialog.create_ack(leg.acks.pop(number))
        other.sent_acks[ack.cseq[0]] = ack
        self._relay.send_stateless(ack, other.dialog.next_hop(), other.transport)

    async def _refresh(self, bridge: _Bridge, session: SessionTimer) -> None:
        """Session-timer refreshes (RFC 4028) of the voicemail leg, for as long as it lasts."""
        relay = self._relay
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
                response = await relay.send(invite, leg.dialog.next_hop(), leg.transport)
            if response is None or response.status >= 300:
                log.info("proxy: session refresh got %s", response and response.status)
                if response is None or response.status in (404, 408, 410, 481):
                    return
                continue
            leg.dialog.receive_response(response)
            ack = leg.dialog.create_ack(invite.cseq[0])
            leg.sent_acks[invite.cseq[0]] = ack
            relay.send_stateless(ack, leg.dialog.next_hop(), leg.transport)

    def _unbridge(self, bridge: _Bridge) -> None:
        for leg in (bridge.a, bridge.b):
            self._bridges.pop(leg.dialog.call_id, None)
        if bridge.refresher is not None:
            bridge.refresher.cancel()

    def resend_ack(self, response: Response) -> bool:
        """For a retransmitted 2xx on a bridged leg, re-send its ACK; whether it was one."""
        bridged = self._bridges.get(response.call_id)
        if bridged is None:
            return False
        _, leg = bridged
        with contextlib.suppress(SIPParseError):
            ack = leg.sent_acks.get(response.cseq[0])
            if ack is not None:
                self._relay.send_stateless(ack, leg.dialog.next_hop(), leg.transport)
        return True


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
