"""Audio fingerprints of recorded prompts, and an index of them built from a sounds directory.

A fingerprint is one 32-bit word per 10 ms of audio (Haitsma and Kalker's scheme): bit ``m``
of frame ``n`` says whether the energy difference between bands ``m`` and ``m+1`` grew since
frame ``n-1``. Only signs of energy differences are kept, so the level of the line, G.711's
quantisation noise and a codec's small spectral tilt barely change a word, while a different
word spoken changes about half its bits. Frames quieter than :data:`QUIET_LEVEL` are marked:
their bits are noise and are not compared.

:class:`FingerprintIndex` holds the fingerprints of every sound file under a directory (for
instance Debian's ``asterisk-core-sounds-en-wav``), trimmed of their leading and trailing
silence. Building it reads every file; it is cached on disk under a key made of the files'
names, sizes and modification times, so it is built once per set of sounds.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from harness.media.signature import RATE
from harness.media.wav import WavError, read_wav

log = logging.getLogger(__name__)

#: Analysis window and hop, in samples at 8 kHz (64 ms windows every 10 ms).
WINDOW: Final = 512
HOP: Final = 80
#: Frames per second of a fingerprint.
FRAME_RATE: Final = RATE / HOP
#: 33 bands, log-spaced over the telephone band, give the 32 bits of a word.
_BAND_EDGES: Final = np.geomspace(250.0, 3500.0, 34)
#: RMS level (of 16-bit samples) under which a frame counts as quiet.
QUIET_LEVEL: Final = 150.0
#: Prompts whose fingerprints cannot tell them apart: steady tones, found by a tone detector.
TONES: Final = frozenset({"beep"})

Words = npt.NDArray[np.uint32]
Mask = npt.NDArray[np.bool_]


def _band_matrix() -> npt.NDArray[np.float64]:
    """Which FFT bins (rows) sum into which band (columns)."""
    bins = np.fft.rfftfreq(WINDOW, 1 / RATE)
    matrix = np.zeros((bins.size, _BAND_EDGES.size - 1))
    for band, (low, high) in enumerate(itertools.pairwise(_BAND_EDGES)):
        matrix[(bins >= low) & (bins < high), band] = 1.0
    return matrix


_BANDS: Final = _band_matrix()
_WEIGHTS: Final = (1 << np.arange(32, dtype=np.uint64)).astype(np.uint64)


@dataclass(frozen=True, slots=True)
class Spectrum:
    """The short-time power spectrum of a signal, one row per :data:`HOP` samples."""

    power: npt.NDArray[np.float64]
    #: Each frame's RMS level.
    level: npt.NDArray[np.float64]


def spectrum(pcm: npt.ArrayLike) -> Spectrum:
    """The power spectrum of 8 kHz audio, one frame per 10 ms (a frame per full window)."""
    signal = np.asarray(pcm, dtype=np.float64)
    count = 0 if signal.size < WINDOW else 1 + (signal.size - WINDOW) // HOP
    if count == 0:
        return Spectrum(np.zeros((0, WINDOW // 2 + 1)), np.zeros(0))
    frames = np.lib.stride_tricks.sliding_window_view(signal, WINDOW)[::HOP][:count]
    power = np.abs(np.fft.rfft(frames * np.hanning(WINDOW), axis=1)) ** 2
    # The level of the window's middle 10 ms: the frame's own sound, not its neighbours'.
    middle = frames[:, (WINDOW - HOP) // 2 : (WINDOW + HOP) // 2]
    level = np.sqrt(np.mean(middle**2, axis=1))
    return Spectrum(power, level)


def band_differences(power: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Each frame's energy difference between neighbouring bands (32 per frame)."""
    bands = power @ _BANDS
    return bands[:, :-1] - bands[:, 1:]


def words(across: npt.NDArray[np.float64]) -> Words:
    """The fingerprint words of :func:`band_differences` (the first frame's is all zeros)."""
    grew = np.zeros_like(across, dtype=bool)
    grew[1:] = (across[1:] - across[:-1]) > 0
    return (grew.astype(np.uint64) @ _WEIGHTS).astype(np.uint32)


def fingerprint(pcm: npt.ArrayLike) -> tuple[Words, Mask]:
    """The fingerprint words of 8 kHz audio and which of its frames are loud enough to count."""
    spec = spectrum(pcm)
    return words(band_differences(spec.power)), spec.level >= QUIET_LEVEL


