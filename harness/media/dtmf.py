"""DTMF in all three transports: RFC 4733 telephone-events, SIP INFO bodies and inband tones.

Sans-IO: the RTP event generator returns packets with the time each is due; the receiver
takes packets and returns digits. The inband detector and tone generator work on whole
8 kHz int16 signals with numpy.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from harness.media.rtp import RtpPacket, RtpSender

#: Characters of events 0-16 (RFC 4733 §3.2); '!' is flash, as SIP INFO dtmf-relay writes it.
EVENT_CHARACTERS: Final = "0123456789*#ABCD!"
FLASH: Final = 16

#: The volume Asterisk puts in the events it sends (-10 dBm0).
DEFAULT_VOLUME: Final = 10

DTMF_RELAY_CONTENT_TYPE: Final = "application/dtmf-relay"
DTMF_CONTENT_TYPE: Final = "application/dtmf"

#: Duration assumed for a dtmf-relay body without one, in milliseconds.
DEFAULT_RELAY_DURATION: Final = 100

_EVENT = struct.Struct("!BBH")


class DtmfError(ValueError):
    """A malformed DTMF payload or body, or an unknown digit; ``reason`` says what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def event_code(digit: str) -> int:
    """The RFC 4733 event code of ``digit`` ('0'-'9', '*', '#', 'A'-'D', '!' for flash)."""
    index = EVENT_CHARACTERS.find(digit.upper()) if len(digit) == 1 else -1
    if index < 0:
        raise DtmfError(f"{digit!r} is not a DTMF digit (0-9, *, #, A-D or ! for flash)")
    return index


def event_character(code: int) -> str:
    """The digit of RFC 4733 event ``code`` (0-16)."""
    if not 0 <= code <= FLASH:
        raise DtmfError(f"event code {code} is not a DTMF event (0-16)")
    return EVENT_CHARACTERS[code]


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """The RFC 4733 §2.3 payload: event code, end bit, volume (-dBm0) and duration (samples)."""

    event: int
    end: bool = False
    volume: int = DEFAULT_VOLUME
    duration: int = 0

    @property
    def digit(self) -> str:
        """The event's digit character ('!' for flash)."""
        return event_character(self.event)

    def encode(self) -> bytes:
        """The 4-byte payload."""
        if not 0 <= self.event <= 255:
            raise DtmfError(f"event code {self.event} does not fit a byte")
        if not 0 <= self.volume <= 63:
            raise DtmfError(f"volume {self.volume} out of range 0-63")
        if not 0 <= self.duration <= 0xFFFF:
            raise DtmfError(f"duration {self.duration} out of range 0-65535")
        return _EVENT.pack(self.event, (0x80 if self.end else 0) | self.volume, self.duration)

    @classmethod
    def decode(cls, payload: bytes) -> TelephoneEvent:
        """Parse the first event of a payload. Raises :class:`DtmfError` if it is too short."""
        if len(payload) < 4:
            raise DtmfError(f"telephone-event payload of {len(payload)} bytes, expected 4")
        event, flags, duration = _EVENT.unpack_from(payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)


@dataclass(frozen=True, slots=True)
class TimedPacket:
    """A packet and when to send it, in seconds from the start of its burst."""

    at: float
    packet: RtpPacket


