"""Signature frames: heard back through G.711, RTP, packet loss, noise and other audio."""

import dataclasses

import numpy as np
import pytest

from harness.media import g711
from harness.media.dtmf import COLUMN_FREQUENCIES, ROW_FREQUENCIES, detect_inband
from harness.media.rtp import RtpReceiver, RtpSender
from harness.media.signal import speech_like
from harness.media.signature import (
    DEFAULT_AMPLITUDE,
    END_FREQUENCY,
    MAX_PAYLOAD,
    START_FREQUENCY,
    SYMBOL_FREQUENCIES,
    SYMBOL_SAMPLES,
    Frame,
    FrameKind,
    SignatureError,
    decode_frames,
    encode_frame,
    find_message_codes,
    frame_samples,
    message_signature,
)

RATE = 8000
KINDS = list(FrameKind)
#: Every byte value, so every pair of hex symbols follows one another somewhere.
ALL_BYTES = [bytes(range(start, start + MAX_PAYLOAD)) for start in range(0, 256, MAX_PAYLOAD)]


def hex_id(payload: bytes) -> str:
    return payload.hex() if len(payload) <= 4 else f"{payload[0]:02x}..{payload[-1]:02x}"


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), dtype=np.int16)


def scaled(pcm: np.ndarray, db: float) -> np.ndarray:
    return np.clip(np.round(pcm * 10 ** (db / 20)), -32768, 32767).astype(np.int16)


def through_g711(pcm: np.ndarray, codec: str) -> np.ndarray:
    return g711.decode(g711.encode(pcm, codec), codec)


def through_rtp(
    pcm: np.ndarray, codec: str, *, lose: int | None = None, close_gap: bool = False
) -> np.ndarray:
    """``pcm`` sent as 20 ms G.711 packets and received; packet ``lose`` never arrives.

    The receiver fills the gap with silence, or, with ``close_gap``, the sender's clock
    skips it (the audio after the loss moves 20 ms earlier, as a recorder that writes the
    frames it gets would have it).
    """
    sender = RtpSender(g711.PAYLOAD_TYPES[codec], ssrc=7, sequence=65530, timestamp=2**32 - 500)
    packets = sender.packets(g711.encode(pcm, codec))
    if lose is not None:
        later = packets[lose + 1 :]
        if close_gap:
            later = [dataclasses.replace(p, timestamp=(p.timestamp - 160) % 2**32) for p in later]
        packets = packets[:lose] + later
    receiver = RtpReceiver()
    for index, packet in enumerate(packets):
        receiver.receive(packet, index * 0.02)
    return g711.decode(receiver.audio(g711.PAYLOAD_TYPES[codec]), codec)


# --- the alphabet --------------------------------------------------------------------------


def test_frequencies_keep_clear_of_dtmf_and_inside_the_voice_band() -> None:
    tones = [*SYMBOL_FREQUENCIES, START_FREQUENCY, END_FREQUENCY]
    assert len(set(tones)) == 18
    dtmf = ROW_FREQUENCIES + COLUMN_FREQUENCIES
    assert min(abs(tone - key) for tone in tones for key in dtmf) >= 60
    assert all(300 <= tone <= 3400 for tone in tones)


def test_a_two_byte_frame_lasts_under_0_6_seconds() -> None:
    pcm = encode_frame(FrameKind.PROMPT, b"\x00\x2a")
    assert pcm.dtype == np.int16
    assert pcm.size == frame_samples(2) == 8 * SYMBOL_SAMPLES
    assert pcm.size / RATE <= 0.6


@pytest.mark.parametrize("payload", ALL_BYTES, ids=hex_id)
@pytest.mark.parametrize("db", [0, -20])
@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_no_frame_is_taken_for_a_dtmf_key(payload: bytes, db: float, codec: str) -> None:
    frames = [encode_frame(kind, payload) for kind in KINDS] + [message_signature("Z9y8X7w6")]
    pcm = through_g711(scaled(np.concatenate(frames), db), codec)
    assert detect_inband(pcm, min_ms=20) == ""


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "payload", [b"", b"\x00", b"\xff\xff", b"\x00\x00\x00", *ALL_BYTES[:2]], ids=hex_id
)
def test_frame_round_trip(kind: FrameKind, payload: bytes) -> None:
    pcm = encode_frame(kind, payload)
    assert decode_frames(pcm) == [Frame(kind, payload, 0, pcm.size)]


