"""SMDI codec (GR-283 Simplified Message Desk Interface), sans-IO.

Three messages cross an SMDI link:

- switch -> voicemail: the call-detail message ``MD`` (:class:`MdMessage`) and the MWI-error
  message (:class:`MwiError`);
- voicemail -> switch: the lamp commands ``OP:MWI``/``RMV:MWI`` (:class:`MwiCommand`).

Each message builds its standard wire form with ``encode()`` and parses one complete message with
``parse()``. On a live link, :class:`SmdiReader` (voicemail side) and :class:`SmdiCommandReader`
(switch side) frame messages out of a byte stream fed in arbitrary pieces.

Framing is by content, as in Asterisk: a message starts at its sync byte (``M`` for the switch's
messages, ``O``/``R`` for commands) and its end follows from its fields, so CR, LF, Ctrl-Y, DEL,
EOT and padding between messages need no special case. Unlike Asterisk, every field is validated
(desk 3 digits, terminal 4 digits, a capital call-type letter, stations of at most 10 digits), and
a message that breaks off is reported as :class:`Noise` while scanning resumes at the next sync
byte *after the broken message's first byte*, so a truncated message never swallows the good one
that follows it.

Resynchronisation guarantee: every message produced by a strict ``encode()`` (with or without
the CR LF in front of it) is parsed from the stream exactly, whatever bytes come before or after
it, provided its bytes arrive with gaps shorter than the reader's ``timeout``. This holds because
no field can take in the start of a valid message (stations are digits, a cause never holds an
``M``, a command station never holds a space or ``:``, and a call-type letter must be followed by
a digit or space, never by ``D`` or ``W``), so an attempt that started in junk either ends at the
good message's sync byte or fails on it, and the scan then retries from the byte after the
attempt's start. Bytes outside any message are reported as :class:`Noise`, one event per run
between messages; framing bytes alone are not reported.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

#: Bytes that pad or frame messages; alone between messages they are not reported as noise.
FRAMING_BYTES = frozenset(b"\r\n\x19\x7f\x04\x00 \xff")
#: Longest station number in an MD or MWI-error message (SMDI_MAX_STATION_NUM_LEN).
MAX_STATION_DIGITS = 10
#: Longest station accepted in an OP:MWI/RMV:MWI command (mailbox numbers, maybe with @context).
MAX_COMMAND_STATION = 80
#: Default silence after which a partial message is closed (SMDI sends a message in one burst:
#: even at 1200 baud the bytes of one message are about 8 ms apart).
DEFAULT_TIMEOUT = 1.0

_MAX_MESSAGE = 96
_MAX_NOISE = 256
_SPACE = 0x20
_DIGITS = frozenset(b"0123456789")
_CAPITALS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
# 'M' is the switch messages' sync byte; keeping it out of causes is what lets a junk
# "MWI... " never eat the "MWI" of the message after it.
_CAUSE_LETTERS = _CAPITALS - {ord("M")}
# ':' and ' ' appear in every command before its station, so a station without them can never
# run into the next command.
_COMMAND_STATION_BYTES = frozenset(range(0x21, 0x7F)) - frozenset(b"!:")
_TRIM = bytes(sorted(FRAMING_BYTES - {_SPACE}))
_MD_TRAILER = b"\r\n\x19"
_DMS_TRAILER = b"\r\n\x7f\x7f\x19"


class SmdiError(ValueError):
    """An SMDI message that cannot be encoded or parsed; the text says what and where."""


class CallType(enum.StrEnum):
    """The call-type letters of an MD message that SMDI documents define."""

    DIRECT = "D"
    FORWARD_ALL = "A"
    FORWARD_BUSY = "B"
    FORWARD_NO_ANSWER = "N"
    FORWARD_UNKNOWN = "U"


_CALL_TYPE_DESCRIPTIONS = {
    CallType.DIRECT: "direct call",
    CallType.FORWARD_ALL: "forward all calls",
    CallType.FORWARD_BUSY: "forward on busy",
    CallType.FORWARD_NO_ANSWER: "forward on no answer",
    CallType.FORWARD_UNKNOWN: "forward, reason unknown",
}


def _is_digits(text: str, low: int, high: int) -> bool:
    return low <= len(text) <= high and all(c in "0123456789" for c in text)


def _check_msdstrip(msdstrip: int) -> None:
    if not 0 <= msdstrip <= 9:
        raise ValueError(f"msdstrip must be between 0 and 9, got {msdstrip}")


@dataclass(frozen=True, slots=True)
class MdMessage:
    """Call detail sent by the switch when a call reaches the message desk.

    ``forwarding_station`` is the station whose calls were forwarded (the mailbox, usually);
    ``calling_station`` is the caller. Either may be blank (``""``). ``call_type`` is kept
    verbatim, so vendor letters survive; :attr:`kind` interprets the standard ones.
    """

    desk: str
    terminal: str
    call_type: str
    forwarding_station: str
    calling_station: str

    @property
    def kind(self) -> CallType | None:
        """The standard meaning of the call-type letter, or None for a vendor letter."""
        try:
            return CallType(self.call_type)
        except ValueError:
            return None

    @property
    def description(self) -> str:
        """Human-readable meaning of the call type, for reports."""
        kind = self.kind
        if kind is None:
            return f"vendor-specific call type {self.call_type!r}"
        return _CALL_TYPE_DESCRIPTIONS[kind]

    @property
    def is_forwarded(self) -> bool:
        """True for the standard forward types A, B, N and U."""
        kind = self.kind
        return kind is not None and kind is not CallType.DIRECT

    @property
    def greeting(self) -> Literal["busy", "unavailable"]:
        """The greeting to play: busy for type B, unavailable otherwise (Asterisk's idiom)."""
        return "busy" if self.call_type == CallType.FORWARD_BUSY else "unavailable"

    def validate(self) -> None:
        """Raise :class:`SmdiError` naming the first field that breaks the standard layout."""
        if not _is_digits(self.desk, 3, 3):
            raise SmdiError(f"MD message desk number must be 3 digits, got {self.desk!r}")
        if not _is_digits(self.terminal, 4, 4):
            raise SmdiError(f"MD message desk terminal must be 4 digits, got {self.terminal!r}")
        if len(self.call_type) != 1 or self.call_type not in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
            raise SmdiError(f"MD call type must be one capital letter, got {self.call_type!r}")
        for name, value in (
            ("forwarding station", self.forwarding_station),
            ("calling station", self.calling_station),
        ):
            if not _is_digits(value, 0, MAX_STATION_DIGITS):
                raise SmdiError(
                    f"MD {name} must be blank or up to {MAX_STATION_DIGITS} digits, got {value!r}"
                )

    def encode(self, *, strict: bool = True) -> bytes:
        """Standard wire form: ``\\r\\nMD<desk><terminal><type><fwd> <calling> \\r\\n^Y``.

        With ``strict=False`` the fields are written verbatim (latin-1), for deliberately odd
        traffic; otherwise they are validated first.
        """
        if strict:
            self.validate()
        body = (
            f"MD{self.desk}{self.terminal}{self.call_type}"
            f"{self.forwarding_station} {self.calling_station} "
        )
        return b"\r\n" + body.encode("latin-1") + _MD_TRAILER

    @classmethod
    def parse(cls, data: bytes, *, msdstrip: int = 0) -> MdMessage:
        """Parse one complete MD message (framing bytes around it allowed)."""
        return _parse_exact(data, _switch_parser(msdstrip), cls)


MwiErrorStyle = Literal["dms", "toshiba", "cisco"]


@dataclass(frozen=True, slots=True)
class MwiError:
    """The switch's report that a lamp command failed for ``station``.

    ``cause`` is ``INV`` (invalid station) or ``BLK`` (blocked) in the standard. ``style`` is the
    layout on the wire and does not take part in comparisons:

    - ``dms``: ``MWI5551234 INV`` (DMS-100 guide, and the only one Asterisk parses right);
    - ``toshiba``: ``MWI 5551234 INV`` (a space after ``MWI``);
    - ``cisco``: ``MWI5551234! INV`` (a ``!`` after the station).

    The reader accepts the optional space and the optional ``!`` in any combination; a parsed
    message is labelled ``cisco`` if it had the ``!``, else ``toshiba`` if it had the space.
    """

    station: str
    cause: str
    style: MwiErrorStyle = field(default="dms", compare=False)

    @property
    def is_invalid_station(self) -> bool:
        """True for cause ``INV``."""
        return self.cause == "INV"

    @property
    def is_blocked(self) -> bool:
        """True for cause ``BLK``."""
        return self.cause == "BLK"

    def validate(self) -> None:
        """Raise :class:`SmdiError` naming the field that the reader would refuse."""
        if not _is_digits(self.station, 1, MAX_STATION_DIGITS):
            raise SmdiError(
                f"MWI error station must be 1 to {MAX_STATION_DIGITS} digits, got {self.station!r}"
            )
        if len(self.cause) != 3 or any(ord(c) not in _CAUSE_LETTERS for c in self.cause):
            raise SmdiError(
                f"MWI error cause must be 3 capital letters other than M, got {self.cause!r}"
            )

    def encode(self, *, strict: bool = True) -> bytes:
        """Wire form in :attr:`style` (DMS: ``\\r\\nMWI<station> <cause>\\r\\n DEL DEL ^Y``)."""
        if strict:
            self.validate()
        if self.style == "toshiba":
            body, trailer = f"MWI {self.station} {self.cause}", _MD_TRAILER
        elif self.style == "cisco":
            body, trailer = f"MWI{self.station}! {self.cause}", _MD_TRAILER
        else:
            body, trailer = f"MWI{self.station} {self.cause}", _DMS_TRAILER
        return b"\r\n" + body.encode("latin-1") + trailer

    @classmethod
    def parse(cls, data: bytes, *, msdstrip: int = 0) -> MwiError:
        """Parse one complete MWI-error message (framing bytes around it allowed)."""
        return _parse_exact(data, _switch_parser(msdstrip), cls)


@dataclass(frozen=True, slots=True)
class MwiCommand:
    """A lamp command from the voicemail system: ``OP:MWI`` (on) or ``RMV:MWI`` (off)."""

    station: str
    on: bool

    @property
    def verb(self) -> Literal["OP", "RMV"]:
        """``OP`` to light the lamp, ``RMV`` to clear it."""
        return "OP" if self.on else "RMV"

    def validate(self) -> None:
        """Raise :class:`SmdiError` if the station is empty or has bytes the reader refuses."""
        if not 1 <= len(self.station) <= MAX_COMMAND_STATION:
            raise SmdiError(
                f"MWI command station must be 1 to {MAX_COMMAND_STATION} characters, "
                f"got {self.station!r}"
            )
        bad = [c for c in self.station if ord(c) not in _COMMAND_STATION_BYTES]
        if bad:
            raise SmdiError(
                f"MWI command station {self.station!r} contains {bad[0]!r}: only printable "
                "ASCII without space, '!' or ':' is allowed"
            )

    def encode(self, msdstrip: int = 0, *, strict: bool = True) -> bytes:
        """``OP:MWI `` / ``RMV:MWI `` + ``msdstrip`` zeros + station + ``!`` + EOT."""
        _check_msdstrip(msdstrip)
        if strict:
            self.validate()
        station = "0" * msdstrip + self.station
        return f"{self.verb}:MWI {station}!".encode("latin-1") + b"\x04"

    @classmethod
    def parse(cls, data: bytes, *, msdstrip: int = 0) -> MwiCommand:
        """Parse one command, dropping the ``msdstrip`` leading zeros the sender added."""
        return _parse_exact(data, _command_parser(msdstrip), cls)


SmdiMessage = MdMessage | MwiError | MwiCommand
MessageT = TypeVar("MessageT", bound=SmdiMessage)


@dataclass(frozen=True, slots=True)
class Received(Generic[MessageT]):
    """A message framed by a reader.

    ``time`` is the ``now`` given with the bytes that completed it (for a message closed by
    the timeout: with its last byte); ``raw`` is its bytes without the framing around it.
    """

    message: MessageT
    time: float
    raw: bytes


@dataclass(frozen=True, slots=True)
class Noise:
    """Bytes that are not (part of) a valid message, with the reason, for traces."""

    data: bytes
    time: float
    reason: str


class _NeedMoreError(Exception):
    """The buffer ends inside a message that may still be valid."""


class _BrokenError(Exception):
    """The bytes from the sync byte on are not a valid message."""


class _RejectedError(Exception):
    """A well-framed message whose content is refused; ``length`` bytes are consumed."""

    def __init__(self, reason: str, length: int) -> None:
        super().__init__(reason)
        self.length = length


class _Scan:
    """Cursor over a buffer for parsing one message that starts at ``start``."""

    def __init__(self, buf: bytes, start: int, final: bool) -> None:
        self.buf = buf
        self.start = start
        self.pos = start
        self.final = final
        self.what = "SMDI message"

    def peek(self, *, may_end: bool = False) -> int | None:
        """Next byte; at the end of the buffer wait for more, or (``final``) end or fail."""
        if self.pos - self.start >= _MAX_MESSAGE:
            raise _BrokenError(f"{self.what} longer than {_MAX_MESSAGE} bytes")
        if self.pos < len(self.buf):
            return self.buf[self.pos]
        if not self.final:
            raise _NeedMoreError
        if may_end:
            return None
        raise _BrokenError(f"{self.what} cut short after {self.pos - self.start} bytes")

    def fail(self, expectation: str) -> _BrokenError:
        """A _BrokenError saying what was expected and what byte was found where."""
        found = bytes([self.buf[self.pos]])
        return _BrokenError(
            f"{self.what}: {expectation}, got {found!r} at byte {self.pos - self.start}"
        )

    def literal(self, text: bytes) -> None:
        """Consume exactly ``text``."""
        for expected in text:
            if self.peek() != expected:
                raise self.fail(f"expected {text.decode()!r}")
            self.pos += 1

    def accept(self, byte: int) -> bool:
        """Consume ``byte`` if it is next."""
        if self.peek() == byte:
            self.pos += 1
            return True
        return False

    def fixed(self, name: str, count: int, allowed: frozenset[int], kind: str) -> str:
        """Exactly ``count`` bytes from ``allowed``."""
        begin = self.pos
        for _ in range(count):
            if self.peek() not in allowed:
                raise self.fail(f"{name} must be {count} {kind}")
            self.pos += 1
        return self.buf[begin : self.pos].decode("ascii")

    def digits(self, name: str, low: int, high: int, *, may_end: bool = False) -> str:
        """``low`` to ``high`` digits, ended by any non-digit (not consumed)."""
        begin = self.pos
        while (byte := self.peek(may_end=may_end)) is not None and byte in _DIGITS:
            if self.pos - begin == high:
                raise _BrokenError(f"{self.what}: {name} longer than {high} digits")
            self.pos += 1
        if self.pos - begin < low:
            if byte is None:
                raise _BrokenError(f"{self.what}: {name} missing")
            raise self.fail(f"{name} must be at least {low} digit(s)")
        return self.buf[begin : self.pos].decode("ascii")

    def spaces(self, *, may_end: bool = False) -> None:
        """Skip spaces."""
        while self.peek(may_end=may_end) == _SPACE:
            self.pos += 1


def _parse_md(scan: _Scan, msdstrip: int) -> MdMessage:
    scan.what = "MD message"
    scan.literal(b"D")
    desk = scan.fixed("message desk number", 3, _DIGITS, "digits")
    terminal = scan.fixed("message desk terminal", 4, _DIGITS, "digits")
    call_type = scan.fixed("call type", 1, _CAPITALS, "capital letter")
    forwarding = scan.digits("forwarding station", 0, MAX_STATION_DIGITS)
    if not scan.accept(_SPACE):
        raise scan.fail("forwarding station must be ended by a space")
    # From here on the message may end anywhere: the calling station is optional and the
    # terminator (normally CR) is whatever byte is neither digit nor space.
    scan.spaces(may_end=True)
    calling = scan.digits("calling station", 0, MAX_STATION_DIGITS, may_end=True)
    scan.spaces(may_end=True)
    if scan.peek(may_end=True) in _DIGITS:
        raise scan.fail("calling station must not contain a space")
    return MdMessage(desk, terminal, call_type, forwarding[msdstrip:], calling[msdstrip:])


def _parse_mwi_error(scan: _Scan, msdstrip: int) -> MwiError:
    scan.what = "MWI error message"
    scan.literal(b"WI")
    spaced = scan.accept(_SPACE)
    station = scan.digits("station", 1, MAX_STATION_DIGITS)
    bang = scan.accept(ord("!"))
    if not scan.accept(_SPACE):
        raise scan.fail("station must be followed by a space")
    scan.spaces()
    cause = scan.fixed("cause", 3, _CAUSE_LETTERS, "capital letters other than M")
    style: MwiErrorStyle = "cisco" if bang else "toshiba" if spaced else "dms"
    return MwiError(station[msdstrip:], cause, style)


def _parse_switch_message(scan: _Scan, msdstrip: int) -> MdMessage | MwiError:
    scan.literal(b"M")
    second = scan.peek()
    if second == ord("D"):
        return _parse_md(scan, msdstrip)
    if second == ord("W"):
        return _parse_mwi_error(scan, msdstrip)
    raise scan.fail("unknown message type: expected 'MD' or 'MWI'")


def _parse_command(scan: _Scan, msdstrip: int) -> MwiCommand:
    on = scan.peek() == ord("O")
    scan.what = "OP:MWI command" if on else "RMV:MWI command"
    scan.literal(b"OP:MWI " if on else b"RMV:MWI ")
    begin = scan.pos
    while (byte := scan.peek()) != ord("!"):
        if byte not in _COMMAND_STATION_BYTES:
            raise scan.fail("station must be ended by '!'")
        if scan.pos - begin == MAX_COMMAND_STATION:
            raise _BrokenError(f"{scan.what}: station longer than {MAX_COMMAND_STATION} characters")
        scan.pos += 1
    station = scan.buf[begin : scan.pos].decode("ascii")
    scan.pos += 1
    if not station:
        raise _BrokenError(f"{scan.what}: station missing")
    if not station.startswith("0" * msdstrip):
        raise _RejectedError(
            f"{scan.what}: station {station!r} does not start with the {msdstrip} zero(s) "
            f"that msdstrip={msdstrip} expects",
            scan.pos - scan.start,
        )
    if len(station) == msdstrip:
        raise _RejectedError(
            f"{scan.what}: station {station!r} is empty once msdstrip={msdstrip} zeros are dropped",
            scan.pos - scan.start,
        )
    return MwiCommand(station[msdstrip:], on)


def _switch_parser(msdstrip: int) -> Callable[[_Scan], MdMessage | MwiError]:
    _check_msdstrip(msdstrip)
    return lambda scan: _parse_switch_message(scan, msdstrip)


def _command_parser(msdstrip: int) -> Callable[[_Scan], MwiCommand]:
    _check_msdstrip(msdstrip)
    return lambda scan: _parse_command(scan, msdstrip)


_ParsedT = TypeVar("_ParsedT", MdMessage, MwiError, MwiCommand)


def _parse_exact(
    data: bytes, parser: Callable[[_Scan], SmdiMessage], kind: type[_ParsedT]
) -> _ParsedT:
    body = data.lstrip(bytes(FRAMING_BYTES)).rstrip(_TRIM)
    if not body:
        raise SmdiError(f"no {kind.__name__} in {data!r}: only framing bytes")
    scan = _Scan(body, 0, final=True)
    try:
        message = parser(scan)
    except (_BrokenError, _RejectedError) as exc:
        raise SmdiError(f"{exc} in {data!r}") from None
    rest = body[scan.pos :].strip(bytes(FRAMING_BYTES))
    if rest:
        raise SmdiError(f"unexpected {rest!r} after the {scan.what} in {data!r}")
    if not isinstance(message, kind):
        raise SmdiError(f"expected {kind.__name__}, got {type(message).__name__} in {data!r}")
    return message


class _ContentFramer(Generic[MessageT]):
    """Frames messages out of a byte stream by content; see the module docstring."""

    def __init__(
        self,
        sync: bytes,
        parser: Callable[[_Scan], MessageT],
        timeout: float | None,
    ) -> None:
        if timeout is not None and timeout <= 0:
            raise ValueError(f"timeout must be positive or None, got {timeout}")
        self._sync = sync
        self._parser = parser
        self._timeout = timeout
        self._buffer = bytearray()
        self._last = 0.0

    @property
    def pending(self) -> bytes:
        """Bytes held back: a message in progress, or junk no sync byte has ended yet."""
        return bytes(self._buffer)

    @property
    def deadline(self) -> float | None:
        """When :meth:`expire` will close the message in progress, if there is one."""
        if not self._buffer or self._timeout is None:
            return None
        return self._last + self._timeout

    def feed(self, data: bytes, now: float) -> list[Received[MessageT] | Noise]:
        """Take bytes received at ``now``; return the messages and noise they complete.

        A message in progress that has seen no byte for ``timeout`` seconds is closed first.
        """
        events = self.expire(now)
        if data:
            self._buffer += data
            self._last = now
        events += self._drain(now, final=False)
        return events

    def expire(self, now: float) -> list[Received[MessageT] | Noise]:
        """Close a message in progress whose ``timeout`` has passed at ``now``."""
        deadline = self.deadline
        if deadline is None or now < deadline:
            return []
        return self._drain(self._last, final=True)

    def flush(self) -> list[Received[MessageT] | Noise]:
        """Close whatever is in progress (end of stream)."""
        return self._drain(self._last, final=True)

    def _next_sync(self, data: bytes, start: int) -> int:
        found = [i for i in (data.find(byte, start) for byte in self._sync) if i >= 0]
        return min(found, default=len(data))

    def _drain(self, now: float, *, final: bool) -> list[Received[MessageT] | Noise]:
        data = bytes(self._buffer)
        events: list[Received[MessageT] | Noise] = []
        i = 0
        while i < len(data):
            if data[i] in FRAMING_BYTES:
                i += 1
                continue
            if data[i] not in self._sync:
                end = self._next_sync(data, i)
                # Junk is held until something ends it, so a trace shows one run per gap
                # between messages however the bytes were split into reads.
                if end == len(data) and not final and end - i < _MAX_NOISE:
                    break
                junk = data[i:end].rstrip(bytes(FRAMING_BYTES))
                events.append(Noise(junk, now, "bytes outside any SMDI message"))
                i = end
                continue
            scan = _Scan(data, i, final)
            try:
                message = self._parser(scan)
            except _NeedMoreError:
                break
            except _RejectedError as exc:
                events.append(Noise(data[i : i + exc.length], now, str(exc)))
                i += exc.length
                continue
            except _BrokenError as exc:
                end = self._next_sync(data, i + 1)
                events.append(Noise(data[i:end].rstrip(_TRIM), now, str(exc)))
                i = end
                continue
            events.append(Received(message, now, data[i : scan.pos]))
            i = scan.pos
        del self._buffer[:i]
        return events


class SmdiReader(_ContentFramer[MdMessage | MwiError]):
    """Voicemail side: frames MD and MWI-error messages out of the switch's byte stream.

    ``msdstrip`` leading characters are dropped from every station field (as Asterisk does).
    A partial message silent for ``timeout`` seconds is closed: an MD that lacks only its
    terminator is delivered, anything else becomes :class:`Noise` (so does held junk).
    ``None`` waits forever. Call :meth:`expire` at :attr:`deadline` to close them on time.
    """

    def __init__(self, *, msdstrip: int = 0, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        super().__init__(b"M", _switch_parser(msdstrip), timeout)


class SmdiCommandReader(_ContentFramer[MwiCommand]):
    """Switch side: frames ``OP:MWI``/``RMV:MWI`` commands out of the voicemail's byte stream.

    Each station must start with ``msdstrip`` zeros, which are dropped; a command without them
    is reported as :class:`Noise` saying so. The EOT after ``!`` is framing and optional.
    """

    def __init__(self, *, msdstrip: int = 0, timeout: float | None = DEFAULT_TIMEOUT) -> None:
        super().__init__(b"OR", _command_parser(msdstrip), timeout)
