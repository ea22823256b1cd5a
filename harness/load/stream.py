"""The media of one load call: one UDP socket, pre-encoded frames out, packets counted in.

Nothing here sleeps or schedules: a deposit's audio frames go to the shared
:class:`~harness.media.pacer.Pacer` (one timer for every call's stream), the generator's clock
calls :meth:`CallStream.send_due` for the few key presses, and the socket's reader only counts
what arrives (the sequence numbers, for loss, and the time of the last packet, for the calls'
quiet detection).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable

import numpy as np

from harness.media import g711
from harness.media.dtmf import TelephoneEvent, event_code
from harness.media.pacer import Pacer, StreamEnd
from harness.media.signature import message_signature

#: Samples per 20 ms frame at 8 kHz.
FRAME = 160
FRAME_SECONDS = 0.02
_HEADER = struct.Struct("!BBHII")
#: A quiet hiss under the signature, so the recording is not digital silence.
_NOISE_LEVEL = 40
#: Telephone-event packets per key: start, updates over 100 ms, end three times.
_KEY_UPDATES = 5
_KEY_GAP_FRAMES = 5
#: µ-law codes within a few steps of zero: a packet of only these is silence (comfort audio a
#: server may send while it records), not speech.
_HUSH = bytes([*range(0x78, 0x80), *range(0xF8, 0x100)])
#: Bytes of a 20 ms frame that may be louder than hush in a packet still counted as silence.
_HUSH_TOLERANCE = 8
#: The beep: a 700 Hz tone (Asterisk's beep.wav and the generated one) carrying most of a
#: frame's energy, loud enough, for five frames in a row.
_BEEP_HZ = 700.0
_BEEP_SHARE = 0.7
_BEEP_LEVEL = 300.0
_BEEP_FRAMES = 5
_BEEP_WAVE = np.exp(-2j * np.pi * _BEEP_HZ * np.arange(FRAME) / 8000)
_ULAW = g711.ulaw_decode(bytes(range(256))).astype(np.float64)


def is_beep_frame(payload: bytes) -> bool:
    """Whether a 20 ms µ-law frame is the beep's tone."""
    if len(payload) != FRAME:
        return False
    samples = _ULAW[np.frombuffer(payload, dtype=np.uint8)]
    energy = float(np.dot(samples, samples))
    if energy < _BEEP_LEVEL**2 * FRAME:
        return False
    tone = abs(complex(np.dot(samples, _BEEP_WAVE))) ** 2
    return 2 * tone / (FRAME * energy) >= _BEEP_SHARE


def talk_frames(code: str, seconds: float, codec: str = "PCMU") -> list[bytes]:
    """``seconds`` of audio carrying the message signature ``code``, as 20 ms G.711 frames."""
    total = max(int(seconds / FRAME_SECONDS), 1) * FRAME
    rng = np.random.default_rng(int.from_bytes(code.encode(), "big") % 2**32)
    pcm = rng.integers(-_NOISE_LEVEL, _NOISE_LEVEL, total, dtype=np.int16)
    signature = message_signature(code)
    lead = min(FRAME * 5, max(total - signature.size, 0))
    fitted = signature[: total - lead]
    pcm[lead : lead + fitted.size] = fitted
    encoded = g711.encode(pcm, codec)
    return [encoded[i : i + FRAME] for i in range(0, len(encoded), FRAME)]


def key_payloads(digits: str) -> list[tuple[bytes, bool]]:
    """Each 20 ms slot's telephone-event payload for ``digits`` (with whether it starts a key);
    empty payloads are gaps between keys."""
    slots: list[tuple[bytes, bool]] = []
    for digit in digits:
        code = event_code(digit)
        for update in range(1, _KEY_UPDATES + 1):
            event = TelephoneEvent(code, duration=update * FRAME)
            slots.append((event.encode(), update == 1))
        end = TelephoneEvent(code, end=True, duration=_KEY_UPDATES * FRAME).encode()
        slots += [(end, False)] * 3
        slots += [(b"", False)] * _KEY_GAP_FRAMES
    return slots


