"""Audible codes: short tone frames a test can hide in a call's audio and hear again.

A frame is a run of 60 ms single tones ("slots") at 8 kHz::

    START  KIND  payload nibbles (high nibble first)  CRC-4  END

Each slot carries one of 18 frequencies: 16 for the hex symbols 0-F and one each for the
START and END markers. All lie between 400 and 3300 Hz and at least 60 Hz (in fact 67 Hz)
from the eight DTMF frequencies, and each slot is a single tone, so no frame can look like a
key press to an inband DTMF detector. 1100 Hz and 2100 Hz (fax calling and answer tones)
and 2600 Hz (trunk signalling) are avoided too. A 2-byte payload makes an 8-slot frame of
0.48 s.

The decoder is sans-IO and vectorised: it computes, for every 5 ms step of the signal, the
50 ms DFT at the 18 frequencies (one matrix product over 5 ms blocks, then a sliding sum)
and the share of the window's energy that the strongest of them carries. It looks for START
windows, then follows the frame slot by slot, letting each slot move up to 15 ms against the
previous one, so that a lost 20 ms packet does not break a frame whether the receiver filled
the gap with silence or closed it up. The level does not matter (only energy shares are
compared), G.711 quantisation noise and quiet background noise barely move the shares, and
audio before or after a frame never enters its slots' windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

RATE: Final = 8000

#: Frequencies of the hex symbols 0-F, in Hz.
SYMBOL_FREQUENCIES: Final[tuple[float, ...]] = (
    400.0,
    500.0,
    600.0,
    1700.0,
    1800.0,
    1900.0,
    2200.0,
    2300.0,
    2400.0,
    2700.0,
    2800.0,
    2900.0,
    3000.0,
    3100.0,
    3200.0,
    3300.0,
)
#: Frequencies of the frame markers, in Hz: used by no hex symbol.
START_FREQUENCY: Final = 2000.0
END_FREQUENCY: Final = 2500.0

#: One slot: 60 ms, of which the first and last 5 ms are raised-cosine ramps.
SYMBOL_SAMPLES: Final = 480
RAMP_SAMPLES: Final = 40

#: The peak amplitude frames are made at (about -12 dBm0, like Asterisk's own beep).
DEFAULT_AMPLITUDE: Final = 6000

#: The largest payload a frame carries, in bytes.
MAX_PAYLOAD: Final = 32


class FrameKind(StrEnum):
    """What a frame announces: a prompt (payload: its catalogue code), a message, digits."""

    PROMPT = "prompt"
    MESSAGE = "message"
    DIGITS = "digits"


class SignatureError(ValueError):
    """A frame or message code that cannot be encoded, or a signal that cannot be decoded."""


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded frame and where it lies in the signal.

    The sample indices are good to about 5 ms; near a lost packet, to about 20 ms.
    """

    kind: FrameKind
    payload: bytes
    start_sample: int
    end_sample: int


_KIND_SYMBOLS: Final = {FrameKind.PROMPT: 0x1, FrameKind.MESSAGE: 0x2, FrameKind.DIGITS: 0x3}
_SYMBOL_KINDS: Final = {symbol: kind for kind, symbol in _KIND_SYMBOLS.items()}

# Tone indices: 0-15 the hex symbols, then the two markers.
_START = 16
_END = 17
_FREQUENCIES: Final = np.array((*SYMBOL_FREQUENCIES, START_FREQUENCY, END_FREQUENCY))

# Analysis: 5 ms blocks; a window is 10 blocks (50 ms), the slot less its two ramps, so a
# window aligned with a slot sees one tone only. All frequencies are multiples of 100 Hz,
# whole numbers of cycles in 50 ms: the tones are orthogonal over a window.
_BLOCK = 40
_WINDOW_BLOCKS = 10
_WINDOW = _BLOCK * _WINDOW_BLOCKS
_SLOT_BLOCKS = SYMBOL_SAMPLES // _BLOCK
#: How far (in blocks) each slot may sit from where the previous one puts it.
_SLACK_BLOCKS = 3
#: A slot's window must put this share of its energy in one tone...
_MIN_SHARE = 0.5
#: ...of at least this peak amplitude (26 dB under the quietest frame level tested, -20 dB).
_MIN_AMPLITUDE = 30.0
#: A block this far (20 dB) below the loudest of its window is silence, not part of a slot.
_SILENT_BLOCK = 0.01
#: Shares closer than this count as equal when choosing where a marker's window sits.
_SHARE_TIE = 0.02
#: Penalty per block of drift when choosing a slot's window: centred wins among equals.
_DRIFT_PENALTY = 0.01
_MAX_SLOTS = 2 + 2 * MAX_PAYLOAD + 2

