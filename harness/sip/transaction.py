"""SIP transactions (RFC 3261 §17) as a sans-IO state machine.

:class:`TransactionLayer` takes received messages and the current time, and gives back events
for the transaction user (TU); what it wants on the wire is queued for
:meth:`TransactionLayer.messages_to_send`, and its timers are explicit: the adapter asks
:meth:`~TransactionLayer.next_timer` for the earliest deadline and calls
:meth:`~TransactionLayer.handle_timer` when it has passed. No sockets, no clocks.

Besides the four transaction state machines the layer does the one timer-driven job RFC 3261
gives the UAS core (§13.3.1.4): after a 2xx to an INVITE the server transaction is Terminated,
but the layer keeps re-sending that 2xx (unreliable transports: T1, doubling up to T2) until the
ACK arrives, and answers a retransmitted INVITE with it instead of passing the INVITE up as a
new request (the gap RFC 6026 closes). The ACK is passed up as ``RequestReceived`` with no
transaction; if none arrives within 64*T1 the TU gets ``TransactionTimeout`` for that INVITE
server transaction and should end the session with a BYE.

On the client side a 2xx terminates the INVITE transaction; its retransmissions (and every other
response matching no transaction) come up as ``StrayResponse``, and the TU re-sends its ACK
(from :meth:`harness.sip.dialog.Dialog.create_ack`) with :meth:`~TransactionLayer.send_stateless`.

Timers re-arm relative to the ``now`` at which they fire. A zero-length timer (Timer D, I, J, K on
a reliable transport) still goes through :meth:`~TransactionLayer.handle_timer`, so the
adapter's usual "fire what is due" loop ends those transactions.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from enum import StrEnum

from harness.sip.address import Address
from harness.sip.builder import make_response
from harness.sip.errors import SIPParseError
from harness.sip.message import Header, Message, Request, Response
from harness.sip.uri import URI
from harness.sip.via import MAGIC_COOKIE, Via

Peer = tuple[str, int]

#: The most completed transactions held by default for their retransmission timers (D, I, J,
#: K); beyond it the oldest is forgotten, so memory is bounded whatever the call rate. A BYE
#: and its 200 hold about 4 KB: some 80 MB in all, enough to keep 600 a second for all 32 s of
#: Timer J on UDP.
MAX_COMPLETED = 20_000


class TransactionError(ValueError):
    """The TU asked for something the transaction rules forbid (wrong state, bad request)."""


@dataclass(frozen=True, slots=True)
class Timers:
    """RFC 3261 timer values (§17, table 4), in seconds.

    Timers B, F, H, J and the wait for the ACK of a 2xx are 64*T1; D is fixed (at least 32 s on
    unreliable transports); ``trying`` is how long an INVITE server transaction waits for the TU
    before sending 100 Trying itself (§17.2.1).
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    d: float = 32.0
    trying: float = 0.2

    def __post_init__(self) -> None:
        for name in ("t1", "t2", "t4", "d", "trying"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"Timers.{name} must be a positive number of seconds, not {value}")
        if self.t2 < self.t1:
            raise ValueError(f"Timers.t2 ({self.t2}) must not be below Timers.t1 ({self.t1})")

    @property
    def timeout(self) -> float:
        """64*T1: Timers B, F, H, J, and how long a 2xx waits for its ACK."""
        return 64 * self.t1


class TransactionState(StrEnum):
    """States of the transaction machines (figures 5-8 of RFC 3261); compare equal to str."""

    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    TERMINATED = "Terminated"


class _Timer:
    """One armed timer of a transaction; cancelled ones stay in the heap until they surface."""

    __slots__ = ("cancelled", "deadline", "interval", "name", "owner")

    def __init__(
        self,
        owner: ClientTransaction | ServerTransaction,
        name: str,
        deadline: float,
        interval: float,
    ) -> None:
        self.owner = owner
        self.name = name
        self.deadline = deadline
        self.interval = interval
        self.cancelled = False


