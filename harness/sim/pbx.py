"""A simulated legacy PBX on the switch end of an SMDI line.

It does what a PBX does when one of its stations forwards a call to the message desk: it writes
the MD message on the serial line and sends the call itself — here a SIP call placed through the
simulated proxy with the DID, from the calling station. It reads the lamp commands the voicemail
system writes back and keeps a lamp per station; for stations told to, it answers a command
with an MWI-error (``INV``: no such station; ``BLK``: the change is blocked) instead of
changing the lamp. Everything that crosses the line is kept in :attr:`SimPbx.line`.

On a 7-bit line (7E1, 7O1) the eighth bit of every byte is dropped both ways, as a UART set to
7 data bits would; a pty carries all eight, so the simulator does it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from harness.sim.phone import Call, Phone
from harness.sip.transaction import Peer
from harness.sip.transport import WireMessage
from harness.smdi.codec import (
    MdMessage,
    MwiCommand,
    MwiError,
    Noise,
    Received,
    SmdiCommandReader,
)
from harness.smdi.link import SerialSettings, SmdiLink

#: The MWI-error causes the PBX can answer with.
ErrorCause = Literal["INV", "BLK"]
#: The SIP user a call from a blank calling station comes from.
ANONYMOUS_USER = "pbx"


@dataclass(frozen=True, slots=True)
class LineRecord:
    """One message (or run of noise) on the SMDI line, as the PBX saw it.

    ``direction`` is ``out`` for what the PBX wrote and ``in`` for what it read; ``kind`` is
    ``MD``, ``MWI-error``, ``OP:MWI``, ``RMV:MWI``, ``raw`` (bytes written as given) or
    ``noise`` (read bytes that are no command).
    """

    direction: Literal["in", "out"]
    kind: str
    data: bytes
    at: float

    @property
    def text(self) -> str:
        """The bytes without the framing around them, as text (``OP:MWI 2000!``)."""
        return self.data.strip(b"\r\n\x19\x7f\x04").decode("latin-1")


class SimPbx:
    """The switch end of an SMDI line (a pty master, or any descriptor), plus its SIP trunk.

    ``msdstrip`` is the voicemail side's setting: lamp commands carry that many zeros before
    the station, which the PBX drops, and its MWI-errors echo them. ``errors`` maps a station
    to the cause it answers every command with. ``proxy`` is where :meth:`call` sends calls.
    """

    def __init__(
        self,
        fd: int,
        settings: SerialSettings | None = None,
        *,
        msdstrip: int = 0,
        pacing: bool = True,
        proxy: Peer | None = None,
        errors: Mapping[str, ErrorCause] | None = None,
        on_wire: Callable[[WireMessage], None] | None = None,
    ) -> None:
        self.fd = fd
        self.settings = settings or SerialSettings()
        self.msdstrip = msdstrip
        self.pacing = pacing
        self.proxy = proxy
        self.errors: dict[str, ErrorCause] = dict(errors or {})
        self.lamps: dict[str, bool] = {}
        self.line: list[LineRecord] = []
        self._on_wire = on_wire
        self._reader = SmdiCommandReader(msdstrip=msdstrip)
        self._mask = 0x7F if self.settings.bytesize == 7 else 0xFF
        self._link: SmdiLink | None = None
        self._phones: dict[str, Phone] = {}
        self._changed = asyncio.Event()
        self._replies: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None

    async def start(self) -> None:
        """Take the line."""
        self._link = SmdiLink.from_fd(
            self.fd, self.settings, pacing=self.pacing, on_data=self._on_data, name="pbx"
        )

    async def close(self) -> None:
        """Hang up the trunk's phones and let go of the line (the descriptor stays open)."""
        for task in list(self._replies):
            task.cancel()
        if self._timer is not None:
            self._timer.cancel()
        for phone in self._phones.values():
            await phone.close()
        if self._link is not None:
            self._link.close()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    # -- writing ---------------------------------------------------------------------------------

    async def send_md(self, message: MdMessage, *, strict: bool = True) -> None:
        """Write an MD message (``strict=False`` writes fields the standard forbids)."""
        await self._write(message.encode(strict=strict), "MD")

    async def send_raw(self, data: bytes) -> None:
        """Write bytes as given (on a 7-bit line, without their eighth bit): line noise, or a
        message built by hand."""
        await self._write(data, "raw")

    async def _write(self, data: bytes, kind: str) -> None:
        if self._link is None:
            raise RuntimeError("the PBX is not started")
        data = bytes(byte & self._mask for byte in data)
        self.line.append(LineRecord("out", kind, data, self._now()))
        self._signal()
        await self._link.write(data)

    # -- the SIP trunk ---------------------------------------------------------------------------

    async def trunk(self, calling: str) -> Phone:
        """The SIP phone the PBX calls from for ``calling`` (``pbx`` when blank)."""
        user = calling or ANONYMOUS_USER
        phone = self._phones.get(user)
        if phone is None:
            if self.proxy is None:
                raise RuntimeError("the PBX has no proxy to send calls to")
            phone = Phone(user, self.proxy)
            if self._on_wire is not None:
                phone.transport.subscribe(self._on_wire)
            await phone.start()
            self._phones[user] = phone
        return phone

    async def call(self, did: str, calling: str = "") -> Call:
        """Place the call to ``did`` through the proxy, from ``calling``; CallFailed if refused."""
        phone = await self.trunk(calling)
        return await phone.dial(did)

    # -- reading ---------------------------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        now = self._now()
        if self._mask != 0xFF:
            data = bytes(byte & self._mask for byte in data)
        self._take(self._reader.feed(data, now))
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self._reader.deadline
        if deadline is not None:
            self._timer = asyncio.get_running_loop().call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        now = self._now()
        self._take(self._reader.expire(now))
        self._arm()

    def _take(self, events: list[Received[MwiCommand] | Noise]) -> None:
        for event in events:
            if isinstance(event, Noise):
                self.line.append(LineRecord("in", "noise", event.data, event.time))
                continue
            command = event.message
            self.line.append(LineRecord("in", f"{command.verb}:MWI", event.raw, event.time))
            cause = self.errors.get(command.station)
            if cause is None:
                self.lamps[command.station] = command.on
            else:
                station = "0" * self.msdstrip + command.station
                reply = MwiError(station, cause).encode(strict=False)
                task = asyncio.ensure_future(self._write(reply, "MWI-error"))
                self._replies.add(task)
                task.add_done_callback(self._replies.discard)
        if events:
            self._signal()

    def _signal(self) -> None:
        """Wake every waiter to look again (each waits on the event of its own round)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_lamp(self, station: str, on: bool, timeout: float) -> bool:
        """Wait until ``station``'s lamp is ``on`` (True) or off; False if ``timeout`` passed.

        A lamp never commanded counts as off.
        """
        return await self._wait(lambda: self.lamps.get(station, False) == on, timeout)

    async def wait_line(self, text: str, start: int, timeout: float) -> int | None:
        """Wait for a line record from index ``start`` on whose :attr:`LineRecord.text` is
        ``text``; its index, or None if ``timeout`` passed first."""

        def found() -> int | None:
            return next(
                (i for i in range(start, len(self.line)) if self.line[i].text == text), None
            )

        if await self._wait(lambda: found() is not None, timeout):
            return found()
        return None

    async def _wait(self, condition: Callable[[], bool], timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return condition()
        return True
