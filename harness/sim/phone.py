"""A simulated SIP phone: registers at the proxy, places and takes calls, watches its MWI lamp.

Besides the unsolicited NOTIFYs a proxy relays, the phone can SUBSCRIBE to its mailbox
(``message-summary``, RFC 6665) through the proxy: :meth:`Phone.subscribe` returns a
:class:`Subscription` that refreshes and ends the subscription in its dialog and records the
``Subscription-State`` of every NOTIFY received in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from harness.core.mwi import CONTENT_TYPE, EVENT, Lamp, LampCheck, LampExpectation, MwiError
from harness.media import g711
from harness.media.dtmf import dtmf_tone, format_dtmf_relay
from harness.media.hearing import Hearing
from harness.media.recognition import installed_index
from harness.media.session import RtpSession
from harness.media.signal import RATE
from harness.sip import sdp
from harness.sip.address import Address
from harness.sip.auth import AuthError, Challenge, with_credentials
from harness.sip.builder import make_response, new_request, new_tag
from harness.sip.dialog import Dialog, DialogError
from harness.sip.errors import SIPParseError
from harness.sip.message import Request, Response
from harness.sip.transaction import Peer, ServerTransaction
from harness.sip.transport import SipTransport
from harness.sip.uri import URI

log = logging.getLogger(__name__)

#: What the phone does with an incoming call.
AnswerMode = Literal["busy", "no-answer", "unavailable"]
#: How the phone sends keys.
DtmfMode = Literal["rfc2833", "info", "inband"]
#: Mean absolute sample level under which received audio counts as silence.
_QUIET_LEVEL = 100
#: Seconds a silence must still hold after a look at the packets that queued up meanwhile.
_SETTLE = 0.05
#: Seconds of quiet after which a menu of recorded prompts is taken to wait for a key: longer
#: than the silence between two words (Asterisk's sound files lead and trail with up to a
#: third of a second each: "six" then "fifty" in a message's time are 0.55 s apart).
MENU_QUIET = 0.8
#: Silence between two inband key tones (80 ms).
_KEY_GAP = 640
#: Seconds a registration lasts unless told otherwise: short, so that a binding a run could not
#: remove (the phone's process killed) is gone from the proxy soon after.
DEFAULT_EXPIRES = 120
#: Seconds the phone waits for the answer to the REGISTER that removes its binding on close.
_UNREGISTER_TIMEOUT = 2.0


class CallFailed(Exception):
    """A call ended with a final response other than 2xx."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"{response.status} {response.reason}")
        self.response = response


@dataclass(frozen=True, slots=True)
class ReceivedNotify:
    """A NOTIFY as the phone received it.

    ``foreign`` is True for an out-of-dialog NOTIFY whose Request-URI or To names another user:
    it was meant for someone else's phone and did not touch this phone's lamp.
    """

    request: Request
    at: float
    status: int
    foreign: bool = False

    @property
    def addressee(self) -> str:
        """The user the NOTIFY was meant for: its To user, else its Request-URI user."""
        return _to_user(self.request) or _uri_user(self.request) or "?"

    @property
    def subscription_state(self) -> str | None:
        """The NOTIFY's Subscription-State (None for chan_sip's unsolicited ones)."""
        return self.request.header("Subscription-State")