class ClientTransaction:
    """A request this side sent and is waiting to hear about (§17.1)."""

    __slots__ = (
        "_ack",
        "_timers",
        "branch",
        "destination",
        "last_response",
        "reliable",
        "request",
        "state",
    )

    def __init__(self, request: Request, destination: Peer, reliable: bool, branch: str) -> None:
        self.request = request
        self.destination = destination
        self.reliable = reliable
        self.branch = branch
        self.state = (
            TransactionState.CALLING if request.method == "INVITE" else TransactionState.TRYING
        )
        #: The latest response received in this transaction.
        self.last_response: Response | None = None
        self._ack: Request | None = None
        self._timers: dict[str, _Timer] = {}

    @property
    def method(self) -> str:
        """The request method."""
        return self.request.method

    @property
    def ack(self) -> Request | None:
        """The ACK this transaction sent for a 300-699 final response (§17.1.1.3)."""
        return self._ack

    def __repr__(self) -> str:
        return f"<ClientTransaction {self.method} {self.branch} {self.state}>"


class ServerTransaction:
    """A request this side received and owes a response (§17.2).

    Once it only absorbs retransmissions (Completed non-INVITE, Confirmed INVITE) the layer
    keeps its request and final response packed in plain tuples, which the cyclic garbage
    collector stops tracking: thousands are held for Timer J, and full collections would
    otherwise walk every header of each. ``request`` and ``last_response`` are then rebuilt
    on demand, equal to (and written as) the originals.
    """

    __slots__ = (
        "_awaiting_ack",
        "_held",
        "_key",
        "_last_response",
        "_legacy",
        "_method",
        "_packed",
        "_request",
        "_timers",
        "branch",
        "reliable",
        "source",
        "state",
    )

    def __init__(
        self,
        request: Request,
        source: Peer,
        reliable: bool,
        branch: str,
        *,
        key: _ServerKey | None,
        legacy: _LegacyKey | None,
    ) -> None:
        self._request: Request | None = request
        self._method = request.method
        self.source = source
        self.reliable = reliable
        self.branch = branch
        self.state = (
            TransactionState.PROCEEDING if request.method == "INVITE" else TransactionState.TRYING
        )
        self._last_response: Response | None = None
        self._key = key
        self._legacy = legacy
        self._awaiting_ack: _AckKey | None = None
        self._timers: dict[str, _Timer] = {}
        # The request and final response packed while held; the sequence number of its
        # entry in the layer's heap of held transactions (None: not held, or no longer).
        self._packed: tuple[_PackedRequest, _PackedResponse | None] | None = None
        self._held: int | None = None

    @property
    def request(self) -> Request:
        """The request that opened this transaction."""
        if self._request is not None:
            return self._request
        assert self._packed is not None
        return _unpack_request(self._packed[0])

    @property
    def last_response(self) -> Response | None:
        """The latest response sent in this transaction (the one retransmissions get)."""
        if self._packed is None:
            return self._last_response
        packed = self._packed[1]
        return None if packed is None else _unpack_response(packed)

    @last_response.setter
    def last_response(self, response: Response) -> None:
        self._last_response = response

    @property
    def method(self) -> str:
        """The request method."""
        return self._method

    def _pack(self) -> None:
        """Keep the request and last response as untracked tuples only (see the class doc)."""
        assert self._request is not None
        last = self._last_response
        self._packed = (
            _pack_request(self._request),
            None if last is None else _pack_response(last),
        )
        self._request = None
        self._last_response = None
        # A dict that ever held a timer stays tracked; an empty new one is not.
        self._timers = {}

    def __repr__(self) -> str:
        return f"<ServerTransaction {self.method} {self.branch or '(RFC 2543)'} {self.state}>"


Transaction = ClientTransaction | ServerTransaction


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request for the TU. ``transaction`` is None for an ACK to a 2xx (no transaction)."""

    request: Request
    source: Peer
    transaction: ServerTransaction | None


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A provisional or final response in a client transaction (retransmissions are absorbed)."""

    response: Response
    transaction: ClientTransaction


@dataclass(frozen=True, slots=True)
class StrayResponse:
    """A response matching no client transaction, e.g. a retransmitted 2xx to an INVITE."""

    response: Response
    source: Peer


@dataclass(frozen=True, slots=True)
class TransactionTimeout:
    """No final response in time (Timer B/F), no ACK for a 3xx-6xx (Timer H) or for a 2xx."""

    transaction: Transaction


