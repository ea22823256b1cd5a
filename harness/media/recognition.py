"""Recognising recorded prompts (Asterisk's sound files) and the beep in what a phone heard.

A :class:`Listener` is fed the audio a call received so far and turns it into the prompts
played, in order. It walks the audio from one onset to the next; at each it compares the
first 200 ms of every prompt of a :class:`~harness.media.fingerprint.FingerprintIndex`
(a few frames either way), then checks the few that come close over their whole length,
block by block, each 100 ms block free to slide 20 ms against the previous one: a lost
packet that the receiver filled with silence or closed up moves what follows, and must not
break the match. The longest prompt all of whose blocks match wins (``vm-messages`` over
``vm-message``). A prompt is only decided once all of it may have arrived, or once the
audio stopped matching it after at least 0.7 s: a key press cuts a prompt short, and what was
heard of it was heard.

The beep is found by a tone detector, not by its fingerprint (a steady tone has none): 700 Hz
(Asterisk's ``beep.wav``, and the generated prompts' beep) carrying most of the energy for at
least a quarter of a second.

Everything is sans-IO: audio in, names and times out. :func:`installed_index` finds the sound
files a Debian system has installed and their cached index.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from harness.media.fingerprint import (
    FRAME_RATE,
    HOP,
    QUIET_LEVEL,
    WINDOW,
    FingerprintIndex,
    Words,
    band_differences,
    spectrum,
    sustained,
    words,
)
from harness.media.signature import RATE

log = logging.getLogger(__name__)

#: Where Debian's ``asterisk-core-sounds-en-*`` put the English prompts (``en`` is a link
#: made by another package, so the directory it points at is looked at too).
SOUNDS_DIRECTORIES: Final = (
    Path("/usr/share/asterisk/sounds/en"),
    Path("/usr/share/asterisk/sounds/en_US_f_Allison"),
)
#: An environment variable naming another sounds directory.
SOUNDS_ENV: Final = "VMHARNESS_SOUNDS"

#: Frames of each prompt's start compared everywhere, and how far its start may be off.
_HEAD: Final = 20
_OFFSETS: Final = np.arange(-8, 5)
#: Bit error rates: a prompt's head must come under the first, each of its blocks under the
#: second and the whole prompt under the third. Unrelated audio sits near 0.5.
_HEAD_BER: Final = 0.33
_BLOCK_BER: Final = 0.42
_WHOLE_BER: Final = 0.30
#: How much of a prompt cut off by the end of the call must have been heard to count.
_HEARD_ENOUGH: Final = 0.8
#: Frames of a prompt that must have matched before the audio changed for the prompt to count
#: as heard: a key press stops a prompt midway and the server goes on with the next one.
_HEARD_BEFORE_CUT: Final = 70
#: Frames per block, how far a block may slide against the previous one, and in all.
_BLOCK: Final = 10
_SLIDE: Final = 2
_DRIFT: Final = 8
#: A block with fewer loud template frames is not judged on its own.
_BLOCK_LOUD: Final = 4

#: The beep: its frequency, how much of the energy it must carry, for how long.
BEEP_HZ: Final = 700.0
_BEEP_SHARE: Final = 0.7
_BEEP_FRAMES: Final = 25
_BEEP_GAP: Final = 3


@dataclass(frozen=True, slots=True)
class Heard:
    """A prompt heard: its name and where it was in the audio, in seconds."""

    name: str
    start: float
    end: float


def _bitcount(values: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint8]:
    return np.bitwise_count(values)


class _Heads:
    """The first :data:`_HEAD` frames of every prompt of an index, side by side."""

    def __init__(self, index: FingerprintIndex) -> None:
        count = len(index)
        self.words = np.zeros((count, _HEAD), dtype=np.uint32)
        self.loud = np.zeros((count, _HEAD), dtype=bool)
        for row, template in enumerate(index.templates):
            size = min(_HEAD, template.words.size)
            self.words[row, :size] = template.words[:size]
            self.loud[row, :size] = template.loud[:size]
        self.bits = np.maximum(self.loud.sum(axis=1), 1) * 32


def _block_ber(
    template: Words, loud: npt.NDArray[np.bool_], received: Words, start: int
) -> tuple[float, int]:
    """The lowest bit error rate of a block at ``start`` give or take :data:`_SLIDE` frames,
    and the slide that gave it."""
    best, slide = 1.0, 0
    bits = int(loud.sum()) * 32
    # A block too quiet to place is not moved: silence matches anywhere.
    shifts = range(-_SLIDE, _SLIDE + 1) if bits >= _BLOCK_LOUD * 32 else range(1)
    if bits == 0:
        return 0.0, 0
    for shift in shifts:
        at = start + shift
        size = min(template.size, received.size - at)
        if at < 0 or size < template.size // 2 or int(loud[:size].sum()) == 0:
            continue
        part = loud[:size]
        errors = int(_bitcount(template[:size] ^ received[at : at + size])[part].sum())
        if errors / (int(part.sum()) * 32) < best:
            best, slide = errors / (int(part.sum()) * 32), shift
    return best, slide


class Listener:
    """Turns the growing audio of one call into the prompts it heard (sans-IO).

    Feed it the call's received audio so far with :meth:`hear`; it only analyses what is new.
    ``index`` None hears only the beep.
    """

    def __init__(self, index: FingerprintIndex | None) -> None:
        self.index = index
        self._heads = None if index is None or len(index) == 0 else _Heads(index)
        self._samples = 0
        self._across = np.zeros((0, 32))
        self._level = np.zeros(0)
        self._tone = np.zeros(0, dtype=bool)
        self._cursor = 0
        self._prompts: list[Heard] = []

    def hear(self, pcm: npt.ArrayLike, *, final: bool = False) -> list[Heard]:
        """The prompts and beeps in ``pcm`` (the whole audio so far, which only grows), in
        order. ``final``: no more audio will come, so decide what is left."""
        signal = np.asarray(pcm)
        self._analyse(signal)
        self._decode(final)
        heard = self._prompts + self._beeps()
        heard.sort(key=lambda item: item.start)
        return heard

    # -- analysis ---------------------------------------------------------------------------

    def _analyse(self, signal: npt.NDArray[np.generic]) -> None:
        if signal.size < self._samples:
            raise ValueError("a Listener hears one call: its audio only grows")
        done = self._level.size
        count = 0 if signal.size < WINDOW else 1 + (signal.size - WINDOW) // HOP
        if count <= done:
            return
        spec = spectrum(signal[done * HOP : (count - 1) * HOP + WINDOW])
        self._across = np.concatenate((self._across, band_differences(spec.power)))
        self._level = np.concatenate((self._level, spec.level))
        bins = np.fft.rfftfreq(WINDOW, 1 / RATE)
        near = np.abs(bins - BEEP_HZ) <= 40
        total = np.maximum(spec.power.sum(axis=1), 1e-9)
        share = spec.power[:, near].sum(axis=1) / total
        self._tone = np.concatenate((self._tone, (share >= _BEEP_SHARE) & (spec.level >= 300)))
        self._samples = signal.size

    def _beeps(self) -> list[Heard]:
        """Runs of tone frames long enough to be the beep (short gaps closed)."""
        tone = self._tone.copy()
        where = np.flatnonzero(tone)
        gaps = np.diff(where)
        for start, gap in zip(where[:-1], gaps, strict=False):
            if 1 < gap <= _BEEP_GAP + 1:
                tone[start : start + gap] = True
        edges = np.diff(np.concatenate(([0], tone.astype(np.int8), [0])))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        return [
            Heard("beep", start / FRAME_RATE, (end - 1) * HOP / RATE + WINDOW / RATE)
            for start, end in zip(starts, ends, strict=True)
            if end - start >= _BEEP_FRAMES
        ]

    # -- prompts ----------------------------------------------------------------------------

    def _decode(self, final: bool) -> None:
        if self._heads is None or self.index is None:
            return
        received = words(self._across)
        loud = sustained((self._level >= QUIET_LEVEL) & ~self._tone)
        while True:
            position = self._next_onset(loud, self._cursor)
            if position is None:
                return
            if position + _OFFSETS[-1] + _HEAD > received.size and not final:
                return
            match = self._match(received, position, final)
            if match is None:
                self._cursor = position + 2
                continue
            if isinstance(match, str):
                return
            name, start, end = match
            self._prompts.append(Heard(name, start * HOP / RATE, end * HOP / RATE))
            # The end may be off by the drift allowed: the next prompt may start before it.
            self._cursor = max(start + 1, end - _DRIFT)

    @staticmethod
    def _next_onset(loud: npt.NDArray[np.bool_], cursor: int) -> int | None:
        ahead = np.flatnonzero(loud[cursor:])
        return None if ahead.size == 0 else cursor + int(ahead[0])

    def _match(
        self, received: Words, position: int, final: bool
    ) -> tuple[str, int, int] | str | None:
        """The longest prompt starting near ``position``, ``"wait"`` when one may but has not
        fully arrived, None when none does."""
        assert self._heads is not None
        assert self.index is not None
        heads = self._heads
        best_ber = np.full(len(self.index), 1.0)
        best_at = np.zeros(len(self.index), dtype=np.int64)
        for offset in _OFFSETS:
            at = position + int(offset)
            if at < 0:
                continue
            window = np.zeros(_HEAD, dtype=np.uint32)
            piece = received[at : at + _HEAD]
            window[: piece.size] = piece
            errors = (_bitcount(heads.words ^ window) * heads.loud).sum(axis=1)
            ber = errors / heads.bits
            better = ber < best_ber
            best_ber[better] = ber[better]
            best_at[better] = at
        matches: list[tuple[int, bool, float, str, int, int]] = []
        for row in np.flatnonzero(best_ber < _HEAD_BER):
            template = self.index.templates[row]
            start = int(best_at[row])
            whole = self._whole(template.words, template.loud, received, start)
            if whole is None:
                continue
            end, ber, covered, cut = whole
            if not cut and start + template.words.size + _DRIFT > received.size:
                if not final:
                    # What has arrived matches so far: the rest decides.
                    return "wait"
                if covered < _HEARD_ENOUGH * template.words.size:
                    # The call ended early in this prompt.
                    continue
            explained = covered if cut else template.words.size
            matches.append((explained, not cut, ber, template.name, start, end))
        if not matches:
            return None
        # The longest match explains the most audio; among those nearly as long (the same
        # word recorded twice: vm-first and digits/h-1) a whole prompt wins over one cut short
        # (vm-message heard whole, not vm-messages cut after its first word), then the closest.
        longest = max(length for length, *_ in matches)
        _, _, _, name, start, end = min(
            (m for m in matches if m[0] >= 0.85 * longest), key=lambda m: (not m[1], m[2])
        )
        return name, start, end

    @staticmethod
    def _whole(
        template: Words, loud: npt.NDArray[np.bool_], received: Words, start: int
    ) -> tuple[int, float, int, bool] | None:
        """Where the prompt ends in ``received``, its bit error rate, how many of its frames
        were compared, and whether it was cut short: all of it that has arrived matches from
        ``start``, or at least :data:`_HEARD_BEFORE_CUT` frames did before the audio changed."""
        drift, errors, bits, covered = 0, 0.0, 0, 0
        for first in range(0, template.size, _BLOCK):
            if start + first + drift + min(_BLOCK, template.size - first) + _SLIDE > received.size:
                # Not all arrived yet (or cut off by the end of the call). A block is judged
                # whole or not at all: its first frames alone may be quiet in the prompt, or
                # too few to tell, and a prompt rejected there is never looked at again.
                break
            block = template[first : first + _BLOCK]
            block_loud = loud[first : first + _BLOCK]
            ber, slide = _block_ber(block, block_loud, received, start + first + drift)
            if ber >= 1.0 or (block_loud.sum() >= _BLOCK_LOUD and ber >= _BLOCK_BER):
                if first < _HEARD_BEFORE_CUT or bits == 0 or errors / bits >= _WHOLE_BER:
                    return None
                return start + first + drift, errors / bits, first, True
            covered = first + _BLOCK
            drift = max(-_DRIFT, min(_DRIFT, drift + slide))
            loud_bits = int(block_loud.sum()) * 32
            errors += ber * loud_bits
            bits += loud_bits
        if bits == 0 or errors / bits >= _WHOLE_BER:
            return None
        return start + template.size + drift, errors / bits, covered, False


def sounds_directory() -> Path | None:
    """The installed sounds directory (``$VMHARNESS_SOUNDS``, else Debian's), if any."""
    named = os.environ.get(SOUNDS_ENV)
    candidates = (Path(named),) if named else SOUNDS_DIRECTORIES
    for directory in candidates:
        if (directory / "beep.wav").is_file() or (directory / "vm-intro.wav").is_file():
            return directory
    return None


def cache_directory() -> Path:
    """Where built fingerprint indexes are kept (``$XDG_CACHE_HOME/vmharness``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vmharness"


@functools.cache
def index_of(directory: Path) -> FingerprintIndex:
    """The fingerprint index of a sounds directory, built once (per process, and on disk)."""
    return FingerprintIndex.from_directory(directory, cache_directory())


def installed_index() -> FingerprintIndex | None:
    """The index of the installed sounds, or None when there are none."""
    directory = sounds_directory()
    return None if directory is None else index_of(directory.resolve())
