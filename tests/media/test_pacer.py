"""The shared media clock: a fake clock drives the schedule; one loopback test drives the timer."""

import asyncio
import socket
from collections.abc import Hashable, Iterator

import pytest

from harness.media.pacer import FRAME_TIME, Pacer, PacerCore, StreamEnd, frames_of
from harness.media.rtp import RtpPacket


class Sink:
    """Collects what one stream sends."""

    def __init__(self) -> None:
        self.packets: list[RtpPacket] = []

    def __call__(self, data: bytes) -> None:
        self.packets.append(RtpPacket.decode(data))

    @property
    def payloads(self) -> list[bytes]:
        return [packet.payload for packet in self.packets]


def numbered(count: int, size: int = 160) -> list[bytes]:
    return [bytes([index % 256]) * size for index in range(count)]


def run(core: PacerCore, until: float, step: float = FRAME_TIME) -> list[StreamEnd]:
    """Tick ``core`` every ``step`` seconds from its epoch to ``until``; the streams that ended."""
    ended: list[StreamEnd] = []
    ticks = round(until / step)
    for index in range(1, ticks + 1):
        due, done = core.tick(core.epoch + index * step)
        for _, send, packet in due:
            send(packet)
        ended.extend(done)
    return ended


def test_packets_carry_consecutive_numbers_and_the_marker_only_first() -> None:
    core = PacerCore(epoch=100.0)
    sink = Sink()
    core.add("a", numbered(4), sink, ssrc=0xDEADBEEF, pt=8, now=100.0, sequence=65534, timestamp=7)
    run(core, 0.2)
    assert [p.sequence for p in sink.packets] == [65534, 65535, 0, 1]
    assert [p.timestamp for p in sink.packets] == [7, 167, 327, 487]
    assert [p.marker for p in sink.packets] == [True, False, False, False]
    assert {(p.ssrc, p.payload_type) for p in sink.packets} == {(0xDEADBEEF, 8)}
    assert sink.payloads == numbered(4)


def test_streams_ride_one_grid_and_end_after_their_last_frame() -> None:
    core = PacerCore(epoch=0.0)
    short, long = Sink(), Sink()
    core.add("short", numbered(2), short, ssrc=1, pt=0, now=0.005)
    core.add("long", numbered(5), long, ssrc=2, pt=0, now=0.013)
    assert core.next_deadline() == pytest.approx(0.020)
    due, ended = core.tick(0.020)
    assert [stream_id for stream_id, _, _ in due] == ["short", "long"]
    ended = run(core, 0.2)
    assert [(end.stream_id, end.sent, end.completed) for end in ended] == [
        ("short", 2, True),
        ("long", 5, True),
    ]
    assert len(core) == 0
    assert core.next_deadline() is None


def test_late_ticks_do_not_drift() -> None:
    """Ticks that each come 7 ms late still send exactly one frame per 20 ms of clock."""
    core = PacerCore(epoch=0.0)
    sink = Sink()
    core.add("a", numbered(1000), sink, ssrc=1, pt=0, now=0.0)
    for index in range(1, 501):
        due, _ = core.tick(index * FRAME_TIME + 0.007)
        for _, send, packet in due:
            send(packet)
    assert len(sink.packets) == 500
    assert core.next_deadline() == pytest.approx(501 * FRAME_TIME)


def test_a_stream_reported_late_says_when_its_audio_ran_out() -> None:
    core = PacerCore(epoch=0.0)
    sink = Sink()
    core.add("beep", numbered(3), sink, ssrc=1, pt=0, now=0.0)
    run(core, 0.06)
    assert len(sink.packets) == 3
    # The driver comes round 240 ms after the last frame went: the audio ended at 80 ms.
    _, [end] = core.tick(0.30)
    assert end.completed
    assert end.at == pytest.approx(0.08)
    core.add("cut", numbered(9), sink, ssrc=2, pt=0, now=0.3)
    removed = core.remove("cut")
    assert removed is not None
    assert removed.at is None  # a stopped stream did not run out


