"""RTP (RFC 3550): packet codec, a jitter-tolerant receiver and a packetising sender, sans-IO.

The receiver is built for many concurrent calls: per packet it does a little integer
arithmetic and one dict store; ordering, gap filling and concatenation happen once, in
numpy, when the audio is asked for.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass

import numpy as np

from harness.media.g711 import ALAW_SILENCE, ULAW_SILENCE

#: Silence codes of the static G.711 payload types (RFC 3551), for filling gaps.
SILENCE_BY_PAYLOAD_TYPE: dict[int, int] = {0: ULAW_SILENCE, 8: ALAW_SILENCE}

#: Samples in one 20 ms frame at 8 kHz.
FRAME_SAMPLES = 160

#: Longest silence (in samples, one minute at 8 kHz) a recording keeps between packets.
MAX_GAP = 8000 * 60

#: RFC 3550 A.1: sequence numbers this far ahead are loss, this far behind reordering;
#: further off, two consecutive packets start a new segment of the stream.
MAX_DROPOUT = 3000
MAX_MISORDER = 100

#: Seconds a copy of a packet may be off the stream's timing and still be a late copy;
#: further off, in a live recording, it is a loop of the same audio starting over.
RESTART_TRANSIT = 1.0

#: Seconds of silence a new segment may follow the last audio by and still be joined to it.
RESYNC_SLACK = 0.2

#: Sequence numbers remembered, without their audio, for spotting copies (RFC 3550's
#: reordering window is 100 packets behind; twice that, and more, is kept).
RECENT_PACKETS = 512
#: Seconds over which the least transit is taken (:meth:`RtpReceiver.offset_at`): long enough
#: that some packet was read on time, short enough to follow a sender that falls behind.
TRANSIT_WINDOW = 0.5
_FORGOTTEN = (0, 0, b"")

_HEADER = struct.Struct("!BBHII")
_EXTENSION_HEADER = struct.Struct("!HH")
_SEQ_MOD = 1 << 16
_TS_MOD = 1 << 32


class RtpError(ValueError):
    """Bytes that are not a valid RTP packet; ``reason`` says what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RtpHeaderExtension:
    """The RFC 3550 §5.3.1 header extension: a 16-bit profile word and 32-bit-aligned data."""

    profile: int
    data: bytes = b""


