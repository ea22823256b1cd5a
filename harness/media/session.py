"""An RTP session on a UDP socket: the asyncio adapter around the sans-IO media cores.

Receiving is one cheap callback per datagram (decode the header, hand the packet to the
:class:`RtpReceiver`, and to the :class:`DtmfReceiver` if it is a telephone-event). In a loop
with a playback process, that process reads the socket and hands the datagrams over in batches
(the loop then wakes once for many of them), until it dies and the loop reads the socket again.
Sending paces frames against absolute deadlines on the loop clock, so delays do not add up, and
keeps the RTP timestamp on the wall-clock timeline across pauses between sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import Callable, Sequence
from functools import partial
from types import TracebackType
from typing import Any, Self, TypeVar

import numpy as np
import numpy.typing as npt

from harness.media import g711
from harness.media.dtmf import (
    DEFAULT_VOLUME,
    DtmfError,
    DtmfReceiver,
    event_code,
    event_packets,
)
from harness.media.pacer import FRAME_TIME, Pacer, StreamEnd, frames_of
from harness.media.playback_link import PlaybackLink
from harness.media.rtp import RtpError, RtpPacket, RtpReceiver, RtpSender, fields_of

Address = tuple[str, int]

_End = TypeVar("_End", StreamEnd, StreamEnd | None, None)

# One media clock per event loop paces every session's pre-encoded playback, unless a
# playback process does it for that loop.
_PACERS: dict[asyncio.AbstractEventLoop, Pacer] = {}
_PLAYBACK: dict[asyncio.AbstractEventLoop, PlaybackLink] = {}


def _resolve(done: asyncio.Future[_End], end: _End) -> None:
    if not done.done():
        done.set_result(end)


def shared_pacer() -> Pacer:
    """The running loop's media clock, made on first use."""
    loop = asyncio.get_running_loop()
    pacer = _PACERS.get(loop)
    if pacer is None:
        # Loops of finished runs (tests make one each) are let go of when a new one starts.
        for closed in [other for other in _PACERS if other.is_closed()]:
            del _PACERS[closed]
        pacer = _PACERS[loop] = Pacer(loop)
    return pacer


def use_playback_process(link: PlaybackLink | None) -> None:
    """Pace the running loop's pre-encoded playback in ``link``'s process from now on (None:
    in the loop again). Playback returns to the loop by itself should the process die."""
    loop = asyncio.get_running_loop()
    if link is None:
        _PLAYBACK.pop(loop, None)
    else:
        _PLAYBACK[loop] = link


def receive_lag() -> float:
    """Seconds the running loop takes, lately, to come round to what a playback process read
    from its sessions' sockets (0 without one): part of how late the loop runs."""
    loop = asyncio.get_running_loop()
    link = _playback_process(loop)
    return 0.0 if link is None else link.receive_lag(loop.time())


def _playback_process(loop: asyncio.AbstractEventLoop) -> PlaybackLink | None:
    link = _PLAYBACK.get(loop)
    return link if link is not None and link.alive else None


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, session: RtpSession) -> None:
        self.session = session

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.session._datagram_received(data, addr, self.session._loop.time())


