"""DTMF: RFC 4733 events and their receiver, SIP INFO bodies, inband detection."""

import numpy as np
import pytest

from harness.media import g711
from harness.media.dtmf import (
    DtmfError,
    DtmfReceiver,
    DtmfRelay,
    InbandDetector,
    TelephoneEvent,
    detect_inband,
    dtmf_tone,
    event_character,
    event_code,
    event_packets,
    format_dtmf,
    format_dtmf_relay,
    parse_dtmf,
    parse_dtmf_relay,
)
from harness.media.rtp import RtpPacket, RtpSender

# --- event codes and payload ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("digit", "code"),
    [("0", 0), ("9", 9), ("*", 10), ("#", 11), ("A", 12), ("d", 15), ("!", 16)],
)
def test_event_codes(digit: str, code: int) -> None:
    assert event_code(digit) == code
    assert event_character(code) == digit.upper()


@pytest.mark.parametrize("digit", ["E", "", "12", " "])
def test_unknown_digit_is_named(digit: str) -> None:
    with pytest.raises(DtmfError, match="not a DTMF digit"):
        event_code(digit)


def test_event_code_out_of_range() -> None:
    with pytest.raises(DtmfError, match="event code 17"):
        event_character(17)


def test_telephone_event_wire_format() -> None:
    event = TelephoneEvent(event=11, end=True, volume=10, duration=800)
    assert event.encode() == bytes([11, 0x8A, 0x03, 0x20])
    assert TelephoneEvent.decode(event.encode()) == event
    assert event.digit == "#"


def test_telephone_event_ignores_the_reserved_bit() -> None:
    assert TelephoneEvent.decode(bytes([5, 0x4A, 0, 160])) == TelephoneEvent(5, False, 10, 160)


def test_telephone_event_errors() -> None:
    with pytest.raises(DtmfError, match="3 bytes"):
        TelephoneEvent.decode(b"\x01\x02\x03")
    with pytest.raises(DtmfError, match="volume 64"):
        TelephoneEvent(1, volume=64).encode()
    with pytest.raises(DtmfError, match="duration 65536"):
        TelephoneEvent(1, duration=65536).encode()


# --- packets as Asterisk sends them --------------------------------------------------------


def test_event_packets_have_asterisks_shape() -> None:
    sender = RtpSender(0, ssrc=9, sequence=100, timestamp=16_000)
    sender.packets(bytes(160))  # some audio first: the event is not the stream's first packet
    timed = event_packets("5", sender, 101, duration_ms=100, interval_ms=20)
    packets = [item.packet for item in timed]
    events = [TelephoneEvent.decode(p.payload) for p in packets]
    assert {p.timestamp for p in packets} == {16_160}
    assert {p.payload_type for p in packets} == {101}
    assert [p.sequence for p in packets] == list(range(101, 101 + len(packets)))
    assert [p.marker for p in packets] == [True] + [False] * (len(packets) - 1)
    assert [e.end for e in events] == [False] * (len(packets) - 3) + [True] * 3
    assert {e.event for e in events} == {5}
    assert {e.volume for e in events} == {10}
    assert [item.at for item in timed[:2]] == [0.0, 0.0]
    assert [item.at for item in timed[2:-3]] == pytest.approx([0.02, 0.04, 0.06, 0.08])
    assert {item.at for item in timed[-3:]} == {0.1}
    durations = [e.duration for e in events]
    assert durations == sorted(durations)
    assert durations[-3:] == [800, 800, 800]
    # The next audio starts after the tone on the timeline.
    assert sender.timestamp == 16_160 + 800
    assert sender.sequence == 101 + len(packets)


def test_event_packets_at_50ms_intervals() -> None:
    timed = event_packets("#", RtpSender(0), duration_ms=250, interval_ms=50)
    assert [item.at for item in timed] == pytest.approx(
        [0, 0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.25, 0.25]
    )


# --- receiver ------------------------------------------------------------------------------


def digit_packets(digit: str, sender: RtpSender) -> list[RtpPacket]:
    return [item.packet for item in event_packets(digit, sender)]


def test_receiver_reports_each_press_once() -> None:
    sender = RtpSender(0, ssrc=1)
    receiver = DtmfReceiver()
    heard = []
    for digit in "1223#":
        for packet in digit_packets(digit, sender):
            result = receiver.receive(packet)
            if result is not None:
                heard.append(result)
        sender.advance(800)
    assert "".join(heard) == "1223#"
    assert [d.digit for d in receiver.digits] == list("1223#")


def test_receiver_survives_lost_start_and_repeated_end_packets() -> None:
    sender = RtpSender(0)
    packets = digit_packets("7", sender)
    receiver = DtmfReceiver()
    # Both start packets lost; the end packet arrives three times and once more late.
    results = [receiver.receive(p) for p in packets[2:] + packets[-1:]]
    assert [r for r in results if r is not None] == ["7"]


