"""The asyncio adapter of the SIP core: UDP and TCP sockets, framing, rport, timers.

This is the only module that opens SIP sockets. It feeds received bytes to the codec and the
transaction layer, sends what the transaction layer queues, re-arms one loop timer from
``next_timer()``, and tells every subscribed observer about each message on the wire (the report
builds ladders and pcaps from that log).

Two public extension points shape what crosses the wire without subclassing: a :class:`WireStyle`
says how every message the transport serialises is written (compact, lower-case or folded
headers), and a :class:`WireHook` sees each message going out or coming in and lets it pass,
drops it or holds it back (as aioquic's protocol hears each event in ``quic_event_received``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from harness.sip.builder import error_response, make_response, new_via
from harness.sip.errors import MessageTooLargeError, SIPParseError
from harness.sip.message import (
    Header,
    HeaderCase,
    Message,
    Request,
    Response,
    StreamParser,
    encode,
    parse_message,
)
from harness.sip.transaction import (
    ClientTransaction,
    Event,
    MalformedMessage,
    Peer,
    RequestReceived,
    ResponseReceived,
    ServerTransaction,
    StrayResponse,
    Timers,
    TransactionError,
    TransactionLayer,
    TransactionState,
    TransactionTimeout,
)
from harness.sip.uri import URI
from harness.sip.validation import Rejection, check_request, clean_reason
from harness.sip.via import Via

log = logging.getLogger(__name__)

TransportName = Literal["UDP", "TCP"]

#: Seconds a request refused for a full transaction table is told to wait (Retry-After).
RETRY_AFTER = 5
#: Ephemeral ports tried for UDP and TCP together before giving up (port 0 with TCP on).
PORT_ATTEMPTS = 20


@dataclass(frozen=True, slots=True)
class WireMessage:
    """One SIP message seen on the wire, for traces, ladders and pcaps."""

    direction: Literal["in", "out"]
    data: bytes
    local: Peer
    remote: Peer
    transport: TransportName
    monotonic: float
    wall: float
    #: The name of the party this transport belongs to (e.g. "proxy", "voicemail").
    party: str = ""
    #: Why the message was not processed, for received bytes that failed to parse.
    error: str | None = None


@dataclass(frozen=True, slots=True)
class WireStyle:
    """How a transport writes the messages it serialises: the :func:`encode` switches.

    The default writes every message as built (or as received, when relayed unmodified).
    """

    #: Compact header names where one exists (``v:``, ``f:``, ``i:``…).
    compact: bool = False
    #: The spelling of the other header names.
    header_case: HeaderCase = "keep"
    #: Fold values longer than this onto continuation lines (RFC 3261 §7.3.1); None: never.
    fold_at: int | None = None

    @property
    def plain(self) -> bool:
        """Whether messages are written as they are."""
        return self == _PLAIN_STYLE

    def encode(self, message: Message) -> bytes:
        """``message`` on the wire in this style."""
        if self.plain:
            return message.to_bytes()
        return encode(
            message, compact=self.compact, header_case=self.header_case, fold_at=self.fold_at
        )


_PLAIN_STYLE = WireStyle()


@dataclass(frozen=True, slots=True)
class WireEvent:
    """A message about to cross a transport, as its :class:`WireHook` sees it."""

    direction: Literal["in", "out"]
    #: The message, parsed; None for bytes sent as they are (:meth:`SipTransport.send_raw`).
    message: Message | None
    data: bytes
    remote: Peer
    transport: TransportName


@dataclass(frozen=True, slots=True)
class Pass:
    """The message crosses as usual."""


@dataclass(frozen=True, slots=True)
class Drop:
    """The message is lost: an outgoing one never reaches the wire, an incoming one is logged
    with ``reason`` and not processed."""

    reason: str


@dataclass(frozen=True, slots=True)
class Hold:
    """The message crosses ``seconds`` later."""

    seconds: float


Verdict = Pass | Drop | Hold


class WireHook(Protocol):
    """Decides what becomes of each message crossing a transport."""

    def __call__(self, event: WireEvent) -> Verdict:
        """The fate of ``event``'s message."""
        ...