class Subscription:
    """A ``message-summary`` subscription of a phone, seen from the subscriber's side.

    ``response`` is the final response to the latest SUBSCRIBE sent in it; ``dialog`` is None
    when the first SUBSCRIBE was refused. ``notifies`` holds the NOTIFYs received in the
    subscription's dialog, answered or refused, in arrival order.
    """

    def __init__(self, phone: Phone, request: Request, expires: int) -> None:
        self.phone = phone
        self.request = request
        self.expires = expires
        self.response: Response | None = None
        self.dialog: Dialog | None = None
        self.notifies: list[ReceivedNotify] = []
        #: False once the phone forgot the subscription: its NOTIFYs are then answered 481.
        self.known = True
        self._arrived = asyncio.Condition()

    @property
    def key(self) -> tuple[str, str]:
        """(Call-ID, the phone's tag): what NOTIFYs of this subscription carry."""
        sender = self.request.address("From")
        return self.request.call_id, "" if sender is None or sender.tag is None else sender.tag

    @property
    def states(self) -> list[str]:
        """The Subscription-State of each NOTIFY received, in order ('' when absent)."""
        return [notify.subscription_state or "" for notify in self.notifies]

    @property
    def state(self) -> str | None:
        """The latest Subscription-State, or None before the first NOTIFY."""
        return self.states[-1] if self.notifies else None

    @property
    def terminated(self) -> bool:
        """Whether a NOTIFY said the subscription is over."""
        return self.state is not None and _state_name(self.state) == "terminated"

    async def refresh(self, expires: int | None = None) -> Response:
        """Send a re-SUBSCRIBE in the dialog asking for ``expires`` (default: the first ask)."""
        if self.dialog is None:
            refused = "no response" if self.response is None else self.response.status
            raise RuntimeError(f"subscription {self.key} has no dialog (SUBSCRIBE got {refused})")
        wanted = self.expires if expires is None else expires
        request = self.dialog.create_request("SUBSCRIBE", headers=_subscribe_headers(wanted))
        response = await self.phone.transport.request(request, self.dialog.next_hop())
        self.response = response
        if 200 <= response.status < 300:
            self.dialog.receive_response(response)
        return response

    async def unsubscribe(self) -> Response:
        """End the subscription: a re-SUBSCRIBE with ``Expires: 0``."""
        return await self.refresh(0)

    def forget(self) -> None:
        """Lose the subscription as a rebooted phone does: its NOTIFYs get 481 from now on."""
        self.known = False

    async def wait_notify(self, index: int, timeout: float = 5.0) -> ReceivedNotify | None:
        """The ``index``-th NOTIFY of the subscription (0 is the first), waiting up to
        ``timeout`` seconds for it; None when it did not come in time."""
        async with self._arrived:
            try:
                await asyncio.wait_for(
                    self._arrived.wait_for(lambda: len(self.notifies) > index), timeout
                )
            except TimeoutError:
                return None
        return self.notifies[index]

    async def _received(self, notify: ReceivedNotify) -> None:
        self.notifies.append(notify)
        async with self._arrived:
            self._arrived.notify_all()