def test_receiver_reports_a_press_known_only_from_its_end_packet() -> None:
    packets = digit_packets("*", RtpSender(0))
    receiver = DtmfReceiver()
    assert receiver.receive(packets[-1]) == "*"
    assert receiver.receive(packets[-2]) is None


def test_same_digit_twice_is_two_presses() -> None:
    sender = RtpSender(0)
    first = digit_packets("4", sender)
    sender.advance(400)
    second = digit_packets("4", sender)
    receiver = DtmfReceiver()
    heard = [receiver.receive(p) for p in first + second]
    assert [h for h in heard if h] == ["4", "4"]


def test_receiver_rejects_short_payloads() -> None:
    with pytest.raises(DtmfError, match="2 bytes"):
        DtmfReceiver().receive(RtpPacket(101, 0, 0, 0, b"\x01\x02"))


def test_receiver_ignores_non_dtmf_events() -> None:
    packet = RtpPacket(101, 0, 0, 0, TelephoneEvent(event=32).encode())  # a modem tone
    assert DtmfReceiver().receive(packet) is None


# --- SIP INFO bodies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Signal=5\r\nDuration=250\r\n", DtmfRelay("5", 250)),
        ("Signal=#\r\nDuration=160\r\n", DtmfRelay("#", 160)),
        ("signal = 11\nduration = 80\n", DtmfRelay("#", 80)),
        ("Signal=!\r\n", DtmfRelay("!", 100)),
        ("Signal=16\r\n", DtmfRelay("!", 100)),
        ("d=b\r\n", DtmfRelay("B", 100)),
        (b"Signal=*\r\nDuration=100\r\n", DtmfRelay("*", 100)),
    ],
)
def test_parse_dtmf_relay(body: str, expected: DtmfRelay) -> None:
    assert parse_dtmf_relay(body) == expected


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("Duration=250\r\n", "no Signal"),
        ("Signal=E\r\n", "line 1: signal 'E' is not a DTMF digit"),
        ("Signal=17\r\n", "signal '17' is neither"),
        ("Signal=5\r\nDuration=long\r\n", "line 2: duration 'long'"),
        ("Signal 5\r\n", "line 1: 'Signal 5' is not key=value"),
    ],
)
def test_parse_dtmf_relay_errors(body: str, reason: str) -> None:
    with pytest.raises(DtmfError, match=reason):
        parse_dtmf_relay(body)


def test_format_dtmf_relay() -> None:
    assert format_dtmf_relay("5") == "Signal=5\r\nDuration=250\r\n"
    assert format_dtmf_relay("a", 100) == "Signal=A\r\nDuration=100\r\n"
    assert parse_dtmf_relay(format_dtmf_relay("#", 120)) == DtmfRelay("#", 120)


@pytest.mark.parametrize(
    ("body", "digit"), [("5", "5"), ("10\r\n", "*"), (b"11", "#"), ("16", "!")]
)
def test_parse_dtmf(body: str, digit: str) -> None:
    assert parse_dtmf(body) == digit


def test_format_dtmf_is_the_event_number() -> None:
    assert format_dtmf("*") == "10"
    assert format_dtmf("D") == "15"
    with pytest.raises(DtmfError, match="application/dtmf"):
        parse_dtmf("x")


# --- inband --------------------------------------------------------------------------------

RNG_SEED = 20240611


def silence(ms: int) -> np.ndarray:
    return np.zeros(ms * 8, dtype=np.int16)


def keyed(digits: str, on_ms: int = 100, off_ms: int = 100, amplitude: int = 8000) -> np.ndarray:
    parts = [silence(50)]
    for digit in digits:
        parts += [dtmf_tone(digit, on_ms, amplitude=amplitude), silence(off_ms)]
    return np.concatenate(parts)


def add_noise(signal: np.ndarray, snr_db: float, seed: int = RNG_SEED) -> np.ndarray:
    power = np.mean(signal[signal != 0].astype(np.float64) ** 2)
    noise = np.random.default_rng(seed).normal(0, np.sqrt(power / 10 ** (snr_db / 10)), signal.size)
    return np.clip(signal + noise, -32768, 32767).astype(np.int16)


