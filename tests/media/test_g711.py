"""G.711 against the ITU-T reference values and, where present, Python's audioop."""

import warnings

import numpy as np
import pytest

from harness.media import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop
    except ImportError:  # removed in Python 3.13
        audioop = None  # type: ignore[assignment]

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = bytes(range(256))


def pcm(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int16)


@pytest.mark.parametrize(
    ("value", "ulaw", "alaw"),
    [
        (0, 0xFF, 0xD5),
        (-1, 0x7E, 0x55),
        (32767, 0x80, 0xAA),
        (-32768, 0x00, 0x2A),
        (1000, 0xCE, 0xFA),
        (-1000, 0x4E, 0x7A),
    ],
)
def test_known_codes(value: int, ulaw: int, alaw: int) -> None:
    assert g711.ulaw_encode(pcm(value)) == bytes([ulaw])
    assert g711.alaw_encode(pcm(value)) == bytes([alaw])


def test_full_scale_decodes_to_the_largest_segment() -> None:
    assert g711.ulaw_decode(b"\x80\x00").tolist() == [32124, -32124]
    assert g711.alaw_decode(b"\xaa\x2a").tolist() == [32256, -32256]


def test_silence_codes_decode_to_zero_and_back() -> None:
    assert g711.ulaw_decode(bytes([g711.ULAW_SILENCE])).tolist() == [0]
    assert g711.alaw_decode(bytes([g711.ALAW_SILENCE])).tolist() == [8]
    assert g711.silence_byte("pcmu") == 0xFF
    assert g711.silence_byte("PCMA") == 0xD5


@pytest.mark.parametrize(("codec", "mirror_offset"), [("PCMU", 0), ("PCMA", 8)])
def test_codes_are_sign_symmetric(codec: str, mirror_offset: int) -> None:
    # The reference truncates towards minus infinity, so µ-law mirrors x at -x and A-law
    # (which also subtracts one step from negatives) at -x - 8; the codes then differ
    # only in the sign bit.
    positive = np.arange(8, 32760, 8, dtype=np.int16)
    up = np.frombuffer(g711.encode(positive, codec), dtype=np.uint8)
    down = np.frombuffer(g711.encode(-positive - mirror_offset, codec), dtype=np.uint8)
    assert np.all((up ^ down) == 0x80)
    decoded = g711.decode(ALL_CODES, codec).astype(np.int32)
    assert sorted(decoded[:128].tolist()) == sorted((-decoded[128:]).tolist())


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_round_trip_stays_within_the_quantisation_step(codec: str) -> None:
    decoded = g711.decode(g711.encode(ALL_INT16, codec), codec).astype(np.int32)
    error = np.abs(decoded - ALL_INT16.astype(np.int32))
    # Each segment's step is twice the previous; the error stays within half a step
    # (plus clipping at full scale, which µ-law reaches at 32124 and A-law at 32256).
    magnitude = np.abs(ALL_INT16.astype(np.int32))
    clip = 32124 if codec == "PCMU" else 32256
    inside = magnitude < clip
    assert np.all(error[inside] <= np.maximum(magnitude[inside] // 16, 16))
    assert error[~inside].max() <= 32768 - clip


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_decode_then_encode_is_identity_on_codes(codec: str) -> None:
    # Every code decodes to a value that encodes back to it, except µ-law's negative zero.
    again = g711.encode(g711.decode(ALL_CODES, codec), codec)
    differing = [code for code, back in zip(ALL_CODES, again, strict=True) if code != back]
    assert differing == ([0x7F] if codec == "PCMU" else [])


@pytest.mark.skipif(audioop is None, reason="audioop is not available in this Python")
def test_matches_audioop_on_every_input() -> None:
    assert audioop is not None
    data = ALL_INT16.tobytes()
    assert g711.ulaw_encode(ALL_INT16) == audioop.lin2ulaw(data, 2)
    assert g711.alaw_encode(ALL_INT16) == audioop.lin2alaw(data, 2)
    assert g711.ulaw_decode(ALL_CODES).tobytes() == audioop.ulaw2lin(ALL_CODES, 2)
    assert g711.alaw_decode(ALL_CODES).tobytes() == audioop.alaw2lin(ALL_CODES, 2)


def test_empty_input() -> None:
    assert g711.ulaw_encode(np.array([], dtype=np.int16)) == b""
    assert g711.alaw_decode(b"").size == 0


def test_wrong_dtype_is_named() -> None:
    with pytest.raises(TypeError, match=r"int16.*float64"):
        g711.ulaw_encode(np.zeros(4))


def test_wrong_shape_is_named() -> None:
    with pytest.raises(ValueError, match=r"1-D.*\(2, 2\)"):
        g711.alaw_encode(np.zeros((2, 2), dtype=np.int16))


def test_unknown_codec_is_named() -> None:
    with pytest.raises(ValueError, match="G729"):
        g711.encode(pcm(0), "G729")