def event_packets(
    digit: str,
    sender: RtpSender,
    payload_type: int = 101,
    *,
    duration_ms: int = 100,
    interval_ms: int = 20,
    volume: int = DEFAULT_VOLUME,
    clock_rate: int = 8000,
) -> list[TimedPacket]:
    """The packets of one digit, shaped as Asterisk sends them (res_rtp_asterisk).

    All carry the sender's current timestamp. At 0 s two start packets (the first with the
    marker bit); then one update every ``interval_ms`` with the duration so far; at
    ``duration_ms`` the end packet (E bit, final duration) three times. Each packet takes
    a sequence number; afterwards the sender's timestamp has moved on by the duration.
    """
    code = event_code(digit)
    if duration_ms <= 0 or interval_ms <= 0:
        raise DtmfError(f"duration {duration_ms} ms and interval {interval_ms} ms must be > 0")
    step = clock_rate * interval_ms // 1000
    total = clock_rate * duration_ms // 1000
    timestamp = sender.timestamp

    def packet(duration: int, *, end: bool = False, marker: bool = False) -> RtpPacket:
        payload = TelephoneEvent(code, end, volume, min(duration, 0xFFFF)).encode()
        return sender.packet(payload, timestamp=timestamp, marker=marker, payload_type=payload_type)

    first = min(step, total)
    timed = [TimedPacket(0.0, packet(first, marker=True)), TimedPacket(0.0, packet(first))]
    elapsed = interval_ms
    while elapsed < duration_ms:
        timed.append(
            TimedPacket(elapsed / 1000, packet(min(step * (elapsed // interval_ms + 1), total)))
        )
        elapsed += interval_ms
    timed.extend(TimedPacket(duration_ms / 1000, packet(total, end=True)) for _ in range(3))
    sender.advance(total)
    return timed


@dataclass(frozen=True, slots=True)
class ReceivedDigit:
    """A digit reported by :class:`DtmfReceiver`, with the RTP timestamp of its event."""

    digit: str
    timestamp: int
    ssrc: int


class DtmfReceiver:
    """Turns RFC 4733 packets into digits, each reported exactly once.

    An event is known by its SSRC, timestamp and code, so repeated start, update and end
    packets of one press are one digit, and a press whose start packets were lost is still
    reported from its first update or end packet.
    """

    #: How many recent events are remembered for recognising their late repeats.
    MEMORY = 64

    def __init__(self) -> None:
        self.digits: list[ReceivedDigit] = []
        self._seen: set[tuple[int, int, int]] = set()
        self._order: deque[tuple[int, int, int]] = deque()

    def receive(self, packet: RtpPacket) -> str | None:
        """Take one telephone-event packet; return its digit if this is a new press."""
        event = TelephoneEvent.decode(packet.payload)
        if event.event > FLASH:
            return None
        key = (packet.ssrc, packet.timestamp, event.event)
        if key in self._seen:
            return None
        self._seen.add(key)
        self._order.append(key)
        if len(self._order) > self.MEMORY:
            self._seen.discard(self._order.popleft())
        digit = EVENT_CHARACTERS[event.event]
        self.digits.append(ReceivedDigit(digit, packet.timestamp, packet.ssrc))
        return digit


# --- SIP INFO bodies -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DtmfRelay:
    """An ``application/dtmf-relay`` body: one digit and its duration in milliseconds."""

    signal: str
    duration: int = DEFAULT_RELAY_DURATION

    def __str__(self) -> str:
        return f"Signal={self.signal}\r\nDuration={self.duration}\r\n"


def _signal_digit(value: str, where: str) -> str:
    """A digit from a Signal value: the digit itself or its event number 0-16."""
    if value.isdigit() and len(value) > 1:
        if int(value) > FLASH:
            raise DtmfError(f"{where}: signal {value!r} is neither a digit nor an event 0-16")
        return EVENT_CHARACTERS[int(value)]
    try:
        return EVENT_CHARACTERS[event_code(value)]
    except DtmfError:
        raise DtmfError(f"{where}: signal {value!r} is not a DTMF digit") from None


def parse_dtmf_relay(body: str | bytes) -> DtmfRelay:
    """Parse an ``application/dtmf-relay`` body (``Signal=5`` / ``Duration=250``).

    Keys are case-insensitive, ``d`` is accepted for ``Signal``; a missing Duration is 100.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    signal: str | None = None
    duration = DEFAULT_RELAY_DURATION
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, equals, value = line.partition("=")
        if not equals:
            raise DtmfError(f"dtmf-relay line {number}: {line!r} is not key=value")
        key, value = key.strip().lower(), value.strip()
        if key in ("signal", "d"):
            signal = _signal_digit(value, f"dtmf-relay line {number}")
        elif key == "duration":
            if not value.isdigit():
                raise DtmfError(f"dtmf-relay line {number}: duration {value!r} is not a number")
            duration = int(value)
    if signal is None:
        raise DtmfError("dtmf-relay body has no Signal line")
    return DtmfRelay(signal, duration)


def format_dtmf_relay(digit: str, duration: int = 250) -> str:
    """An ``application/dtmf-relay`` body for ``digit``."""
    return str(DtmfRelay(EVENT_CHARACTERS[event_code(digit)], duration))


def parse_dtmf(body: str | bytes) -> str:
    """Parse an ``application/dtmf`` body: an event number 0-16 (a bare digit also works)."""
    text = (body.decode("utf-8", "replace") if isinstance(body, bytes) else body).strip()
    return _signal_digit(text, "application/dtmf body")


def format_dtmf(digit: str) -> str:
    """An ``application/dtmf`` body for ``digit``: its event number."""
    return str(event_code(digit))


# --- Inband tones --------------------------------------------------------------------------

ROW_FREQUENCIES: Final = (697.0, 770.0, 852.0, 941.0)
COLUMN_FREQUENCIES: Final = (1209.0, 1336.0, 1477.0, 1633.0)
_KEYPAD: Final = ("123A", "456B", "789C", "*0#D")

_RATE = 8000
#: Analysis window (25.6 ms: resolves the 73 Hz spacing of the row tones) and hop (5 ms).
_WINDOW = 205
_HOP = 40
#: Weakest tone accepted, as a peak amplitude (about -40 dBm0).
_MIN_AMPLITUDE = 200.0
#: Largest level difference between the row and the column tone (amplitude ratio, 8 dB).
_MAX_TWIST = 10 ** (8 / 20)
#: The chosen tone must be this much stronger than the others of its group (6 dB).
_MIN_PEAK_RATIO = 2.0
#: Share of the window's energy the two tones must carry. It rejects speech and noise, and
#: also windows less than this share filled by a tone, which makes the number of hops a
#: tone is heard in a measure of its duration.
_MIN_TONE_SHARE = 0.8
#: A dropout this long inside a held tone (one lost 20 ms packet) does not split it in two;
#: the standard's shortest pause between digits, 40 ms, does.
_MAX_DROPOUT_MS = 20

_FREQUENCIES = np.array(ROW_FREQUENCIES + COLUMN_FREQUENCIES)
_BASIS = np.exp(-2j * np.pi * np.outer(np.arange(_WINDOW), _FREQUENCIES) / _RATE)
_KEYS = "".join(_KEYPAD)


def _frame_labels(pcm: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Per hop, the keypad index (row * 4 + column) heard in the window, or -1.

    The eight tone levels are Goertzel's single-frequency DFTs, computed for every window
    at once as one matrix product.
    """
    frames = sliding_window_view(pcm, _WINDOW)[::_HOP]
    spectrum = np.abs(frames @ _BASIS)
    # Peak amplitude of a sinusoid from its DFT magnitude over the window.
    amplitude = spectrum * (2 / _WINDOW)
    rows, columns = amplitude[:, :4], amplitude[:, 4:]
    best_row = rows.argmax(axis=1)
    best_column = columns.argmax(axis=1)
    index = np.arange(len(frames))
    row_level = rows[index, best_row]
    column_level = columns[index, best_column]
    rows_others = rows.copy()
    rows_others[index, best_row] = 0
    columns_others = columns.copy()
    columns_others[index, best_column] = 0
    energy = np.einsum("ij,ij->i", frames, frames)
    # A sinusoid of amplitude A carries A^2 / 2 per sample.
    tone_energy = (row_level**2 + column_level**2) * (_WINDOW / 2)
    detected = (
        (row_level >= _MIN_AMPLITUDE)
        & (column_level >= _MIN_AMPLITUDE)
        & (row_level <= column_level * _MAX_TWIST)
        & (column_level <= row_level * _MAX_TWIST)
        & (row_level >= rows_others.max(axis=1) * _MIN_PEAK_RATIO)
        & (column_level >= columns_others.max(axis=1) * _MIN_PEAK_RATIO)
        & (tone_energy >= _MIN_TONE_SHARE * energy)
    )
    return np.where(detected, best_row * 4 + best_column, -1)


def _min_frames(min_ms: int) -> int:
    # A tone of d samples fills enough of (d - share * window) / hop + 1 windows, give or
    # take one with its alignment to the hops.
    return max(1, int((min_ms * _RATE / 1000 - _MIN_TONE_SHARE * _WINDOW) // _HOP) + 1)


# A dropout also spoils the windows that overlap it by more than (1 - share) of a window.
_MAX_DROPOUT_FRAMES = (
    int(np.ceil((_MAX_DROPOUT_MS * _RATE / 1000 + 2 * (1 - _MIN_TONE_SHARE) * _WINDOW) / _HOP)) + 1
)


class InbandDetector:
    """Streaming DTMF detection: feed audio as it arrives, get each digit once.

    The same analysis as :func:`detect_inband`; a digit is reported as soon as its tone has
    lasted ``min_ms`` (so a held key is heard while it is still held), and a held tone is one
    digit.
    """

    def __init__(self, min_ms: int = 40) -> None:
        self._min_frames = _min_frames(min_ms)
        self._pending = np.zeros(0, dtype=np.float64)
        self._hop = 0  # index of the next hop to analyse
        self._label = -1
        self._first = 0
        self._last = 0
        self._reported = False

    def feed(self, pcm: npt.ArrayLike) -> str:
        """Digits whose tones reached ``min_ms`` in this chunk (usually none or one)."""
        signal = np.asarray(pcm, dtype=np.float64)
        if signal.ndim != 1:
            raise ValueError(f"inband detection needs a 1-D signal, got shape {signal.shape}")
        self._pending = np.concatenate((self._pending, signal))
        if self._pending.size < _WINDOW:
            return ""
        labels = _frame_labels(self._pending)
        consumed = labels.size * _HOP
        self._pending = self._pending[consumed:]
        digits = []
        for label in labels.tolist():
            hop = self._hop
            self._hop += 1
            if label < 0:
                continue
            if label == self._label and hop - self._last <= _MAX_DROPOUT_FRAMES:
                self._last = hop + 1
            else:
                self._label, self._first, self._last, self._reported = label, hop, hop + 1, False
            if not self._reported and self._last - self._first >= self._min_frames:
                digits.append(_KEYS[self._label])
                self._reported = True
        return "".join(digits)


def detect_inband(pcm: npt.ArrayLike, min_ms: int = 40) -> str:
    """The DTMF digits in an 8 kHz int16 signal, in order.

    A held tone counts once; a tone shorter than ``min_ms`` does not count. Two presses of
    the same key need a pause between them (the standard asks for 40 ms).
    """
    signal = np.asarray(pcm)
    if signal.ndim != 1:
        raise ValueError(f"inband detection needs a 1-D signal, got shape {signal.shape}")
    if signal.size < _WINDOW:
        return ""
    labels = _frame_labels(signal.astype(np.float64))
    min_frames = _min_frames(min_ms)
    max_dropout = _MAX_DROPOUT_FRAMES
    change = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate(([0], change)).tolist()
    ends = np.concatenate((change, [labels.size])).tolist()
    digits: list[str] = []
    label, first, last = -1, 0, 0  # the tone being followed: keypad index and hop span
    for start, end in zip(starts, ends, strict=True):
        heard = int(labels[start])
        if heard < 0:
            continue
        if heard == label and start - last <= max_dropout:
            last = end
        elif end - start >= min_frames:
            if label >= 0 and last - first >= min_frames:
                digits.append(_KEYS[label])
            label, first, last = heard, start, end
        # else: a glitch of another key, too short to be a digit
    if label >= 0 and last - first >= min_frames:
        digits.append(_KEYS[label])
    return "".join(digits)


def dtmf_tone(
    digit: str, ms: int = 100, rate: int = 8000, amplitude: int = 8000
) -> npt.NDArray[np.int16]:
    """The two-tone signal of ``digit`` lasting ``ms`` milliseconds; ``amplitude`` per tone."""
    code = event_code(digit)
    if code == FLASH:
        raise DtmfError("flash has no inband tone")
    row = next(r for r, keys in enumerate(_KEYPAD) if EVENT_CHARACTERS[code] in keys)
    column = _KEYPAD[row].index(EVENT_CHARACTERS[code])
    t = np.arange(rate * ms // 1000) / rate
    signal = amplitude * (
        np.sin(2 * np.pi * ROW_FREQUENCIES[row] * t)
        + np.sin(2 * np.pi * COLUMN_FREQUENCIES[column] * t)
    )
    return np.round(signal).astype(np.int16)
