"""RTP packet codec, receiver reassembly and statistics, sender packetisation."""

import random

import pytest

from harness.media.rtp import (
    RtpError,
    RtpHeaderExtension,
    RtpPacket,
    RtpReceiver,
    RtpSender,
)


def frame(index: int) -> bytes:
    """A 160-byte payload whose content says which frame it is."""
    return bytes([index % 200]) * 160


def stream(
    count: int, *, seq: int = 1000, ts: int = 50_000, ssrc: int = 7, pt: int = 0
) -> list[RtpPacket]:
    return [
        RtpPacket(pt, (seq + i) & 0xFFFF, (ts + 160 * i) & 0xFFFFFFFF, ssrc, frame(i))
        for i in range(count)
    ]


def feed(receiver: RtpReceiver, packets: list[RtpPacket], start: float = 0.0) -> None:
    for index, packet in enumerate(packets):
        receiver.receive(packet, start + index * 0.02)


# --- codec ---------------------------------------------------------------------------------


def test_encode_lays_out_the_fixed_header() -> None:
    packet = RtpPacket(0, 1, 160, 0x12345678, b"\xff\xfe", marker=True)
    assert packet.encode() == bytes.fromhex("80800001000000a012345678fffe")


def test_decode_reads_the_fixed_header() -> None:
    packet = RtpPacket.decode(bytes.fromhex("80e5fffffffffff000000001") + b"abc")
    assert packet == RtpPacket(101, 0xFFFF, 0xFFFFFFF0, 1, b"abc", marker=True)


@pytest.mark.parametrize(
    "packet",
    [
        RtpPacket(8, 5, 6, 7, b"x" * 160),
        RtpPacket(0, 0, 0, 0, b""),
        RtpPacket(96, 65535, 2**32 - 1, 2**32 - 1, b"abc", marker=True, csrcs=(1, 2, 3)),
        RtpPacket(0, 1, 2, 3, b"data", extension=RtpHeaderExtension(0xBEDE, b"\x10\xaa\x00\x00")),
        RtpPacket(0, 1, 2, 3, b"abcd", padding=True),
        RtpPacket(0, 1, 2, 3, b"abcde", padding=True, csrcs=(9,), extension=RtpHeaderExtension(1)),
    ],
)
def test_round_trip(packet: RtpPacket) -> None:
    assert RtpPacket.decode(packet.encode()) == packet


def test_padding_is_stripped_from_the_payload() -> None:
    data = bytes.fromhex("a00000010000000200000003") + b"pay" + b"\x00\x00\x03"
    packet = RtpPacket.decode(data)
    assert packet.payload == b"pay"
    assert packet.padding


def test_encoded_padding_aligns_to_four_bytes() -> None:
    encoded = RtpPacket(0, 1, 2, 3, b"abcde", padding=True).encode()
    assert len(encoded) % 4 == 0
    assert encoded[-1] == 3


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x80\x00\x00", "shorter than the 12-byte"),
        (bytes.fromhex("400000010000000200000003"), "version 1"),
        (bytes.fromhex("820000010000000200000003") + b"\x00" * 4, "2 CSRCs"),
        (bytes.fromhex("900000010000000200000003") + b"\x00\x01", "header extension announced"),
        (bytes.fromhex("90000001000000020000000300010002") + b"\x00" * 4, "2 words runs past"),
        (bytes.fromhex("a00000010000000200000003") + b"ab\x00", "padding count 0"),
        (bytes.fromhex("a00000010000000200000003") + b"ab\x09", "padding count 9"),
    ],
)
def test_decode_errors_say_what_is_wrong(data: bytes, reason: str) -> None:
    with pytest.raises(RtpError, match=reason):
        RtpPacket.decode(data)


def test_encode_rejects_impossible_fields() -> None:
    with pytest.raises(RtpError, match="payload type 128"):
        RtpPacket(128, 0, 0, 0, b"").encode()
    with pytest.raises(RtpError, match="not a multiple of 4"):
        RtpPacket(0, 0, 0, 0, b"", extension=RtpHeaderExtension(1, b"abc")).encode()
    with pytest.raises(RtpError, match="16 CSRCs"):
        RtpPacket(0, 0, 0, 0, b"", csrcs=tuple(range(16))).encode()


# --- receiver ------------------------------------------------------------------------------


