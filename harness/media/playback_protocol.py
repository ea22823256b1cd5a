"""What the voicemail server and its playback process say to each other, and how it is encoded.

The server keeps signalling, the calls' flows and recording; the playback process, on the other
core, paces the prompts out of the server's own RTP sockets (their descriptors travel beside
:class:`Adopt`) and reads what the callers send to them, handing it over in :class:`Received`
batches: one message for many datagrams instead of one wake-up of the server's loop each.
Audio goes over as content-addressed segments, sent once and cached by the process until
:class:`Forget`, so a prompt played to a thousand callers crosses the pipe once. Every message
is one datagram of a ``SOCK_SEQPACKET`` pair, so order and boundaries hold.
"""

from __future__ import annotations

import hashlib
import pickle
import struct
from collections.abc import Iterator
from dataclasses import dataclass

#: Bytes of audio per :class:`Segment` datagram: well under a Unix socket's send buffer.
PART_SIZE = 48_000
#: Largest datagram either side sends (a segment's part and its envelope).
MAX_DATAGRAM = PART_SIZE + 1024
#: Bytes of received datagrams a :class:`Received` batch holds before it is sent.
BATCH_SIZE = 32_768
#: Seconds between two reads of the listened sockets, each sent as a batch. Each datagram keeps
#: the time it was read, so the delay shifts only when a key is acted on, by a quarter of a
#: frame at most.
BATCH_DELAY = 0.005

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Ready:
    """The process is serving (its first message)."""


@dataclass(frozen=True, slots=True)
class Adopt:
    """Keep the RTP socket whose descriptor comes with this message as ``sock_id``; with
    ``listen``, read it too and hand what arrives over in :class:`Received` batches."""

    sock_id: int
    listen: bool = False


@dataclass(frozen=True, slots=True)
class Release:
    """Close the process's copy of socket ``sock_id`` (its call has ended)."""

    sock_id: int


@dataclass(frozen=True, slots=True)
class Segment:
    """One part of the audio named ``digest``; ``last`` completes it."""

    digest: bytes
    part: bytes
    last: bool


@dataclass(frozen=True, slots=True)
class Forget:
    """Drop the cached audio ``digests``: the server will send them again if it needs them."""

    digests: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Play:
    """Pace the segments ``digests``, joined, from socket ``sock_id`` to ``remote`` as an RTP
    stream continuing at ``sequence``/``timestamp``; an :class:`Ended` tells when it stops.

    With ``follows`` the stream continues where the last one from that socket stopped, as the
    process saw it (``sequence``, ``timestamp`` and ``marker`` are then the process's own): the
    server need not wait for that stream's :class:`Ended` before it plays the next prompt.
    """

    stream_id: int
    sock_id: int
    remote: Address
    digests: tuple[bytes, ...]
    ssrc: int
    pt: int
    sequence: int
    timestamp: int
    samples: int
    marker: bool
    follows: bool = False


@dataclass(frozen=True, slots=True)
class Move:
    """Send stream ``stream_id``'s next packets to ``remote`` (symmetric RTP, a re-INVITE)."""

    stream_id: int
    remote: Address


@dataclass(frozen=True, slots=True)
class Stop:
    """Stop stream ``stream_id`` now; ignored when it has already ended."""

    stream_id: int


@dataclass(frozen=True, slots=True)
class Ended:
    """Stream ``stream_id`` stopped after ``sent`` packets; the next would carry ``sequence``
    and ``timestamp``. ``completed`` when its audio ran out, ``at`` that moment on the
    monotonic clock both processes share; ``error`` when a send failed."""

    stream_id: int
    sent: int
    sequence: int
    timestamp: int
    completed: bool
    error: str | None = None
    at: float | None = None


@dataclass(frozen=True, slots=True)
class Drain:
    """Read what waits on listened socket ``sock_id`` now, send every datagram read so far,
    then answer :class:`Drained` (the caller hung up: the recording ends with its last word)."""

    sock_id: int
    token: int


@dataclass(frozen=True, slots=True)
class Drained:
    """Everything read from the socket of :class:`Drain` ``token`` has been sent before this."""

    token: int