@dataclass(frozen=True, slots=True)
class Template:
    """One prompt's fingerprint, trimmed of its quiet ends."""

    name: str
    words: Words
    loud: Mask


class FingerprintError(ValueError):
    """A sounds directory that cannot be indexed."""


class FingerprintIndex:
    """The fingerprints of the prompts of one sounds directory, by prompt name."""

    def __init__(self, templates: Iterable[Template], source: str = "") -> None:
        self.templates = tuple(templates)
        #: Where the sounds came from, for messages.
        self.source = source
        self.names = tuple(t.name for t in self.templates)

    def __len__(self) -> int:
        return len(self.templates)

    @classmethod
    def from_audio(cls, prompts: dict[str, npt.ArrayLike], source: str = "") -> FingerprintIndex:
        """An index of prompts given as 8 kHz audio by name (tones and silent ones left out)."""
        templates = []
        for name, pcm in sorted(prompts.items()):
            if name in TONES:
                continue
            template = _template(name, pcm)
            if template is not None:
                templates.append(template)
        return cls(templates, source)

    @classmethod
    def from_directory(cls, directory: str | Path, cache: Path | None = None) -> FingerprintIndex:
        """The index of every ``.wav`` under ``directory``, read from ``cache`` (a directory)
        when an index of the same files is there, else built and written there."""
        root = Path(directory)
        files = sorted(root.rglob("*.wav"))
        if not files:
            raise FingerprintError(f"no .wav sound files under {root}")
        key = _key(root, files)
        cached = None if cache is None else cache / f"fingerprints-{key}.npz"
        if cached is not None and cached.is_file():
            try:
                return cls.load(cached, str(root))
            except (OSError, ValueError, KeyError) as error:
                log.warning("ignoring the fingerprint cache %s: %s", cached, error)
        prompts: dict[str, npt.ArrayLike] = {}
        for path in files:
            try:
                prompts[path.relative_to(root).with_suffix("").as_posix()] = read_wav(path)[0]
            except WavError as error:
                log.warning("sound file %s left out of the fingerprint index: %s", path, error)
        index = cls.from_audio(prompts, str(root))
        if cached is not None:
            index.save(cached)
        return index

    def save(self, path: Path) -> None:
        """Write the index to ``path`` (an ``.npz``), atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        lengths = np.array([t.words.size for t in self.templates], dtype=np.int64)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        with os.fdopen(handle, "wb") as out:
            np.savez(
                out,
                names=np.array(self.names, dtype=np.str_),
                lengths=lengths,
                words=np.concatenate([t.words for t in self.templates]),
                loud=np.concatenate([t.loud for t in self.templates]),
            )
        Path(temporary).replace(path)

    @classmethod
    def load(cls, path: Path, source: str = "") -> FingerprintIndex:
        """An index written by :meth:`save`."""
        with np.load(path) as data:
            names = [str(n) for n in data["names"]]
            ends = np.cumsum(data["lengths"])
            word_parts = np.split(data["words"].astype(np.uint32), ends[:-1])
            loud_parts = np.split(data["loud"].astype(bool), ends[:-1])
        templates = (
            Template(n, w, m) for n, w, m in zip(names, word_parts, loud_parts, strict=True)
        )
        return cls(templates, source)


def sustained(loud: Mask, frames: int = 3) -> Mask:
    """The loud frames that belong to a run of at least ``frames``: sound, not a click."""
    edges = np.diff(np.concatenate(([0], loud.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    runs = np.zeros_like(loud)
    for start, end in zip(starts, ends, strict=True):
        if end - start >= frames:
            runs[start:end] = True
    return runs


def _template(name: str, pcm: npt.ArrayLike) -> Template | None:
    """The prompt's fingerprint from its first to its last sustained sound; None if there is
    none (a breath or click before the first word is left out: it does not survive a line)."""
    prompt_words, loud = fingerprint(pcm)
    where = np.flatnonzero(sustained(loud))
    if where.size < 3:
        return None
    first, last = int(where[0]), int(where[-1]) + 1
    return Template(name, prompt_words[first:last], loud[first:last])


def _key(root: Path, files: list[Path]) -> str:
    """What identifies a set of sound files: their names, sizes and modification times."""
    digest = hashlib.sha256(f"v2 {WINDOW} {HOP} {QUIET_LEVEL}".encode())
    for path in files:
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]