#: A packet taken apart: payload type, sequence number, timestamp, SSRC, marker, payload.
RtpFields = tuple[int, int, int, int, bool, bytes]


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet. ``payload`` excludes padding; ``padding`` says whether there was any."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False
    version: int = 2
    padding: bool = False
    csrcs: tuple[int, ...] = ()
    extension: RtpHeaderExtension | None = None

    @property
    def fields(self) -> RtpFields:
        """What a receiver needs of the packet (see :func:`fields_of`)."""
        return (
            self.payload_type,
            self.sequence,
            self.timestamp,
            self.ssrc,
            self.marker,
            self.payload,
        )

    def encode(self) -> bytes:
        """Serialise the packet. With ``padding`` set, pad to a multiple of four bytes."""
        if not 0 <= self.payload_type <= 127:
            raise RtpError(f"payload type {self.payload_type} out of range 0-127")
        if len(self.csrcs) > 15:
            raise RtpError(f"{len(self.csrcs)} CSRCs, at most 15 fit")
        first = (
            (self.version & 0x03) << 6
            | (0x20 if self.padding else 0)
            | (0x10 if self.extension is not None else 0)
            | len(self.csrcs)
        )
        second = (0x80 if self.marker else 0) | self.payload_type
        parts = [
            _HEADER.pack(
                first,
                second,
                self.sequence & 0xFFFF,
                self.timestamp & 0xFFFFFFFF,
                self.ssrc & 0xFFFFFFFF,
            )
        ]
        parts.extend(struct.pack("!I", csrc & 0xFFFFFFFF) for csrc in self.csrcs)
        if self.extension is not None:
            data = self.extension.data
            if len(data) % 4:
                raise RtpError(f"header extension data is {len(data)} bytes, not a multiple of 4")
            parts.append(_EXTENSION_HEADER.pack(self.extension.profile & 0xFFFF, len(data) // 4))
            parts.append(data)
        parts.append(self.payload)
        if self.padding:
            count = 4 - len(self.payload) % 4
            parts.append(bytes(count - 1) + bytes([count]))
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes) -> RtpPacket:
        """Parse one datagram. Raises :class:`RtpError` naming what is wrong."""
        if len(data) < 12:
            raise RtpError(f"datagram of {len(data)} bytes is shorter than the 12-byte RTP header")
        first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
        if first == 0x80:
            # The common case (version 2, nothing optional) skips all the checks below.
            return cls(second & 0x7F, sequence, timestamp, ssrc, data[12:], second > 0x7F)
        version = first >> 6
        if version != 2:
            raise RtpError(f"RTP version {version}, expected 2")
        offset = 12
        csrc_count = first & 0x0F
        csrcs: tuple[int, ...] = ()
        if csrc_count:
            end = offset + 4 * csrc_count
            if len(data) < end:
                raise RtpError(f"{csrc_count} CSRCs announced but the datagram ends at {len(data)}")
            csrcs = struct.unpack_from(f"!{csrc_count}I", data, offset)
            offset = end
        extension = None
        if first & 0x10:
            if len(data) < offset + 4:
                raise RtpError(f"header extension announced but the datagram ends at {len(data)}")
            profile, words = _EXTENSION_HEADER.unpack_from(data, offset)
            end = offset + 4 + 4 * words
            if len(data) < end:
                raise RtpError(
                    f"header extension of {words} words runs past the datagram end ({len(data)})"
                )
            extension = RtpHeaderExtension(profile, data[offset + 4 : end])
            offset = end
        end = len(data)
        padding = bool(first & 0x20)
        if padding:
            count = data[-1]
            if count == 0 or end - count < offset:
                raise RtpError(f"padding count {count} does not fit a {end}-byte datagram")
            end -= count
        return cls(
            second & 0x7F,
            sequence,
            timestamp,
            ssrc,
            data[offset:end],
            second > 0x7F,
            version,
            padding,
            csrcs,
            extension,
        )


def fields_of(data: bytes) -> RtpFields:
    """One datagram's payload type, sequence number, timestamp, SSRC, marker and payload, as
    :meth:`RtpPacket.decode` finds them, without building the packet for the usual one
    (version 2, nothing optional). Raises :class:`RtpError` naming what is wrong."""
    if len(data) >= 12 and data[0] == 0x80:
        _, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
        return second & 0x7F, sequence, timestamp, ssrc, second > 0x7F, data[12:]
    return RtpPacket.decode(data).fields


@dataclass(frozen=True, slots=True)
class RtpStats:
    """Reception statistics of one stream (RFC 3550 §6.4.1 and appendix A.3, A.8).

    ``received`` counts distinct packets; ``lost`` is expected minus received, where expected
    spans the lowest to the highest extended sequence number seen; ``jitter`` is the RFC 3550
    interarrival jitter in seconds.
    """

    received: int
    duplicates: int
    lost: int
    out_of_order: int
    jitter: float
    other_ssrc: int
    ssrc: int | None


class RtpReceiver:
    """Collects one RTP stream (the first SSRC seen) for later playback or analysis.

    Packets may arrive reordered, duplicated or not at all; sequence numbers and timestamps
    are unwrapped relative to the first packet, so calls can run past both wrap-arounds.
    A sender that starts its numbering over under the same SSRC (a re-INVITE, a failover, a
    looped pcap) is followed as RFC 3550 A.1 says: two consecutive packets far out of
    sequence begin a new segment, laid on the timeline after what was heard.
    Packets of other SSRCs are counted in ``other_ssrc`` and otherwise ignored.
    """

    def __init__(
        self,
        clock_rate: int = 8000,
        *,
        max_lead: float | None = None,
        max_bytes: int | None = None,
    ) -> None:
        self.clock_rate = clock_rate
        #: Seconds a packet's timestamp may stray from its arrival time before it is placed at
        #: the arrival time instead: a sender's timestamps cannot stretch the stream beyond the
        #: wall clock. None trusts the timestamps (for analysing a peer's stream as sent).
        self.max_lead = max_lead
        #: The most payload bytes kept; later packets are refused (counted in ``refused``).
        self.max_bytes = max_bytes
        self.refused = 0
        self._kept = 0
        self._first_arrival = 0.0
        self.ssrc: int | None = None
        # extended sequence -> (payload type, timestamp offset from the first packet, payload)
        self._packets: dict[int, tuple[int, int, bytes]] = {}
        #: False: only the statistics and the placement of each packet (:attr:`last_offset`)
        #: are kept, and of the packets only the most recent sequence numbers, for spotting
        #: copies; a live recording takes the payloads as they come (:mod:`timeline`).
        self.keep_audio = True
        self._received = 0
        self._payload_types: set[int] = set()
        self._base_timestamp = 0
        self._lowest_ext = 0
        self._highest_ext = 0
        self._duplicates = 0
        self._out_of_order = 0
        self._other_ssrc = 0
        self._jitter = 0.0
        self._last_transit: float | None = None
        self._last_raw_transit: float | None = None
        # The least transit of this window and of the one before (the packet read soonest
        # after it came, of each), and when this window began.
        self._least_transit: tuple[float | None, float | None] = (None, None)
        self._window_start = 0.0
        #: When the last packet kept was read (the clock of :meth:`receive`).
        self.last_arrival = 0.0
        self._last_timestamp: int | None = None
        #: Times the sender started its sequence numbers over (RFC 3550 A.1 resynchronisation).
        self.restarts = 0
        #: Where the last packet kept lies on the receiver's timeline, in samples.
        self.last_offset = 0
        self._seq_shift = 0  # added to sequence numbers since the last restart
        self._reach = 0  # samples up to the end of the furthest payload kept
        self._pending: tuple[RtpFields, float] | None = None  # an out-of-sequence packet

    def receive(self, packet: RtpPacket, now: float) -> bool:
        """Take one packet that arrived at time ``now`` (seconds). True if it was new."""
        return self.take(packet.fields, now)

    def take(self, fields: RtpFields, now: float) -> bool:
        """:meth:`receive` for a packet already taken apart (:func:`fields_of`): a live call's
        every packet comes this way, with no packet object built for it."""
        payload_type, sequence, timestamp, ssrc, _, payload = fields
        if self.ssrc is None:
            self._start(sequence, timestamp, ssrc, now)
        elif ssrc != self.ssrc:
            self._other_ssrc += 1
            return False
        elif not self._in_sequence(sequence, timestamp, now):
            return self._probation(fields, now)
        return self._keep(payload_type, sequence, timestamp, payload, now)

    def _start(self, sequence: int, timestamp: int, ssrc: int, now: float) -> None:
        self.ssrc = ssrc
        self._first_arrival = now
        self._base_timestamp = timestamp
        self._lowest_ext = self._highest_ext = sequence

    def _offset(self, timestamp: int) -> int:
        """``timestamp`` unwrapped to samples from the start of the current segment's base."""
        offset = (timestamp - self._base_timestamp) & 0xFFFFFFFF
        return offset - _TS_MOD if offset >= 0x80000000 else offset

    def _in_sequence(self, sequence: int, timestamp: int, now: float) -> bool:
        """RFC 3550 A.1: a little ahead is loss, a little behind is reordering or a copy;
        anything else is a sign that the sender started its numbering over. Bounded by the
        wall clock (a live recording), so is a copy whose timing is a second away from the
        stream's: a loop shorter than the reordering window."""
        udelta = (sequence + self._seq_shift - self._highest_ext) & 0xFFFF
        if 0 < udelta < MAX_DROPOUT:
            return True
        if udelta and udelta < _SEQ_MOD - MAX_MISORDER:
            return False
        ext = self._highest_ext - (_SEQ_MOD - udelta if udelta else 0)
        if self.max_lead is None or self._last_raw_transit is None or ext not in self._packets:
            return True
        transit = now * self.clock_rate - self._offset(timestamp)
        return abs(transit - self._last_raw_transit) <= RESTART_TRANSIT * self.clock_rate

    def _probation(self, fields: RtpFields, now: float) -> bool:
        """A packet out of sequence: two in a row that follow each other are a new segment."""
        pending, self._pending = self._pending, (fields, now)
        if pending is None or (pending[0][1] + 1) & 0xFFFF != fields[1]:
            return False
        self._pending = None
        (payload_type, sequence, timestamp, _, _, payload), at = pending
        self._resync(sequence, timestamp, at)
        self._keep(payload_type, sequence, timestamp, payload, at)
        payload_type, sequence, timestamp, _, _, payload = fields
        return self._keep(payload_type, sequence, timestamp, payload, now)

    def _resync(self, sequence: int, timestamp: int, now: float) -> None:
        """Continue the stream's numbering and timeline from the packet numbered ``sequence``
        on: right after what was heard if it follows on, else where its arrival time puts it."""
        self.restarts += 1
        self._seq_shift = (self._highest_ext + 1 - sequence) & 0xFFFF
        arrived = int((now - self._first_arrival) * self.clock_rate)
        place = self._reach if arrived - self._reach <= RESYNC_SLACK * self.clock_rate else arrived
        self._base_timestamp = (timestamp - place) & 0xFFFFFFFF
        self._last_transit = self._last_raw_transit = None
        self._least_transit = (None, None)
        self._last_timestamp = None

    def _keep(
        self, payload_type: int, sequence: int, timestamp: int, payload: bytes, now: float
    ) -> bool:
        """Store a packet of the current segment unless it is a copy or over budget."""
        # Every packet of a call passes here: attributes are read once, into locals.
        highest = self._highest_ext
        delta = (sequence + self._seq_shift - highest) & 0xFFFF
        if delta >= 0x8000:
            delta -= _SEQ_MOD
        ext = highest + delta
        packets = self._packets
        if ext in packets:
            self._duplicates += 1
            return False
        raw = self._offset(timestamp)
        offset = raw if self.max_lead is None else self._within_wall_clock(raw, now)
        size = len(payload)
        if self._over_budget(size, now):
            self.refused += 1
            return False
        if delta > 0:
            self._highest_ext = ext
        elif delta < 0:
            self._out_of_order += 1
            self._lowest_ext = min(self._lowest_ext, ext)
        self._kept += size
        self._received += 1
        self._payload_types.add(payload_type)
        if self.keep_audio:
            packets[ext] = (payload_type, offset, payload)
        else:
            packets[ext] = _FORGOTTEN
            if len(packets) > 2 * RECENT_PACKETS:
                self._forget_old()
        self.last_offset = offset
        self.last_arrival = now
        self._reach = max(self._reach, offset + size)
        # RFC 4733 events repeat one timestamp for their whole duration: no timing in them.
        if offset != self._last_timestamp:
            clock_rate = self.clock_rate
            transit = now * clock_rate - offset
            last_transit = self._last_transit
            if last_transit is not None:
                self._jitter += (abs(transit - last_transit) - self._jitter) / 16
            self._last_transit = transit
            self._note_transit(transit, now)
            self._last_raw_transit = now * clock_rate - raw
            self._last_timestamp = offset
        return True

    def _note_transit(self, transit: float, now: float) -> None:
        before, least = self._least_transit
        if least is None or now - self._window_start >= TRANSIT_WINDOW:
            self._least_transit = (least, transit)
            self._window_start = now
        elif transit < least:
            self._least_transit = (before, transit)

    def offset_at(self, when: float) -> int | None:
        """Where the sender's audio stood on the timeline at time ``when`` (the clock of
        :meth:`receive`), placed by the packet read soonest after it came in the last
        TRANSIT_WINDOW or two: a receiver that reads its packets late (a busy loop, a stalled
        process) still places them when they came, and a sender that falls behind its own
        timestamps is followed. None before the current segment's first packet."""
        known = [least for least in self._least_transit if least is not None]
        if not known:
            return None
        return int(when * self.clock_rate - min(known))

    def _forget_old(self) -> None:
        """Keep only the most recent sequence numbers: older copies fall outside any window."""
        oldest = self._highest_ext - RECENT_PACKETS
        self._packets = {ext: kept for ext, kept in self._packets.items() if ext >= oldest}

    def _over_budget(self, size: int, now: float) -> bool:
        """Whether keeping ``size`` more bytes would pass ``max_bytes`` or, bounded by the wall
        clock, twice the samples the time since the first packet (plus the lead) can hold."""
        kept = self._kept + size
        if self.max_bytes is not None and kept > self.max_bytes:
            return True
        if self.max_lead is None:
            return False
        return kept > 2 * (now - self._first_arrival + self.max_lead) * self.clock_rate

    def _within_wall_clock(self, offset: int, now: float) -> int:
        """``offset`` moved to within ``max_lead`` of where the arrival time puts it."""
        assert self.max_lead is not None
        arrived = (now - self._first_arrival) * self.clock_rate
        slack = self.max_lead * self.clock_rate
        return int(min(max(offset, arrived - slack), arrived + slack))

    @property
    def stats(self) -> RtpStats:
        """A snapshot of the reception statistics."""
        received = self._received
        expected = self._highest_ext - self._lowest_ext + 1 if received else 0
        return RtpStats(
            received=received,
            duplicates=self._duplicates,
            lost=expected - received,
            out_of_order=self._out_of_order,
            jitter=self._jitter / self.clock_rate,
            other_ssrc=self._other_ssrc,
            ssrc=self.ssrc,
        )

    def payload_types(self) -> set[int]:
        """The payload types seen so far."""
        return set(self._payload_types)

    def audio(self, payload_type: int, silence: int | None = None, max_gap: int = MAX_GAP) -> bytes:
        """The stream's payload of ``payload_type``, laid out on the sender's timeline.

        Payloads are placed at their timestamps (one byte per sample, as in G.711) from the
        first to the end of the last packet; gaps from loss, other payload types or pauses
        are filled with ``silence`` (default: the G.711 silence code for PT 0 or 8). A gap
        longer than ``max_gap`` samples is a timestamp jump, not a pause, and is closed up.
        """
        if not self.keep_audio:
            raise ValueError("this receiver keeps no audio (keep_audio is False)")
        if silence is None:
            if payload_type not in SILENCE_BY_PAYLOAD_TYPE:
                raise ValueError(
                    f"no default silence code for payload type {payload_type}; pass silence="
                )
            silence = SILENCE_BY_PAYLOAD_TYPE[payload_type]
        # Sequence order, so that where a broken sender's timestamps overlap the later
        # packet wins (numpy assigns repeated indices in order).
        chosen = [
            (offset, payload)
            for _, (pt, offset, payload) in sorted(self._packets.items())
            if pt == payload_type and payload
        ]
        if not chosen:
            return b""
        offsets = np.fromiter((offset for offset, _ in chosen), dtype=np.int64, count=len(chosen))
        lengths = np.fromiter(
            (len(payload) for _, payload in chosen), dtype=np.int64, count=len(chosen)
        )
        data = np.frombuffer(b"".join(payload for _, payload in chosen), dtype=np.uint8)
        order = np.argsort(offsets, kind="stable")
        ordered = offsets[order]
        reach = np.maximum.accumulate(ordered + lengths[order])
        gaps = ordered[1:] - reach[:-1]
        jumps = np.concatenate(([0], np.cumsum(np.where(gaps > max_gap, gaps, 0))))
        offsets[order] = ordered - jumps
        offsets -= offsets.min()
        # Where each payload starts in ``data``, then each byte's place on the timeline.
        starts = np.cumsum(lengths) - lengths
        destination = np.repeat(offsets - starts, lengths) + np.arange(data.size)
        out = np.full(int((offsets + lengths).max()), silence, dtype=np.uint8)
        out[destination] = data
        return out.tobytes()


class RtpSender:
    """Packetises audio for one RTP stream: consecutive sequence numbers and timestamps.

    Sequence number, timestamp and SSRC start random unless given (RFC 3550 §5.1). The first
    packet the sender makes carries the marker bit.
    """

    def __init__(
        self,
        payload_type: int,
        ssrc: int | None = None,
        sequence: int | None = None,
        timestamp: int | None = None,
        samples_per_frame: int = FRAME_SAMPLES,
    ) -> None:
        if samples_per_frame <= 0:
            raise ValueError(f"samples_per_frame must be positive, got {samples_per_frame}")
        self.payload_type = payload_type
        self.ssrc = secrets.randbits(32) if ssrc is None else ssrc & 0xFFFFFFFF
        self.sequence = secrets.randbits(16) if sequence is None else sequence & 0xFFFF
        self.timestamp = secrets.randbits(32) if timestamp is None else timestamp & 0xFFFFFFFF
        self.samples_per_frame = samples_per_frame
        self._started = False

    def packet(
        self,
        payload: bytes,
        *,
        timestamp: int | None = None,
        marker: bool = False,
        payload_type: int | None = None,
    ) -> RtpPacket:
        """One packet with the next sequence number; the timestamp does not advance."""
        packet = RtpPacket(
            payload_type=self.payload_type if payload_type is None else payload_type,
            sequence=self.sequence,
            timestamp=self.timestamp if timestamp is None else timestamp & 0xFFFFFFFF,
            ssrc=self.ssrc,
            payload=payload,
            marker=marker or not self._started,
        )
        self._started = True
        self.sequence = (self.sequence + 1) & 0xFFFF
        return packet

    def advance(self, samples: int) -> None:
        """Move the timestamp on by ``samples`` (time that passed without audio)."""
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF

    def packets(
        self, payload: bytes, *, payload_type: int | None = None, marker: bool = False
    ) -> list[RtpPacket]:
        """Split ``payload`` (one byte per sample) into frames; the last may be short.

        ``marker`` marks the first packet as the start of a talkspurt.
        """
        frame = self.samples_per_frame
        result = []
        for start in range(0, len(payload), frame):
            chunk = payload[start : start + frame]
            result.append(
                self.packet(chunk, marker=marker and start == 0, payload_type=payload_type)
            )
            self.advance(len(chunk))
        return result