class Call:
    """An established call placed by a phone: media both ways, then hang up."""

    def __init__(
        self,
        phone: Phone,
        dialog: Dialog,
        rtp: RtpSession,
        negotiated: sdp.Negotiated,
        response: Response,
    ) -> None:
        self.phone = phone
        self.dialog = dialog
        self.rtp = rtp
        self.negotiated = negotiated
        self.response = response
        self.ended = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        # When audio above the silence level last arrived, and whether any has since the mark;
        # when any packet last arrived, and how many quiet samples came after the loud audio.
        self._loud_at = self._loop.time()
        self._heard_since_mark = False
        self._packet_at = self._loud_at
        self._quiet_samples = 0
        # Recorded prompts are recognised when sound files are installed to learn them from.
        self._hearing = Hearing(installed_index())
        rtp.on_packet = self._packet

    def _packet(self, payload_type: int, payload: bytes) -> None:
        if payload_type != self.negotiated.payload_type:
            return
        level = np.abs(g711.decode(payload, self.negotiated.codec).astype(np.int32))
        self._packet_at = self._loop.time()
        if level.size and level.mean() > _QUIET_LEVEL:
            self._loud_at = self._packet_at
            self._heard_since_mark = True
            self._quiet_samples = 0
        else:
            self._quiet_samples += level.size

    def heard_prompts(self) -> list[str]:
        """The prompts heard so far: generated ones, recorded ones and the beep."""
        return self._hearing.prompts(self.heard(), final=self.ended.is_set())

    async def wait_for_prompt(self, name: str, timeout: float = 15.0) -> bool:
        """Wait until prompt ``name`` has been heard; False when ``timeout`` passed first."""
        deadline = self._loop.time() + timeout
        while self._loop.time() < deadline and not self.ended.is_set():
            if name in self.heard_prompts():
                return True
            await asyncio.sleep(0.05)
        return name in self.heard_prompts()

    async def wait_quiet(self, quiet: float = 0.4, timeout: float = 15.0) -> bool:
        """Wait until the far end spoke and then fell silent for ``quiet`` seconds.

        That is when a voicemail menu waits for a key. False when ``timeout`` passed first.
        """
        deadline = self._loop.time() + timeout
        while self._loop.time() < deadline and not self.ended.is_set():
            if self._seems_quiet(quiet):
                # A stall of this process looks like silence until the packets that queued
                # up during it are read: look again once they have been.
                loud_at = self._loud_at
                await asyncio.sleep(_SETTLE)
                if self._loud_at == loud_at and self._seems_quiet(quiet):
                    self._heard_since_mark = False
                    return True
                continue
            await asyncio.sleep(0.05)
        self._heard_since_mark = False
        return False

    def _seems_quiet(self, quiet: float) -> bool:
        """Whether the far end spoke since the mark and has not for ``quiet`` seconds: by the
        silence it sent when it goes on streaming, by the clock when it stopped sending (a late
        stream's gap in wall time alone is not silence)."""
        now = self._loop.time()
        if not self._heard_since_mark or now - self._loud_at < quiet:
            return False
        streamed = self._quiet_samples >= quiet * RATE
        return streamed or now - self._packet_at >= quiet

    async def play(self, pcm: npt.NDArray[np.int16]) -> None:
        """Send 8 kHz audio in the negotiated codec, paced in real time."""
        await self.rtp.send_audio(pcm, self.negotiated.codec, self.negotiated.payload_type)

    async def send_dtmf(self, digits: str, mode: DtmfMode = "rfc2833") -> None:
        """Press keys: RFC 4733 events, SIP INFO (``application/dtmf-relay``) or inband tones."""
        self._heard_since_mark = False
        if mode == "info":
            for digit in digits:
                info = self.dialog.create_request(
                    "INFO",
                    body=format_dtmf_relay(digit).encode(),
                    content_type="application/dtmf-relay",
                )
                await self.phone.transport.request(info, self.dialog.next_hop())
            return
        if mode == "inband":
            gap = np.zeros(_KEY_GAP, dtype=np.int16)
            tones = [np.concatenate((dtmf_tone(digit), gap)) for digit in digits]
            await self.play(np.concatenate(tones))
            return
        if self.negotiated.telephone_event_pt is None:
            raise RuntimeError("telephone-event was not negotiated for this call")
        await self.rtp.send_dtmf(digits, self.negotiated.telephone_event_pt)

    async def reinvite(self) -> Response:
        """Offer the same media again in the dialog (as a session-timer refresh does)."""
        host, port = self.rtp.local_address
        offer = sdp.make_offer(host, port, (self.negotiated.codec,))
        invite = self.dialog.create_request(
            "INVITE", body=bytes(offer), content_type="application/sdp"
        )
        response = await self.phone.transport.request(invite, self.dialog.next_hop())
        if response.status < 300:
            self.dialog.receive_response(response)
            number, _ = invite.cseq
            self.phone.transport.send_stateless(
                self.dialog.create_ack(number), self.dialog.next_hop()
            )
        return response

    def heard(self) -> npt.NDArray[np.int16]:
        """What the far end sent so far, decoded."""
        return self.rtp.received_audio(self.negotiated.codec, self.negotiated.payload_type)

    async def hangup(self) -> Response | None:
        """Send BYE (unless the far end already hung up) and release the media."""
        response = None
        if not self.ended.is_set():
            bye = self.dialog.create_request("BYE")
            response = await self.phone.transport.request(bye, self.dialog.next_hop())
            self.ended.set()
        self.rtp.close()
        self.phone.calls.pop(self.dialog.call_id, None)
        return response