async def _bound(host: str, port: int) -> socket.socket:
    """A non-blocking UDP socket bound to ``host``:``port``."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    if not infos:
        raise OSError(f"cannot resolve {host}")
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setblocking(False)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


class RtpSession:
    """One RTP stream each way on a local UDP port.

    Create with :meth:`open`. ``receiver`` collects what arrives; digits sent as RFC 4733
    events on ``telephone_event_pt`` go to ``digits`` (a queue) and to ``on_dtmf``.
    """

    def __init__(
        self,
        clock_rate: int = 8000,
        telephone_event_pt: int | None = 101,
        on_dtmf: Callable[[str], None] | None = None,
        learn_remote: bool = False,
        ssrc: int | None = None,
    ) -> None:
        self.clock_rate = clock_rate
        self.telephone_event_pt = telephone_event_pt
        self.on_dtmf = on_dtmf
        self.learn_remote = learn_remote
        #: Symmetric RTP (chan_sip's ``nat=comedia``): send to where the packets come from.
        self.symmetric = False
        self.ptime = 20
        self.receiver = RtpReceiver(clock_rate)
        self.dtmf = DtmfReceiver()
        self.digits: asyncio.Queue[str] = asyncio.Queue()
        self.malformed = 0
        self.packets_sent = 0
        # The playback process pacing this session's audio right now, if any, and the future
        # the play waits on (resolved with None at once when the play is stopped).
        self._playing_in: PlaybackLink | None = None
        self._process_done: asyncio.Future[StreamEnd | None] | None = None
        # The playback process that stopped this session's latest stream and has not yet said
        # where it got to: the next play there follows on from its own account.
        self._followed: PlaybackLink | None = None
        # Streams handed to a playback process so far (the latest one's end is authoritative).
        self._handed = 0
        self._remote: Address | None = None
        #: Called with the payload type and payload of every new (not duplicated) packet after
        #: it is stored: for consumers that must follow the audio as it arrives (inband DTMF,
        #: silence detection).
        self.on_packet: Callable[[int, bytes], None] | None = None
        #: When the packet being handled (else the last one) was read from the socket, by the
        #: receive clock: a busy loop hands a digit over later than the caller pressed it.
        self.read_at = 0.0
        self._ssrc = ssrc
        self._sender: RtpSender | None = None
        # The loop reads the socket through its transport; or, while a playback process reads
        # it, the session keeps the bare socket to send from (and to read again should the
        # process die).
        self._transport: asyncio.DatagramTransport | None = None
        self._socket: socket.socket | None = None
        self._reading_again: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()
        self._send_lock = asyncio.Lock()
        self._generation = 0
        # Loop time at which the audio sent so far ends: the next send continues from there.
        self._timeline_end: float | None = None
        #: When the audio of the last send that played to its end ran out, by the clock that
        #: paced it (the loop's, or the playback process's monotonic clock); None after a send
        #: that was cut short.
        self.played_until: float | None = None
        # The stream on the shared pacer, and the future its end resolves.
        self._paced: tuple[Pacer, asyncio.Future[StreamEnd]] | None = None

    @classmethod
    async def open(
        cls,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        port_range: tuple[int, int] | None = None,
        clock_rate: int = 8000,
        telephone_event_pt: int | None = 101,
        on_dtmf: Callable[[str], None] | None = None,
        learn_remote: bool = False,
        ssrc: int | None = None,
    ) -> RtpSession:
        """Bind a session on ``host``:``port`` (0: any free port).

        With ``port_range=(low, high)`` the first free even port in it is taken, starting
        from a random one so that parallel sessions seldom collide. In a loop with a playback
        process (:func:`use_playback_process`), the process reads the socket.
        """
        session = cls(clock_rate, telephone_event_pt, on_dtmf, learn_remote, ssrc)
        loop = asyncio.get_running_loop()
        link = _playback_process(loop)
        if port_range is None:
            candidates = [port]
        else:
            low, high = port_range
            evens = list(range(low + low % 2, high + 1, 2))
            if not evens:
                raise ValueError(f"port range {low}-{high} holds no even port")
            start = random.randrange(len(evens))
            candidates = evens[start:] + evens[:start]
        last_error: OSError | None = None
        for candidate in candidates:
            try:
                if link is not None:
                    session._listen_in(link, await _bound(host, candidate))
                else:
                    transport, _ = await loop.create_datagram_endpoint(
                        lambda: _Protocol(session), local_addr=(host, candidate)
                    )
                    session._transport = transport
            except OSError as exc:
                last_error = exc
                continue
            return session
        where = f"{host}:{port}" if port_range is None else f"{host} ports {port_range}"
        raise OSError(f"cannot bind an RTP socket on {where}: {last_error}")

    @property
    def remote(self) -> Address | None:
        """Where RTP is sent; a playback process pacing the session follows when it moves."""
        return self._remote

    @remote.setter
    def remote(self, remote: Address | None) -> None:
        if remote != self._remote:
            self._remote = remote
            if remote is not None and self._playing_in is not None:
                self._playing_in.move(self, remote)

    @property
    def local_address(self) -> Address:
        """The bound (host, port)."""
        if self._socket is not None:
            sockname = self._socket.getsockname()
        elif self._transport is not None:
            sockname = self._transport.get_extra_info("sockname")
        else:
            raise RuntimeError("RTP session is closed")
        return str(sockname[0]), int(sockname[1])

    def _fileno(self) -> int:
        if self._socket is not None:
            return self._socket.fileno()
        if self._transport is None:
            raise RuntimeError("RTP session is closed")
        return int(self._transport.get_extra_info("socket").fileno())

    @property
    def local_port(self) -> int:
        """The bound UDP port."""
        return self.local_address[1]

    @property
    def sender(self) -> RtpSender | None:
        """The sending stream's state, once something has been sent."""
        return self._sender

    # --- receiving ---------------------------------------------------------------------------

    def _listen_in(self, link: PlaybackLink, sock: socket.socket) -> None:
        """Have ``link``'s process read ``sock``, this session's socket, from now on."""
        try:
            link.listen(sock.fileno(), self._datagram_received, self._read_here)
        except BaseException:
            sock.close()
            raise
        self._socket = sock

    def _read_here(self) -> None:
        """The playback process reading the socket has gone: the loop reads it again (what
        arrives meanwhile waits in the socket's buffer)."""
        if self._socket is not None and self._reading_again is None:
            self._reading_again = self._loop.create_task(self._take_socket())

    async def _take_socket(self) -> None:
        sock = self._socket
        if sock is None:
            return
        transport, _ = await self._loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
        if self._socket is sock:
            self._socket = None
            self._transport = transport
        else:
            transport.close()  # closed meanwhile

    def _datagram_received(self, data: bytes, addr: tuple[str | Any, int], arrival: float) -> None:
        self.read_at = arrival
        try:
            fields = fields_of(data)
        except RtpError:
            self.malformed += 1
            return
        # The source of every packet of a socket is most often one tuple: compared, not rebuilt.
        if (self.symmetric or (self._remote is None and self.learn_remote)) and (
            addr != self._remote
        ):
            self.remote = (str(addr[0]), addr[1])
        if fields[0] == self.telephone_event_pt:
            payload_type, sequence, timestamp, ssrc, marker, payload = fields
            event = RtpPacket(payload_type, sequence, timestamp, ssrc, payload, marker)
            try:
                digit = self.dtmf.receive(event)
            except DtmfError:
                self.malformed += 1
                return
            if digit is not None:
                self.digits.put_nowait(digit)
                if self.on_dtmf is not None:
                    self.on_dtmf(digit)
        if self.receiver.take(fields, arrival) and self.on_packet is not None:
            self.on_packet(fields[0], fields[5])

    async def drained(self) -> None:
        """Return once every packet that reached the socket before now has been received: at
        once, unless a playback process reads the socket (it then hands over what it holds)."""
        link = _playback_process(self._loop)
        if link is None or self._socket is None:
            return
        done: asyncio.Future[None] = self._loop.create_future()
        if link.drain(self._socket.fileno(), partial(_resolve, done, None)):
            await done

    def received_audio(
        self, codec: str = "PCMU", payload_type: int | None = None
    ) -> npt.NDArray[np.int16]:
        """What arrived in ``codec`` so far, decoded, on the sender's timeline."""
        pt = g711.PAYLOAD_TYPES[codec.upper()] if payload_type is None else payload_type
        return g711.decode(self.receiver.audio(pt, g711.silence_byte(codec)), codec)

    # --- sending -----------------------------------------------------------------------------

    def stop_sending(self) -> None:
        """Stop the audio or DTMF being sent, and any send already waiting for its turn."""
        self._generation += 1
        if self._playing_in is not None:
            # The process goes on from where it stops the stream, so the play need not wait
            # for the process to say where that was: the next prompt can start at once.
            self._playing_in.stop(self)
            self._followed = self._playing_in
            if self._process_done is not None:
                _resolve(self._process_done, None)
        if self._paced is not None:
            pacer, done = self._paced
            end = pacer.remove(self)
            if end is not None and not done.done():
                done.set_result(end)

    def _stream(self, payload_type: int) -> RtpSender:
        if self._sender is None:
            self._sender = RtpSender(payload_type, ssrc=self._ssrc)
        self._sender.samples_per_frame = self.ptime * self.clock_rate // 1000
        return self._sender

    def _start(self, sender: RtpSender) -> tuple[float, bool]:
        """When a new burst starts and whether it starts a talkspurt (after a pause)."""
        now = self._loop.time()
        if self._timeline_end is None:
            return now, True
        # A gap shorter than a packet is the time it took to begin this send, not a pause: the
        # stream goes on seamlessly (a busy machine would otherwise shift its timestamps).
        if now <= self._timeline_end + self.ptime / 1000:
            return self._timeline_end, False
        sender.advance(round((now - self._timeline_end) * self.clock_rate))
        return now, True

    def _destination(self) -> Address:
        if self.closed:
            raise RuntimeError("RTP session is closed")
        if self.remote is None:
            raise RuntimeError("RTP session has no remote address to send to")
        return self.remote

    def _sendto(self, data: bytes, remote: Address) -> None:
        if self._socket is not None:
            # A full send buffer loses the packet, as the transport's would.
            with contextlib.suppress(BlockingIOError, InterruptedError):
                self._socket.sendto(data, remote)
        elif self._transport is not None:
            self._transport.sendto(data, remote)

    def _send(self, packet: RtpPacket) -> None:
        self._sendto(packet.encode(), self._destination())
        self.packets_sent += 1

    async def _sleep_until(self, deadline: float) -> None:
        delay = deadline - self._loop.time()
        if delay > 0:
            await asyncio.sleep(delay)

    async def send_audio(
        self, pcm_int16: npt.ArrayLike, codec: str = "PCMU", pt: int | None = None
    ) -> bool:
        """Encode 8 kHz int16 samples with ``codec`` and send them paced in real time.

        Returns False if :meth:`stop_sending` cut it short.
        """
        payload_type = g711.PAYLOAD_TYPES[codec.upper()] if pt is None else pt
        return await self.send_payload(g711.encode(pcm_int16, codec), payload_type)

    async def send_payload(self, payload: bytes, pt: int) -> bool:
        """Send pre-encoded audio (one byte per sample) as ``pt``, paced in real time.

        Returns False if :meth:`stop_sending` cut it short.
        """
        self._destination()
        generation = self._generation
        async with self._send_lock:
            if generation != self._generation:
                return False
            sender = self._stream(pt)
            start, talkspurt = self._start(sender)
            frame_time = sender.samples_per_frame / self.clock_rate
            packets = sender.packets(payload, payload_type=pt, marker=talkspurt)
            sent = 0
            try:
                for packet in packets:
                    await self._sleep_until(start + sent * frame_time)
                    if generation != self._generation:
                        return False
                    self._send(packet)
                    sent += 1
            finally:
                self._timeline_end = start + sum(len(p.payload) for p in packets[:sent]) / (
                    self.clock_rate
                )
                self.played_until = self._timeline_end if sent == len(packets) else None
                if sent < len(packets):
                    # Give back the sequence numbers and timestamps of the unsent frames.
                    sender.sequence = packets[sent].sequence
                    sender.timestamp = packets[sent].timestamp
            return True

    async def play_encoded(self, payload: bytes | Sequence[bytes], pt: int) -> bool:
        """Send pre-encoded audio (one byte per sample; or segments of it, played in turn) as
        ``pt`` on the loop's shared media clock: no task, packet object or encoding per frame.
        In the playback process when the loop has one (:func:`use_playback_process`). Falls
        back to :meth:`send_payload` when the call's packet time is not the clock's 20 ms.

        Returns False if :meth:`stop_sending` cut it short.
        """
        parts = [payload] if isinstance(payload, bytes) else list(payload)
        if self.ptime * 1000 != round(FRAME_TIME * 1e6):
            return await self.send_payload(b"".join(parts), pt)
        link = _playback_process(self._loop)
        if link is not None:
            return await self._play_in(link, parts, pt)
        payload = b"".join(parts)
        self._destination()
        generation = self._generation
        async with self._send_lock:
            if generation != self._generation:
                return False
            sender = self._stream(pt)
            _, talkspurt = self._start(sender)
            pacer = shared_pacer()
            done: asyncio.Future[StreamEnd] = self._loop.create_future()
            self._paced = (pacer, done)
            pacer.add(
                self,
                frames_of(payload, sender.samples_per_frame),
                self._send_bytes,
                ssrc=sender.ssrc,
                pt=pt,
                on_done=partial(_resolve, done),
                sequence=sender.sequence,
                timestamp=sender.timestamp,
                samples=sender.samples_per_frame,
                marker=talkspurt,
            )
            try:
                end = await done
            except asyncio.CancelledError:
                removed = pacer.remove(self)
                if removed is not None:
                    self._paced_until(sender, removed)
                raise
            finally:
                self._paced = None
            self._paced_until(sender, end)
            return end.completed

    async def _play_in(self, link: PlaybackLink, parts: list[bytes], pt: int) -> bool:
        """:meth:`play_encoded` paced by the playback process, from this session's socket."""
        self._destination()
        generation = self._generation
        async with self._send_lock:
            if generation != self._generation:
                return False
            remote = self._destination()
            sender = self._stream(pt)
            follows = self._followed is link
            talkspurt = False if follows else self._start(sender)[1]
            done: asyncio.Future[StreamEnd | None] = self._loop.create_future()
            self._handed += 1
            link.play(
                self,
                parts,
                self._fileno(),
                remote,
                ssrc=sender.ssrc,
                pt=pt,
                sequence=sender.sequence,
                timestamp=sender.timestamp,
                samples=sender.samples_per_frame,
                marker=talkspurt,
                on_done=partial(self._process_ended, done, self._handed),
                follows=follows,
            )
            self._playing_in = link
            self._process_done = done
            try:
                end = await done
            except asyncio.CancelledError:
                link.forget(self)
                raise
            finally:
                self._playing_in = None
                self._process_done = None
            if end is None or not end.completed:
                self.played_until = None
                self._timeline_end = self._loop.time()
                return False
            self.played_until = end.at
            return True

    def _process_ended(
        self, done: asyncio.Future[StreamEnd | None], handed: int, end: StreamEnd
    ) -> None:
        """A stream in the playback process ended (perhaps long after it was stopped)."""
        self.packets_sent += end.sent
        if handed == self._handed and self._sender is not None:
            # The latest stream handed over: the next one begins where it got to.
            self._sender.sequence, self._sender.timestamp = end.sequence, end.timestamp
            self._timeline_end = self._loop.time()
            self._followed = None
        _resolve(done, end)

    def _paced_until(self, sender: RtpSender, end: StreamEnd) -> None:
        """The stream goes on from where the pacer left it."""
        sender.sequence, sender.timestamp = end.sequence, end.timestamp
        self._timeline_end = self._loop.time()
        self.played_until = end.at if end.completed else None
        self.packets_sent += end.sent

    def _send_bytes(self, packet: bytes) -> None:
        """One packet the pacer built, to wherever the remote is now (it may move)."""
        self._sendto(packet, self._destination())

    async def send_dtmf(
        self,
        digits: str,
        pt: int = 101,
        *,
        duration_ms: int = 100,
        gap_ms: int = 100,
        interval_ms: int = 20,
        volume: int = DEFAULT_VOLUME,
    ) -> bool:
        """Send ``digits`` as RFC 4733 events, each ``duration_ms`` long, ``gap_ms`` apart.

        Returns False if :meth:`stop_sending` cut it short.
        """
        for digit in digits:
            event_code(digit)  # refuse a bad digit before sending any
        self._destination()
        generation = self._generation
        for position, digit in enumerate(digits):
            async with self._send_lock:
                if generation != self._generation:
                    return False
                sender = self._stream(pt)
                start, _ = self._start(sender)
                timed = event_packets(
                    digit,
                    sender,
                    pt,
                    duration_ms=duration_ms,
                    interval_ms=interval_ms,
                    volume=volume,
                    clock_rate=self.clock_rate,
                )
                sent = 0
                try:
                    for item in timed:
                        await self._sleep_until(start + item.at)
                        if generation != self._generation:
                            return False
                        self._send(item.packet)
                        sent += 1
                finally:
                    if sent < len(timed):
                        # Give back the unsent sequence numbers; the timeline ends now.
                        now = self._loop.time()
                        sender.sequence = timed[sent].packet.sequence
                        sender.timestamp = timed[sent].packet.timestamp
                        sender.advance(round((now - start) * self.clock_rate))
                        self._timeline_end = now
                    else:
                        self._timeline_end = start + duration_ms / 1000
            if position + 1 < len(digits):
                await self._sleep_until(start + (duration_ms + gap_ms) / 1000)
        return True

    # --- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop sending and release the socket (closed by the loop on its next iteration)."""
        self.stop_sending()
        if self.closed:
            return
        link = _PLAYBACK.get(self._loop)
        if link is not None:
            link.release(self._fileno())
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._transport is None and self._socket is None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