# Cosines then sines of every frequency over one block: a real matrix, because numpy
# multiplies real by complex matrices far more slowly than real by real.
_BLOCK_PHASES = 2 * np.pi * np.outer(np.arange(_BLOCK), _FREQUENCIES) / RATE
_BLOCK_BASIS: Final = np.concatenate((np.cos(_BLOCK_PHASES), -np.sin(_BLOCK_PHASES)), axis=1)
_RAMP: Final = 0.5 - 0.5 * np.cos(np.pi * (np.arange(RAMP_SAMPLES) + 0.5) / RAMP_SAMPLES)
_ENVELOPE: Final = np.concatenate((_RAMP, np.ones(SYMBOL_SAMPLES - 2 * RAMP_SAMPLES), _RAMP[::-1]))


def _crc4(nibbles: Sequence[int]) -> int:
    """CRC-4 (x^4 + x + 1, as ITU-T G.704) of a nibble sequence: catches any one bad symbol."""
    crc = 0
    for nibble in nibbles:
        crc ^= nibble
        for _ in range(4):
            crc = ((crc << 1) ^ 0x3) & 0xF if crc & 0x8 else (crc << 1) & 0xF
    return crc


def _kind(kind: FrameKind | str) -> FrameKind:
    try:
        return FrameKind(kind)
    except ValueError:
        names = ", ".join(k.value for k in FrameKind)
        raise SignatureError(f"unknown frame kind {kind!r}: expected one of {names}") from None


def frame_samples(payload_length: int) -> int:
    """The length in samples of a frame carrying ``payload_length`` bytes."""
    return (4 + 2 * payload_length) * SYMBOL_SAMPLES


def encode_frame(
    kind: FrameKind | str, payload: bytes, *, amplitude: float = DEFAULT_AMPLITUDE
) -> npt.NDArray[np.int16]:
    """The 8 kHz audio of one frame: ``frame_samples(len(payload))`` samples.

    ``amplitude`` is the tones' peak value (at most 32767).
    """
    frame_kind = _kind(kind)
    if len(payload) > MAX_PAYLOAD:
        raise SignatureError(f"payload of {len(payload)} bytes: a frame carries {MAX_PAYLOAD}")
    if not 0 < amplitude <= 32767:
        raise SignatureError(f"amplitude {amplitude} out of range: must be in (0, 32767]")
    nibbles = [_KIND_SYMBOLS[frame_kind]]
    for byte in payload:
        nibbles += [byte >> 4, byte & 0xF]
    symbols = [_START, *nibbles, _crc4(nibbles), _END]
    t = np.arange(SYMBOL_SAMPLES) / RATE
    tones = np.sin(2 * np.pi * np.outer(_FREQUENCIES[symbols], t)) * _ENVELOPE
    return np.round(tones.ravel() * amplitude).astype(np.int16)


@dataclass(frozen=True, slots=True)
class _Analysis:
    """Per window (one every block): strongest tone, its share of the energy, and whether
    it is strong and pure enough to be a slot."""

    label: npt.NDArray[np.intp]
    share: npt.NDArray[np.float64]
    valid: npt.NDArray[np.bool_]


def _analyse(signal: npt.NDArray[np.float64]) -> _Analysis:
    padded = np.concatenate((signal, np.zeros(-signal.size % _BLOCK)))
    blocks = padded.reshape(-1, _BLOCK)
    # A window's DFT is the sum of its blocks' DFTs taken against one time origin.
    origin = np.exp(-2j * np.pi * np.outer(np.arange(len(blocks)) * _BLOCK, _FREQUENCIES) / RATE)
    parts = blocks @ _BLOCK_BASIS
    per_block = (parts[:, : _FREQUENCIES.size] + 1j * parts[:, _FREQUENCIES.size :]) * origin
    spectrum = sliding_window_view(per_block, _WINDOW_BLOCKS, axis=0).sum(axis=-1)
    block_energy = sliding_window_view(np.einsum("ij,ij->i", blocks, blocks), _WINDOW_BLOCKS)
    energy = block_energy.sum(axis=-1)
    # Only the window's sounding blocks count towards its length: a packet lost and filled
    # with silence makes a slot shorter, not less pure.
    loudest = block_energy.max(axis=-1, keepdims=True)
    length = (block_energy > _SILENT_BLOCK * loudest).sum(axis=-1) * _BLOCK
    power = np.abs(spectrum) ** 2
    label = power.argmax(axis=1)
    best = power[np.arange(len(power)), label]
    # Over N samples a sinusoid of peak amplitude A has |DFT| = A N / 2 and energy A^2 N / 2.
    sounding = energy > 0
    tone_energy = np.divide(2 * best, length, out=np.zeros_like(best), where=sounding)
    share = np.divide(tone_energy, energy, out=np.zeros_like(energy), where=sounding)
    amplitude = np.divide(2 * np.sqrt(best), length, out=np.zeros_like(best), where=sounding)
    valid = (share >= _MIN_SHARE) & (amplitude >= _MIN_AMPLITUDE)
    return _Analysis(label, share, valid)