def test_a_stall_catches_up_a_bounded_burst_and_drops_nothing() -> None:
    core = PacerCore(epoch=0.0, max_catch_up=3)
    sink = Sink()
    core.add("a", numbered(20), sink, ssrc=1, pt=0, now=0.0)
    run(core, 0.04)
    assert len(sink.packets) == 2
    # The loop stalls for 200 ms: ten frames are overdue, three go at once.
    due, _ = core.tick(0.24)
    assert len(due) == 3
    for _, send, packet in due:
        send(packet)
    # Then the stream is back on the grid, one frame per tick, every frame in order.
    due, _ = core.tick(0.26)
    assert len(due) == 1
    due[0][1](due[0][2])
    for index in range(14, 40):
        for _, send, packet in core.tick(index * FRAME_TIME)[0]:
            send(packet)
    assert sink.payloads == numbered(20)
    assert [p.sequence for p in sink.packets] == [
        (sink.packets[0].sequence + n) & 0xFFFF for n in range(20)
    ]


def test_remove_stops_a_stream_and_says_where_to_continue() -> None:
    core = PacerCore(epoch=0.0)
    sink = Sink()
    core.add("a", numbered(10), sink, ssrc=1, pt=0, now=0.0, sequence=10, timestamp=1000)
    run(core, 0.06)
    end = core.remove("a")
    assert end == StreamEnd("a", 3, 13, 1480, completed=False)
    assert core.remove("a") is None
    run(core, 0.2)
    assert len(sink.packets) == 3


def test_frames_from_a_generator_and_a_later_start() -> None:
    core = PacerCore(epoch=0.0)
    sink = Sink()

    def frames() -> Iterator[bytes]:
        yield from numbered(3)

    core.add("g", frames(), sink, ssrc=1, pt=0, now=0.0, start=0.1)
    assert core.next_deadline() == pytest.approx(0.1)
    run(core, 0.08)
    assert sink.packets == []
    run(core, 0.2)
    assert sink.payloads == numbered(3)


def test_bad_streams_are_refused_by_name() -> None:
    core = PacerCore(epoch=0.0)
    core.add("a", [], Sink(), ssrc=1, pt=0, now=0.0)
    with pytest.raises(ValueError, match="'a' is already playing"):
        core.add("a", [], Sink(), ssrc=1, pt=0, now=0.0)
    with pytest.raises(ValueError, match="payload type 200"):
        core.add("b", [], Sink(), ssrc=1, pt=200, now=0.0)
    with pytest.raises(ValueError, match="max_catch_up"):
        PacerCore(epoch=0.0, max_catch_up=0)


def test_frames_of_cuts_pre_encoded_audio() -> None:
    assert frames_of(bytes(400)) == (bytes(160), bytes(160), bytes(80))
    assert frames_of(b"") == ()


async def test_one_timer_paces_streams_over_loopback_in_real_time() -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setblocking(False)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    pacer = Pacer()
    address = receiver.getsockname()
    try:
        started = loop.time()
        ends = await asyncio.gather(
            *(
                pacer.play(n, numbered(10), lambda p: transport.sendto(p, address), ssrc=n, pt=0)
                for n in range(3)
            )
        )
        elapsed = loop.time() - started
        got: dict[int, list[int]] = {}
        for _ in range(30):
            packet = RtpPacket.decode(receiver.recv(2048))
            got.setdefault(packet.ssrc, []).append(packet.payload[0])
    finally:
        pacer.close()
        transport.close()
        receiver.close()
    assert [end.sent for end in ends] == [10, 10, 10]
    assert got == {n: list(range(10)) for n in range(3)}
    # Ten frames are 200 ms of audio: paced, not a burst (the bound leaves room for a busy host).
    assert 0.18 <= elapsed <= 0.5


async def test_a_send_that_raises_ends_only_its_own_stream() -> None:
    pacer = Pacer()
    good = Sink()
    ends: dict[Hashable, StreamEnd] = {}

    def record(end: StreamEnd) -> None:
        ends[end.stream_id] = end

    def broken(_: bytes) -> None:
        raise OSError("socket closed")

    try:
        pacer.add(
            "bad",
            numbered(5),
            broken,
            ssrc=1,
            pt=0,
            on_done=record,
        )
        end = await pacer.play("good", numbered(5), good, ssrc=2, pt=0)
    finally:
        pacer.close()
    assert end.completed
    assert good.payloads == numbered(5)
    assert not ends["bad"].completed
    assert isinstance(ends["bad"].error, OSError)