Observer = Callable[[WireMessage], None]
RequestHandler = Callable[[Request, ServerTransaction | None, Peer], Awaitable[None] | None]
StrayHandler = Callable[[Response, Peer], None]


class TransactionFailed(Exception):
    """A client transaction ended without a final response (Timer B or F fired)."""


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[Response]
    provisional: Callable[[Response], None] | None = None


@dataclass(frozen=True, slots=True)
class TcpLimits:
    """What a stranger's TCP connections may hold: chan_sip's ``tcpauthtimeout`` and
    ``tcpauthlimit``, and the longest message accepted (longer ones are answered 413).

    As in chan_sip, the timeout and the bound apply only until a connection is known: one
    from an address :attr:`SipTransport.known_peer` names (the proxy's long-lived connection),
    or one :meth:`SipTransport.trust` was called for (a digest it carried was right)."""

    #: Seconds an accepted connection may stay silent before it is closed; None: forever.
    idle_timeout: float | None = None
    #: The most accepted connections held at once; more are closed at once. None: no bound.
    max_connections: int | None = None
    #: The longest message head, and body, accepted on a stream.
    max_head: int = 65536
    max_body: int = 16 * 1024 * 1024


@dataclass(slots=True)
class _TcpConnection:
    writer: asyncio.StreamWriter
    reader_task: asyncio.Task[None] | None = None
    parser: StreamParser = field(default_factory=StreamParser)
    #: Whether the peer opened it (idle timeouts and the connection bound apply).
    accepted: bool = False
    #: Whether it comes from a known peer or authenticated: then neither applies.
    known: bool = False


