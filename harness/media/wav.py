"""WAV files of 16-bit PCM, the format Asterisk's ``wav`` spool files and prompts use.

Reading converts what it simply can (other PCM sample widths, several channels, other rates)
to mono 16-bit at the rate asked for; anything else is a :class:`WavError` naming the file.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt


class WavError(ValueError):
    """A WAV file that cannot be read or a signal that cannot be written."""


def _samples(frames: bytes, width: int, channels: int, source: str) -> npt.NDArray[np.float64]:
    """The frames as floats on the int16 scale, mixed down to one channel."""
    raw = np.frombuffer(frames, dtype=np.uint8)
    if width == 1:
        values = (raw.astype(np.float64) - 128) * 256
    elif width == 2:
        values = np.frombuffer(frames, dtype="<i2").astype(np.float64)
    elif width == 3:
        triples = raw.reshape(-1, 3).astype(np.int32)
        joined = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        values = (np.where(joined >= 1 << 23, joined - (1 << 24), joined) / 256).astype(np.float64)
    elif width == 4:
        values = np.frombuffer(frames, dtype="<i4").astype(np.float64) / 65536
    else:
        raise WavError(f"{source}: {width * 8}-bit samples are not supported")
    if channels > 1:
        values = values.reshape(-1, channels).mean(axis=1)
    return values


def _resample(
    values: npt.NDArray[np.float64], from_rate: int, to_rate: int
) -> npt.NDArray[np.float64]:
    """Linear-interpolation resampling: enough for prompts and test signals."""
    if from_rate == to_rate or values.size == 0:
        return values
    count = round(values.size * to_rate / from_rate)
    positions = np.arange(count) * (from_rate / to_rate)
    resampled: npt.NDArray[np.float64] = np.interp(positions, np.arange(values.size), values)
    return resampled


def read_wav(path: str | Path, rate: int | None = 8000) -> tuple[npt.NDArray[np.int16], int]:
    """Read a PCM WAV file as mono int16 samples and their rate.

    Other sample widths and several channels are converted (channels mixed by averaging);
    with ``rate`` set the signal is resampled to it, with ``rate=None`` the file's own rate
    is kept. Non-PCM files (µ-law, GSM, ...) raise :class:`WavError`.
    """
    source = str(path)
    try:
        with wave.open(source, "rb") as reader:
            channels = reader.getnchannels()
            width = reader.getsampwidth()
            file_rate = reader.getframerate()
            frames = reader.readframes(reader.getnframes())
    except wave.Error as exc:
        raise WavError(f"{source}: not a PCM WAV file ({exc})") from None
    except EOFError:
        raise WavError(f"{source}: truncated WAV header") from None
    if channels < 1 or file_rate < 1:
        raise WavError(f"{source}: {channels} channels at {file_rate} Hz")
    if len(frames) % (width * channels):
        frames = frames[: len(frames) - len(frames) % (width * channels)]
    if width == 2 and channels == 1 and (rate is None or rate == file_rate):
        return np.frombuffer(frames, dtype="<i2").astype(np.int16), file_rate
    values = _samples(frames, width, channels, source)
    target = file_rate if rate is None else rate
    values = _resample(values, file_rate, target)
    return np.clip(np.round(values), -32768, 32767).astype(np.int16), target


def _check_pcm(pcm: npt.ArrayLike) -> npt.NDArray[np.int16]:
    array = np.asarray(pcm)
    if array.dtype != np.int16:
        raise WavError(f"WAV samples must be int16, got dtype {array.dtype}")
    if array.ndim != 1:
        raise WavError(f"WAV samples must be a 1-D (mono) signal, got shape {array.shape}")
    return array


def wav_bytes(pcm: npt.ArrayLike, rate: int = 8000) -> bytes:
    """A complete mono 16-bit WAV file in memory (for writing atomically elsewhere)."""
    samples = _check_pcm(pcm)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def write_wav(path: str | Path, pcm: npt.ArrayLike, rate: int = 8000) -> None:
    """Write mono int16 samples as a 16-bit PCM WAV file."""
    Path(path).write_bytes(wav_bytes(pcm, rate))