@dataclass(frozen=True, slots=True)
class TransportError:
    """The adapter reported that the transport failed for this transaction (§17.1.4, §17.2.4)."""

    transaction: Transaction
    reason: str


@dataclass(frozen=True, slots=True)
class TransactionTerminated:
    """The layer has forgotten ``transaction``: nothing more will come from it."""

    transaction: Transaction


@dataclass(frozen=True, slots=True)
class MalformedMessage:
    """A received message the layer cannot place (no Via, bad CSeq…); ``reason`` says why."""

    message: Message
    source: Peer
    reason: str


Event = (
    RequestReceived
    | ResponseReceived
    | StrayResponse
    | TransactionTimeout
    | TransportError
    | TransactionTerminated
    | MalformedMessage
)

# (branch, sent-by host, sent-by port, method) with ACK filed under INVITE (§17.2.3).
_ServerKey = tuple[str, str, int, str]
# (Call-ID, CSeq number, From tag, To tag) of a 2xx waiting for its ACK.
_AckKey = tuple[str, int, str, str]


@dataclass(frozen=True, slots=True)
class _LegacyKey:
    """What RFC 2543 matching compares (§17.2.3, requests without the magic cookie)."""

    uri: object
    call_id: str
    from_tag: str
    to_tag: str
    cseq_number: int
    cseq_method: str
    via: Via


