"""The voicemail server's end of its playback process (:mod:`harness.media.playback_server`).

One process of Python spends about half its time pacing prompts once a few hundred callers hear
greetings at once; the playback process takes that to the machine's other core. The server
hands over, per playback, the socket (once per call), where to send, the RTP stream's state and
the audio (once per distinct segment), and learns the stream's end as :class:`StreamEnd`, as
from the in-process :class:`~harness.media.pacer.Pacer`. Should the process die, every stream it
held ends as failed and :attr:`alive` turns False, so playback falls back to the server's own
loop: a call loses a prompt, never the call.

The process can also read a call's socket (:meth:`PlaybackLink.listen`): the datagrams come
back in batches, with the time each was read, one wake-up of the server's loop for many of
them; should the process die, each listener is told, to read its socket itself again.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import socket
import subprocess
import sys
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace

from harness.media.pacer import FRAME_TIME, StreamEnd
from harness.media.playback_protocol import (
    MAX_DATAGRAM,
    Address,
    Adopt,
    Drain,
    Drained,
    Ended,
    Forget,
    Message,
    Move,
    Play,
    PlaybackProtocolError,
    Ready,
    Received,
    ReceivedReader,
    Release,
    Stop,
    decode,
    digest_of,
    encode,
    segments,
)

log = logging.getLogger(__name__)

#: Bytes of distinct audio the process caches before the least recently played is dropped.
CACHE_BYTES = 64 * 1024 * 1024
#: Seconds the process is given to start serving, and to exit once its control socket closes.
_START_TIMEOUT = 20.0
_EXIT_TIMEOUT = 5.0
#: Messages from the process handled in one turn of the server's loop.
_MESSAGES_A_TURN = 16

OnDone = Callable[[StreamEnd], None]
#: What a listener is given for each datagram: the data, its source, when it was read.
OnDatagram = Callable[[bytes, Address, float], None]


@dataclass(frozen=True, slots=True)
class _Stream:
    """A stream the process holds: whose it is, whom to tell, and enough to estimate where it
    got to should the process die."""

    owner: Hashable
    on_done: OnDone
    sequence: int
    timestamp: int
    samples: int
    frames: int
    started: float

    def lost(self, now: float, why: RuntimeError) -> StreamEnd:
        """The end of a stream whose process died: as far as the clock says it can have got
        (one frame a tick of the media clock from the first tick after the play, never ahead
        of it), so that the stream goes on without repeating a sequence number."""
        sent = min(self.frames, max(0, math.floor((now - self.started) / FRAME_TIME) + 1))
        return StreamEnd(
            self.owner,
            sent,
            (self.sequence + sent) & 0xFFFF,
            (self.timestamp + sent * self.samples) & 0xFFFFFFFF,
            False,
            why,
        )


class PlaybackLink:
    """A started playback process and the control socket to it. Create with :meth:`start`."""

    def __init__(
        self, control: socket.socket, process: subprocess.Popen[bytes], cache_bytes: int
    ) -> None:
        self._control = control
        self._process = process
        self._loop = asyncio.get_running_loop()
        self._cache_bytes = cache_bytes
        # Segments the process holds, by digest, least recently played first; and the digest
        # of each of them, by content (a prompt played again is named without hashing it).
        self._cached: collections.OrderedDict[bytes, bytes] = collections.OrderedDict()
        self._digests: dict[bytes, bytes] = {}
        self._cached_total = 0
        self._adopted: dict[int, int] = {}
        # sock id → what to call with its datagrams, and when the process is gone.
        self._listeners: dict[int, tuple[OnDatagram, Callable[[], None]]] = {}
        self._received = ReceivedReader()
        self._drains: dict[int, Callable[[], None]] = {}
        # When the last batch of received datagrams was taken, and how long after its first
        # datagram was read.
        self._received_lag = (0.0, 0.0)
        self._next_id = 0
        # stream id → what it is; owner → its stream id while one plays.
        self._streams: dict[int, _Stream] = {}
        self._playing: dict[Hashable, int] = {}
        # owner → its stopped stream whose end has not come back (its id, and what it is): a
        # play that follows it continues its numbering, so both are estimated as one stream
        # should the process die.
        self._stopped: dict[Hashable, tuple[int, _Stream]] = {}
        self._outbox: collections.deque[tuple[bytes, int | None]] = collections.deque()
        self._writing = False
        self._ready: asyncio.Future[None] = self._loop.create_future()
        #: False once the process has gone; plays then belong to the server's own loop.
        self.alive = True

    @classmethod
    async def start(cls, *, cache_bytes: int = CACHE_BYTES) -> PlaybackLink:
        """Start the playback process (``sys.executable -m harness.media.playback_server``) and
        wait until it serves; RuntimeError when it does not."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "harness.media.playback_server", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        link = cls(ours, process, cache_bytes)
        link._loop.add_reader(ours.fileno(), link._readable)
        try:
            await asyncio.wait_for(asyncio.shield(link._ready), _START_TIMEOUT)
        except (TimeoutError, RuntimeError) as error:
            await link.close()
            raise RuntimeError(f"the playback process did not start: {error}") from None
        return link

    @property
    def pid(self) -> int:
        """The playback process's PID."""
        return self._process.pid

    def play(
        self,
        owner: Hashable,
        audio: Sequence[bytes],
        fd: int,
        remote: Address,
        *,
        ssrc: int,
        pt: int,
        sequence: int,
        timestamp: int,
        samples: int,
        marker: bool,
        on_done: OnDone,
        follows: bool = False,
    ) -> None:
        """Pace ``audio`` (segments played one after the other) from the socket ``fd`` to
        ``remote``; ``on_done`` gets the stream's end, its ``stream_id`` being ``owner``.
        With ``follows`` the stream goes on where the last one from ``fd`` stopped, by the
        process's account (see :class:`~harness.media.playback_protocol.Play`)."""
        if owner in self._playing:
            raise ValueError(f"playback stream {owner!r} is already playing")
        sock_id = self._adopt(fd)
        digests = tuple(self._cache(part) for part in audio)
        self._next_id += 1
        stream_id = self._next_id
        frames = -(-sum(len(part) for part in audio) // samples)
        stream = _Stream(owner, on_done, sequence, timestamp, samples, frames, self._loop.time())
        if follows and owner in self._stopped:
            _, before = self._stopped.pop(owner)
            stream = replace(
                stream,
                sequence=before.sequence,
                timestamp=before.timestamp,
                frames=before.frames + frames,
                started=before.started,
            )
        self._streams[stream_id] = stream
        self._playing[owner] = stream_id
        self._send(
            Play(
                stream_id,
                sock_id,
                remote,
                digests,
                ssrc,
                pt,
                sequence,
                timestamp,
                samples,
                marker,
                follows,
            )
        )

    def stop(self, owner: Hashable) -> bool:
        """Stop ``owner``'s stream; its end comes to its ``on_done``, and ``owner`` may play
        again at once. False if none plays."""
        stream_id = self._playing.pop(owner, None)
        if stream_id is None:
            return False
        self._send(Stop(stream_id))
        stream = self._streams.get(stream_id)
        if stream is not None:
            self._stopped[owner] = (stream_id, stream)
        return True

    def forget(self, owner: Hashable) -> None:
        """Stop ``owner``'s stream without calling its ``on_done`` (the caller stopped waiting)."""
        stream_id = self._playing.pop(owner, None)
        if stream_id is not None:
            self._streams.pop(stream_id, None)
            self._send(Stop(stream_id))

    def move(self, owner: Hashable, remote: Address) -> None:
        """Send ``owner``'s playing stream to ``remote`` from now on."""
        stream_id = self._playing.get(owner)
        if stream_id is not None:
            self._send(Move(stream_id, remote))

    def listen(self, fd: int, on_datagram: OnDatagram, on_lost: Callable[[], None]) -> None:
        """Have the process read socket ``fd`` (not yet handed over) from now on, and call
        ``on_datagram`` with each datagram; ``on_lost`` once the process has gone (the socket
        is then the caller's to read again). The server must not read ``fd`` meanwhile."""
        if fd in self._adopted:
            raise ValueError(f"socket {fd} is already with the playback process")
        if not self.alive:
            raise RuntimeError("the playback process has gone")
        sock_id = self._adopt(fd, listen=True)
        self._listeners[sock_id] = (on_datagram, on_lost)

    def drain(self, fd: int, on_drained: Callable[[], None]) -> bool:
        """Have the process hand over all it read from socket ``fd`` up to now, and what waits
        on the socket; ``on_drained`` then (or when the process has gone). False, and nothing
        to wait for, when the process does not read ``fd``."""
        sock_id = self._adopted.get(fd)
        if not self.alive or sock_id is None or sock_id not in self._listeners:
            return False
        self._next_id += 1
        self._drains[self._next_id] = on_drained
        self._send(Drain(sock_id, self._next_id))
        return True

    def receive_lag(self, now: float) -> float:
        """How long after they were read the server's loop takes the datagrams of listened
        sockets: the last batch's lag, while it is recent (a loop that falls behind leaves
        the process's batches waiting, however punctually it runs its timers)."""
        taken, lag = self._received_lag
        return lag if now - taken < 1.0 else 0.0

    def release(self, fd: int) -> None:
        """The call of socket ``fd`` is over: the process closes its copy."""
        sock_id = self._adopted.pop(fd, None)
        if sock_id is not None:
            self._listeners.pop(sock_id, None)
            self._received.forget(sock_id)
            self._send(Release(sock_id))

    async def close(self) -> None:
        """Stop the process (it exits when the control socket closes) and wait for it."""
        self._shut(None)
        try:
            await asyncio.wait_for(asyncio.to_thread(self._process.wait), _EXIT_TIMEOUT)
        except TimeoutError:
            self._process.kill()
            await asyncio.to_thread(self._process.wait)

    # -- what goes to the process -----------------------------------------------------------

    def _adopt(self, fd: int, *, listen: bool = False) -> int:
        sock_id = self._adopted.get(fd)
        if sock_id is None:
            self._next_id += 1
            sock_id = self._adopted[fd] = self._next_id
            # A copy of the descriptor waits in the outbox, whatever becomes of the original.
            self._send(Adopt(sock_id, listen), fd)
        return sock_id

    def _cache(self, audio: bytes) -> bytes:
        # bytes keep their hash once computed, and the same object compares by identity.
        digest = self._digests.get(audio)
        if digest is not None:
            self._cached.move_to_end(digest)
            return digest
        digest = digest_of(audio)
        if digest in self._cached:
            self._cached.move_to_end(digest)
            return digest
        for part in segments(digest, audio):
            self._send(part)
        self._cached[digest] = audio
        self._digests[audio] = digest
        self._cached_total += len(audio)
        evicted = []
        while self._cached_total > self._cache_bytes and len(self._cached) > 1:
            old, dropped = self._cached.popitem(last=False)
            self._digests.pop(dropped, None)
            self._cached_total -= len(dropped)
            evicted.append(old)
        if evicted:
            self._send(Forget(tuple(evicted)))
        return digest

    def _send(self, message: Message, fd: int | None = None) -> None:
        if not self.alive:
            return
        datagram = encode(message)
        self._outbox.append((datagram, None if fd is None else socket.dup(fd)))
        if not self._writing:
            self._flush()

    def _flush(self) -> None:
        while self._outbox:
            datagram, fd = self._outbox[0]
            try:
                if fd is None:
                    self._control.send(datagram)
                else:
                    socket.send_fds(self._control, [datagram], [fd])
            except BlockingIOError:
                if not self._writing:
                    self._writing = True
                    self._loop.add_writer(self._control.fileno(), self._flush)
                return
            except OSError as error:
                self._shut(f"cannot reach the playback process: {error}")
                return
            self._outbox.popleft()
            if fd is not None:
                socket.close(fd)
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self._control.fileno())

    # -- what comes back --------------------------------------------------------------------

    def _readable(self) -> None:
        # A bounded number a turn: the process keeps sending, and the loop's timers must run.
        for _ in range(_MESSAGES_A_TURN):
            if not self.alive:
                return
            try:
                datagram = self._control.recv(MAX_DATAGRAM)
            except BlockingIOError:
                return
            except OSError as error:
                self._shut(f"the playback process's socket failed: {error}")
                return
            if not datagram:
                self._shut(f"the playback process (pid {self.pid}) ended")
                return
            try:
                message = decode(datagram)
                if isinstance(message, Received):
                    self._deliver(message)
                    continue
            except PlaybackProtocolError as error:
                log.error("playback link: %s", error)
                continue
            if isinstance(message, Ended):
                self._ended(message)
            elif isinstance(message, Drained):
                on_drained = self._drains.pop(message.token, None)
                if on_drained is not None:
                    on_drained()
            elif isinstance(message, Ready) and not self._ready.done():
                self._ready.set_result(None)

    def _deliver(self, received: Received) -> None:
        listeners = self._listeners
        first: float | None = None
        for sock_id, arrival, source, data in self._received.read(received):
            if first is None:
                first = arrival
                now = self._loop.time()
                self._received_lag = (now, now - arrival)
            # Datagrams of a socket released meanwhile are the ended call's: dropped.
            listener = listeners.get(sock_id)
            if listener is not None:
                listener[0](data, source, arrival)

    def _ended(self, ended: Ended) -> None:
        stream = self._streams.pop(ended.stream_id, None)
        if stream is None:
            return
        if self._playing.get(stream.owner) == ended.stream_id:
            del self._playing[stream.owner]
        stopped = self._stopped.get(stream.owner)
        if stopped is not None and stopped[0] == ended.stream_id:
            del self._stopped[stream.owner]
        error = None if ended.error is None else RuntimeError(ended.error)
        stream.on_done(
            StreamEnd(
                stream.owner,
                ended.sent,
                ended.sequence,
                ended.timestamp,
                ended.completed,
                error,
                ended.at,
            )
        )

    def _shut(self, why: str | None) -> None:
        """Close the control socket; every stream still held ends as failed."""
        if not self.alive:
            return
        self.alive = False
        if not self._ready.done():
            self._ready.set_exception(RuntimeError(why or "stopped"))
        if why is not None:
            log.error("%s; playback goes on in the server's own loop", why)
        self._loop.remove_reader(self._control.fileno())
        if self._writing:
            self._loop.remove_writer(self._control.fileno())
            self._writing = False
        self._control.close()
        for _, fd in self._outbox:
            if fd is not None:
                socket.close(fd)
        self._outbox.clear()
        streams, self._streams = self._streams, {}
        self._playing.clear()
        self._stopped.clear()
        listeners, self._listeners = self._listeners, {}
        drains, self._drains = self._drains, {}
        failure = RuntimeError(why or "the playback process was stopped")
        now = self._loop.time()
        for stream in streams.values():
            stream.on_done(stream.lost(now, failure))
        for _, on_lost in listeners.values():
            on_lost()
        for on_drained in drains.values():
            on_drained()