def test_in_order_stream_reassembles_exactly() -> None:
    packets = stream(50)
    receiver = RtpReceiver()
    feed(receiver, packets)
    assert receiver.audio(0) == b"".join(p.payload for p in packets)
    stats = receiver.stats
    assert (stats.received, stats.lost, stats.duplicates, stats.out_of_order) == (50, 0, 0, 0)
    assert stats.jitter == pytest.approx(0.0, abs=1e-9)
    assert stats.ssrc == 7


def test_reordered_and_duplicated_packets_give_the_same_audio() -> None:
    packets = stream(100)
    shuffled = packets + packets[10:30]
    random.Random(3).shuffle(shuffled)
    receiver = RtpReceiver()
    feed(receiver, shuffled)
    assert receiver.audio(0) == b"".join(p.payload for p in packets)
    stats = receiver.stats
    assert stats.received == 100
    assert stats.duplicates == 20
    assert stats.lost == 0
    assert stats.out_of_order > 0


def test_lost_packets_become_silence_of_their_length() -> None:
    packets = stream(10)
    receiver = RtpReceiver()
    feed(receiver, [p for i, p in enumerate(packets) if i not in (3, 4, 7)])
    audio = receiver.audio(0)
    assert len(audio) == 10 * 160
    assert audio[3 * 160 : 5 * 160] == b"\xff" * 320
    assert audio[7 * 160 : 8 * 160] == b"\xff" * 160
    assert audio[5 * 160 : 6 * 160] == frame(5)
    assert receiver.stats.lost == 3


def test_pcma_gaps_are_filled_with_alaw_silence() -> None:
    packets = stream(3, pt=8)
    receiver = RtpReceiver()
    feed(receiver, [packets[0], packets[2]])
    assert receiver.audio(8)[160:320] == b"\xd5" * 160


def test_sequence_and_timestamp_wrap_around() -> None:
    packets = stream(200, seq=65500, ts=2**32 - 8000)
    receiver = RtpReceiver()
    # Deliver out of order across the wrap: the packet after the wrap comes first.
    order = [*packets[:30], packets[40], *packets[30:40], *packets[41:]]
    feed(receiver, order)
    assert receiver.audio(0) == b"".join(p.payload for p in packets)
    assert receiver.stats.lost == 0
    assert receiver.stats.received == 200


def test_packet_older_than_the_first_one_still_counts() -> None:
    packets = stream(5)
    receiver = RtpReceiver()
    feed(receiver, [packets[1], packets[2], packets[0], packets[3], packets[4]])
    assert receiver.audio(0) == b"".join(p.payload for p in packets)
    assert receiver.stats.lost == 0
    assert receiver.stats.out_of_order == 1


def test_pause_in_the_senders_timeline_is_kept() -> None:
    # The sender skips 1 s of timestamps (nothing to say) without skipping sequence numbers.
    first = stream(5)
    later = stream(5, seq=1005, ts=50_000 + 5 * 160 + 8000)
    receiver = RtpReceiver()
    feed(receiver, first + later)
    audio = receiver.audio(0)
    assert len(audio) == 10 * 160 + 8000
    assert audio[800:8800] == b"\xff" * 8000
    assert receiver.stats.lost == 0


def test_timestamp_jump_is_closed_up_not_filled() -> None:
    # A sender jumping its timestamp by 2^30 must not make a 2^30-byte recording.
    first = stream(3)
    jumped = stream(3, seq=1003, ts=50_000 + 2**30)
    receiver = RtpReceiver()
    feed(receiver, first + jumped)
    assert receiver.audio(0) == b"".join(p.payload for p in first + jumped)
    with_pause = stream(3, seq=1006, ts=50_000 + 2**30 + 480 + 8000 * 30)
    feed(receiver, with_pause, start=1.0)
    assert len(receiver.audio(0)) == 9 * 160 + 8000 * 30


def test_other_payload_types_leave_silence_in_the_audio() -> None:
    packets = stream(6)
    event = RtpPacket(101, 1006, 50_000 + 6 * 160, 7, b"\x05\x0a\x00\xa0")
    resumed = RtpPacket(0, 1007, 50_000 + 8 * 160, 7, frame(8))
    receiver = RtpReceiver()
    feed(receiver, [*packets, event, resumed])
    audio = receiver.audio(0)
    assert len(audio) == 9 * 160
    assert audio[6 * 160 : 8 * 160] == b"\xff" * 320
    assert receiver.payload_types() == {0, 101}