class SipTransport:
    """A SIP endpoint's sockets and transaction layer on the running asyncio loop."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tcp: bool = False,
        timers: Timers | None = None,
        party: str = "",
        style: WireStyle = _PLAIN_STYLE,
        hook: WireHook | None = None,
        tcp_limits: TcpLimits | None = None,
        max_transactions: int | None = None,
    ) -> None:
        self.host = host
        #: The most transactions in progress at once (see ``TransactionLayer.in_progress_count``;
        #: completed ones have their own bound); new requests beyond are answered 503.
        self.max_transactions = max_transactions
        #: Bounds on what accepted TCP connections may hold.
        self.tcp_limits = tcp_limits or TcpLimits()
        self.port = port
        self.party = party
        #: How every message this transport serialises is written.
        self.style = style
        #: What decides the fate of each message crossing; None lets everything pass.
        self.hook = hook
        self._tcp_enabled = tcp
        self.layer = TransactionLayer(timers or Timers())
        self.handler: RequestHandler | None = None
        self.stray_handler: StrayHandler | None = None
        #: Whether an accepted TCP connection from an address is a known peer's (the idle
        #: timeout and the connection bound then do not apply); None: none is.
        self.known_peer: Callable[[Peer], bool] | None = None
        self._observers: list[Observer] = []
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp_server: asyncio.Server | None = None
        self._tls_servers: list[asyncio.Server] = []
        self._tcp: dict[Peer, _TcpConnection] = {}
        self._pending: dict[int, _Pending] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the UDP socket (and the TCP listener on the same port when enabled). With port
        0 the port is one free for both: the one the UDP socket got may be taken for TCP."""
        loop = asyncio.get_running_loop()
        for attempt in range(1, PORT_ATTEMPTS + 1):
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(self.host, self.port)
            )
            port = transport.get_extra_info("sockname")[1]
            if not self._tcp_enabled:
                break
            try:
                self._tcp_server = await asyncio.start_server(self._accept, self.host, port)
                break
            except OSError as error:
                transport.close()
                if self.port or error.errno != errno.EADDRINUSE or attempt == PORT_ATTEMPTS:
                    raise
        self._udp = transport
        self.port = port

    async def listen_tls(self, context: ssl.SSLContext, host: str, port: int) -> int:
        """Accept SIP over TLS on ``host:port`` as well (0: any free port); the port bound.

        A TLS connection is a TCP stream once the handshake is done: requests are read and
        answered on it as on a TCP one."""
        server = await asyncio.start_server(self._accept, host, port, ssl=context)
        self._tls_servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Close every socket and fail pending requests."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(TransactionFailed("transport closed"))
        self._pending.clear()
        if self._udp is not None:
            self._udp.close()
        if self._tcp_server is not None:
            self._tcp_server.close()
        for server in self._tls_servers:
            server.close()
        for connection in list(self._tcp.values()):
            connection.writer.close()
            if connection.reader_task is not None:
                connection.reader_task.cancel()
        self._tcp.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._tcp_server is not None:
            with contextlib.suppress(Exception):
                await self._tcp_server.wait_closed()

    @property
    def local(self) -> Peer:
        """The bound (host, port)."""
        return (self.host, self.port)

    def subscribe(self, observer: Observer) -> None:
        """Call ``observer`` for every message sent or received."""
        self._observers.append(observer)

    # -- building blocks for the layers above ------------------------------------------------

    def via(self, transport: TransportName = "UDP") -> Via:
        """A fresh top Via for a request sent from here (with a new branch and rport)."""
        return new_via(self.local, transport)

    def contact(self, user: str | None = None, transport: TransportName = "UDP") -> URI:
        """This endpoint's Contact URI."""
        params: tuple[tuple[str, str | None], ...] = (
            (("transport", "tcp"),) if transport == "TCP" else ()
        )
        return URI(scheme="sip", user=user, host=self.host, port=self.port, params=params)

    # -- sending ------------------------------------------------------------------------------

    async def request(
        self,
        request: Request,
        destination: Peer,
        *,
        transport: TransportName = "UDP",
        provisional: Callable[[Response], None] | None = None,
    ) -> Response:
        """Send ``request`` in a client transaction and return its final response.

        Raises :class:`TransactionFailed` when the transaction times out.
        """
        if transport == "TCP":
            await self._connect(destination)
        transaction = self.layer.send_request(
            request, destination, reliable=transport == "TCP", now=self._now()
        )
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[id(transaction)] = _Pending(future, provisional)
        self._flush()
        return await future

    def start_request(
        self,
        request: Request,
        destination: Peer,
        *,
        transport: TransportName = "UDP",
        provisional: Callable[[Response], None] | None = None,
    ) -> tuple[ClientTransaction, asyncio.Future[Response]]:
        """Like :meth:`request` over an open path, returning the transaction (to CANCEL it)."""
        transaction = self.layer.send_request(
            request, destination, reliable=transport == "TCP", now=self._now()
        )
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[id(transaction)] = _Pending(future, provisional)
        self._flush()
        return transaction, future

    def respond(self, transaction: ServerTransaction, response: Response) -> None:
        """Send ``response`` in ``transaction``."""
        self.layer.respond(transaction, response, self._now())
        self._flush()

    def send_stateless(self, message: Message, destination: Peer) -> None:
        """Send outside any transaction (the ACK of a 2xx, a stateless reply, a relayed 2xx)."""
        self.layer.send_stateless(message, destination)
        self._flush()

    def send_raw(self, data: bytes, destination: Peer, transport: TransportName = "UDP") -> None:
        """Put bytes on the wire as they are: for deliberately malformed traffic."""
        self._write(data, destination, transport)

    async def connect(self, destination: Peer) -> None:
        """Open (or reuse) a TCP connection to ``destination``."""
        await self._connect(destination)

    # -- internals ----------------------------------------------------------------------------

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _emit(
        self,
        direction: Literal["in", "out"],
        data: bytes,
        remote: Peer,
        transport: TransportName,
        error: str | None = None,
    ) -> None:
        if not self._observers:
            return
        record = WireMessage(
            direction=direction,
            data=data,
            local=self.local,
            remote=remote,
            transport=transport,
            monotonic=self._now(),
            wall=time.time(),
            party=self.party,
            error=error,
        )
        for observer in self._observers:
            observer(record)

    def _write(
        self,
        data: bytes,
        destination: Peer,
        transport: TransportName,
        message: Message | None = None,
    ) -> None:
        verdict = self._judge("out", message, data, destination, transport)
        if isinstance(verdict, Drop):
            log.debug("%s: not sent to %s:%s: %s", self.party, *destination, verdict.reason)
        elif isinstance(verdict, Hold):
            asyncio.get_running_loop().call_later(
                verdict.seconds, self._put, data, destination, transport
            )
        else:
            self._put(data, destination, transport)

    def _judge(
        self,
        direction: Literal["in", "out"],
        message: Message | None,
        data: bytes,
        remote: Peer,
        transport: TransportName,
    ) -> Verdict:
        if self.hook is None:
            return Pass()
        return self.hook(WireEvent(direction, message, data, remote, transport))

    def _put(self, data: bytes, destination: Peer, transport: TransportName) -> None:
        if self._closed:
            return
        if transport == "TCP":
            connection = self._tcp.get(destination)
            if connection is None:
                log.warning("%s: no TCP connection to %s:%s; dropped", self.party, *destination)
                return
            connection.writer.write(data)
        else:
            if self._udp is None:
                return
            self._udp.sendto(data, destination)
        self._emit("out", data, destination, transport)

    def _flush(self) -> None:
        for message, destination in self.layer.messages_to_send():
            data = self.style.encode(message)
            self._write(data, destination, self._transport_for(message, destination), message)
        self._arm_timer()

    def _transport_for(self, message: Message, destination: Peer) -> TransportName:
        """A response goes back on the connection its request came on (RFC 3261 §18.2.2),
        whatever its Via says; anything else on the transport of its top Via."""
        if isinstance(message, Response) and destination in self._tcp:
            return "TCP"
        return _transport_of(message)

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.layer.next_timer()
        if deadline is not None and not self._closed:
            self._timer = asyncio.get_running_loop().call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._dispatch(self.layer.handle_timer(self._now()))
        self._flush()

    def _received(self, data: bytes, source: Peer, transport: TransportName) -> None:
        try:
            message = parse_message(data)
        except SIPParseError as error:
            self._emit("in", data, source, transport, error=str(error))
            self._reject_unparsable(data, source, transport, error)
            return
        self._process(message, data, source, transport)

    def _process(
        self, message: Message, data: bytes, source: Peer, transport: TransportName
    ) -> None:
        verdict = self._judge("in", message, data, source, transport)
        if isinstance(verdict, Drop):
            self._emit("in", data, source, transport, error=verdict.reason)
        elif isinstance(verdict, Hold):
            asyncio.get_running_loop().call_later(
                verdict.seconds, self._take, message, data, source, transport
            )
        else:
            self._take(message, data, source, transport)

    def _take(self, message: Message, data: bytes, source: Peer, transport: TransportName) -> None:
        self._emit("in", data, source, transport)
        if isinstance(message, Request):
            admitted = self._admit(message, source)
            if admitted is None:
                return
            message = admitted
        events = self.layer.receive(message, source, reliable=transport == "TCP", now=self._now())
        self._dispatch(events)
        self._flush()

    def _admit(self, request: Request, source: Peer) -> Request | None:
        """``request`` stamped with where it came from, or None after refusing it.

        Whatever a peer's bytes hold, the refusal is an answer built from what survived or a
        one-line log of why none can be addressed; never an exception.
        """
        rejection = _checked(request)
        if rejection is None and self._full(request):
            log.warning(
                "%s: %s from %s:%s refused: %d transactions in progress",
                self.party,
                request.method,
                *source,
                self.layer.in_progress_count,
            )
            retry = (("Retry-After", str(RETRY_AFTER)),)
            self.refuse(request, 503, "Service Unavailable (too many transactions)", source, retry)
            return None
        if rejection is None:
            try:
                return _stamp_received(request, source)
            except SIPParseError as error:
                rejection = Rejection(400, f"Bad Request: malformed Via header: {error.reason}")
        log.info("%s: %s from %s:%s", self.party, rejection.reason, *source)
        self.refuse(request, rejection.status, rejection.reason, source)
        return None

    def _full(self, request: Request) -> bool:
        """Whether ``request`` would open one transaction in progress more than the bound allows.

        Completed transactions only absorb retransmissions and are held up to 64*T1, so counting
        them would refuse a steady call rate with nothing in progress.
        """
        if self.max_transactions is None or request.method in ("ACK", "CANCEL"):
            return False
        return self.layer.in_progress_count >= self.max_transactions

    def refuse(
        self,
        request: Request,
        status: int,
        reason: str,
        source: Peer,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Answer ``request`` statelessly with ``status`` (an error), however broken it is.

        The answer is built from the headers that survived; when it cannot be addressed (no
        Via, Call-ID or CSeq) or the request is an ACK, the request is dropped with a log line.
        """
        if request.method == "ACK":
            log.info("%s: ACK from %s:%s dropped: %s", self.party, *source, reason)
            return
        response = error_response(request, status, reason, headers=headers)
        if response is None:
            log.info(
                "%s: %s from %s:%s dropped (no Via, Call-ID or CSeq to answer with): %s",
                self.party,
                _printable(request.method),
                *source,
                reason,
            )
            return
        self.send_stateless(response, source)

    def _dispatch(self, events: Sequence[Event]) -> None:
        for event in events:
            if isinstance(event, RequestReceived):
                self._deliver(event)
            elif isinstance(event, ResponseReceived):
                pending = self._pending.get(id(event.transaction))
                if pending is None:
                    continue
                if event.response.status < 200:
                    if pending.provisional is not None:
                        pending.provisional(event.response)
                    continue
                del self._pending[id(event.transaction)]
                if not pending.future.done():
                    pending.future.set_result(event.response)
            elif isinstance(event, TransactionTimeout):
                pending = self._pending.pop(id(event.transaction), None)
                if pending is not None and not pending.future.done():
                    method = event.transaction.request.method
                    pending.future.set_exception(
                        TransactionFailed(f"no final response to {method} (transaction timeout)")
                    )
            elif isinstance(event, StrayResponse) and self.stray_handler is not None:
                self.stray_handler(event.response, event.source)
            elif isinstance(event, MalformedMessage):
                self._malformed(event)

    def _malformed(self, event: MalformedMessage) -> None:
        """A message the transaction layer could not place: a request is refused with 400."""
        message = event.message
        reason = clean_reason(f"Bad Request: {event.reason}")
        if isinstance(message, Request):
            log.info("%s: %s from %s:%s", self.party, reason, *event.source)
            self.refuse(message, 400, reason, event.source)
        else:
            log.info("%s: response from %s:%s dropped: %s", self.party, *event.source, reason)

    def _deliver(self, event: RequestReceived) -> None:
        if self.handler is None:
            if event.transaction is not None:
                self.respond(event.transaction, _reply(event.request, 501, "Not Implemented"))
            return
        try:
            outcome = self.handler(event.request, event.transaction, event.source)
        except Exception as error:  # a peer's request must never stop the loop
            self._handler_failed(event, error)
            return
        if outcome is not None:
            # The handler's own coroutine is the task: cancelled at close before it ran, it is
            # still closed by the task, never left un-awaited.
            task = asyncio.ensure_future(outcome)
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._handled, event))

    def _handled(self, event: RequestReceived, task: asyncio.Future[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if isinstance(error, Exception):  # see _deliver
            self._handler_failed(event, error)

    def _handler_failed(self, event: RequestReceived, error: Exception) -> None:
        """One log line naming the fault and where it was raised, and a 500 if still owed."""
        request = event.request
        log.error(
            "%s: handling %s from %s:%s failed at %s: %s: %s",
            self.party,
            request.method,
            *event.source,
            _raised_at(error),
            type(error).__name__,
            _printable(str(error)),
        )
        log.debug("%s: the failure in full", self.party, exc_info=error)
        transaction = event.transaction
        if transaction is None or transaction.state not in (
            TransactionState.TRYING,
            TransactionState.PROCEEDING,
        ):
            return
        response = error_response(request, 500, "Server Internal Error")
        if response is not None:
            with contextlib.suppress(TransactionError):
                self.respond(transaction, response)

    def _reject_unparsable(
        self, data: bytes, source: Peer, transport: TransportName, error: SIPParseError
    ) -> None:
        """Answer 400 when enough of the request survives to build a response; else drop."""
        log.info(
            "%s: unparsable message from %s:%s: %s", self.party, *source, _printable(str(error))
        )
        reply = _reply_to_fragment(data, error)
        if reply is None:
            return
        self._write(reply, source, transport)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")[:2]
        limits = self.tcp_limits
        known = self.known_peer is not None and self.known_peer(peer)
        held = sum(1 for c in self._tcp.values() if c.accepted and not c.known)
        if not known and limits.max_connections is not None and held >= limits.max_connections:
            log.warning(
                "%s: TCP connection from %s:%s refused: %d held (tcpauthlimit)",
                self.party,
                *peer,
                held,
            )
            writer.close()
            return
        parser = StreamParser(max_head=limits.max_head, max_body=limits.max_body)
        connection = _TcpConnection(writer, parser=parser, accepted=True, known=known)
        self._tcp[peer] = connection
        # Closing the listener cancels this handler; that is the end of the connection, not
        # an error worth a traceback.
        with contextlib.suppress(asyncio.CancelledError):
            await self._read_stream(reader, connection, peer)

    def trust(self, peer: Peer) -> None:
        """The TCP connection from ``peer`` authenticated: no idle timeout or bound from now."""
        connection = self._tcp.get(peer)
        if connection is not None:
            connection.known = True

    async def _connect(self, destination: Peer) -> None:
        if destination in self._tcp:
            return
        reader, writer = await asyncio.open_connection(*destination)
        connection = _TcpConnection(writer)
        self._tcp[destination] = connection
        task = asyncio.ensure_future(self._read_stream(reader, connection, destination))
        connection.reader_task = task

    async def _read_stream(
        self, reader: asyncio.StreamReader, connection: _TcpConnection, peer: Peer
    ) -> None:
        try:
            while not self._closed:
                strange = connection.accepted and not connection.known
                idle = self.tcp_limits.idle_timeout if strange else None
                try:
                    chunk = await asyncio.wait_for(reader.read(65536), idle)
                except TimeoutError:
                    log.info(
                        "%s: TCP connection from %s:%s closed: idle %g s", self.party, *peer, idle
                    )
                    break
                except ConnectionError as error:
                    log.info("%s: TCP connection from %s:%s lost: %s", self.party, *peer, error)
                    break
                if not chunk:
                    break
                connection.parser.feed(chunk)
                try:
                    for message in connection.parser.messages():
                        self._process(message, message.to_bytes(), peer, "TCP")
                except SIPParseError as error:
                    # A stream cannot be resynchronised after a framing error (RFC 3261 §18.3).
                    self._emit("in", chunk, peer, "TCP", error=str(error))
                    log.info("%s: TCP stream from %s:%s closed: %s", self.party, *peer, error)
                    reply = _reply_to_fragment(chunk, error)
                    if reply is not None:
                        connection.writer.write(reply)
                    break
        finally:
            self._tcp.pop(peer, None)
            connection.writer.close()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: SipTransport) -> None:
        self._owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if data.strip(b"\r\n") == b"":
            return  # keep-alive
        self._owner._received(data, (str(addr[0]), int(addr[1])), "UDP")

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable: the transaction timers deal with the silence.
        log.debug("%s: UDP error %s", self._owner.party, exc)


def _transport_of(message: Message) -> TransportName:
    """RFC 3261 §18: a request goes out on the transport of its own top Via; so does a response."""
    top = message.header("Via")
    if top is not None:
        with contextlib.suppress(SIPParseError):
            # TLS is a TCP stream once the handshake is done (see listen_tls).
            if Via.parse(top).transport in ("TCP", "TLS"):
                return "TCP"
    return "UDP"


def _stamp_received(request: Request, source: Peer) -> Request:
    """RFC 3261 §18.2.1 and RFC 3581: note where the request really came from in its top Via."""
    values = request.header_values("Via")
    if not values:
        return request
    top = Via.parse(values[0])
    params: dict[str, str | None] = {}
    if top.host != source[0] or top.param("rport") is not None:
        params["received"] = source[0]
    if top.param("rport") == "":
        params["rport"] = str(source[1])
    if not params:
        return request
    stamped = str(top.with_params(**params))
    rest = values[1:]
    headers = [h for h in request.headers if h.key != "via"]
    position = next(i for i, h in enumerate(request.headers) if h.key == "via")
    via_headers = [Header("Via", stamped), *(Header("Via", value) for value in rest)]
    new_headers = (*headers[:position], *via_headers, *headers[position:])
    return Request(
        method=request.method,
        uri=request.uri,
        headers=new_headers,
        body=request.body,
        version=request.version,
        raw=None,
    )


def _reply(request: Request, status: int, reason: str) -> Response:
    return make_response(request, status, reason)


def _checked(request: Request) -> Rejection | None:
    """:func:`check_request`, with any parse failure it meets turned into a 400 too."""
    try:
        return check_request(request)
    except (SIPParseError, ValueError) as error:
        return Rejection(400, clean_reason(f"Bad Request: {error}"))


def _printable(text: str, limit: int = 120) -> str:
    """``text`` fit for one log line: control characters shown as ``?``, length bounded."""
    shown = "".join(char if char.isprintable() else "?" for char in text)
    return shown if len(shown) <= limit else shown[:limit] + "..."


def _raised_at(error: BaseException) -> str:
    """``file:line`` of the innermost frame that raised ``error``."""
    frame = error.__traceback__
    if frame is None:
        return "?"
    while frame.tb_next is not None:
        frame = frame.tb_next
    return f"{frame.tb_frame.f_code.co_filename}:{frame.tb_lineno}"


def _reply_to_fragment(data: bytes, error: SIPParseError) -> bytes | None:
    """A 400 built from the header lines of a request that failed to parse, when it has them."""
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    if not head or head[0].startswith(b"SIP/") or b" " not in head[0]:
        return None  # responses, and lines we cannot read, are dropped
    if head[0].split(b" ", 1)[0] == b"ACK":
        return None
    wanted = {b"via", b"v", b"from", b"f", b"to", b"t", b"call-id", b"i", b"cseq"}
    kept = [line for line in head[1:] if line.split(b":", 1)[0].strip().lower() in wanted]
    names = {line.split(b":", 1)[0].strip().lower() for line in kept}
    if not ({b"via", b"v"} & names and {b"call-id", b"i"} & names and b"cseq" in names):
        return None
    reason = clean_reason(error.reason)
    status = (
        "413 Request Entity Too Large"
        if isinstance(error, MessageTooLargeError)
        else "400 Bad Request"
    )
    lines = [f"SIP/2.0 {status} ({reason})".encode(), *kept, b"Content-Length: 0"]
    return b"\r\n".join(lines) + b"\r\n\r\n"
