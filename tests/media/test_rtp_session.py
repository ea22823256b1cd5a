"""RTP sessions over real UDP sockets on the loopback interface."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import numpy as np
import pytest

from harness.media import g711
from harness.media.dtmf import DtmfError, detect_inband, dtmf_tone
from harness.media.pacer import Pacer
from harness.media.rtp import RtpPacket
from harness.media.session import _PACERS, RtpSession, shared_pacer


def tone(seconds: float, frequency: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * 8000)) / 8000
    return np.round(8000 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


async def settle() -> None:
    """Let datagrams already sent on loopback be delivered."""
    await asyncio.sleep(0.05)


@pytest.fixture
async def pair() -> AsyncIterator[tuple[RtpSession, RtpSession]]:
    sender = await RtpSession.open()
    receiver = await RtpSession.open()
    sender.remote = ("127.0.0.1", receiver.local_port)
    receiver.remote = ("127.0.0.1", sender.local_port)
    yield sender, receiver
    sender.close()
    receiver.close()


async def test_one_second_tone_arrives_intact(pair: tuple[RtpSession, RtpSession]) -> None:
    alice, bob = pair
    sent = tone(1.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await alice.send_audio(sent, "PCMU", 0)
    elapsed = loop.time() - started
    await settle()
    got = bob.received_audio("PCMU")
    expected = g711.ulaw_decode(g711.ulaw_encode(sent))
    assert got.size / 8000 == pytest.approx(1.0, abs=0.02)
    assert np.corrcoef(got.astype(float), expected.astype(float))[0, 1] > 0.99
    # Paced in real time, not sent in a burst: the last frame leaves 0.98 s after the first.
    assert elapsed >= 0.95
    stats = bob.receiver.stats
    assert (stats.received, stats.lost) == (50, 0)


async def test_pcma_with_a_chosen_payload_type(pair: tuple[RtpSession, RtpSession]) -> None:
    alice, bob = pair
    sent = tone(0.2, 1000)
    await alice.send_audio(sent, "PCMA")
    await settle()
    assert bob.receiver.payload_types() == {8}
    assert np.array_equal(bob.received_audio("PCMA"), g711.alaw_decode(g711.alaw_encode(sent)))


async def test_pre_encoded_payload_is_sent_as_is(pair: tuple[RtpSession, RtpSession]) -> None:
    alice, bob = pair
    payload = bytes(range(256)) * 5
    await alice.send_payload(payload, 0)
    await settle()
    assert bob.receiver.audio(0) == payload


async def test_rfc4733_digits_reach_queue_and_callback(pair: tuple[RtpSession, RtpSession]) -> None:
    alice, bob = pair
    heard: list[str] = []
    bob.on_dtmf = heard.append
    assert await alice.send_dtmf("159#*", duration_ms=60, gap_ms=40)
    await settle()
    queued = [bob.digits.get_nowait() for _ in range(bob.digits.qsize())]
    assert queued == list("159#*")
    assert heard == list("159#*")
    # Three end packets and two start packets per digit, but one digit each.
    assert len(bob.dtmf.digits) == 5


async def test_inband_digits_survive_the_trip(pair: tuple[RtpSession, RtpSession]) -> None:
    alice, bob = pair
    gap = np.zeros(400, dtype=np.int16)
    await alice.send_audio(np.concatenate([dtmf_tone("4", 80), gap, dtmf_tone("2", 80), gap]))
    await settle()
    assert detect_inband(bob.received_audio()) == "42"


async def test_stop_sending_cuts_a_stream_short(pair: tuple[RtpSession, RtpSession]) -> None:
    alice, bob = pair
    sending = asyncio.create_task(alice.send_audio(tone(2.0)))
    await asyncio.sleep(0.2)
    alice.stop_sending()
    assert await sending is False
    await settle()
    received = bob.receiver.stats.received
    assert 0 < received < 50
    # Sending again continues the stream: no sequence numbers were skipped.
    assert await alice.send_audio(tone(0.1))
    await settle()
    assert bob.receiver.stats.lost == 0
    assert bob.receiver.stats.received == received + 5


async def test_stop_during_dtmf_then_resume(pair: tuple[RtpSession, RtpSession]) -> None:
    alice, bob = pair
    sending = asyncio.create_task(alice.send_dtmf("123", duration_ms=100, gap_ms=100))
    await asyncio.sleep(0.05)
    alice.stop_sending()
    assert await sending is False
    await alice.send_dtmf("9", duration_ms=40)
    await settle()
    assert [d.digit for d in bob.dtmf.digits] == ["1", "9"]
    assert bob.receiver.stats.lost == 0


async def test_cancelled_send_gives_back_its_sequence_numbers(
    pair: tuple[RtpSession, RtpSession],
) -> None:
    alice, bob = pair
    sending = asyncio.create_task(alice.send_audio(tone(1.0)))
    await asyncio.sleep(0.1)
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    await alice.send_audio(tone(0.04))
    await settle()
    assert bob.receiver.stats.lost == 0


async def test_bad_digit_sends_nothing(pair: tuple[RtpSession, RtpSession]) -> None:
    alice, _ = pair
    with pytest.raises(DtmfError, match="'X' is not a DTMF digit"):
        await alice.send_dtmf("12X")
    assert alice.packets_sent == 0


async def test_pause_between_sends_stays_on_the_timeline(
    pair: tuple[RtpSession, RtpSession],
) -> None:
    alice, bob = pair
    loop = asyncio.get_running_loop()
    first = loop.time()
    await alice.send_audio(tone(0.2))
    await asyncio.sleep(0.3)
    second = loop.time()
    await alice.send_audio(tone(0.2))
    await settle()
    # The recording spans from the first burst's start to the second's end, pause included.
    assert bob.received_audio().size / 8000 == pytest.approx(second - first + 0.2, abs=0.005)
    assert bob.receiver.stats.lost == 0


async def test_back_to_back_sends_are_one_talkspurt(pair: tuple[RtpSession, RtpSession]) -> None:
    alice, _ = pair
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.bind(("127.0.0.1", 0))
        raw.setblocking(False)
        alice.remote = raw.getsockname()
        await alice.send_audio(tone(0.1))
        await alice.send_audio(tone(0.1))
        await settle()
        packets = []
        with contextlib.suppress(BlockingIOError):
            while True:
                packets.append(RtpPacket.decode(raw.recv(2048)))
    assert sum(len(packet.payload) for packet in packets) == 1600
    assert [packet.marker for packet in packets] == [True] + [False] * 9


async def test_malformed_datagrams_are_counted_not_fatal(
    pair: tuple[RtpSession, RtpSession],
) -> None:
    alice, bob = pair
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.sendto(b"junk", ("127.0.0.1", bob.local_port))
        raw.sendto(RtpPacket(101, 1, 1, 1, b"\x01").encode(), ("127.0.0.1", bob.local_port))
    await alice.send_audio(tone(0.04))
    await settle()
    assert bob.malformed == 2
    assert bob.receiver.stats.received == 2


async def test_learn_remote_answers_to_the_first_sender() -> None:
    async with await RtpSession.open() as alice, await RtpSession.open(learn_remote=True) as bob:
        alice.remote = ("127.0.0.1", bob.local_port)
        await alice.send_audio(tone(0.02))
        await settle()
        assert bob.remote == ("127.0.0.1", alice.local_port)
        await bob.send_audio(tone(0.02))
        await settle()
        assert alice.receiver.stats.received == 1


async def test_sending_needs_a_remote() -> None:
    async with await RtpSession.open() as session:
        with pytest.raises(RuntimeError, match="no remote address"):
            await session.send_audio(tone(0.02))


async def test_port_range_binds_an_even_port_inside_it() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        base = probe.getsockname()[1] // 2 * 2
    low, high = base - 40, base + 40
    sessions = [await RtpSession.open(port_range=(low, high)) for _ in range(5)]
    try:
        ports = [s.local_port for s in sessions]
        assert all(low <= p <= high and p % 2 == 0 for p in ports)
        assert len(set(ports)) == 5
    finally:
        for session in sessions:
            session.close()


async def test_exhausted_port_range_is_a_clear_error() -> None:
    blockers = []
    try:
        while True:  # an ephemeral port is odd or even by chance: hold sockets until even
            blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            blocker.bind(("127.0.0.1", 0))
            blockers.append(blocker)
            port = blocker.getsockname()[1]
            if port % 2 == 0:
                break
        with pytest.raises(OSError, match=rf"127.0.0.1 ports \({port}, {port}\).*in use"):
            await RtpSession.open(port_range=(port, port))
    finally:
        for blocker in blockers:
            blocker.close()


async def test_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this Python")
    try:
        alice = await RtpSession.open("::1")
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback: {exc}")
    async with alice, await RtpSession.open("::1") as bob:
        alice.remote = ("::1", bob.local_port)
        await alice.send_audio(tone(0.1))
        await settle()
        assert bob.receiver.stats.received == 5


async def test_close_releases_the_port() -> None:
    session = await RtpSession.open()
    port = session.local_port
    session.close()
    assert session.closed
    await asyncio.sleep(0)  # the transport closes its socket on the next loop iteration
    again = await RtpSession.open(port=port)
    again.close()


async def test_encoded_playback_on_the_shared_clock_is_paced_and_continues_the_stream(
    pair: tuple[RtpSession, RtpSession],
) -> None:
    alice, bob = pair
    first, second = bytes(range(200)) * 8, bytes(range(100, 200)) * 16
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await alice.play_encoded(first, 0)
    elapsed = loop.time() - started
    # The next prompt begins a few milliseconds later (a busy server): still one stream.
    await asyncio.sleep(0.005)
    assert await alice.play_encoded(second, 0)
    await settle()
    # 1600 samples are 200 ms: paced in real time, not sent as a burst.
    assert 0.18 <= elapsed <= 0.5
    assert bob.receiver.audio(0) == first + second
    stats = bob.receiver.stats
    assert (stats.received, stats.lost, stats.duplicates) == (20, 0, 0)


async def test_stopping_encoded_playback_cuts_it_short(pair: tuple[RtpSession, RtpSession]) -> None:
    alice, bob = pair
    playing = asyncio.ensure_future(alice.play_encoded(bytes(8000), 0))
    await asyncio.sleep(0.1)
    alice.stop_sending()
    assert await playing is False
    await settle()
    assert 0 < bob.receiver.stats.received < 15


def test_each_loop_has_its_own_media_clock_and_closed_loops_are_let_go() -> None:
    async def clock() -> Pacer:
        return shared_pacer()

    first_loop = asyncio.new_event_loop()
    first = first_loop.run_until_complete(clock())
    first_loop.close()
    second_loop = asyncio.new_event_loop()
    try:
        second = second_loop.run_until_complete(clock())
        assert second is not first
        assert second_loop.run_until_complete(clock()) is second
        assert first_loop not in _PACERS
    finally:
        second_loop.close()
