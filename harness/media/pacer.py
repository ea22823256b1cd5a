"""One media clock for many outgoing RTP streams: a sans-IO schedule and a thin asyncio driver.

Every stream sends one pre-encoded frame per tick of a shared 20 ms grid. Deadlines are
absolute (``epoch + n * frame_time``), so lateness never accumulates; after a stall each
stream sends at most ``max_catch_up`` overdue frames at once and the rest of it is delayed,
never dropped. Per packet the work is one ``struct.pack_into`` of sequence and timestamp into
the stream's header template, one copy of the frame, and the send: a thousand streams cost
one timer, not a thousand sleeping tasks.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import struct
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass

from harness.media.rtp import FRAME_SAMPLES

#: Seconds between two frames of a stream.
FRAME_TIME = 0.020

#: Overdue frames a stream sends in one tick after a stall (100 ms of audio).
MAX_CATCH_UP = 5

Send = Callable[[bytes], None]

_SEQUENCE_TIMESTAMP = struct.Struct("!HI")
_SSRC = struct.Struct("!I")
# Ticks are computed from float seconds; a timer firing a hair early still lands on its tick.
_TICK_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """How a stream ended: ``completed`` if its frames ran out, False if removed or failed.

    ``sequence`` and ``timestamp`` are those the next packet of the same RTP stream would
    carry, so a sender can continue the stream where the pacer left it. ``at`` is when the
    audio of a completed stream ran out by the media clock (its last frame's tick plus one
    frame), however late the driver came round to report it; None for a stopped stream.
    """

    stream_id: Hashable
    sent: int
    sequence: int
    timestamp: int
    completed: bool
    error: BaseException | None = None
    at: float | None = None


class _Stream:
    """One paced stream: its frames, its next tick and a header template of its packets."""

    __slots__ = (
        "frames",
        "header",
        "next_tick",
        "played_to",
        "samples",
        "send",
        "sent",
        "sequence",
        "stream_id",
    )

    def __init__(
        self,
        stream_id: Hashable,
        frames: Iterator[bytes],
        send: Send,
        *,
        header: bytearray,
        sequence: int,
        samples: int,
        next_tick: int,
    ) -> None:
        self.stream_id = stream_id
        self.frames = frames
        self.send = send
        self.header = header
        self.sequence = sequence
        self.samples = samples
        self.next_tick = next_tick
        self.sent = 0
        #: The tick after the last frame taken: where the stream's audio runs out.
        self.played_to = next_tick

    @property
    def timestamp(self) -> int:
        """The timestamp of the next packet, read back from the template."""
        return int(_SEQUENCE_TIMESTAMP.unpack_from(self.header, 2)[1])

    def packet(self, frame: bytes) -> bytes:
        """The next packet carrying ``frame``; advances sequence and timestamp."""
        header = self.header
        timestamp = self.timestamp
        _SEQUENCE_TIMESTAMP.pack_into(header, 2, self.sequence, timestamp)
        header[12:] = frame
        packet = bytes(header)
        if self.sent == 0:
            header[1] &= 0x7F  # the marker bit is only on the first packet
        self.sent += 1
        self.sequence = (self.sequence + 1) & 0xFFFF
        _SEQUENCE_TIMESTAMP.pack_into(
            header, 2, self.sequence, (timestamp + self.samples) & 0xFFFFFFFF
        )
        return packet

    def end(
        self, completed: bool, error: BaseException | None = None, at: float | None = None
    ) -> StreamEnd:
        return StreamEnd(
            self.stream_id, self.sent, self.sequence, self.timestamp, completed, error, at
        )


class PacerCore:
    """The sans-IO schedule: which streams are due at ``now`` and the packet each sends.

    Tick ``n`` falls at ``epoch + n * frame_time``. A stream added at ``now`` sends its first
    frame at the next tick (or the first tick at or after ``start``), then one per tick. The
    core never calls ``send``: :meth:`tick` returns ``(send, packet)`` pairs for the caller.
    """

    def __init__(
        self, epoch: float, frame_time: float = FRAME_TIME, max_catch_up: int = MAX_CATCH_UP
    ) -> None:
        if frame_time <= 0:
            raise ValueError(f"pacer frame_time must be positive, got {frame_time}")
        if max_catch_up < 1:
            raise ValueError(f"pacer max_catch_up must be at least 1, got {max_catch_up}")
        self.epoch = epoch
        self.frame_time = frame_time
        self.max_catch_up = max_catch_up
        self._streams: dict[Hashable, _Stream] = {}
        self._last_tick = -1
        self._earliest: int | None = None

    def __len__(self) -> int:
        return len(self._streams)

    def __contains__(self, stream_id: object) -> bool:
        return stream_id in self._streams

    def _tick_at(self, when: float) -> int:
        return math.floor((when - self.epoch) / self.frame_time + _TICK_TOLERANCE)

    def add(
        self,
        stream_id: Hashable,
        frames: Iterable[bytes],
        send: Send,
        *,
        ssrc: int,
        pt: int,
        now: float,
        sequence: int | None = None,
        timestamp: int | None = None,
        samples: int = FRAME_SAMPLES,
        marker: bool = True,
        start: float | None = None,
    ) -> None:
        """Schedule ``frames`` (pre-encoded payloads, a sequence or an iterator) as an RTP
        stream of payload type ``pt`` from ``ssrc``; each frame advances the timestamp by
        ``samples``. Sequence and timestamp start random unless given (RFC 3550 §5.1)."""
        if stream_id in self._streams:
            raise ValueError(f"pacer stream {stream_id!r} is already playing")
        if not 0 <= pt <= 127:
            raise ValueError(f"pacer stream {stream_id!r}: payload type {pt} out of range 0-127")
        header = bytearray(12)
        header[0] = 0x80
        header[1] = pt | (0x80 if marker else 0)
        _SSRC.pack_into(header, 8, ssrc & 0xFFFFFFFF)
        first_sequence = secrets.randbits(16) if sequence is None else sequence & 0xFFFF
        first_timestamp = secrets.randbits(32) if timestamp is None else timestamp & 0xFFFFFFFF
        _SEQUENCE_TIMESTAMP.pack_into(header, 2, first_sequence, first_timestamp)
        next_tick = max(self._tick_at(now), self._last_tick) + 1
        if start is not None:
            next_tick = max(
                next_tick, math.ceil((start - self.epoch) / self.frame_time - _TICK_TOLERANCE)
            )
        self._streams[stream_id] = _Stream(
            stream_id,
            iter(frames),
            send,
            header=header,
            sequence=first_sequence,
            samples=samples,
            next_tick=next_tick,
        )
        if self._earliest is None or next_tick < self._earliest:
            self._earliest = next_tick

    def remove(self, stream_id: Hashable) -> StreamEnd | None:
        """Stop a stream now; None if it is not playing (already ended or never added)."""
        stream = self._streams.pop(stream_id, None)
        return None if stream is None else stream.end(False)

    def clear(self) -> list[StreamEnd]:
        """Stop every stream."""
        ends = [stream.end(False) for stream in self._streams.values()]
        self._streams.clear()
        self._earliest = None
        return ends

    def fail(self, stream_id: Hashable, error: BaseException) -> StreamEnd | None:
        """Stop a stream whose send raised ``error``."""
        stream = self._streams.pop(stream_id, None)
        return None if stream is None else stream.end(False, error)

    def next_deadline(self) -> float | None:
        """Loop time of the next tick at which some stream is due; None when idle."""
        if self._earliest is None:
            return None
        return self.epoch + max(self._earliest, self._last_tick + 1) * self.frame_time

    def tick(self, now: float) -> tuple[list[tuple[Hashable, Send, bytes]], list[StreamEnd]]:
        """The packets due at ``now``, as ``(stream_id, send, packet)`` in stream order, and
        the streams whose frames ran out (their last frame's time has passed)."""
        current = max(self._tick_at(now), self._last_tick)
        self._last_tick = current
        due: list[tuple[Hashable, Send, bytes]] = []
        ended: list[StreamEnd] = []
        earliest: int | None = None
        for stream in list(self._streams.values()):
            if stream.next_tick <= current:
                count = min(current - stream.next_tick + 1, self.max_catch_up)
                if not self._take(stream, count, due):
                    del self._streams[stream.stream_id]
                    at = self.epoch + stream.played_to * self.frame_time
                    ended.append(stream.end(True, at=at))
                    continue
                # Frames beyond the catch-up bound are delayed: the stream rejoins the grid.
                stream.next_tick = current + 1
            if earliest is None or stream.next_tick < earliest:
                earliest = stream.next_tick
        self._earliest = earliest
        return due, ended

    @staticmethod
    def _take(stream: _Stream, count: int, due: list[tuple[Hashable, Send, bytes]]) -> bool:
        """Append up to ``count`` packets of ``stream`` to ``due``; False once it has none."""
        for index in range(count):
            frame = next(stream.frames, None)
            if frame is None:
                return False
            due.append((stream.stream_id, stream.send, stream.packet(frame)))
            stream.played_to = stream.next_tick + index + 1
        return True


def frames_of(payload: bytes, size: int = FRAME_SAMPLES) -> tuple[bytes, ...]:
    """``payload`` (one byte per sample, as G.711) cut into frames of ``size``; the last may
    be short."""
    if size <= 0:
        raise ValueError(f"frame size must be positive, got {size}")
    return tuple(payload[start : start + size] for start in range(0, len(payload), size))


class Pacer:
    """The asyncio driver: one ``loop.call_at`` timer sends every stream's due packets.

    ``send`` is called with each packet's bytes (e.g. ``lambda p: transport.sendto(p, addr)``);
    ``on_done`` with the :class:`StreamEnd` when the frames run out or a send raises. A send
    that raises ends only its own stream.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        frame_time: float = FRAME_TIME,
        max_catch_up: int = MAX_CATCH_UP,
    ) -> None:
        self._loop = asyncio.get_running_loop() if loop is None else loop
        self.core = PacerCore(self._loop.time(), frame_time, max_catch_up)
        self._on_done: dict[Hashable, Callable[[StreamEnd], None]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for: float | None = None

    def __len__(self) -> int:
        return len(self.core)

    def add(
        self,
        stream_id: Hashable,
        frames: Iterable[bytes],
        send: Send,
        *,
        ssrc: int,
        pt: int,
        on_done: Callable[[StreamEnd], None] | None = None,
        sequence: int | None = None,
        timestamp: int | None = None,
        samples: int = FRAME_SAMPLES,
        marker: bool = True,
        start: float | None = None,
    ) -> None:
        """Start pacing ``frames`` to ``send`` from the next tick; see :meth:`PacerCore.add`."""
        self.core.add(
            stream_id,
            frames,
            send,
            ssrc=ssrc,
            pt=pt,
            now=self._loop.time(),
            sequence=sequence,
            timestamp=timestamp,
            samples=samples,
            marker=marker,
            start=start,
        )
        if on_done is not None:
            self._on_done[stream_id] = on_done
        self._arm()

    def remove(self, stream_id: Hashable) -> StreamEnd | None:
        """Stop a stream now (its ``on_done`` is not called); None if it was not playing."""
        self._on_done.pop(stream_id, None)
        return self.core.remove(stream_id)

    async def play(
        self,
        stream_id: Hashable,
        frames: Iterable[bytes],
        send: Send,
        *,
        ssrc: int,
        pt: int,
        sequence: int | None = None,
        timestamp: int | None = None,
        samples: int = FRAME_SAMPLES,
        marker: bool = True,
    ) -> StreamEnd:
        """Pace ``frames`` and wait until they were all sent; cancelling stops the stream."""
        done: asyncio.Future[StreamEnd] = self._loop.create_future()

        def finish(end: StreamEnd) -> None:
            if not done.done():
                done.set_result(end)

        self.add(
            stream_id,
            frames,
            send,
            ssrc=ssrc,
            pt=pt,
            on_done=finish,
            sequence=sequence,
            timestamp=timestamp,
            samples=samples,
            marker=marker,
        )
        try:
            return await done
        except asyncio.CancelledError:
            self.remove(stream_id)
            raise

    def close(self) -> None:
        """Stop every stream and the timer."""
        self._on_done.clear()
        self.core.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self) -> None:
        deadline = self.core.next_deadline()
        if deadline is None or deadline == self._armed_for:
            return
        if self._timer is not None:
            if self._armed_for is not None and self._armed_for <= deadline:
                return
            self._timer.cancel()
        self._armed_for = deadline
        self._timer = self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._armed_for = None
        due, ended = self.core.tick(self._loop.time())
        failed: set[Hashable] = set()
        for stream_id, send, packet in due:
            if failed and stream_id in failed:
                continue
            try:
                send(packet)
            except Exception as exc:  # one broken socket must not stop the other streams
                failed.add(stream_id)
                end = self.core.fail(stream_id, exc)
                if end is not None:
                    ended.append(end)
        for end in ended:
            callback = self._on_done.pop(end.stream_id, None)
            if callback is not None:
                callback(end)
        self._arm()
