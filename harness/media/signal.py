"""Test audio: a deterministic, speech-like signal a deposit can carry and a test can find again."""

from __future__ import annotations

import math
import zlib

import numpy as np
import numpy.typing as npt

RATE = 8000


def speech_like(seconds: float, seed: str | int = 0, *, rate: int = RATE) -> npt.NDArray[np.int16]:
    """``seconds`` of audio with the spectrum and rhythm of speech, the same for the same seed.

    A few harmonics of a gliding pitch, shaped by a syllable-rate envelope, over a little noise:
    unlike a pure tone it correlates with itself only at zero lag, so a cross-correlation can
    tell a faithful recording from a shifted or garbled one.
    """
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"seconds must be a positive finite number, not {seconds!r}")
    if rate <= 0:
        raise ValueError(f"rate must be a positive number of samples per second, not {rate!r}")
    key = seed if isinstance(seed, int) else zlib.crc32(seed.encode())
    generator = np.random.default_rng(key)
    count = round(seconds * rate)
    t = np.arange(count) / rate
    pitch = 120 + 40 * np.sin(2 * np.pi * generator.uniform(0.5, 1.5) * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 6))
    syllables = 0.55 + 0.45 * np.sin(2 * np.pi * generator.uniform(3.0, 5.0) * t) ** 2
    noise = generator.normal(0.0, 0.05, count)
    samples = (voiced * syllables + noise) * 6000
    return np.clip(samples, -32768, 32767).astype(np.int16)


def correlation(sent: npt.ArrayLike, received: npt.ArrayLike) -> float:
    """Normalised cross-correlation at zero lag over the common length (1.0: identical shape)."""
    a = np.asarray(sent, dtype=np.float64)
    b = np.asarray(received, dtype=np.float64)
    length = min(len(a), len(b))
    if length == 0:
        return 0.0
    a, b = a[:length] - a[:length].mean(), b[:length] - b[:length].mean()
    norm = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
    return float(np.dot(a, b) / norm) if norm else 0.0