class TransactionLayer:
    """Client and server transactions of one SIP element, driven by messages and time.

    ``max_completed`` bounds the transactions kept only to absorb retransmissions (a cached
    response, Timers D, I, J, K): beyond it the oldest is forgotten early, and a late
    retransmission of its request is then a new request.
    """

    def __init__(self, timers: Timers = Timers(), *, max_completed: int = MAX_COMPLETED) -> None:
        if max_completed < 0:
            raise ValueError(f"max_completed must not be negative, not {max_completed}")
        self.timers = timers
        self.max_completed = max_completed
        # Insertion-ordered, so the first is the oldest: what the bound drops first.
        self._completed: dict[Transaction, None] = {}
        self._clients: dict[tuple[str, str], ClientTransaction] = {}
        self._servers: dict[_ServerKey, ServerTransaction] = {}
        self._legacy_servers: list[ServerTransaction] = []
        self._awaiting_ack: dict[_AckKey, ServerTransaction] = {}
        self._heap: list[tuple[float, int, _Timer]] = []
        # Held server transactions by expiry (Timer I or J): plain tuples, untracked by the
        # collector, unlike a _Timer; an entry is stale once its transaction's _held differs.
        self._held_heap: list[tuple[float, int, _ServerKey]] = []
        self._sequence = itertools.count()
        self._outgoing: list[tuple[Message, Peer]] = []

    # -- the TU's side ----------------------------------------------------------------------

    def send_request(
        self, request: Request, destination: Peer, *, reliable: bool, now: float
    ) -> ClientTransaction:
        """Start a client transaction for ``request`` and queue it for ``destination``.

        The request must carry a top Via with an RFC 3261 (``z9hG4bK``) branch and a CSeq of
        its own method. An ACK is never a transaction: send the ACK of a 2xx with
        :meth:`send_stateless` (the ACK of a 3xx-6xx is sent by the transaction itself).
        """
        if request.method == "ACK":
            raise TransactionError(
                "an ACK is not sent in a transaction: use send_stateless for the ACK of a 2xx"
            )
        try:
            via = _top_via(request)
            _, cseq_method = request.cseq
        except SIPParseError as error:
            raise TransactionError(f"cannot send {request.method}: {error.reason}") from None
        branch = via.branch or ""
        if not branch.startswith(MAGIC_COOKIE):
            raise TransactionError(
                f"cannot send {request.method}: top Via branch {branch!r} does not start"
                f" with {MAGIC_COOKIE} (RFC 3261 §8.1.1.7)"
            )
        if cseq_method != request.method:
            raise TransactionError(
                f"cannot send {request.method}: its CSeq method is {cseq_method}"
            )
        key = (branch, request.method)
        earlier = self._clients.get(key)
        # A sender that reuses a branch (chan_sip does for the NOTIFYs of a subscription)
        # starts a new transaction once the earlier one has its final response.
        if earlier is not None and earlier.state is not TransactionState.COMPLETED:
            raise TransactionError(
                f"a {request.method} client transaction with branch {branch} is already running"
            )
        transaction = ClientTransaction(request, destination, reliable, branch)
        self._clients[key] = transaction
        self._send(request, destination)
        if request.method == "INVITE":
            if not reliable:
                self._arm(transaction, "A", self.timers.t1, now)
            self._arm(transaction, "B", self.timers.timeout, now)
        else:
            if not reliable:
                self._arm(transaction, "E", self.timers.t1, now)
            self._arm(transaction, "F", self.timers.timeout, now)
        return transaction

    def send_stateless(self, message: Message, destination: Peer) -> None:
        """Queue ``message`` outside any transaction (the ACK of a 2xx, a stateless reply)."""
        self._send(message, destination)

    def respond(self, transaction: ServerTransaction, response: Response, now: float) -> None:
        """Send ``response`` in ``transaction`` (to its source) and move the machine on."""
        if not 100 <= response.status <= 699:
            raise TransactionError(f"status {response.status} is not a SIP status code")
        try:
            response_cseq = response.cseq
        except SIPParseError as error:
            raise TransactionError(f"cannot send {response.status}: {error.reason}") from None
        if response_cseq != transaction.request.cseq:
            raise TransactionError(
                f"response CSeq {response_cseq} does not belong to {transaction!r}"
                f" (CSeq {transaction.request.cseq})"
            )
        state = transaction.state
        if transaction.method == "INVITE":
            if state != TransactionState.PROCEEDING:
                raise TransactionError(f"cannot send {response.status} in {transaction!r}")
            self._cancel(transaction, "trying")
            transaction.last_response = response
            self._send(response, transaction.source)
            if response.status < 200:
                return
            if response.status < 300:
                self._accept(transaction, response, now)
                return
            transaction.state = TransactionState.COMPLETED
            if not transaction.reliable:
                self._arm(transaction, "G", self.timers.t1, now)
            self._arm(transaction, "H", self.timers.timeout, now)
            return
        if state not in (TransactionState.TRYING, TransactionState.PROCEEDING):
            raise TransactionError(f"cannot send {response.status} in {transaction!r}")
        transaction.last_response = response
        self._send(response, transaction.source)
        if response.status < 200:
            transaction.state = TransactionState.PROCEEDING
            return
        transaction.state = TransactionState.COMPLETED
        self._hold_server(
            transaction, "J", 0.0 if transaction.reliable else self.timers.timeout, now
        )

    def cancel_target(self, cancel: Request) -> ServerTransaction | None:
        """The INVITE server transaction a received CANCEL refers to (§9.2), if still known."""
        try:
            via = _top_via(cancel)
            branch = via.branch or ""
            if branch.startswith(MAGIC_COOKIE):
                return self._servers.get(_server_key(via, "INVITE"))
            probe = _legacy_key(cancel, via)
        except SIPParseError:
            return None
        for transaction in self._legacy_servers:
            known = transaction._legacy
            if (
                known is not None
                and transaction.method == "INVITE"
                and known.uri == probe.uri
                and known.call_id == probe.call_id
                and known.from_tag == probe.from_tag
                and known.to_tag == probe.to_tag
                and known.cseq_number == probe.cseq_number
                and known.via == probe.via
            ):
                return transaction
        return None

    def transport_error(self, transaction: Transaction, reason: str) -> list[Event]:
        """The adapter could not deliver a message of ``transaction``: it ends (§17.1.4)."""
        if not self._is_known(transaction):
            return []
        self._forget(transaction)
        return [TransportError(transaction, reason), TransactionTerminated(transaction)]

    # -- the adapter's side -------------------------------------------------------------------

    def receive(self, message: Message, source: Peer, *, reliable: bool, now: float) -> list[Event]:
        """Process a received message; returns the events for the TU."""
        try:
            via = _top_via(message)
            number, cseq_method = message.cseq
        except SIPParseError as error:
            return [MalformedMessage(message, source, error.reason)]
        if isinstance(message, Response):
            if not 100 <= message.status <= 699:
                return [MalformedMessage(message, source, f"status {message.status} out of range")]
            return self._receive_response(message, via, cseq_method, source, now)
        if cseq_method != message.method:
            return [
                MalformedMessage(
                    message,
                    source,
                    f"CSeq method {cseq_method} does not match request method {message.method}",
                )
            ]
        try:
            return self._receive_request(message, via, number, source, reliable=reliable, now=now)
        except SIPParseError as error:
            return [MalformedMessage(message, source, error.reason)]

    def next_timer(self) -> float | None:
        """The earliest pending deadline over all transactions, or None when nothing waits."""
        self._drop_stale()
        return min((heap[0][0] for heap in (self._heap, self._held_heap) if heap), default=None)

    def handle_timer(self, now: float) -> list[Event]:
        """Fire every timer whose deadline is ``now`` or earlier, oldest first."""
        events: list[Event] = []
        while (due := self._next_due(now)) is not None:
            if isinstance(due, ServerTransaction):
                # Timer I or J of a held transaction: the wait for retransmissions is over.
                self._forget(due)
                events.append(TransactionTerminated(due))
                continue
            del due.owner._timers[due.name]
            due.cancelled = True
            events.extend(self._fire(due, now))
        return events

    def messages_to_send(self) -> list[tuple[Message, Peer]]:
        """Take the queued outgoing messages, each with its destination."""
        out, self._outgoing = self._outgoing, []
        return out

    @property
    def transaction_count(self) -> int:
        """How many transactions the layer still holds (2xx waiting for an ACK included)."""
        return len(self._clients) + len(self._servers) + len(self._legacy_servers)

    @property
    def completed_count(self) -> int:
        """How many of them only absorb retransmissions (Completed non-INVITE and client INVITE,
        Confirmed server INVITE): at most ``max_completed``."""
        return len(self._completed)

    @property
    def in_progress_count(self) -> int:
        """How many of them still work: waiting for a final response, or re-sending a final
        until its ACK (an INVITE's 2xx or 3xx-6xx on a timer). What a bound on load counts."""
        return self.transaction_count - len(self._completed)

    # -- responses ----------------------------------------------------------------------------

    def _receive_response(
        self, response: Response, via: Via, cseq_method: str, source: Peer, now: float
    ) -> list[Event]:
        transaction = self._clients.get((via.branch or "", cseq_method))
        if transaction is None:
            return [StrayResponse(response, source)]
        state = transaction.state
        status = response.status
        if transaction.method == "INVITE":
            if state in (TransactionState.CALLING, TransactionState.PROCEEDING):
                transaction.last_response = response
                self._cancel(transaction, "A")
                self._cancel(transaction, "B")
                if status < 200:
                    transaction.state = TransactionState.PROCEEDING
                    return [ResponseReceived(response, transaction)]
                if status < 300:
                    self._forget(transaction)
                    return [
                        ResponseReceived(response, transaction),
                        TransactionTerminated(transaction),
                    ]
                transaction._ack = _ack_for(transaction.request, response)
                self._send(transaction._ack, transaction.destination)
                transaction.state = TransactionState.COMPLETED
                self._arm(transaction, "D", 0.0 if transaction.reliable else self.timers.d, now)
                self._hold_completed(transaction)
                return [ResponseReceived(response, transaction)]
            if state == TransactionState.COMPLETED and status >= 300 and transaction._ack:
                self._send(transaction._ack, transaction.destination)
            return []
        if state not in (TransactionState.TRYING, TransactionState.PROCEEDING):
            return []
        transaction.last_response = response
        if status < 200:
            transaction.state = TransactionState.PROCEEDING
            return [ResponseReceived(response, transaction)]
        transaction.state = TransactionState.COMPLETED
        self._cancel(transaction, "E")
        self._cancel(transaction, "F")
        self._arm(transaction, "K", 0.0 if transaction.reliable else self.timers.t4, now)
        self._hold_completed(transaction)
        return [ResponseReceived(response, transaction)]

    # -- requests -----------------------------------------------------------------------------

    def _receive_request(
        self,
        request: Request,
        via: Via,
        number: int,
        source: Peer,
        *,
        reliable: bool,
        now: float,
    ) -> list[Event]:
        branch = via.branch or ""
        key: _ServerKey | None = None
        legacy: _LegacyKey | None = None
        if branch.startswith(MAGIC_COOKIE):
            key = _server_key(via, request.method)
            transaction = self._servers.get(key)
        else:
            legacy = _legacy_key(request, via)
            transaction = self._match_legacy(request.method, legacy)
        if request.method == "ACK":
            return self._receive_ack(request, transaction, number, source, now)
        if transaction is not None:
            # A retransmission: the last response answers it, if there is one yet; once
            # Confirmed only ACKs matter (§17.2.1).
            answers = transaction.state in (
                TransactionState.PROCEEDING,
                TransactionState.COMPLETED,
            ) or (transaction._awaiting_ack is not None)
            if answers and transaction.last_response is not None:
                self._send(transaction.last_response, transaction.source)
            return []
        transaction = ServerTransaction(request, source, reliable, branch, key=key, legacy=legacy)
        if key is not None:
            self._servers[key] = transaction
        else:
            self._legacy_servers.append(transaction)
        if request.method == "INVITE":
            self._arm(transaction, "trying", self.timers.trying, now)
        return [RequestReceived(request, source, transaction)]

    def _receive_ack(
        self,
        ack: Request,
        transaction: ServerTransaction | None,
        number: int,
        source: Peer,
        now: float,
    ) -> list[Event]:
        if transaction is not None and transaction._awaiting_ack is None:
            # The ACK of a 3xx-6xx: it belongs to the transaction and goes no further.
            if transaction.state == TransactionState.COMPLETED:
                transaction.state = TransactionState.CONFIRMED
                self._cancel(transaction, "G")
                self._cancel(transaction, "H")
                self._hold_server(
                    transaction, "I", 0.0 if transaction.reliable else self.timers.t4, now
                )
            return []
        accepted = transaction
        if accepted is None:
            key = (ack.call_id, number, _loose_tag(ack, "From"), _loose_tag(ack, "To"))
            accepted = self._awaiting_ack.get(key)
        events: list[Event] = [RequestReceived(ack, source, None)]
        if accepted is not None:
            self._forget(accepted)
            events.append(TransactionTerminated(accepted))
        return events

    def _accept(self, transaction: ServerTransaction, response: Response, now: float) -> None:
        """A 2xx ends the INVITE server transaction; the UAS core waits for its ACK."""
        transaction.state = TransactionState.TERMINATED
        for name in list(transaction._timers):
            self._cancel(transaction, name)
        number, _ = transaction.request.cseq
        ack_key = (
            transaction.request.call_id,
            number,
            _loose_tag(transaction.request, "From"),
            _loose_tag(response, "To"),
        )
        transaction._awaiting_ack = ack_key
        self._awaiting_ack[ack_key] = transaction
        if not transaction.reliable:
            self._arm(transaction, "2xx", self.timers.t1, now)
        self._arm(transaction, "L", self.timers.timeout, now)

    def _match_legacy(self, method: str, probe: _LegacyKey) -> ServerTransaction | None:
        for transaction in self._legacy_servers:
            known = transaction._legacy
            if known is None or known.call_id != probe.call_id:
                continue
            if (
                known.uri != probe.uri
                or known.from_tag != probe.from_tag
                or known.cseq_number != probe.cseq_number
                or known.via != probe.via
            ):
                continue
            if method == "ACK":
                sent = transaction.last_response
                if (
                    transaction.method == "INVITE"
                    and sent is not None
                    and _tag(sent, "To") == probe.to_tag
                ):
                    return transaction
            elif known.cseq_method == probe.cseq_method and known.to_tag == probe.to_tag:
                return transaction
        return None

    # -- timers -------------------------------------------------------------------------------

    def _arm(self, transaction: Transaction, name: str, delay: float, now: float) -> None:
        self._cancel(transaction, name)
        timer = _Timer(transaction, name, now + delay, delay)
        transaction._timers[name] = timer
        heapq.heappush(self._heap, (timer.deadline, next(self._sequence), timer))

    def _drop_stale(self) -> None:
        """Pop cancelled timers and stale held entries off the top of both heaps."""
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        while self._held_heap:
            _, sequence, key = self._held_heap[0]
            held = self._servers.get(key)
            if held is not None and held._held == sequence:
                return
            heapq.heappop(self._held_heap)

    def _next_due(self, now: float) -> _Timer | ServerTransaction | None:
        """Take the earliest live timer or held transaction due at ``now`` off its heap."""
        self._drop_stale()
        timer = self._heap[0] if self._heap else None
        held = self._held_heap[0] if self._held_heap else None
        if held is not None and (timer is None or (held[0], held[1]) < (timer[0], timer[1])):
            if held[0] > now:
                return None
            heapq.heappop(self._held_heap)
            return self._servers[held[2]]
        if timer is None or timer[0] > now:
            return None
        heapq.heappop(self._heap)
        return timer[2]

    def _cancel(self, transaction: Transaction, name: str) -> None:
        timer = transaction._timers.pop(name, None)
        if timer is not None:
            timer.cancelled = True

    def _fire(self, timer: _Timer, now: float) -> list[Event]:
        transaction = timer.owner
        name = timer.name
        t2 = self.timers.t2
        if isinstance(transaction, ClientTransaction):
            if name == "A":
                self._send(transaction.request, transaction.destination)
                self._arm(transaction, "A", timer.interval * 2, now)
                return []
            if name == "E":
                self._send(transaction.request, transaction.destination)
                proceeding = transaction.state == TransactionState.PROCEEDING
                interval = t2 if proceeding else min(timer.interval * 2, t2)
                self._arm(transaction, "E", interval, now)
                return []
        else:
            if name == "trying":
                # Any response from the TU cancels this timer, so nothing has been sent yet.
                trying = make_response(transaction.request, 100)
                transaction.last_response = trying
                self._send(trying, transaction.source)
                return []
            if name in ("G", "2xx"):
                if transaction.last_response is not None:
                    self._send(transaction.last_response, transaction.source)
                self._arm(transaction, name, min(timer.interval * 2, t2), now)
                return []
        if name in ("B", "F", "H", "L"):
            self._forget(transaction)
            return [TransactionTimeout(transaction), TransactionTerminated(transaction)]
        # D, I, J, K: the wait for stray retransmissions is over.
        self._forget(transaction)
        return [TransactionTerminated(transaction)]

    # -- bookkeeping --------------------------------------------------------------------------

    def _send(self, message: Message, destination: Peer) -> None:
        self._outgoing.append((message, destination))

    def _is_known(self, transaction: Transaction) -> bool:
        if isinstance(transaction, ClientTransaction):
            return self._clients.get((transaction.branch, transaction.method)) is transaction
        if transaction._key is not None:
            return self._servers.get(transaction._key) is transaction
        return any(known is transaction for known in self._legacy_servers)

    def _hold_server(
        self, transaction: ServerTransaction, name: str, delay: float, now: float
    ) -> None:
        """Hold a server transaction that only absorbs retransmissions until Timer ``name``.

        One matched by branch is packed (see :class:`ServerTransaction`) and its expiry kept in
        a plain tuple; an RFC 2543 one (matched by a parsed Via, rare) keeps an ordinary timer.
        """
        if transaction._key is None:
            self._arm(transaction, name, delay, now)
        else:
            for armed in list(transaction._timers):
                self._cancel(transaction, armed)
            transaction._pack()
            sequence = next(self._sequence)
            transaction._held = sequence
            heapq.heappush(self._held_heap, (now + delay, sequence, transaction._key))
        self._hold_completed(transaction)

    def _hold_completed(self, transaction: Transaction) -> None:
        """Count ``transaction`` as completed; forget the oldest beyond ``max_completed``."""
        self._completed[transaction] = None
        while len(self._completed) > self.max_completed:
            self._forget(next(iter(self._completed)))

    def _forget(self, transaction: Transaction) -> None:
        transaction.state = TransactionState.TERMINATED
        self._completed.pop(transaction, None)
        for name in list(transaction._timers):
            self._cancel(transaction, name)
        if isinstance(transaction, ClientTransaction):
            key = (transaction.branch, transaction.method)
            if self._clients.get(key) is transaction:
                del self._clients[key]
            return
        if transaction._key is not None:
            if self._servers.get(transaction._key) is transaction:
                del self._servers[transaction._key]
        else:
            self._legacy_servers = [t for t in self._legacy_servers if t is not transaction]
        if transaction._awaiting_ack is not None:
            self._awaiting_ack.pop(transaction._awaiting_ack, None)
        transaction._held = None


