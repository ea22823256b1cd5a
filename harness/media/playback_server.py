"""The playback process: the voicemail server's prompts paced out on the machine's other core.

Started by :class:`harness.media.playback_link.PlaybackLink` as ``python -m
harness.media.playback_server FD``, where FD is its end of a ``SOCK_SEQPACKET`` pair. It runs
one :class:`~harness.media.pacer.Pacer` over the server's RTP sockets (their descriptors
arrive with :class:`~harness.media.playback_protocol.Adopt`), so each packet leaves from the
port the caller's SDP answer named, and reports every stream's end. The sockets it is asked to
listen to it reads too, every few milliseconds (all that waits on any of them, found with one
``epoll``), and hands what arrives over in :class:`~harness.media.playback_protocol.Received`
batches, one a read. Reading on a tick rather than as each datagram comes spares a wake-up of
the process per datagram, which costs more than the datagram's reading: with hundreds of
callers, each sending fifty a second, that is the difference between tens of thousands of
wake-ups a second and two hundred. It exits when the server's end of the pair closes, the
server's death included.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import select
import signal
import socket
import sys
from typing import Any

from harness.media import event_loop
from harness.media.pacer import FRAME_TIME, Pacer, StreamEnd, frames_of
from harness.media.playback_protocol import (
    BATCH_DELAY,
    BATCH_SIZE,
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
    ReceivedBatch,
    Release,
    Segment,
    Stop,
    decode,
    encode,
)

log = logging.getLogger(__name__)

_FD_ROOM = socket.CMSG_SPACE(4)
#: Largest RTP datagram a drain reads; a longer one is cut (and refused by the server's parser).
_RTP_DATAGRAM = 4096
#: Datagrams a drain reads at most (a second and more of one caller's packets).
_DRAIN_READS = 256
#: Datagrams a read takes from one socket at most: a caller sends one every 20 ms, so more
#: than a few a tick is a flood, which the socket's buffer then bounds.
_READS_A_TICK = 8


class PlaybackServer:
    """Serves one control socket until its peer closes it."""

    def __init__(self, control: socket.socket) -> None:
        self._control = control
        self._loop = asyncio.get_running_loop()
        self._pacer = Pacer(self._loop)
        self._sockets: dict[int, socket.socket] = {}
        # Listened sockets, by descriptor: read together on the tick, while there are any.
        self._poller = select.epoll()
        self._listening: dict[int, int] = {}
        self._tick: asyncio.TimerHandle | None = None
        self._batch = ReceivedBatch()
        self._audio: dict[bytes, bytes] = {}
        self._parts: dict[bytes, list[bytes]] = {}
        # Where each stream sends: a one-item list, so that Move redirects packets already
        # scheduled with the send function bound to it.
        self._remotes: dict[int, list[Address]] = {}
        # The socket of each stream playing; where the last stream from each socket left off
        # (the next sequence number and timestamp, and when), for a play that follows it.
        self._socket_of: dict[int, int] = {}
        self._left_off: dict[int, tuple[int, int, float]] = {}
        self._replies: collections.deque[bytes] = collections.deque()
        self._closed = self._loop.create_future()
        #: Packets dropped because a socket's send buffer was full.
        self.dropped = 0

    async def serve(self) -> None:
        """Handle messages until the server goes away; then close every socket."""
        self._control.setblocking(False)
        self._loop.add_reader(self._control.fileno(), self._readable)
        self._reply(Ready())
        try:
            await self._closed
        finally:
            self._loop.remove_reader(self._control.fileno())
            self._pacer.close()
            for sock_id in list(self._sockets):
                self._release(sock_id)
            if self._tick is not None:
                self._tick.cancel()
            self._poller.close()
            self._control.close()

    def _readable(self) -> None:
        while not self._closed.done():
            try:
                datagram, ancillary, _, _ = self._control.recvmsg(MAX_DATAGRAM, _FD_ROOM)
            except BlockingIOError:
                return
            except OSError as error:
                log.error("playback process: control socket failed: %s", error)
                self._closed.set_result(None)
                return
            fds = _descriptors(ancillary)
            if not datagram:
                self._closed.set_result(None)
                return
            try:
                self.handle(decode(datagram), fds)
            except PlaybackProtocolError as error:
                log.error("playback process: %s", error)
                for fd in fds:
                    socket.close(fd)

    def handle(self, message: Message, fds: list[int]) -> None:
        """Carry out one message from the server (``fds``: descriptors that came with it)."""
        match message:
            case Adopt(sock_id, listen):
                self._adopt(sock_id, fds, listen)
            case Release(sock_id):
                self._release(sock_id)
            case Drain(sock_id, token):
                self._drain(sock_id)
                self._reply(Drained(token))
            case Segment():
                self._segment(message)
            case Forget(digests):
                for digest in digests:
                    self._audio.pop(digest, None)
            case Play():
                self._play(message)
            case Move(stream_id, remote):
                if stream_id in self._remotes:
                    self._remotes[stream_id][0] = remote
            case Stop(stream_id):
                self._stop(stream_id)
            case Ended() | Ready() | Received() | Drained():
                log.error("playback process: the server sent %s", type(message).__name__)

    def _adopt(self, sock_id: int, fds: list[int], listen: bool) -> None:
        for extra in fds[1:]:
            socket.close(extra)
        if not fds:
            log.error("playback process: socket %d came without its descriptor", sock_id)
            return
        sock = self._sockets[sock_id] = socket.socket(fileno=fds[0])
        if listen:
            sock.setblocking(False)
            self._poller.register(sock.fileno(), select.EPOLLIN)
            self._listening[sock.fileno()] = sock_id
            if self._tick is None:
                self._tick = self._loop.call_later(BATCH_DELAY, self._read)

    def _release(self, sock_id: int) -> None:
        self._left_off.pop(sock_id, None)
        sock = self._sockets.pop(sock_id, None)
        if sock is None:
            return
        if self._listening.pop(sock.fileno(), None) is not None:
            self._poller.unregister(sock.fileno())
            self._batch.forget(sock_id)
        sock.close()

    def _read(self) -> None:
        """The tick: what waits on every listened socket goes over in one batch (or more,
        each at most BATCH_SIZE), stamped with the time it was read."""
        now = self._loop.time()
        ready = self._poller.poll(0)
        # One datagram a ready socket a round; a socket still ready has more (a burst).
        for _ in range(_READS_A_TICK):
            if not ready:
                break
            for fd, _ in ready:
                self._take(self._listening[fd], now)
            ready = self._poller.poll(0)
        self._send_batch()
        self._tick = self._loop.call_later(BATCH_DELAY, self._read) if self._listening else None

    def _take(self, sock_id: int, now: float) -> bool:
        """Read one datagram from listened socket ``sock_id`` into the batch; False when none
        waits (or the socket failed: an ICMP error for an earlier send, say)."""
        try:
            data, source = self._sockets[sock_id].recvfrom(_RTP_DATAGRAM)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as error:
            log.debug("playback process: socket %d: %s", sock_id, error)
            return False
        self._batch.add(sock_id, now, _address(source), data)
        if len(self._batch) >= BATCH_SIZE:
            self._send_batch()
        return True

    def _drain(self, sock_id: int) -> None:
        """Read what waits on the socket now, and send the batch at once."""
        sock = self._sockets.get(sock_id)
        if sock is not None and sock.fileno() in self._listening:
            now = self._loop.time()
            # Bounded: what a flood sends meanwhile waits for the tick.
            for _ in range(_DRAIN_READS):
                if not self._take(sock_id, now):
                    break
        self._send_batch()

    def _send_batch(self) -> None:
        if len(self._batch):
            self._reply(self._batch.take())

    def _segment(self, segment: Segment) -> None:
        self._parts.setdefault(segment.digest, []).append(segment.part)
        if segment.last:
            self._audio[segment.digest] = b"".join(self._parts.pop(segment.digest))

    def _stop(self, stream_id: int) -> None:
        end = self._pacer.remove(stream_id)
        if end is not None:
            self._ended(end)

    def _play(self, play: Play) -> None:
        sock = self._sockets.get(play.sock_id)
        missing = [digest for digest in play.digests if digest not in self._audio]
        if sock is None or missing:
            why = "no such socket" if sock is None else f"{len(missing)} segment(s) unknown"
            self._reply(Ended(play.stream_id, 0, play.sequence, play.timestamp, False, why))
            return
        audio = b"".join(self._audio[digest] for digest in play.digests)
        cell = [play.remote]
        self._remotes[play.stream_id] = cell
        self._socket_of[play.stream_id] = play.sock_id
        sequence, timestamp, marker = self._start_of(play)

        def send(packet: bytes) -> None:
            try:
                sock.sendto(packet, cell[0])
            except BlockingIOError:
                self.dropped += 1

        self._pacer.add(
            play.stream_id,
            frames_of(audio, play.samples),
            send,
            ssrc=play.ssrc,
            pt=play.pt,
            on_done=self._ended,
            sequence=sequence,
            timestamp=timestamp,
            samples=play.samples,
            marker=marker,
        )

    def _start_of(self, play: Play) -> tuple[int, int, bool]:
        """The first packet's sequence number, timestamp and marker: the server's, or for a
        play that follows, where the socket's last stream left off (a pause since then
        advances the timestamp and starts a talkspurt; a gap shorter than a frame is only the
        time it took to begin)."""
        left_off = self._left_off.get(play.sock_id) if play.follows else None
        if left_off is None:
            return play.sequence, play.timestamp, play.marker
        sequence, timestamp, at = left_off
        gap = self._loop.time() - at
        if gap <= FRAME_TIME:
            return sequence, timestamp, False
        advance = round(gap * play.samples / FRAME_TIME)
        return sequence, (timestamp + advance) & 0xFFFFFFFF, True

    def _ended(self, end: StreamEnd) -> None:
        assert isinstance(end.stream_id, int)
        self._remotes.pop(end.stream_id, None)
        sock_id = self._socket_of.pop(end.stream_id, None)
        if sock_id is not None and sock_id in self._sockets:
            at = self._loop.time() if end.at is None else end.at
            self._left_off[sock_id] = (end.sequence, end.timestamp, at)
        error = None if end.error is None else str(end.error) or type(end.error).__name__
        self._reply(
            Ended(
                end.stream_id, end.sent, end.sequence, end.timestamp, end.completed, error, end.at
            )
        )

    def _reply(self, message: Ended | Ready | Received | Drained) -> None:
        self._replies.append(encode(message))
        self._flush()

    def _flush(self) -> None:
        while self._replies:
            try:
                self._control.send(self._replies[0])
            except BlockingIOError:
                self._loop.add_writer(self._control.fileno(), self._writable)
                return
            except OSError:
                self._replies.clear()
                if not self._closed.done():
                    self._closed.set_result(None)
                return
            self._replies.popleft()

    def _writable(self) -> None:
        self._loop.remove_writer(self._control.fileno())
        self._flush()


def _address(source: tuple[str | Any, int]) -> Address:
    """An IPv4 or IPv6 source as (host, port)."""
    return str(source[0]), int(source[1])


def _descriptors(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    """The file descriptors an ``SCM_RIGHTS`` message carried."""
    fds: list[int] = []
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(data) - len(data) % 4
            fds.extend(int.from_bytes(data[i : i + 4], sys.byteorder) for i in range(0, usable, 4))
    return fds


async def _serve_fd(fd: int) -> None:
    control = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET, fileno=fd)
    await PlaybackServer(control).serve()


def main(argv: list[str]) -> int:
    """``python -m harness.media.playback_server FD``."""
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m harness.media.playback_server FD", file=sys.stderr)
        return 2
    # The server stops it by closing the control socket: a terminal's Ctrl-C is the server's.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    event_loop.run(_serve_fd(int(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