def _marker_windows(analysis: _Analysis) -> list[int]:
    """One window per run of START windows: the one that best fits both START and the next slot.

    Silence before a marker does not dilute it, so a run of pure START windows can begin
    before the marker; the slot after it is another tone, which pins the alignment down.
    Among equally good windows the middle one is taken.
    """
    marked = analysis.valid & (analysis.label == _START)
    steps = np.diff(np.concatenate(([0], marked.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(steps == 1), np.flatnonzero(steps == -1)
    next_slot = np.concatenate((analysis.share[_SLOT_BLOCKS:], np.zeros(_SLOT_BLOCKS)))
    next_tone = np.concatenate((analysis.label[_SLOT_BLOCKS:], np.full(_SLOT_BLOCKS, _START)))
    fit = analysis.share + np.where(next_tone == _START, 0.0, next_slot)
    chosen = []
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        scores = fit[start:end]
        best = np.flatnonzero(scores >= scores.max() - _SHARE_TIE)
        chosen.append(start + int(best[len(best) // 2]))
    return chosen


def _follow(analysis: _Analysis, first: int) -> tuple[list[int], list[int]] | None:
    """The symbols after the START window ``first`` up to END, and every slot's window."""
    symbols: list[int] = []
    positions = [first]
    position = first
    last = analysis.label.size - 1
    for _ in range(_MAX_SLOTS):
        expected = position + _SLOT_BLOCKS
        low, high = max(expected - _SLACK_BLOCKS, 0), min(expected + _SLACK_BLOCKS, last)
        if low > high:
            return None
        candidates = np.arange(low, high + 1)
        score = analysis.share[low : high + 1] - _DRIFT_PENALTY * np.abs(candidates - expected)
        position = int(candidates[score.argmax()])
        positions.append(position)
        tone = int(analysis.label[position])
        if not analysis.valid[position] or tone == _START:
            return None
        if tone == _END:
            return symbols, positions
        symbols.append(tone)
    return None


def _frame(symbols: list[int]) -> tuple[FrameKind, bytes] | None:
    """Kind and payload of a frame's symbols, if its structure and checksum hold."""
    if len(symbols) < 2 or len(symbols) % 2:
        return None
    *nibbles, check = symbols
    kind = _SYMBOL_KINDS.get(nibbles[0])
    if kind is None or _crc4(nibbles) != check:
        return None
    body = nibbles[1:]
    return kind, bytes((high << 4) | low for high, low in zip(body[::2], body[1::2], strict=True))


def decode_frames(pcm: npt.ArrayLike) -> list[Frame]:
    """Every intact frame in an 8 kHz signal of any length, in order."""
    signal = np.asarray(pcm)
    if signal.ndim != 1:
        raise SignatureError(f"frames are decoded from a 1-D signal, got shape {signal.shape}")
    if not np.issubdtype(signal.dtype, np.number):
        raise SignatureError(f"frames are decoded from numeric samples, got dtype {signal.dtype}")
    # No frame fits in less than its start marker and one slot more; nor can the analysis
    # look a slot ahead in a shorter signal.
    if signal.size < _WINDOW + SYMBOL_SAMPLES:
        return []
    analysis = _analyse(signal.astype(np.float64))
    frames: list[Frame] = []
    resume = 0
    for first in _marker_windows(analysis):
        if first < resume:
            continue
        followed = _follow(analysis, first)
        if followed is None:
            continue
        symbols, positions = followed
        decoded = _frame(symbols)
        if decoded is None:
            continue
        kind, payload = decoded
        # Where the slots agree the frame began: one lost packet moves one slot's window at
        # most. A window starts one block (the ramp) into its slot.
        origins = np.array(positions) - _SLOT_BLOCKS * np.arange(len(positions))
        start = max((int(np.median(origins)) - 1) * _BLOCK, 0)
        stop = min((positions[-1] - 1) * _BLOCK + SYMBOL_SAMPLES, signal.size)
        frames.append(Frame(kind, payload, start, stop))
        resume = positions[-1] + 1
    return frames


# --- message codes ---------------------------------------------------------------------------

#: The longest message code.
MAX_CODE_LENGTH: Final = 8


def _is_code(text: str) -> bool:
    return 0 < len(text) <= MAX_CODE_LENGTH and text.isascii() and text.isalnum()


def _check_code(code: str) -> bytes:
    if not _is_code(code):
        raise SignatureError(
            f"message code {code!r} must be 1 to {MAX_CODE_LENGTH} ASCII letters or digits"
        )
    return code.encode("ascii")


def message_signature(code: str, *, amplitude: float = DEFAULT_AMPLITUDE) -> npt.NDArray[np.int16]:
    """The frame that marks a deposited message with ``code`` (1-8 ASCII letters/digits)."""
    return encode_frame(FrameKind.MESSAGE, _check_code(code), amplitude=amplitude)


def find_message_codes(pcm: npt.ArrayLike) -> list[str]:
    """The message codes heard in a signal, in order (a code heard twice is listed twice)."""
    codes = []
    for frame in decode_frames(pcm):
        text = frame.payload.decode("ascii", "replace")
        if frame.kind is FrameKind.MESSAGE and _is_code(text):
            codes.append(text)
    return codes