# A message as plain tuples of str, bytes and int: the collector untracks such tuples, so a
# packed message costs it nothing. Header lines are (name, value, raw).
_PackedHeaders = tuple[tuple[str, str, bytes | None], ...]
_PackedRequest = tuple[str, str, _PackedHeaders, bytes, str, bytes | None]
_PackedResponse = tuple[int, str, _PackedHeaders, bytes, str, bytes | None]


def _pack_headers(message: Message) -> _PackedHeaders:
    return tuple((line.name, line.value, line.raw) for line in message.headers)


def _unpack_headers(packed: _PackedHeaders) -> tuple[Header, ...]:
    return tuple(Header(name, value, raw) for name, value, raw in packed)


def _pack_request(request: Request) -> _PackedRequest:
    return (
        request.method,
        request.uri,
        _pack_headers(request),
        request.body,
        request.version,
        request.raw,
    )


def _unpack_request(packed: _PackedRequest) -> Request:
    method, uri, headers, body, version, raw = packed
    return Request(method, uri, _unpack_headers(headers), body, version, raw)


def _pack_response(response: Response) -> _PackedResponse:
    return (
        response.status,
        response.reason,
        _pack_headers(response),
        response.body,
        response.version,
        response.raw,
    )


def _unpack_response(packed: _PackedResponse) -> Response:
    status, reason, headers, body, version, raw = packed
    return Response(status, reason, _unpack_headers(headers), body, version, raw)


