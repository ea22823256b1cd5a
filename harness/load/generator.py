"""The open-loop call generator: many :class:`~harness.load.call.LoadCall` machines on one SIP
socket, one timer for the calls and one media clock for their audio.

Calls start at a fixed rate (open loop: a slow server does not slow the offered rate, only the
concurrency cap defers a start). Every call is a real deposit or retrieval through the proxy:
INVITE, ACK, RTP, BYE, each request in a client transaction of the shared
:class:`~harness.sip.transport.SipTransport`, whose futures feed the call's state machine. One
timer every 20 ms ticks every live call's machine (and sends its key presses); the deposits'
pre-encoded audio frames go out on the shared :class:`~harness.media.pacer.Pacer`. Nothing
sleeps per packet or per call.

The same socket is every subscriber's phone: each registers ``sip:<box>@<socket>`` at the proxy,
NOTIFYs are told apart by their Request-URI user, and a call the proxy rings at a phone is
answered 486 so that it is forwarded to voicemail as busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from harness.core.mwi import CONTENT_TYPE, EVENT, MwiError, parse_summary
from harness.core.routing import CONVENTIONS, Convention, Reason, Redirect
from harness.load.call import Ack, Action, Bye, CallPlan, Finished, Invite, Keys, LoadCall, Talk
from harness.load.metrics import Tally
from harness.load.population import Population, Subscriber
from harness.load.stream import CallStream, talk_frames
from harness.media.pacer import Pacer
from harness.sip import sdp
from harness.sip.address import Address
from harness.sip.builder import make_response, new_request
from harness.sip.dialog import Dialog
from harness.sip.errors import SIPParseError
from harness.sip.message import Request, Response
from harness.sip.transaction import Peer, ServerTransaction
from harness.sip.transport import SipTransport, TransactionFailed
from harness.sip.uri import URI

log = logging.getLogger(__name__)

TICK = 0.02
#: REGISTERs in flight at once while the population comes up.
_REGISTER_WINDOW = 64
_REGISTER_EXPIRES = 3600
#: Seconds the generator waits for the answers to its un-SUBSCRIBEs when it closes.
_UNSUBSCRIBE_WAIT = 5.0


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """What a run offers: ``calls`` calls at ``rate`` per second, at most ``concurrency`` at
    once, a share ``retrievals`` of them retrievals; each deposit talks ``talk`` seconds after
    the greeting (a fixed ``greeting`` wait, or until the server falls quiet). With
    ``subscribe`` every phone also SUBSCRIBEs to its mailbox's ``message-summary`` (the first
    NOTIFY then tells what the mailbox held before the run); otherwise it relies on the
    unsolicited NOTIFYs the proxy relays."""

    rate: float = 10.0
    calls: int = 200
    concurrency: int = 50
    mailboxes: int = 500
    talk: float = 3.0
    greeting: float | None = None
    skip_greeting: bool = False
    retrievals: float = 0.0
    first_box: int = 10000
    context: str = "default"
    pin: str = "1234"
    retrieval_number: str = "*97"
    settle: float = 15.0
    host: str = "127.0.0.1"
    seed: int = 14
    subscribe: bool = False
    #: ``x-voicemail``…: no proxy; INVITEs go straight to the server carrying this
    #: convention's headers, as a proxy would forward them, and no phone registers.
    direct: str | None = None

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError(f"rate must be above 0 calls/s, got {self.rate}")
        if self.calls < 0 or self.concurrency < 1 or self.mailboxes < 1:
            raise ValueError(
                f"calls ({self.calls}) must be ≥ 0, concurrency ({self.concurrency}) and "
                f"mailboxes ({self.mailboxes}) ≥ 1"
            )
        if not 0 <= self.retrievals <= 1:
            raise ValueError(f"retrievals is a share between 0 and 1, got {self.retrievals}")
        if self.talk <= 0:
            raise ValueError(f"talk must be above 0 s, got {self.talk}")
        if self.direct is not None and (self.retrievals or self.subscribe):
            raise ValueError("without a proxy there are no phones: no retrievals, no subscribe")
        if self.direct is not None and self.direct not in CONVENTIONS:
            raise ValueError(
                f"unknown convention {self.direct!r}; known: {', '.join(sorted(CONVENTIONS))}"
            )


class _Live:
    """A call in progress: its machine, media and dialog."""

    def __init__(self, call: LoadCall, stream: CallStream, number: int) -> None:
        self.call = call
        self.stream = stream
        self.number = number
        self.invite: Request | None = None
        self.offer: sdp.SessionDescription | None = None
        self.dialog: Dialog | None = None


class Generator:
    """Drives calls into a proxy for one population of subscribers."""

    def __init__(
        self,
        options: LoadOptions,
        proxy: Peer,
        population: Population,
        *,
        on_progress: Callable[[Tally, int], None] | None = None,
    ) -> None:
        self.options = options
        self.proxy = proxy
        self.population = population
        self.tally = Tally()
        self.transport = SipTransport(host=options.host, party="load")
        self.transport.handler = self._on_request
        self.transport.stray_handler = self._on_stray
        self._on_progress = on_progress
        self._live: dict[str, _Live] = {}
        self._slot = asyncio.Event()
        self._idle = asyncio.Event()
        self._ticker: asyncio.TimerHandle | None = None
        self._pacer: Pacer | None = None
        self._next_tick = 0.0
        self._random = random.Random(options.seed)
        self._order = list(population.subscribers.values())
        self._cursor = 0
        self._domain = f"{proxy[0]}:{proxy[1]}"
        self._subscriptions: list[Dialog] = []

    @property
    def live(self) -> int:
        """Calls in progress."""
        return len(self._live)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    # -- life cycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the SIP socket, start the clocks and register every phone."""
        await self.transport.start()
        self._pacer = Pacer()
        self._next_tick = self._now() + TICK
        self._ticker = asyncio.get_running_loop().call_at(self._next_tick, self._tick)
        if self.options.direct is not None:
            return
        window = asyncio.Semaphore(_REGISTER_WINDOW)
        failed = await asyncio.gather(*(self._register(s, window) for s in self._order))
        _check_all("registration", self._domain, failed)
        if self.options.subscribe:
            refused = await asyncio.gather(*(self._subscribe(s, window) for s in self._order))
            _check_all("subscription", self._domain, refused)

    async def close(self) -> None:
        """End the subscriptions, stop the clocks, close every call's socket and the SIP
        socket."""
        if self._subscriptions:
            ending = [
                self.transport.request(
                    dialog.create_request("SUBSCRIBE", headers=_subscribe_headers(0)),
                    dialog.next_hop(),
                )
                for dialog in self._subscriptions
            ]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*ending, return_exceptions=True), _UNSUBSCRIBE_WAIT
                )
        if self._ticker is not None:
            self._ticker.cancel()
        for live in self._live.values():
            live.stream.close()
        if self._pacer is not None:
            self._pacer.close()
        await self.transport.close()

    async def _register(self, subscriber: Subscriber, window: asyncio.Semaphore) -> str | None:
        aor = self._aor(subscriber.user)
        request = new_request(
            "REGISTER",
            URI(scheme="sip", host=self.proxy[0], port=self.proxy[1]),
            from_address=aor,
            to_address=aor,
            local=self.transport.local,
            contact=Address(self.transport.contact(subscriber.user)),
            headers=[("Expires", str(_REGISTER_EXPIRES))],
        )
        async with window:
            try:
                response = await self.transport.request(request, self.proxy)
            except TransactionFailed:
                return f"{subscriber.user} (no answer)"
        return None if response.status == 200 else f"{subscriber.user} ({response.status})"

    async def _subscribe(self, subscriber: Subscriber, window: asyncio.Semaphore) -> str | None:
        aor = self._aor(subscriber.user)
        request = new_request(
            "SUBSCRIBE",
            aor.uri,
            from_address=aor,
            to_address=aor,
            local=self.transport.local,
            contact=Address(self.transport.contact(subscriber.user)),
            headers=_subscribe_headers(_REGISTER_EXPIRES),
        )
        async with window:
            try:
                response = await self.transport.request(request, self.proxy)
            except TransactionFailed:
                return f"{subscriber.user} (no answer)"
        if not 200 <= response.status < 300:
            return f"{subscriber.user} ({response.status})"
        self._subscriptions.append(Dialog.from_uac(request, response))
        return None

    def _aor(self, user: str) -> Address:
        return Address(URI(scheme="sip", user=user, host=self.proxy[0], port=self.proxy[1]))

    # -- offering calls --------------------------------------------------------------------------

    async def run(self, limit: float | None = None) -> Tally:
        """Offer every call at the rate, wait for them to end (at most ``limit`` seconds after
        the last start) and for the phones' lamps to settle; the tally."""
        options = self.options
        cpu = time.process_time()
        began = self._now()
        first = last = began
        for number in range(options.calls):
            due = began + number / options.rate
            delay = due - self._now()
            if delay > 0:
                await asyncio.sleep(delay)
            while len(self._live) >= options.concurrency:
                self._slot.clear()
                await self._slot.wait()
            last = self._now()
            if number == 0:
                first = last
            self._launch(number)
        self.tally.span = last - first
        self.tally.measure_rate()
        wait = limit if limit is not None else options.talk + options.settle + 60
        if self._live:
            self._idle.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), wait)
        for live in list(self._live.values()):
            self._finish(live, Finished("unfinished-at-end"))
        await self._settle()
        self.tally.notify_ms = list(self.population.notify_ms)
        self.tally.cpu_seconds = time.process_time() - cpu
        return self.tally

    async def _settle(self) -> None:
        if self.options.direct is not None:
            return  # no phone to see a NOTIFY
        deadline = self._now() + self.options.settle
        while self.population.unsettled() and self._now() < deadline:
            await asyncio.sleep(0.1)

    def _pick(self) -> tuple[str, Subscriber]:
        """What the next call is and whose mailbox it is for."""
        if self.options.retrievals and self._random.random() < self.options.retrievals:
            ready = [s for s in self._order if s.ready_for_retrieval()]
            if ready:
                return "retrieval", self._random.choice(ready)
        subscriber = self._order[self._cursor % len(self._order)]
        self._cursor += 1
        return "deposit", subscriber

    def _launch(self, number: int) -> None:
        kind, subscriber = self._pick()
        options = self.options
        plan = CallPlan(
            kind,  # type: ignore[arg-type]
            subscriber.user,
            talk=options.talk,
            greeting=options.greeting,
            pin=subscriber.pin,
            skip_greeting=options.skip_greeting,
        )
        call = LoadCall(plan)
        assert self._pacer is not None, "start() the generator first"
        stream = CallStream(
            options.host, self._pacer, lambda beep: call.heard(self._now(), beep=beep)
        )
        # Only a deposit that waits for the beep by ear listens for it.
        stream.listening = kind == "deposit" and options.greeting is None
        live = _Live(call, stream, number)
        subscriber.busy += 1 if kind == "retrieval" else 0
        self.tally.attempted += 1
        self.tally.started += 1
        self._do(live, call.start(self._now()))

    # -- actions ---------------------------------------------------------------------------------

    def _do(self, live: _Live, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Invite):
                self._invite(live)
            elif isinstance(action, Ack) and live.dialog is not None:
                self.transport.send_stateless(live.dialog.create_ack(), live.dialog.next_hop())
            elif isinstance(action, Talk):
                live.stream.listening = False
                live.stream.talk(talk_frames(live.call.plan.user, live.call.plan.talk))
            elif isinstance(action, Keys):
                live.stream.press(action.digits)
            elif isinstance(action, Bye):
                self._bye(live)
            elif isinstance(action, Finished):
                self._finish(live, action)

    def _invite(self, live: _Live) -> None:
        plan = live.call.plan
        host = self.options.host
        offer = sdp.make_offer(host, live.stream.port, ("PCMU",))
        if plan.kind == "deposit":
            callee, caller = plan.user, Address.parse(f"<sip:+1555{live.number:07d}@{host}>")
        else:
            callee, caller = self.options.retrieval_number, self._aor(plan.user)
        target = URI(scheme="sip", user=callee, host=self.proxy[0], port=self.proxy[1])
        invite = new_request(
            "INVITE",
            target,
            from_address=caller,
            to_address=Address(target),
            local=self.transport.local,
            body=bytes(offer),
            content_type="application/sdp",
        )
        if self.options.direct is not None:
            mailbox = self.population.subscribers[plan.user].mailbox
            redirect = Redirect(mailbox, Reason.UNCONDITIONAL, self._domain)
            voicemail = URI(scheme="sip", host=self.proxy[0], port=self.proxy[1])
            rule = CONVENTIONS[Convention(self.options.direct)]
            invite = rule.apply(invite, redirect, voicemail)
        live.invite, live.offer = invite, offer
        self._live[invite.call_id] = live
        _, future = self.transport.start_request(invite, self.proxy)
        future.add_done_callback(lambda done: self._answered(live, done))

    def _answered(self, live: _Live, done: asyncio.Future[Response]) -> None:
        if done.cancelled():
            return
        error = done.exception()
        if error is not None:
            cause = "invite-timeout" if isinstance(error, TransactionFailed) else "invite-error"
            self._do(live, live.call.invite_failed(cause))
            return
        response = done.result()
        if 200 <= response.status < 300:
            problem = self._connect(live, response)
            if problem is not None:
                self._do(live, live.call.invite_failed(problem))
                return
        self._do(live, live.call.answered(response.status, self._now()))

    def _connect(self, live: _Live, response: Response) -> str | None:
        """Make the dialog and aim the media at the answer; the failure cause, if any."""
        assert live.invite is not None
        assert live.offer is not None
        try:
            live.dialog = Dialog.from_uac(live.invite, response)
            negotiated = sdp.negotiated_from_answer(live.offer, sdp.parse(response.body))
        except (SIPParseError, ValueError) as error:
            log.warning("load call %s: unusable answer: %s", live.number, error)
            return "bad-answer"
        live.stream.remote = (negotiated.remote_address, negotiated.remote_port)
        live.stream.payload_type = negotiated.payload_type
        live.stream.event_type = negotiated.telephone_event_pt or 101
        return None

    def _bye(self, live: _Live) -> None:
        call = live.call
        if call.plan.kind == "deposit" and call.talked_until is not None:
            self.population.deposited(call.plan.user, self._now())
        if live.dialog is None:
            self._do(live, call.bye_answered(None))
            return
        bye = live.dialog.create_request("BYE")
        _, future = self.transport.start_request(bye, live.dialog.next_hop())

        def answered(done: asyncio.Future[Response]) -> None:
            status = None
            if not done.cancelled() and done.exception() is None:
                status = done.result().status
            self._do(live, call.bye_answered(status))

        future.add_done_callback(answered)

    def _finish(self, live: _Live, finished: Finished) -> None:
        assert live.invite is not None
        if self._live.pop(live.invite.call_id, None) is None:
            return
        stream, call, tally = live.stream, live.call, self.tally
        stream.close()
        tally.rtp_expected += stream.expected
        tally.rtp_received += stream.received
        if call.setup_latency is not None:
            tally.setup_ms.append(call.setup_latency * 1000)
        subscriber = self.population.subscribers[call.plan.user]
        if call.plan.kind == "retrieval":
            subscriber.busy -= 1
        if finished.cause is None:
            tally.succeeded += 1
            tally.kinds[call.plan.kind] += 1
            if call.plan.kind == "retrieval":
                self.population.retrieved(call.plan.user)
        else:
            tally.fail(finished.cause)
        self._slot.set()
        if not self._live:
            self._idle.set()
        if self._on_progress is not None:
            self._on_progress(tally, len(self._live))

    def _tick(self) -> None:
        """The calls' clock: every live call's timers, then its due key presses (the audio
        frames are the pacer's)."""
        now = self._now()
        for live in list(self._live.values()):
            actions = live.call.tick(now)
            if actions:
                self._do(live, actions)
            live.stream.send_due()
        self._next_tick = max(self._next_tick + TICK, now + TICK / 4)
        self._ticker = asyncio.get_running_loop().call_at(self._next_tick, self._tick)

    # -- what the proxy sends the phones ---------------------------------------------------------

    async def _on_request(
        self, request: Request, transaction: ServerTransaction | None, source: Peer
    ) -> None:
        if transaction is None:
            return
        method = request.method
        status = 405
        if method == "NOTIFY":
            status = self._notify(request)
        elif method == "INVITE":
            status = 486  # the phone is busy: the proxy forwards the call to voicemail
        elif method == "BYE":
            live = self._live.get(request.call_id)
            status = 481 if live is None else 200
            if live is not None:
                self._do(live, live.call.remote_hangup())
        elif method in ("CANCEL", "OPTIONS"):
            status = 200
        self.transport.respond(transaction, make_response(request, status))

    def _notify(self, request: Request) -> int:
        try:
            user = URI.parse(request.uri).user or ""
            summary = parse_summary(request.body)
        except (SIPParseError, MwiError) as error:
            log.warning("load phone: unreadable NOTIFY: %s", error)
            return 400
        return 200 if self.population.notified(user, summary, self._now()) else 404

    def _on_stray(self, response: Response, source: Peer) -> None:
        """A retransmitted 2xx: our ACK was lost, send it again."""
        live = self._live.get(response.call_id)
        if live is None or live.dialog is None or response.status >= 300:
            return
        number, method = response.cseq
        if method == "INVITE":
            self.transport.send_stateless(live.dialog.create_ack(number), live.dialog.next_hop())


def _subscribe_headers(expires: int) -> list[tuple[str, str]]:
    return [("Event", EVENT), ("Accept", CONTENT_TYPE), ("Expires", str(expires))]


def _check_all(what: str, proxy: str, refused: list[str | None]) -> None:
    """RuntimeError naming how many phones' ``what`` the proxy refused (or never answered)."""
    users = [user for user in refused if user is not None]
    if users:
        raise RuntimeError(
            f"the proxy at {proxy} refused (or did not answer) the {what} of {len(users)} "
            f"phones (first: {users[0]})"
        )