def test_dynamic_payload_type_needs_an_explicit_silence() -> None:
    receiver = RtpReceiver()
    feed(receiver, stream(2, pt=96))
    with pytest.raises(ValueError, match="payload type 96"):
        receiver.audio(96)
    assert len(receiver.audio(96, silence=0)) == 320


def test_empty_receiver_has_no_audio() -> None:
    receiver = RtpReceiver()
    assert receiver.audio(0) == b""
    assert receiver.stats.received == 0
    assert receiver.stats.lost == 0


def test_second_ssrc_is_counted_and_ignored() -> None:
    receiver = RtpReceiver()
    feed(receiver, stream(3))
    feed(receiver, stream(3, ssrc=99, seq=1))
    assert receiver.stats.other_ssrc == 3
    assert receiver.stats.received == 3


def test_jitter_follows_rfc_3550() -> None:
    # Arrival alternates 10 ms late and on time: every transit difference is 80 samples,
    # so the estimate converges to 10 ms.
    receiver = RtpReceiver()
    for index, packet in enumerate(stream(400)):
        receiver.receive(packet, index * 0.02 + (0.01 if index % 2 else 0.0))
    assert receiver.stats.jitter == pytest.approx(0.01, rel=1e-3)


def test_repeated_event_timestamps_do_not_count_as_jitter() -> None:
    receiver = RtpReceiver()
    for index in range(10):
        receiver.receive(RtpPacket(101, index, 800, 1, b"\x01\x0a\x00\xa0"), index * 0.02)
    assert receiver.stats.jitter == 0.0


# --- sender --------------------------------------------------------------------------------


def test_sender_packetises_into_20ms_frames() -> None:
    sender = RtpSender(0, ssrc=5, sequence=65534, timestamp=2**32 - 160)
    packets = sender.packets(bytes(400))
    assert [len(p.payload) for p in packets] == [160, 160, 80]
    assert [p.sequence for p in packets] == [65534, 65535, 0]
    assert [p.timestamp for p in packets] == [2**32 - 160, 0, 160]
    assert [p.marker for p in packets] == [True, False, False]
    assert {p.ssrc for p in packets} == {5}
    # The next call continues the stream without a marker.
    more = sender.packets(bytes(160))
    assert (more[0].sequence, more[0].timestamp, more[0].marker) == (1, 240, False)


def test_sender_marks_a_new_talkspurt_on_request() -> None:
    sender = RtpSender(8, ssrc=1, sequence=0, timestamp=0)
    sender.packets(bytes(160))
    sender.advance(8000)
    packets = sender.packets(bytes(320), marker=True)
    assert [p.marker for p in packets] == [True, False]
    assert packets[0].timestamp == 8160


def test_sender_starts_at_random_values() -> None:
    first, second = RtpSender(0), RtpSender(0)
    assert (first.ssrc, first.sequence, first.timestamp) != (
        second.ssrc,
        second.sequence,
        second.timestamp,
    )


def test_sender_output_feeds_the_receiver_losslessly() -> None:
    sender = RtpSender(0)
    payload = bytes(range(256)) * 40
    receiver = RtpReceiver()
    feed(receiver, sender.packets(payload))
    assert receiver.audio(0) == payload


def test_sender_rejects_empty_frames() -> None:
    with pytest.raises(ValueError, match="samples_per_frame"):
        RtpSender(0, samples_per_frame=0)


def test_a_receiver_bounded_by_the_wall_clock_ignores_timestamp_jumps() -> None:
    receiver = RtpReceiver(max_lead=1.0)
    for number in range(100):
        packet = RtpPacket(0, number, number * 8000 * 59, 1, b"\x7f" * 160)
        receiver.receive(packet, now=number * 0.001)
    assert len(receiver.audio(0)) <= 2 * 8000


def test_a_receiver_bounded_by_the_wall_clock_keeps_twice_real_time_at_most() -> None:
    receiver = RtpReceiver(max_lead=1.0)
    for number in range(1000):
        receiver.receive(RtpPacket(0, number, number * 160, 1, b"\x7f" * 160), now=0.0)
    kept = sum(len(payload) for _, _, payload in receiver._packets.values())
    assert kept <= 2 * 8000
    assert receiver.refused == 1000 - kept // 160