class CallStream:
    """One call's RTP socket."""

    def __init__(self, host: str, pacer: Pacer, on_heard: Callable[[bool], None]) -> None:
        """A socket on ``host``; ``on_heard`` is called when packets of sound (not silence)
        arrive, with True once the beep was heard (while :attr:`listening`)."""
        self.sock = socket.socket(
            socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM
        )
        self.sock.setblocking(False)
        self.sock.bind((host, 0))
        self.port: int = self.sock.getsockname()[1]
        self.remote: tuple[str, int] | None = None
        self.payload_type = 0
        self.event_type = 101
        self._on_heard = on_heard
        #: Whether to look for the beep in what arrives (only while waiting for it: it costs).
        self.listening = True
        self._tone_frames = 0
        self._pacer = pacer
        self._pacing = False
        self._ssrc = int.from_bytes(np.random.default_rng().bytes(4), "big")
        self._seq = 0
        self._timestamp = 0
        self._keys: list[tuple[bytes, bool]] = []
        self._key_timestamp = 0
        #: Packets received, and the first and highest sequence numbers seen (extended).
        self.received = 0
        self._first: int | None = None
        self._highest = 0
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._readable)
        self._open = True

    @property
    def expected(self) -> int:
        """Packets the server sent, by their sequence numbers."""
        return 0 if self._first is None else self._highest - self._first + 1

    def talk(self, frames: list[bytes]) -> None:
        """Have the pacer send ``frames``, one every 20 ms, continuing the stream's numbering."""
        if self.remote is None or not self._open:
            return
        remote = self.remote
        sock = self.sock

        def send(packet: bytes) -> None:
            # A full buffer is loss, which the server's recording shows.
            with contextlib.suppress(BlockingIOError):
                sock.sendto(packet, remote)

        self._pacing = True
        self._pacer.add(
            self,
            frames,
            send,
            ssrc=self._ssrc,
            pt=self.payload_type,
            sequence=self._seq,
            timestamp=self._timestamp,
            on_done=self._paced,
        )

    def _paced(self, end: StreamEnd) -> None:
        self._pacing = False
        self._seq, self._timestamp = end.sequence, end.timestamp

    def press(self, digits: str) -> None:
        """Send ``digits`` as telephone events, one slot per 20 ms tick."""
        self._keys += key_payloads(digits)

    def send_due(self) -> None:
        """Send the next 20 ms slot of the keys pressed, if any (the generator's clock calls
        this every 20 ms)."""
        if self.remote is None or not self._open or not self._keys or self._pacing:
            return
        payload, first = self._keys.pop(0)
        if first:
            self._key_timestamp = self._timestamp
        if payload:
            self._send(payload, self.event_type, self._key_timestamp, marker=first)
        self._timestamp += FRAME

    def _send(
        self, payload: bytes, payload_type: int, timestamp: int, *, marker: bool = False
    ) -> None:
        header = _HEADER.pack(
            0x80,
            payload_type | (0x80 if marker else 0),
            self._seq,
            timestamp & 0xFFFFFFFF,
            self._ssrc,
        )
        self._seq = (self._seq + 1) & 0xFFFF
        # A full buffer is loss, which the server's recording shows.
        with contextlib.suppress(OSError):
            self.sock.sendto(header + payload, self.remote)  # type: ignore[arg-type]

    def _readable(self) -> None:
        heard = False
        while True:
            try:
                data = self.sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            if len(data) < 12:
                continue
            self._count(int.from_bytes(data[2:4], "big"))
            loud = len(data[12:].translate(None, _HUSH)) > _HUSH_TOLERANCE
            heard = heard or loud
            if loud and self.listening:
                self._listen(data[12:])
        if heard:
            self._on_heard(self._tone_frames >= _BEEP_FRAMES)

    def _listen(self, payload: bytes) -> None:
        if self.payload_type != 0:
            return
        self._tone_frames = self._tone_frames + 1 if is_beep_frame(payload) else 0
        if self._tone_frames >= _BEEP_FRAMES:
            self.listening = False

    def _count(self, seq: int) -> None:
        self.received += 1
        if self._first is None:
            self._first = self._highest = seq
            return
        # Extend the 16-bit number by the cycle nearest the highest seen.
        candidate = (self._highest & ~0xFFFF) | seq
        if candidate < self._highest - 0x8000:
            candidate += 0x10000
        elif candidate > self._highest + 0x8000:
            candidate -= 0x10000
        self._highest = max(self._highest, candidate)

    def close(self) -> None:
        """Stop reading and close the socket."""
        if self._open:
            self._open = False
            self._pacer.remove(self)
            self._loop.remove_reader(self.sock.fileno())
            self.sock.close()
