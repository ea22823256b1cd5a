"""G.711 µ-law and A-law codecs (ITU-T G.711), vectorised with numpy.

Both directions are table lookups: the 256-entry decode tables and the 65536-entry encode
tables are computed once at import with the segment arithmetic of the reference
implementation, so encoding and decoding are single numpy indexing operations.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

#: Codec names as SDP writes them, with their static RTP payload types (RFC 3551).
PAYLOAD_TYPES: Final[dict[str, int]] = {"PCMU": 0, "PCMA": 8}

#: The code of a zero sample: what a gap in a recording is filled with.
ULAW_SILENCE: Final = 0xFF
ALAW_SILENCE: Final = 0xD5

_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159
# Upper ends of the eight segments, on the 14-bit (µ-law) and 13-bit (A-law) scales.
_ULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def _ulaw_encode_all() -> npt.NDArray[np.uint8]:
    """µ-law codes of every int16 value, indexed by the value's uint16 bit pattern."""
    pcm = np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int64) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    segment = np.searchsorted(_ULAW_SEGMENT_ENDS, magnitude)
    code = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


def _ulaw_decode_all() -> npt.NDArray[np.int16]:
    """Linear value of every µ-law code."""
    code = ~np.arange(256, dtype=np.int64) & 0xFF
    magnitude = (((code & 0x0F) << 3) + _ULAW_BIAS) << ((code & 0x70) >> 4)
    return np.where(code & 0x80, _ULAW_BIAS - magnitude, magnitude - _ULAW_BIAS).astype(np.int16)


def _alaw_encode_all() -> npt.NDArray[np.uint8]:
    """A-law codes of every int16 value, indexed by the value's uint16 bit pattern."""
    pcm = np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int64) >> 3
    negative = pcm < 0
    mask = np.where(negative, 0x55, 0xD5)
    magnitude = np.where(negative, -pcm - 1, pcm)
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, magnitude)
    shift = np.where(segment < 2, 1, segment)
    code = (segment << 4) | ((magnitude >> shift) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


def _alaw_decode_all() -> npt.NDArray[np.int16]:
    """Linear value of every A-law code."""
    code = np.arange(256, dtype=np.int64) ^ 0x55
    segment = (code & 0x70) >> 4
    mantissa = (code & 0x0F) << 4
    magnitude = np.where(
        segment == 0,
        mantissa + 8,
        (mantissa + 0x108) << np.maximum(segment - 1, 0),
    )
    return np.where(code & 0x80, magnitude, -magnitude).astype(np.int16)


_ULAW_ENCODE: Final = _ulaw_encode_all()
_ULAW_DECODE: Final = _ulaw_decode_all()
_ALAW_ENCODE: Final = _alaw_encode_all()
_ALAW_DECODE: Final = _alaw_decode_all()


def _as_pcm(pcm: npt.ArrayLike) -> npt.NDArray[np.uint16]:
    """The uint16 bit patterns of a 1-D int16 signal, for indexing the encode tables."""
    array = np.asarray(pcm)
    if array.dtype != np.int16:
        raise TypeError(f"G.711 encoding needs int16 samples, got dtype {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"G.711 encoding needs a 1-D signal, got shape {array.shape}")
    return array.view(np.uint16)


def ulaw_encode(pcm: npt.ArrayLike) -> bytes:
    """Encode 16-bit linear samples to µ-law, one byte per sample."""
    return _ULAW_ENCODE.take(_as_pcm(pcm)).tobytes()


def ulaw_decode(data: bytes) -> npt.NDArray[np.int16]:
    """Decode µ-law bytes to 16-bit linear samples."""
    return _ULAW_DECODE.take(np.frombuffer(data, dtype=np.uint8))


def alaw_encode(pcm: npt.ArrayLike) -> bytes:
    """Encode 16-bit linear samples to A-law, one byte per sample."""
    return _ALAW_ENCODE.take(_as_pcm(pcm)).tobytes()


def alaw_decode(data: bytes) -> npt.NDArray[np.int16]:
    """Decode A-law bytes to 16-bit linear samples."""
    return _ALAW_DECODE.take(np.frombuffer(data, dtype=np.uint8))


def _codec_key(codec: str) -> str:
    key = codec.upper()
    if key not in PAYLOAD_TYPES:
        raise ValueError(f"unknown G.711 codec {codec!r}: expected PCMU or PCMA")
    return key


def encode(pcm: npt.ArrayLike, codec: str) -> bytes:
    """Encode with the codec named as in SDP: ``PCMU`` (µ-law) or ``PCMA`` (A-law)."""
    return ulaw_encode(pcm) if _codec_key(codec) == "PCMU" else alaw_encode(pcm)


def decode(data: bytes, codec: str) -> npt.NDArray[np.int16]:
    """Decode with the codec named as in SDP: ``PCMU`` (µ-law) or ``PCMA`` (A-law)."""
    return ulaw_decode(data) if _codec_key(codec) == "PCMU" else alaw_decode(data)


def silence_byte(codec: str) -> int:
    """The code of a zero sample in ``PCMU`` or ``PCMA``."""
    return ULAW_SILENCE if _codec_key(codec) == "PCMU" else ALAW_SILENCE
