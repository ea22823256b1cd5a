"""What the voicemail server and its playback process say to each other, and how it is encoded.

The server keeps signalling, receiving and recording; the playback process, on the other core,
paces the prompts out of the server's own RTP sockets (their descriptors travel beside
:class:`Adopt`). Audio goes over as content-addressed segments, sent once and cached by the
process until :class:`Forget`, so a prompt played to a thousand callers crosses the pipe once.
Every message is one datagram of a ``SOCK_SEQPACKET`` pair, so order and boundaries hold.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Iterator
from dataclasses import dataclass

#: Bytes of audio per :class:`Segment` datagram: well under a Unix socket's send buffer.
PART_SIZE = 48_000
#: Largest datagram either side sends (a segment's part and its envelope).
MAX_DATAGRAM = PART_SIZE + 1024

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Ready:
    """The process is serving (its first message)."""


@dataclass(frozen=True, slots=True)
class Adopt:
    """Keep the RTP socket whose descriptor comes with this message as ``sock_id``."""

    sock_id: int


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


Message = Ready | Adopt | Release | Segment | Forget | Play | Move | Stop | Ended
_TYPES = (Ready, Adopt, Release, Segment, Forget, Play, Move, Stop, Ended)


class PlaybackProtocolError(ValueError):
    """A datagram that is not one of the messages above."""


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