# --- a stream that starts its numbering over --------------------------------------------------


@pytest.mark.parametrize("max_lead", [None, 2.0])
def test_a_replay_under_the_same_ssrc_is_more_audio_not_duplicates(max_lead: float | None) -> None:
    """SIPp loops its pcap: sequence numbers and timestamps start over, the SSRC stays."""
    first = stream(150)
    receiver = RtpReceiver(max_lead=max_lead)
    feed(receiver, first + first)
    assert receiver.audio(0) == 2 * b"".join(p.payload for p in first)
    assert receiver.stats.duplicates == 0


def test_a_jump_to_new_numbering_continues_the_recording() -> None:
    before = stream(100)
    after = stream(100, seq=40_000, ts=9_000_000)
    receiver = RtpReceiver(max_lead=2.0)
    feed(receiver, before + after)
    audio = receiver.audio(0)
    assert audio == b"".join(p.payload for p in before + after)
    stats = receiver.stats
    assert (stats.received, stats.lost) == (200, 0)


def test_a_short_loop_replayed_is_still_heard() -> None:
    """A loop shorter than the reordering window: the replay's packets are more than a
    second behind where the stream stood, so they are a restart, not late copies."""
    loop = stream(60)
    receiver = RtpReceiver(max_lead=2.0)
    feed(receiver, loop * 3)
    assert len(receiver.audio(0)) == 3 * 60 * 160


def test_one_stray_packet_does_not_restart_the_stream() -> None:
    packets = stream(100)
    stray = RtpPacket(0, 30_000, 7_000_000, 7, b"\x00" * 160)
    receiver = RtpReceiver(max_lead=2.0)
    feed(receiver, [*packets[:50], stray, *packets[50:]])
    assert receiver.audio(0) == b"".join(p.payload for p in packets)
    assert receiver.stats.received == 100


def test_a_receiver_keeping_no_audio_stays_small_and_counts_right() -> None:
    receiver = RtpReceiver(max_lead=2.0)
    receiver.keep_audio = False
    packets = stream(3000)  # a minute
    feed(receiver, packets[:1500] + packets[1499:1500] + packets[1500:])
    stats = receiver.stats
    assert (stats.received, stats.duplicates, stats.lost) == (3000, 1, 0)
    assert receiver.payload_types() == {0}
    assert receiver.last_offset == 2999 * 160
    assert len(receiver._packets) <= 2 * 512
    with pytest.raises(ValueError, match="keeps no audio"):
        receiver.audio(0)


def test_a_receiver_keeping_no_audio_still_follows_a_replay() -> None:
    loop = stream(150)
    receiver = RtpReceiver(max_lead=2.0)
    receiver.keep_audio = False
    feed(receiver, loop + loop)
    assert receiver.last_offset == 299 * 160
    assert receiver.restarts == 1


# --- where the sender stood at a given time ----------------------------------------------------


def test_packets_read_late_are_placed_when_they_came() -> None:
    """The first packets are read on time; then the reader stalls 300 ms and reads a burst:
    the sender's timeline still maps each moment to where its audio stood then."""
    receiver = RtpReceiver(max_lead=2.0)
    receiver.keep_audio = False
    packets = stream(40)
    feed(receiver, packets[:10], start=5.0)
    assert receiver.offset_at(5.0) == 0
    for packet in packets[10:25]:
        receiver.receive(packet, now=5.5)  # due from 5.2 on, read in one go at 5.5
    assert receiver.last_offset == 24 * 160
    assert receiver.offset_at(5.3) == 15 * 160
    assert RtpReceiver().offset_at(5.3) is None


def test_a_sender_that_falls_behind_its_timestamps_is_followed() -> None:
    """SIPp on a loaded machine sends its pcap late: after a while the receiver places the
    sender's audio where it stands now, not where an on-time sender would be."""
    receiver = RtpReceiver(max_lead=2.0)
    packets = stream(150)
    feed(receiver, packets[:50], start=0.0)  # on time for a second
    for index, packet in enumerate(packets[50:], start=50):
        receiver.receive(packet, now=index * 0.02 + 0.2)  # then 200 ms behind
    assert receiver.offset_at(2.0) == 90 * 160
