"""Prompts paced by the playback process: the same stream a caller gets from the server's loop;
and what callers send, read by that process and handed over in batches.

A real ``python -m harness.media.playback_server`` process sends from the session's own socket
and reads it; a second session on loopback, or a caller on a thread, is the other end.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator

import pytest

from harness.media.dtmf import event_packets
from harness.media.playback_link import PlaybackLink
from harness.media.rtp import RtpPacket, RtpSender
from harness.media.session import RtpSession, use_playback_process

FIRST = bytes(range(200)) * 8  # 1,600 samples: 10 frames, 200 ms
SECOND = bytes(range(100, 200)) * 16


async def settle(seconds: float = 0.1) -> None:
    """Let datagrams already sent on loopback be delivered."""
    await asyncio.sleep(seconds)


@pytest.fixture
async def link() -> AsyncIterator[PlaybackLink]:
    started = await PlaybackLink.start()
    use_playback_process(started)
    yield started
    use_playback_process(None)
    await started.close()


@pytest.fixture
async def pair(link: PlaybackLink) -> AsyncIterator[tuple[RtpSession, RtpSession]]:
    sender = await RtpSession.open()
    receiver = await RtpSession.open()
    sender.remote = ("127.0.0.1", receiver.local_port)
    yield sender, receiver
    sender.close()
    receiver.close()


async def test_prompts_arrive_whole_paced_and_in_one_numbered_stream(
    pair: tuple[RtpSession, RtpSession],
) -> None:
    sender, receiver = pair
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await sender.play_encoded([FIRST[:800], FIRST[800:]], 0)
    elapsed = loop.time() - started
    # The process says when the audio ran out, on the clock this loop reads too.
    assert sender.played_until is not None
    assert started + 0.19 <= sender.played_until <= loop.time()
    assert await sender.play_encoded(SECOND, 0)
    await settle()
    assert 0.18 <= elapsed <= 1.0  # paced in real time, not sent as a burst
    assert receiver.receiver.audio(0) == FIRST + SECOND
    stats = receiver.receiver.stats
    assert (stats.received, stats.lost, stats.duplicates) == (20, 0, 0)
    assert sender.sender is not None
    assert stats.ssrc == sender.sender.ssrc
    assert sender.packets_sent == 20


async def test_a_stopped_prompt_ends_early_and_the_next_continues_its_numbering(
    pair: tuple[RtpSession, RtpSession],
) -> None:
    sender, receiver = pair
    playing = asyncio.ensure_future(sender.play_encoded(bytes(8000), 0))
    await settle()
    sender.stop_sending()
    assert await playing is False
    assert await sender.play_encoded(SECOND, 0)
    await settle()
    stats = receiver.receiver.stats
    assert 10 < stats.received < 60
    assert (stats.lost, stats.duplicates) == (0, 0)


async def test_the_prompt_after_a_cut_one_starts_while_the_servers_loop_is_busy(
    link: PlaybackLink,
) -> None:
    """A key cuts the greeting and the beep follows: the beep goes to the process right after
    the stop, so it starts at once even if the server's loop does not come round for a
    second to hear where the cut stream got to; the stream stays one numbered sequence."""
    sender = await RtpSession.open()
    with _Listener() as heard:
        sender.remote = heard.address
        try:
            cut = asyncio.ensure_future(sender.play_encoded(bytes(8000), 0))
            await settle()
            sender.stop_sending()
            following = asyncio.ensure_future(sender.play_encoded(SECOND, 0))
            await asyncio.sleep(0)
            time.sleep(1.0)  # the loop is busy: nothing the process says is read meanwhile
            assert await cut is False
            assert await following
            await settle()
        finally:
            sender.close()
    packets = heard.packets
    first_of_second = next(i for i, (_, packet) in enumerate(packets) if any(packet.payload))
    gap = packets[first_of_second][0] - packets[first_of_second - 1][0]
    assert gap < 0.5
    assert b"".join(packet.payload for _, packet in packets[first_of_second:]) == SECOND
    sequences = [packet.sequence for _, packet in packets]
    assert sequences == list(range(sequences[0], sequences[0] + len(packets)))
    timestamps = [packet.timestamp for _, packet in packets]
    assert all(later - earlier >= 160 for earlier, later in itertools.pairwise(timestamps))


class _Listener:
    """A UDP socket read by a thread of its own, noting when each RTP packet arrived (the
    test's loop may be blocked meanwhile)."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.address: tuple[str, int] = self._sock.getsockname()
        self.packets: list[tuple[float, RtpPacket]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> _Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(5.0)
        self._sock.close()

    def _read(self) -> None:
        while not self._done.is_set():
            try:
                data = self._sock.recv(2048)
            except TimeoutError:
                continue
            self.packets.append((time.monotonic(), RtpPacket.decode(data)))


async def test_the_stream_follows_the_remote_when_it_moves(
    pair: tuple[RtpSession, RtpSession],
) -> None:
    sender, first = pair
    second = await RtpSession.open()
    try:
        playing = asyncio.ensure_future(sender.play_encoded(bytes(4000), 0))
        await settle()
        sender.remote = ("127.0.0.1", second.local_port)
        assert await playing
        await settle()
        assert first.receiver.stats.received > 0
        assert second.receiver.stats.received > 0
        assert first.receiver.stats.received + second.receiver.stats.received == 25
    finally:
        second.close()


async def test_a_closed_session_leaves_no_socket_behind_in_the_process(
    pair: tuple[RtpSession, RtpSession], link: PlaybackLink
) -> None:
    sender, _ = pair
    assert await sender.play_encoded(FIRST, 0)
    port = sender.local_port
    sender.close()
    await settle()
    assert f":{port:04X} " not in _udp_sockets_of(link.pid)
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind(("127.0.0.1", port))
    finally:
        probe.close()


async def test_when_the_process_dies_playback_goes_on_in_the_loop(
    pair: tuple[RtpSession, RtpSession], link: PlaybackLink
) -> None:
    sender, receiver = pair
    playing = asyncio.ensure_future(sender.play_encoded(bytes(8000), 0))
    await settle()
    os.kill(link.pid, signal.SIGKILL)
    assert await asyncio.wait_for(playing, 5.0) is False
    assert not link.alive
    assert await sender.play_encoded(SECOND, 0)
    await settle()
    assert receiver.receiver.audio(0).endswith(SECOND)
    assert receiver.receiver.stats.duplicates == 0


async def test_when_the_process_dies_after_a_cut_the_stream_repeats_no_sequence_number(
    pair: tuple[RtpSession, RtpSession], link: PlaybackLink
) -> None:
    """The process dies while the prompt after a cut one plays, before it said where either
    got to: the server's own loop goes on past every number the process can have sent, so
    the caller's side throws none of the next prompt away as a copy."""
    sender, receiver = pair
    cut = asyncio.ensure_future(sender.play_encoded(bytes(8000), 0))
    await settle(0.3)
    sender.stop_sending()
    following = asyncio.ensure_future(sender.play_encoded(bytes(8000), 0))
    await settle(0.2)
    os.kill(link.pid, signal.SIGKILL)
    assert await cut is False
    assert await asyncio.wait_for(following, 5.0) is False
    assert await sender.play_encoded(SECOND, 0)
    await settle()
    assert receiver.receiver.stats.duplicates == 0
    assert receiver.receiver.audio(0).endswith(SECOND)


def _caller(port: int, frames: int, *, key: str | None = None) -> threading.Thread:
    """A caller on a thread of its own (the test's loop may be blocked meanwhile): ``frames``
    PCMU frames 20 ms apart to ``port``, then ``key`` as RFC 4733 events, from one socket."""

    def run() -> None:
        sender = RtpSender(0, ssrc=0x1234)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for packet in sender.packets(bytes(160 * frames), payload_type=0, marker=True):
                sock.sendto(packet.encode(), ("127.0.0.1", port))
                time.sleep(0.02)
            for item in event_packets(key, sender, 101) if key else []:
                sock.sendto(item.packet.encode(), ("127.0.0.1", port))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


async def test_the_process_reads_the_callers_packets_and_notes_when_each_came(
    link: PlaybackLink,
) -> None:
    """What a caller sends reaches the session (audio, keys, its address) through the
    process, each packet stamped when it came, though the server's loop was busy meanwhile."""
    session = await RtpSession.open(learn_remote=True)
    arrivals: list[float] = []
    session.on_packet = lambda *_: arrivals.append(session.receiver.last_arrival)
    try:
        caller = _caller(session.local_port, 25, key="#")
        time.sleep(0.7)  # the loop is blocked while the caller speaks
        caller.join(5.0)
        await settle()
        key_packets = len(event_packets("#", RtpSender(0), 101))
        assert session.receiver.stats.received == 25 + key_packets
        assert session.receiver.audio(0) == bytes(4000)
        assert session.digits.get_nowait() == "#"
        assert session.remote is not None
        assert session.remote[0] == "127.0.0.1"
        # Read by the process as they came, 20 ms apart, not all when the loop woke up.
        assert arrivals[24] - arrivals[0] >= 0.35
        assert arrivals[-1] <= asyncio.get_running_loop().time()
    finally:
        session.close()


async def test_every_packet_of_a_burst_and_of_many_callers_at_once_is_received(
    link: PlaybackLink,
) -> None:
    """The process reads its sockets on a tick, a few datagrams each at a time: a caller whose
    forty packets come at once (after a stall on the way), and forty callers each sending at
    the same moment, lose none, and nothing waits for a drain."""
    sessions = [await RtpSession.open() for _ in range(41)]
    try:
        burst, *others = sessions
        sender = RtpSender(0)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for packet in sender.packets(bytes(160 * 40), payload_type=0, marker=True):
                sock.sendto(packet.encode(), ("127.0.0.1", burst.local_port))
            for session in others:
                sock.sendto(
                    RtpPacket(0, 1, 160, 7, bytes(160)).encode(), ("127.0.0.1", session.local_port)
                )
        await settle(0.3)
        assert burst.receiver.stats.received == 40
        assert burst.receiver.stats.lost == 0
        assert [session.receiver.stats.received for session in others] == [1] * 40
    finally:
        for session in sessions:
            session.close()


async def test_the_link_says_how_late_the_loop_takes_what_the_process_read(
    link: PlaybackLink,
) -> None:
    """A loop that comes round late to the process's batches shows in ``receive_lag`` (its
    timers may be punctual meanwhile), and the measure lapses once nothing more comes."""
    session = await RtpSession.open()
    loop = asyncio.get_running_loop()
    try:
        assert link.receive_lag(loop.time()) == 0.0
        caller = _caller(session.local_port, 10)
        time.sleep(0.4)  # the packets wait in the process's batch, then in the link's socket
        caller.join(5.0)
        await settle()
        assert session.receiver.stats.received == 10
        assert link.receive_lag(loop.time()) >= 0.2
        assert link.receive_lag(loop.time() + 1.5) == 0.0
    finally:
        session.close()


async def test_drained_returns_once_the_callers_last_packets_are_received(
    link: PlaybackLink,
) -> None:
    """The caller's last packets, then at once its BYE: what the process still holds (or has
    not read yet) reaches the session before ``drained`` returns."""
    session = await RtpSession.open()
    sender = RtpSender(0)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for packet in sender.packets(bytes(160 * 40), payload_type=0, marker=True):
                sock.sendto(packet.encode(), ("127.0.0.1", session.local_port))
        await asyncio.wait_for(session.drained(), 5.0)
        assert session.receiver.stats.received == 40
    finally:
        session.close()


async def test_drained_does_not_wait_when_the_loop_reads_the_socket() -> None:
    session = await RtpSession.open()
    try:
        await asyncio.wait_for(session.drained(), 0.01)
    finally:
        session.close()


async def test_when_the_process_dies_the_session_reads_its_socket_again(
    link: PlaybackLink,
) -> None:
    session = await RtpSession.open()
    try:
        os.kill(link.pid, signal.SIGKILL)
        for _ in range(100):
            if not link.alive:
                break
            await settle(0.05)
        assert not link.alive
        await asyncio.to_thread(_caller(session.local_port, 10).join, 5.0)
        await settle()
        assert session.receiver.stats.received == 10
    finally:
        session.close()


def _udp_sockets_of(pid: int) -> str:
    """The local addresses (``/proc/net/udp`` form) of the UDP sockets process ``pid`` holds."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    with open(f"/proc/{pid}/net/udp", encoding="ascii") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return " ".join(row[1] + " " for row in rows if row[9] in inodes)