def _top_via(message: Message) -> Via:
    value = message.header("Via")
    if value is None:
        raise SIPParseError(0, "missing Via")
    return Via.parse(value)


def _tag(message: Message, name: str) -> str:
    value = message.header(name)
    if value is None:
        raise SIPParseError(0, f"missing {name}")
    return Address.parse(value).tag or ""


def _loose_tag(message: Message, name: str) -> str:
    """The tag of header ``name``; '' when the header is missing or unparsable, so a 2xx and its
    ACK from a sloppy peer still pair up on whatever they share."""
    try:
        return _tag(message, name)
    except SIPParseError:
        return ""


def _default_port(transport: str) -> int:
    return 5061 if transport.upper() in ("TLS", "WSS") else 5060


def _server_key(via: Via, method: str) -> _ServerKey:
    return (
        via.branch or "",
        via.host.lower(),
        via.port if via.port is not None else _default_port(via.transport),
        "INVITE" if method == "ACK" else method,
    )


def _uri_key(text: str) -> object:
    """A comparable form of a Request-URI: case-insensitive where RFC 3261 §19.1.4 says so."""
    try:
        uri = URI.parse(text)
    except SIPParseError:
        return text
    if uri.opaque is not None:
        return (uri.scheme.lower(), uri.opaque)
    params = frozenset((name.lower(), value) for name, value in uri.params)
    return (
        uri.scheme.lower(),
        uri.user,
        uri.password,
        uri.host.lower(),
        uri.port,
        params,
        uri.headers,
    )


def _legacy_key(request: Request, via: Via) -> _LegacyKey:
    number, method = request.cseq
    return _LegacyKey(
        uri=_uri_key(request.uri),
        call_id=request.call_id,
        from_tag=_tag(request, "From"),
        to_tag=_tag(request, "To"),
        cseq_number=number,
        cseq_method=method,
        via=via,
    )


def _ack_for(invite: Request, response: Response) -> Request:
    """The ACK of a 3xx-6xx final response, built by the transaction (§17.1.1.3)."""
    number, _ = invite.cseq
    lines = [
        Header("Via", invite.header("Via") or ""),
        Header("Max-Forwards", "70"),
        *(Header("Route", value) for value in invite.header_values("Route")),
        Header("From", invite.header("From") or ""),
        Header("To", response.header("To") or ""),
        Header("Call-ID", invite.call_id),
        Header("CSeq", f"{number} ACK"),
    ]
    return Request(method="ACK", uri=invite.uri, headers=tuple(lines))