def speech_like(seconds: float, seed: int) -> np.ndarray:
    """Voiced sound: a gliding fundamental with formant-shaped harmonics, syllable-rate
    envelope and breath noise: the kind of signal that fools a careless detector."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 8000)) / 8000
    f0 = (
        120
        + 40 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6))
        + 20 * np.sin(2 * np.pi * 3.1 * t)
    )
    phase = 2 * np.pi * np.cumsum(f0) / 8000
    formants = [
        (rng.uniform(300, 800), 1.0),
        (rng.uniform(900, 1800), 0.5),
        (rng.uniform(2000, 3000), 0.25),
    ]
    voiced = np.zeros(t.size)
    for harmonic in range(1, 30):
        gain = sum(a * np.exp(-((((harmonic * f0) - f) / 150) ** 2)) for f, a in formants) + 0.05
        voiced += gain * np.sin(harmonic * phase)
    envelope = np.clip(np.sin(2 * np.pi * 4 * t + rng.uniform(0, 6)), 0, None)
    signal = voiced * envelope + 0.1 * rng.normal(size=t.size)
    peak = float(np.abs(signal).max())
    return np.asarray(signal / peak * 12000, dtype=np.int16)


def test_tone_has_the_right_length_and_frequencies() -> None:
    tone = dtmf_tone("6", ms=100)
    assert tone.dtype == np.int16
    assert tone.size == 800
    spectrum = np.abs(np.fft.rfft(tone, 8000))
    assert sorted(np.argsort(spectrum)[-2:].tolist()) == [770, 1477]


def test_tone_for_flash_is_refused() -> None:
    with pytest.raises(DtmfError, match="flash"):
        dtmf_tone("!")


def test_detects_every_key() -> None:
    assert detect_inband(keyed("0123456789*#ABCD")) == "0123456789*#ABCD"


def test_held_tone_counts_once() -> None:
    assert detect_inband(keyed("8", on_ms=2000)) == "8"


@pytest.mark.parametrize("offset", range(0, 40, 9))
def test_repeated_key_with_40ms_pauses_counts_each_press(offset: int) -> None:
    signal = np.concatenate([np.zeros(offset, dtype=np.int16), keyed("555", on_ms=60, off_ms=40)])
    assert detect_inband(signal) == "555"


@pytest.mark.parametrize("offset", range(0, 40, 9))
def test_lost_packet_inside_a_tone_does_not_split_it(offset: int) -> None:
    signal = keyed("3", on_ms=300)
    gap = 50 * 8 + 1200 + offset
    signal[gap : gap + 160] = 0  # one 20 ms packet lost and replaced by silence
    assert detect_inband(signal) == "3"


@pytest.mark.parametrize("offset", range(0, 40, 7))
def test_40ms_tones_count_whatever_their_alignment(offset: int) -> None:
    signal = np.concatenate([np.zeros(offset, dtype=np.int16), keyed("9", on_ms=40)])
    assert detect_inband(signal) == "9"


@pytest.mark.parametrize("on_ms", [10, 20, 30])
def test_tones_shorter_than_the_minimum_do_not_count(on_ms: int) -> None:
    assert detect_inband(keyed("1", on_ms=on_ms)) == ""


@pytest.mark.parametrize("snr_db", [20, 10])
def test_detects_tones_in_noise(snr_db: float) -> None:
    assert detect_inband(add_noise(keyed("159#", amplitude=4000), snr_db)) == "159#"


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_detects_tones_after_g711(codec: str) -> None:
    signal = add_noise(keyed("*0#", amplitude=3000), 15)
    assert detect_inband(g711.decode(g711.encode(signal, codec), codec)) == "*0#"


def test_weak_tones_are_ignored() -> None:
    assert detect_inband(keyed("7", amplitude=100)) == ""
    assert detect_inband(keyed("7", amplitude=400)) == "7"


def test_twisted_tones_beyond_8db_are_ignored() -> None:
    t = np.arange(800) / 8000
    strong, weak = 8000, 8000 / 10 ** (10 / 20)
    signal = strong * np.sin(2 * np.pi * 852 * t) + weak * np.sin(2 * np.pi * 1336 * t)
    assert detect_inband(np.round(signal).astype(np.int16)) == ""


def test_silence_and_noise_give_no_digits() -> None:
    rng = np.random.default_rng(RNG_SEED)
    assert detect_inband(silence(3000)) == ""
    for level in (100, 1000, 8000):
        assert detect_inband(rng.normal(0, level, 40_000).astype(np.int16)) == ""


@pytest.mark.parametrize("seed", range(12))
def test_speech_like_sound_gives_no_digits(seed: int) -> None:
    assert detect_inband(speech_like(5, seed)) == ""


def test_digits_between_speech_are_found() -> None:
    signal = np.concatenate(
        [speech_like(1, 1), dtmf_tone("2", 80), speech_like(1, 2), dtmf_tone("9", 80)]
    )
    assert detect_inband(signal) == "29"


def test_too_short_a_signal_has_no_digits() -> None:
    assert detect_inband(np.zeros(100, dtype=np.int16)) == ""


@pytest.mark.parametrize("chunk", [160, 37, 1000])
def test_streaming_detector_hears_each_digit_once_whatever_the_chunking(chunk: int) -> None:
    gap = np.zeros(400, dtype=np.int16)
    audio = np.concatenate(
        [np.concatenate((dtmf_tone(key, ms=120), gap)) for key in "1#5*"]
        + [dtmf_tone("9", ms=600)]  # a held key is one digit
    )
    detector = InbandDetector()
    heard = "".join(detector.feed(audio[i : i + chunk]) for i in range(0, len(audio), chunk))
    assert heard == detect_inband(audio) == "1#5*9"


def test_streaming_detector_reports_a_held_key_while_it_is_held() -> None:
    detector = InbandDetector()
    assert detector.feed(dtmf_tone("7", ms=80)) == "7"
    assert detector.feed(dtmf_tone("7", ms=400)) == ""