@dataclass(frozen=True, slots=True)
class Received:
    """Datagrams read from listened sockets, in the order they were read, packed by
    :class:`ReceivedBatch` (one record each: the socket, when it was read, the source address
    when it differs from the socket's last one, the data)."""

    records: bytes


Message = (
    Ready | Adopt | Release | Segment | Forget | Play | Move | Stop | Ended | Drain | Drained
) | Received
_TYPES = (Ready, Adopt, Release, Segment, Forget, Play, Move, Stop, Ended, Drain, Drained, Received)


class PlaybackProtocolError(ValueError):
    """A datagram that is not one of the messages above, or malformed."""


# A record: socket id, arrival on the shared monotonic clock, data length, source length (0:
# the same source as the socket's previous datagram), then the source ("host port") and data.
_RECORD = struct.Struct("!IdHB")


class ReceivedBatch:
    """The playback process's side of :class:`Received`: datagrams packed as they are read."""

    def __init__(self) -> None:
        self._records = bytearray()
        self._sources: dict[int, Address] = {}

    def __len__(self) -> int:
        return len(self._records)

    def add(self, sock_id: int, arrival: float, source: Address, data: bytes) -> None:
        """Pack one datagram ``data`` read from socket ``sock_id`` at ``arrival``."""
        named = b""
        if self._sources.get(sock_id) != source:
            self._sources[sock_id] = source
            named = f"{source[0]} {source[1]}".encode()
        self._records += _RECORD.pack(sock_id, arrival, len(data), len(named))
        self._records += named
        self._records += data

    def forget(self, sock_id: int) -> None:
        """Socket ``sock_id`` is released: a socket taking its id starts afresh."""
        self._sources.pop(sock_id, None)

    def take(self) -> Received:
        """The datagrams packed so far, as one message; the batch starts empty again."""
        records, self._records = bytes(self._records), bytearray()
        return Received(records)


class ReceivedReader:
    """The server's side of :class:`Received`: each socket's source carried across batches."""

    def __init__(self) -> None:
        self._sources: dict[int, Address] = {}

    def forget(self, sock_id: int) -> None:
        """Socket ``sock_id`` is released."""
        self._sources.pop(sock_id, None)

    def read(self, received: Received) -> Iterator[tuple[int, float, Address, bytes]]:
        """Each datagram of ``received``: socket id, arrival, source, data."""
        records = received.records
        offset, end = 0, len(records)
        try:
            while offset < end:
                sock_id, arrival, size, named = _RECORD.unpack_from(records, offset)
                offset += _RECORD.size
                if named:
                    host, port = records[offset : offset + named].decode().rsplit(" ", 1)
                    self._sources[sock_id] = (host, int(port))
                    offset += named
                data = records[offset : offset + size]
                offset += size
                source = self._sources[sock_id]
                if len(data) != size:
                    break
                yield sock_id, arrival, source, data
        except (struct.error, UnicodeDecodeError, ValueError, KeyError) as error:
            raise PlaybackProtocolError(f"malformed received datagrams: {error!r}") from None
        if offset != end:
            raise PlaybackProtocolError("received datagrams cut short")


def encode(message: Message) -> bytes:
    """One datagram for ``message``."""
    return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def decode(datagram: bytes) -> Message:
    """The message in ``datagram``; the two ends are one program, so pickle is trusted here,
    yet anything but a known message is refused."""
    try:
        message = pickle.loads(datagram)
    except Exception as error:
        raise PlaybackProtocolError(f"undecodable playback message: {error}") from error
    if not isinstance(message, _TYPES):
        raise PlaybackProtocolError(f"unknown playback message {type(message).__name__}")
    return message


def digest_of(audio: bytes) -> bytes:
    """The name of a segment of audio: its content's hash."""
    return hashlib.blake2b(audio, digest_size=16).digest()


def segments(digest: bytes, audio: bytes) -> Iterator[Segment]:
    """``audio`` cut into :class:`Segment` parts that each fit a datagram."""
    if not audio:
        yield Segment(digest, b"", True)
        return
    for start in range(0, len(audio), PART_SIZE):
        end = start + PART_SIZE
        yield Segment(digest, audio[start:end], end >= len(audio))