def test_kind_may_be_given_by_name() -> None:
    assert decode_frames(encode_frame("digits", b"123"))[0].kind is FrameKind.DIGITS


@pytest.mark.parametrize("payload", ALL_BYTES, ids=hex_id)
@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_every_byte_value_survives_g711(payload: bytes, codec: str) -> None:
    pcm = through_g711(encode_frame(FrameKind.MESSAGE, payload), codec)
    assert [frame.payload for frame in decode_frames(pcm)] == [payload]


@pytest.mark.parametrize("db", [-20, -12, -6, 0, 6])
@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_level_does_not_matter(db: float, codec: str) -> None:
    pcm = through_g711(scaled(encode_frame(FrameKind.PROMPT, b"\x12\x34"), db), codec)
    assert [frame.payload for frame in decode_frames(pcm)] == [b"\x12\x34"]


def test_frames_are_found_between_speech_with_their_positions() -> None:
    sent = [(FrameKind.PROMPT, b"\x00\x07"), (FrameKind.MESSAGE, b"A1b2"), (FrameKind.DIGITS, b"")]
    parts: list[np.ndarray] = []
    starts = []
    for index, (kind, payload) in enumerate(sent):
        # Louder speech right up against the frame, quieter speech after a pause.
        parts.append(scaled(speech_like(1.0 + index / 3, seed=index), 6 if index % 2 else 0))
        parts.append(silence(0.013 * index))
        starts.append(sum(part.size for part in parts))
        parts.append(encode_frame(kind, payload, amplitude=DEFAULT_AMPLITUDE / (1 + 4 * index)))
    parts.append(speech_like(0.7, seed="tail"))
    pcm = np.concatenate(parts).astype(np.int16)
    frames = decode_frames(pcm)
    assert [(f.kind, f.payload) for f in frames] == sent
    for frame, start, (_, payload) in zip(frames, starts, sent, strict=True):
        assert abs(frame.start_sample - start) <= 40
        assert abs(frame.end_sample - (start + frame_samples(len(payload)))) <= 40


def test_frame_survives_quiet_noise() -> None:
    rng = np.random.default_rng(3)
    pcm = np.concatenate([speech_like(0.5, 1), scaled(encode_frame("message", b"code"), -20)])
    noisy = pcm + rng.normal(0, 60, pcm.size)  # 20 dB under the frame's tones
    received = through_g711(np.round(noisy).astype(np.int16), "PCMA")
    assert [frame.payload for frame in decode_frames(received)] == [b"code"]


# A 20 ms packet lost at every 10 ms step through the frame: in a marker, in the kind, in
# the payload, across slot boundaries.
LOSS_POINTS = range(0, frame_samples(3) + 160, 80)
LOST_PACKET = 40


@pytest.mark.parametrize("close_gap", [False, True], ids=["silence-filled", "closed-up"])
@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_frame_survives_one_lost_packet_anywhere(close_gap: bool, codec: str) -> None:
    payload = b"\x5a\x5a\xa5"
    decoded = []
    for offset in LOSS_POINTS:
        before = speech_like((LOST_PACKET * 160 - offset) / RATE, seed=offset)
        pcm = np.concatenate([before, encode_frame("digits", payload), silence(0.1)])
        received = through_rtp(pcm, codec, lose=LOST_PACKET, close_gap=close_gap)
        decoded.append([frame.payload for frame in decode_frames(received)])
    assert decoded == [[payload]] * len(LOSS_POINTS)


def test_frames_in_a_long_recording_are_all_found() -> None:
    rng = np.random.default_rng(11)
    payloads = [bytes(rng.integers(0, 256, int(rng.integers(0, 9))).tolist()) for _ in range(40)]
    parts = []
    for index, payload in enumerate(payloads):
        parts.append(speech_like(float(rng.uniform(0.2, 1.5)), seed=index))
        parts.append(silence(float(rng.uniform(0, 0.3))))
        parts.append(scaled(encode_frame("prompt", payload), float(rng.uniform(-20, 0))))
    received = through_rtp(np.concatenate(parts), "PCMU", lose=500)
    assert [frame.payload for frame in decode_frames(received)] == payloads


