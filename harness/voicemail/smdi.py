"""The voicemail server's SMDI service: call details in, lamp commands out, on one serial port.

With ``smdienable=yes`` the server opens the smdi.conf interface ``smdiport`` names (with its
baud rate, character size, parity and stop bits) and runs the sans-IO pieces of
:mod:`harness.smdi` on it:

- the bytes the switch sends go through :class:`~harness.smdi.codec.SmdiReader`; MD messages
  join the :class:`~harness.smdi.queue.MdQueue` (expiring after ``msgexpirytime``), MWI-errors
  go to the :class:`~harness.smdi.lamps.LampScheduler`;
- :meth:`SmdiService.lookup` finds the MD message of a call by its search key, waiting up to
  the timeout (3000 ms, as ``SMDI_MSG_RETRIEVE``) for one that has not arrived yet;
  :meth:`SmdiService.route` turns it into the call's purpose (type B: deposit with the busy
  greeting; N, A, U and vendor letters: deposit with the unavailable greeting; D: retrieval of
  the calling station's mailbox) and its caller id (the calling station, ``Unknown`` if blank);
- :meth:`SmdiService.lamp` queues ``OP:MWI``/``RMV:MWI`` for a mailbox's stations; a writer
  task sends them as fast as the line takes them.

Stations and mailboxes map through smdi.conf ``[mailboxes]`` (for this port); a station not
listed there is the mailbox ``<station>@default``, and a ``default``-context mailbox with a
numeric box that no line maps is the station of the same number. At start-up the lamps of the
mailboxes with new messages are lit (res_smdi's poller remembers every lamp as off at start, so
only lit ones generate traffic).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from harness.core.mailbox import DEFAULT_CONTEXT, MailboxId
from harness.core.mwi import MailboxCounts
from harness.core.routing import Reason, Resolution, Routed
from harness.sip.errors import SIPParseError
from harness.sip.message import Request
from harness.sip.uri import URI
from harness.smdi.codec import (
    MAX_COMMAND_STATION,
    MdMessage,
    MwiError,
    Noise,
    Received,
    SmdiError,
    SmdiReader,
)
from harness.smdi.lamps import LampFault, LampScheduler
from harness.smdi.link import SerialSettings, SmdiLink, SmdiLinkError, open_link
from harness.smdi.lookup_key import check_lookup_key
from harness.smdi.queue import Matched, MdQueue, QueuedMd, SearchMode, TimedOut
from harness.voicemail.conf.server_config import ServerConfig
from harness.voicemail.conf.smdi_conf import SmdiInterface, SmdiMapping

log = logging.getLogger(__name__)

#: How long a call waits for its MD message by default (SMDI_MSG_RETRIEVE's 3000 ms).
DEFAULT_LOOKUP_TIMEOUT = 3.0
#: Conventions that read the mailbox from the request's own addressing, not from a header that
#: names it: with SMDI enabled, such a call is looked up on the MD queue first.
_ADDRESSING = frozenset({"request-uri", "to"})
_REASON_OF_TYPE = {
    "B": Reason.USER_BUSY,
    "N": Reason.NO_ANSWER,
    "A": Reason.UNCONDITIONAL,
}


@dataclass(frozen=True, slots=True)
class SmdiOptions:
    """How the server uses SMDI beyond what smdi.conf says.

    ``search``: the MD field the Request-URI user is matched against (``station``: forwarding
    station; ``terminal``; ``desk``: message-desk number). ``timeout``: seconds a call waits
    for its MD message. ``pacing``: write no faster than the configured baud rate would carry
    (for ports that do not pace themselves, such as a pty).
    """

    search: SearchMode = "station"
    timeout: float = DEFAULT_LOOKUP_TIMEOUT
    pacing: bool = False
    #: What of the call is looked up: ``request-uri`` (its user), ``caller-id`` (the From
    #: user, as a dialplan's ``SMDI_MSG_RETRIEVE(port,${CALLERID(num)})``) or ``header:NAME``
    #: (a header the PBX sets, as ``${SIP_HEADER(NAME)}``).
    key: str = "request-uri"

    def __post_init__(self) -> None:
        check_lookup_key(self.key)


@dataclass(frozen=True, slots=True)
class SmdiRoute:
    """What an MD message makes of a call: its purpose, its caller id, and the message."""

    routed: Routed
    callerid: str
    message: MdMessage


def lookup_key(request: Request, key: str) -> str:
    """What ``request`` is looked up by on the MD queue, as :attr:`SmdiOptions.key` says
    ('' when the request does not carry it)."""
    try:
        if key == "caller-id":
            sender = request.address("From")
            return "" if sender is None else sender.uri.user or ""
        if key.startswith("header:"):
            return (request.header(key[len("header:") :].strip()) or "").strip()
        return URI.parse(request.uri).user or ""
    except SIPParseError:
        return ""


def serial_settings(interface: SmdiInterface) -> SerialSettings:
    """The line settings of an smdi.conf interface."""
    return SerialSettings(
        baudrate=interface.baudrate,
        bytesize=interface.charsize,
        parity=interface.parity,
        stopbits=2 if interface.twostopbits else 1,
    )


class SmdiService:
    """One SMDI interface of the server: its MD queue and its lamp commands."""

    def __init__(
        self,
        interface: SmdiInterface,
        mappings: Sequence[SmdiMapping] = (),
        options: SmdiOptions | None = None,
    ) -> None:
        self.interface = interface
        self.options = options or SmdiOptions()
        self.settings = serial_settings(interface)
        self._station_mailbox = {m.station: m.mailbox for m in mappings}
        self._reader = SmdiReader(msdstrip=interface.msdstrip)
        self._queue = MdQueue(expiry=interface.msgexpirytime / 1000, search=self.options.search)
        self._lamps = LampScheduler()
        self._lookups: dict[int, asyncio.Future[QueuedMd | None]] = {}
        self._link: SmdiLink | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._writer: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    @classmethod
    async def open(
        cls,
        config: ServerConfig,
        options: SmdiOptions | None = None,
        counts: Callable[[MailboxId], MailboxCounts] | None = None,
    ) -> SmdiService | None:
        """The running service for ``config``'s ``smdiport``, or None when SMDI is off or the
        port cannot be opened (logged, as Asterisk disables SMDI then). With ``counts``, the
        lamps of mailboxes holding new messages are lit at once."""
        interface = config.smdi_notify
        if interface is None:
            return None
        mappings = [] if config.smdi is None else config.smdi.mappings
        service = cls(interface, [m for m in mappings if m.port == interface.port], options)
        try:
            await service.start()
        except SmdiLinkError as error:
            log.error("SMDI disabled: %s", error)
            return None
        if counts is not None:
            service.resync(config.voicemail.mailboxes, counts)
        return service

    @property
    def port(self) -> str:
        """The device path (or pyserial URL) of the interface."""
        return self.interface.port

    async def start(self) -> None:
        """Open the port and start writing lamp commands. Raises SmdiLinkError."""
        self._link = open_link(
            self.port, self.settings, pacing=self.options.pacing, on_data=self._on_data
        )
        self._writer = asyncio.ensure_future(self._write_lamps())
        log.info("SMDI on %s at %s", self.port, self.settings)

    async def close(self) -> None:
        """Stop writing, close the port; calls still waiting for an MD message get none."""
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        if self._timer is not None:
            self._timer.cancel()
        if self._link is not None:
            self._link.close()
        for future in self._lookups.values():
            if not future.done():
                future.set_result(None)

    # -- stations and mailboxes ------------------------------------------------------------------

    def mailbox_of(self, station: str) -> MailboxId | None:
        """The mailbox behind ``station``: its ``[mailboxes]`` line, else ``station@default``."""
        mapped = self._station_mailbox.get(station)
        if mapped is not None:
            return mapped
        try:
            return MailboxId(station, DEFAULT_CONTEXT)
        except ValueError:
            return None

    def stations(self, mailbox: MailboxId) -> tuple[str, ...]:
        """The stations whose lamps show ``mailbox``."""
        mapped = tuple(s for s, box in self._station_mailbox.items() if box == mailbox)
        if mapped:
            return mapped
        box = mailbox.box
        if (
            mailbox.context == DEFAULT_CONTEXT
            and box.isdigit()
            and len(box) <= MAX_COMMAND_STATION
            and box not in self._station_mailbox
        ):
            return (box,)
        return ()

    # -- MD messages -----------------------------------------------------------------------------

    def applies(self, routed: Routed, config: ServerConfig) -> bool:
        """Whether a call is looked up on the MD queue: a deposit that no header names a
        configured mailbox for (none named, only the Request-URI or To, or an unknown box)."""
        if routed.kind != "deposit":
            return False
        resolution = routed.resolution
        if resolution is None or resolution.convention in _ADDRESSING:
            return True
        return any(config.mailbox(box) is None for box in resolution.mailboxes)

    async def lookup(self, key: str, timeout: float | None = None) -> QueuedMd | None:
        """Take the MD message for ``key``, waiting up to ``timeout`` seconds (default: the
        options'); None when none came."""
        loop = asyncio.get_running_loop()
        wait = self.options.timeout if timeout is None else timeout
        found = self._queue.find(key, loop.time(), wait)
        if isinstance(found, Matched):
            return found.entry
        future: asyncio.Future[QueuedMd | None] = loop.create_future()
        self._lookups[found.ticket] = future
        self._arm()
        try:
            return await future
        finally:
            del self._lookups[found.ticket]
            self._queue.cancel(found.ticket)

    async def route(self, request: Request) -> SmdiRoute | None:
        """The call ``request`` is, by the MD message its lookup key (the options' ``key``:
        Request-URI user by default) finds; None when no message comes within the timeout."""
        key = lookup_key(request, self.options.key)
        if not key:
            return None
        found = await self.lookup(key)
        if found is None:
            log.info(
                "SMDI %s: no MD message with %s %s within %.0f ms",
                self.port,
                self.options.search,
                key,
                self.options.timeout * 1000,
            )
            return None
        message = found.message
        log.info("SMDI %s: %s %s matched MD %s", self.port, self.options.search, key, message)
        return SmdiRoute(self._routed(message), message.calling_station or "Unknown", message)

    def _routed(self, message: MdMessage) -> Routed:
        if message.call_type == "D":
            owner = message.calling_station
            mailbox = self.mailbox_of(owner) if owner else None
            return Routed(
                "retrieve", None if mailbox is None else Resolution(mailbox, None, "smdi")
            )
        station = message.forwarding_station
        mailbox = self.mailbox_of(station) if station else None
        if mailbox is None:
            return Routed("deposit", None)
        reason = _REASON_OF_TYPE.get(message.call_type, Reason.UNKNOWN)
        return Routed("deposit", Resolution(mailbox, reason, "smdi", station))

    def queued(self) -> tuple[QueuedMd, ...]:
        """The MD messages waiting for their call."""
        return self._queue.messages(asyncio.get_running_loop().time())

    # -- lamps -----------------------------------------------------------------------------------

    def lamp(self, mailbox: MailboxId, on: bool) -> None:
        """Set (``on``) or clear the lamps of ``mailbox``'s stations."""
        for station in self.stations(mailbox):
            try:
                self._lamps.request(station, on)
            except SmdiError as error:
                log.warning("SMDI %s: no lamp command for %s: %s", self.port, mailbox, error)
                continue
            self._idle.clear()
            self._wake.set()

    def resync(
        self, mailboxes: Iterable[MailboxId], counts: Callable[[MailboxId], MailboxCounts]
    ) -> None:
        """Light the lamp of every mapped or configured mailbox with new messages."""
        for mailbox in dict.fromkeys([*self._station_mailbox.values(), *mailboxes]):
            if counts(mailbox).waiting:
                self.lamp(mailbox, True)

    async def lamps_idle(self) -> None:
        """Wait until every queued lamp command has been carried by the line."""
        await self._idle.wait()

    @property
    def faults(self) -> tuple[LampFault, ...]:
        """The MWI-errors the switch sent, each matched to the command it answers."""
        return self._lamps.faults

    async def _write_lamps(self) -> None:
        assert self._link is not None
        loop = asyncio.get_running_loop()
        while True:
            command = self._lamps.next_command()
            if command is None:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                await self._link.write(command.encode(self.interface.msdstrip))
            except OSError as error:
                log.error(
                    "SMDI %s: %s:MWI %s not sent: %s",
                    self.port,
                    command.verb,
                    command.station,
                    error,
                )
                continue
            self._lamps.sent(command, loop.time())

    # -- the line --------------------------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        now = asyncio.get_running_loop().time()
        self._handle(self._reader.feed(data, now), now)
        self._arm()

    def _handle(self, events: Iterable[Received[MdMessage | MwiError] | Noise], now: float) -> None:
        for event in events:
            if isinstance(event, Noise):
                log.debug("SMDI %s: noise %r (%s)", self.port, event.data, event.reason)
                continue
            message = event.message
            if isinstance(message, MwiError):
                fault = self._lamps.error(message, now)
                log.warning("SMDI %s: %s", self.port, fault.describe())
                continue
            log.debug("SMDI %s: MD %s", self.port, message)
            for matched in self._queue.add(message, event.time):
                self._resolve(matched.ticket, matched.entry)

    def _resolve(self, ticket: int, entry: QueuedMd | None) -> None:
        future = self._lookups.get(ticket)
        if future is not None and not future.done():
            future.set_result(entry)

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadlines = [d for d in (self._reader.deadline, self._queue.next_timer()) if d is not None]
        if deadlines:
            self._timer = asyncio.get_running_loop().call_at(min(deadlines), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        now = asyncio.get_running_loop().time()
        self._handle(self._reader.expire(now), now)
        timed_out: list[TimedOut] = self._queue.poll(now)
        for expired in timed_out:
            self._resolve(expired.ticket, None)
        self._arm()