class Phone:
    """One SIP user agent registered at a proxy (or unregistered, as an outside caller)."""

    def __init__(
        self,
        user: str,
        proxy: Peer,
        *,
        host: str = "127.0.0.1",
        display: str | None = None,
        answer_mode: AnswerMode = "no-answer",
        password: str | None = None,
        clock_origin: float = 0.0,
    ) -> None:
        self.user = user
        self.proxy = proxy
        self.display = display
        self.answer_mode: AnswerMode = answer_mode
        #: What the phone answers a digest challenge of its REGISTER with (None: it cannot).
        self.password = password
        self.transport = SipTransport(host=host, party=f"phone {user}")
        self.transport.handler = self._on_request
        self.transport.stray_handler = self._on_stray_response
        #: Lamp verdicts count time from ``clock_origin`` (the loop time a scenario began).
        self.lamp = Lamp(clock_origin)
        self.notifies: list[ReceivedNotify] = []
        self.calls: dict[str, Call] = {}
        #: Live subscriptions by (Call-ID, the phone's tag).
        self.subscriptions: dict[tuple[str, str], Subscription] = {}
        self._lamp_changed = asyncio.Condition()
        self._ringing: dict[str, tuple[Request, ServerTransaction]] = {}
        self._pracks: set[asyncio.Future[Response]] = set()
        #: The phone's instance (RFC 5626 ``+sip.instance``): the registrar replaces this
        #: phone's earlier binding instead of adding one, even when its port changed.
        self.instance = f"urn:uuid:{uuid.uuid4()}"
        #: Whether the proxy holds a binding of this phone (its last REGISTER got a 200).
        self.registered = False
        #: When (loop time) the phone's binding was last made, while it has one.
        self.registered_at: float | None = None
        #: Seconds a registration asks for, unless a REGISTER names its own.
        self.expires = DEFAULT_EXPIRES
        # One Call-ID and rising CSeq for every REGISTER of the phone (RFC 3261 §10.2).
        self._register_call_id = uuid.uuid4().hex
        self._register_cseq = 0

    async def start(self) -> None:
        """Bind the phone's SIP socket."""
        await self.transport.start()

    async def close(self) -> None:
        """Hang up what is up, remove the phone's binding at the proxy if it has one (the
        proxy's location table is left as it was found) and close the socket."""
        for call in list(self.calls.values()):
            call.rtp.close()
        if self.registered:
            # A proxy that does not answer must not hold up the end of a run.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.register(0), _UNREGISTER_TIMEOUT)
        await self.transport.close()

    @property
    def domain(self) -> str:
        """The proxy's host:port, the domain of the phone's address of record."""
        return f"{self.proxy[0]}:{self.proxy[1]}"

    @property
    def aor(self) -> Address:
        """The address of record ``sip:user@proxy``."""
        uri = URI(scheme="sip", user=self.user, host=self.proxy[0], port=self.proxy[1])
        return Address(uri, display_name=self.display)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    # -- registration --------------------------------------------------------------------------

    async def register(self, expires: int | None = None) -> Response:
        """REGISTER the phone's contact at the proxy for ``expires`` seconds (default: the
        phone's :attr:`expires`; 0 removes the binding), answering a 401/407 challenge with the
        phone's password when it has one."""
        expires = self.expires if expires is None else expires
        contact = Address(
            self.transport.contact(self.user),
            params=(("+sip.instance", f"<{self.instance}>"), ("reg-id", "1")),
        )
        response = await self._send_register(contact, expires)
        if response.status == 200:
            self.registered = expires > 0
            self.registered_at = self._now() if expires > 0 else None
        return response

    async def clear_bindings(self) -> Response:
        """Remove every binding of the phone's user at the proxy, its own and stale ones left
        by others (``Contact: *`` with ``Expires: 0``, RFC 3261 §10.2.2)."""
        response = await self._send_register("*", 0)
        if response.status == 200:
            self.registered, self.registered_at = False, None
        return response

    async def _send_register(self, contact: Address | str, expires: int) -> Response:
        self._register_cseq += 1
        request = new_request(
            "REGISTER",
            URI(scheme="sip", host=self.proxy[0], port=self.proxy[1]),
            from_address=self.aor,
            to_address=self.aor,
            local=self.transport.local,
            contact=contact if isinstance(contact, Address) else None,
            call_id=self._register_call_id,
            cseq=self._register_cseq,
            headers=[("Expires", str(expires))],
        )
        if isinstance(contact, str):
            request = request.replace_header("Contact", contact)
        response = await self.transport.request(request, self.proxy)
        if response.status not in (401, 407) or self.password is None:
            return response
        self._register_cseq += 1
        try:
            challenge = Challenge.from_response(response)
        except AuthError as error:
            log.warning("phone %s: cannot answer the challenge: %s", self.user, error)
            return response
        # Same Call-ID, next CSeq, and a new branch: it is a new transaction (RFC 3261 §22.2).
        retry = with_credentials(request, challenge, self.user, self.password).replace_header(
            "Via", str(self.transport.via())
        )
        return await self.transport.request(retry, self.proxy)

    # -- MWI -----------------------------------------------------------------------------------

    async def wait_lamp(
        self, expect: LampExpectation, since: float, start: float | None = None
    ) -> LampCheck:
        """Wait until the lamp shows ``expect`` (met) or its window closes (failed).

        Summaries count from ``since``; the wait lasts ``expect.within`` from ``start``
        (default: ``since``).
        """
        async with self._lamp_changed:
            while True:
                check = self.lamp.check(expect, since, self._now(), start=start)
                if check.status != "pending":
                    return check
                remaining = check.deadline - self._now()
                try:
                    await asyncio.wait_for(self._lamp_changed.wait(), max(remaining, 0.0))
                except TimeoutError:
                    return self.lamp.check(expect, since, check.deadline + 1e-9, start=start)

    def notifies_since(self, since: float) -> list[ReceivedNotify]:
        """NOTIFYs received at or after ``since``."""
        return [notify for notify in self.notifies if notify.at >= since]

    def foreign_notifies(self, since: float) -> list[ReceivedNotify]:
        """NOTIFYs received at or after ``since`` that were meant for another user."""
        return [notify for notify in self.notifies_since(since) if notify.foreign]

    async def subscribe(self, expires: int = 3600, *, user: str | None = None) -> Subscription:
        """SUBSCRIBE to ``message-summary`` of ``user`` (default: the phone's own) through the
        proxy; the subscription, whose ``response`` says whether it was accepted."""
        target = URI(scheme="sip", user=user or self.user, host=self.proxy[0], port=self.proxy[1])
        request = new_request(
            "SUBSCRIBE",
            target,
            from_address=self.aor,
            to_address=Address(target),
            local=self.transport.local,
            contact=Address(self.transport.contact(self.user)),
            headers=_subscribe_headers(expires),
        )
        subscription = Subscription(self, request, expires)
        # Known before it is sent: the first NOTIFY may overtake the 200 (RFC 6665 §4.1.2.4).
        self.subscriptions[subscription.key] = subscription
        try:
            response = await self.transport.request(request, self.proxy)
        except BaseException:
            self.subscriptions.pop(subscription.key, None)
            raise
        subscription.response = response
        if 200 <= response.status < 300:
            subscription.dialog = Dialog.from_uac(request, response)
        else:
            self.subscriptions.pop(subscription.key, None)
        return subscription

    async def _notify(self, request: Request, transaction: ServerTransaction) -> None:
        event = (request.header("Event") or "").split(";")[0].strip().lower()
        if event != EVENT:
            self.transport.respond(transaction, make_response(request, 489, "Bad Event"))
            return
        now = self._now()
        subscription: Subscription | None = None
        status = 200
        if _tag(request, "To"):
            subscription, status = self._subscription_of(request)
        elif _uri_user(request) != self.user or _to_user(request) != self.user:
            # Someone else's lamp: taken as a phone takes what reaches it, but it lights
            # nothing here and the harness reports it.
            await self._foreign(ReceivedNotify(request, now, 200, foreign=True), transaction)
            return
        # In a subscription a NOTIFY may carry no body (a final one after a timeout, §4.2.2).
        if status == 200 and (request.body or subscription is None):
            try:
                self.lamp.receive(request.body, now)
            except MwiError as error:
                log.warning("phone %s: unreadable message-summary: %s", self.user, error)
                status = 400
        received = ReceivedNotify(request, now, status)
        self.notifies.append(received)
        self.transport.respond(transaction, make_response(request, status))
        if subscription is not None:
            if status == 200 and _state_name(received.subscription_state or "") == "terminated":
                self.subscriptions.pop(subscription.key, None)
            await subscription._received(received)
        async with self._lamp_changed:
            self._lamp_changed.notify_all()

    async def _foreign(self, received: ReceivedNotify, transaction: ServerTransaction) -> None:
        log.warning("phone %s: NOTIFY for %s", self.user, received.addressee)
        self.notifies.append(received)
        self.transport.respond(transaction, make_response(received.request, received.status))
        async with self._lamp_changed:
            self._lamp_changed.notify_all()

    def _subscription_of(self, request: Request) -> tuple[Subscription | None, int]:
        """The subscription an in-dialog NOTIFY belongs to, and the status to answer it with:
        481 when the phone has no such subscription (RFC 6665 §4.1.3), 500 when out of order."""
        subscription = self.subscriptions.get((request.call_id, _tag(request, "To")))
        if subscription is None:
            return None, 481
        if not subscription.known:
            return subscription, 481
        dialog = subscription.dialog
        if dialog is None:
            return subscription, 200  # the NOTIFY overtook the 200 that makes the dialog
        if dialog.remote_tag != _tag(request, "From"):
            return subscription, 481
        return subscription, 200 if dialog.receive_request(request) else 500

    # -- calls ---------------------------------------------------------------------------------

    async def dial(
        self,
        user: str,
        *,
        headers: tuple[tuple[str, str], ...] = (),
        codecs: tuple[str, ...] = ("PCMU", "PCMA"),
    ) -> Call:
        """Call ``user`` through the proxy; the established call, or CallFailed."""
        rtp = await RtpSession.open(self.transport.host)
        offer = sdp.make_offer(self.transport.host, rtp.local_port, codecs)
        target = URI(scheme="sip", user=user, host=self.proxy[0], port=self.proxy[1])
        invite = new_request(
            "INVITE",
            target,
            from_address=self.aor,
            to_address=Address(target),
            local=self.transport.local,
            headers=headers,
            body=bytes(offer),
            content_type="application/sdp",
        )
        acknowledged: set[tuple[str, str]] = set()
        try:
            response = await self.transport.request(
                invite,
                self.proxy,
                provisional=lambda provisional: self._prack(invite, provisional, acknowledged),
            )
        except BaseException:
            rtp.close()
            raise
        if response.status >= 300:
            rtp.close()
            raise CallFailed(response)
        dialog = Dialog.from_uac(invite, response)
        ack = dialog.create_ack()
        self.transport.send_stateless(ack, dialog.next_hop())
        negotiated = sdp.negotiated_from_answer(offer, sdp.parse(response.body))
        rtp.remote = (negotiated.remote_address, negotiated.remote_port)
        rtp.telephone_event_pt = negotiated.telephone_event_pt
        rtp.ptime = negotiated.ptime
        call = Call(self, dialog, rtp, negotiated, response)
        self.calls[dialog.call_id] = call
        return call

    def _prack(
        self, invite: Request, response: Response, acknowledged: set[tuple[str, str]]
    ) -> None:
        """PRACK a reliable provisional response (RFC 3262), once per To tag and RSeq."""
        rseq = response.header("RSeq") or ""
        required = [value.strip().lower() for value in response.header_values("Require")]
        to = response.address("To")
        if "100rel" not in required or not rseq.isdigit() or to is None:
            return
        if (to.tag or "", rseq) in acknowledged:
            return  # a retransmission: its PRACK is already retransmitted by its transaction
        acknowledged.add((to.tag or "", rseq))
        try:
            early = Dialog.from_uac(invite, response)
        except DialogError as error:
            log.warning("phone %s: cannot PRACK %s: %s", self.user, response.status, error)
            return
        number, method = invite.cseq
        prack = early.create_request("PRACK", headers=[("RAck", f"{rseq} {number} {method}")])
        sent = asyncio.ensure_future(self.transport.request(prack, early.next_hop()))
        self._pracks.add(sent)
        sent.add_done_callback(self._prack_done)

    def _prack_done(self, sent: asyncio.Future[Response]) -> None:
        self._pracks.discard(sent)
        if not sent.cancelled() and sent.exception() is not None:
            log.warning("phone %s: PRACK failed: %s", self.user, sent.exception())

    def _on_stray_response(self, response: Response, source: Peer) -> None:
        """A retransmitted 2xx means our ACK was lost: send it again (RFC 3261 §13.2.2.4)."""
        call = self.calls.get(response.call_id)
        if call is None or response.status >= 300:
            return
        number, method = response.cseq
        if method == "INVITE":
            self.transport.send_stateless(call.dialog.create_ack(number), call.dialog.next_hop())

    async def _incoming_call(self, request: Request, transaction: ServerTransaction) -> None:
        if self.answer_mode == "busy":
            self.transport.respond(transaction, make_response(request, 486))
            return
        if self.answer_mode == "unavailable":
            self.transport.respond(transaction, make_response(request, 480))
            return
        self.transport.respond(transaction, make_response(request, 180, to_tag=new_tag()))
        self._ringing[transaction.branch] = (request, transaction)

    async def _cancel(self, request: Request, transaction: ServerTransaction) -> None:
        self.transport.respond(transaction, make_response(request, 200))
        ringing = self._ringing.pop(transaction.branch, None)
        if ringing is not None:
            invite, invite_transaction = ringing
            self.transport.respond(invite_transaction, make_response(invite, 487))

    async def _bye(self, request: Request, transaction: ServerTransaction) -> None:
        call = self.calls.get(request.call_id)
        if call is None:
            self.transport.respond(transaction, make_response(request, 481))
            return
        call.ended.set()
        self.transport.respond(transaction, make_response(request, 200))

    async def _on_request(
        self, request: Request, transaction: ServerTransaction | None, source: Peer
    ) -> None:
        if transaction is None:
            return  # ACKs of our own 2xx: nothing to do
        handlers = {
            "NOTIFY": self._notify,
            "INVITE": self._incoming_call,
            "CANCEL": self._cancel,
            "BYE": self._bye,
        }
        handler = handlers.get(request.method)
        if handler is not None:
            await handler(request, transaction)
        elif request.method == "OPTIONS":
            self.transport.respond(transaction, make_response(request, 200))
        else:
            self.transport.respond(transaction, make_response(request, 405))


def _subscribe_headers(expires: int) -> list[tuple[str, str]]:
    return [("Event", EVENT), ("Accept", CONTENT_TYPE), ("Expires", str(expires))]


def _state_name(value: str) -> str:
    """``active`` of ``active;expires=60``."""
    return value.split(";", 1)[0].strip().lower()


def _uri_user(request: Request) -> str | None:
    try:
        return URI.parse(request.uri).user
    except SIPParseError:
        return None


def _to_user(request: Request) -> str | None:
    try:
        address = request.address("To")
    except SIPParseError:
        return None
    return None if address is None else address.uri.user


def _tag(message: Request, name: str) -> str:
    try:
        address = message.address(name)
    except SIPParseError:
        return ""
    return "" if address is None or address.tag is None else address.tag