# --- what must not decode ------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_speech_and_noise_hold_no_frames(seed: int) -> None:
    noise = np.random.default_rng(seed).normal(0, 2000, 5 * RATE).astype(np.int16)
    assert decode_frames(np.concatenate([speech_like(20, seed), noise, silence(1)])) == []


def test_a_frame_with_one_wrong_symbol_is_rejected() -> None:
    good = encode_frame("prompt", b"\x12\x34")
    other = encode_frame("prompt", b"\x13\x34")
    slot = 3  # START, KIND, 1, then the nibble that differs
    bad = good.copy()
    bad[slot * SYMBOL_SAMPLES : (slot + 1) * SYMBOL_SAMPLES] = other[
        slot * SYMBOL_SAMPLES : (slot + 1) * SYMBOL_SAMPLES
    ]
    assert [f.payload for f in decode_frames(other)] == [b"\x13\x34"]
    assert decode_frames(bad) == []


@pytest.mark.parametrize(
    "kept",
    [slice(SYMBOL_SAMPLES, None), slice(None, 3 * SYMBOL_SAMPLES), slice(None, -SYMBOL_SAMPLES)],
    ids=["no-start", "first-half", "no-end"],
)
def test_a_cut_off_frame_is_not_heard(kept: slice) -> None:
    pcm = np.concatenate([silence(0.2), encode_frame("message", b"abc"), silence(0.2)])
    frame = slice(round(0.2 * RATE), pcm.size - round(0.2 * RATE))
    cut = pcm.copy()
    cut[frame] = 0
    cut[frame][kept] = pcm[frame][kept]
    assert decode_frames(cut) == []


def test_short_and_empty_signals_hold_no_frames() -> None:
    assert decode_frames(np.zeros(0, dtype=np.int16)) == []
    assert decode_frames(np.zeros(100, dtype=np.int16)) == []


# --- message codes -------------------------------------------------------------------------


def test_message_codes_are_heard_back_in_order() -> None:
    pcm = np.concatenate(
        [
            speech_like(1.0, "a"),
            message_signature("A1"),
            encode_frame("prompt", b"\x00\x01"),
            speech_like(0.5, "b"),
            message_signature("Zz09Yy18"),
            message_signature("A1"),
        ]
    )
    assert find_message_codes(through_g711(pcm, "PCMU")) == ["A1", "Zz09Yy18", "A1"]


def test_message_frames_that_are_not_codes_are_ignored() -> None:
    pcm = np.concatenate([encode_frame("message", b"no spaces"), encode_frame("message", b"")])
    assert find_message_codes(pcm) == []


@pytest.mark.parametrize("code", ["", "123456789", "a b", "Ä1", "ab-c"])
def test_bad_message_codes_are_refused(code: str) -> None:
    with pytest.raises(SignatureError, match="1 to 8 ASCII letters or digits"):
        message_signature(code)


# --- bad input -----------------------------------------------------------------------------


def test_encode_errors_name_the_problem() -> None:
    with pytest.raises(SignatureError, match="unknown frame kind 'greeting'"):
        encode_frame("greeting", b"")
    with pytest.raises(SignatureError, match="payload of 33 bytes"):
        encode_frame("digits", bytes(33))
    with pytest.raises(SignatureError, match="amplitude 40000"):
        encode_frame("digits", b"", amplitude=40000)


def test_decode_errors_name_the_problem() -> None:
    with pytest.raises(SignatureError, match=r"1-D signal, got shape \(2, 400\)"):
        decode_frames(np.zeros((2, 400), dtype=np.int16))
    with pytest.raises(SignatureError, match="numeric samples"):
        decode_frames(np.array(["a"] * 500))


@pytest.mark.parametrize("samples", [0, 100, 400, 520, 600, 1000])
def test_short_signals_hold_no_frame_and_do_not_fail(samples: int) -> None:
    assert decode_frames(np.zeros(samples, dtype=np.int16)) == []
