"""WAV reading and writing."""

import wave
from pathlib import Path

import numpy as np
import pytest

from harness.media.wav import WavError, read_wav, wav_bytes, write_wav


def ramp(count: int = 800) -> np.ndarray:
    return (np.arange(count) * 37 - 15000).astype(np.int16)


def write_raw(path: Path, frames: bytes, *, channels: int, width: int, rate: int) -> None:
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(frames)


def test_write_then_read_is_exact(tmp_path: Path) -> None:
    path = tmp_path / "msg0000.wav"
    write_wav(path, ramp())
    pcm, rate = read_wav(path)
    assert rate == 8000
    assert pcm.dtype == np.int16
    assert np.array_equal(pcm, ramp())


def test_written_file_is_8khz_mono_16bit(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    write_wav(path, ramp(123))
    with wave.open(str(path), "rb") as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 2, 8000)
        assert reader.getnframes() == 123


def test_wav_bytes_equal_the_written_file(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    write_wav(path, ramp())
    assert wav_bytes(ramp()) == path.read_bytes()
    assert wav_bytes(ramp())[:4] == b"RIFF"


def test_stereo_is_mixed_to_mono(tmp_path: Path) -> None:
    left, right = ramp(), np.full(800, 1000, dtype=np.int16)
    frames = np.column_stack([left, right]).astype("<i2").tobytes()
    path = tmp_path / "stereo.wav"
    write_raw(path, frames, channels=2, width=2, rate=8000)
    pcm, _ = read_wav(path)
    expected = np.round((left.astype(float) + 1000) / 2)
    assert np.array_equal(pcm, expected.astype(np.int16))


def test_8bit_is_widened(tmp_path: Path) -> None:
    path = tmp_path / "u8.wav"
    write_raw(path, bytes([0, 128, 255]), channels=1, width=1, rate=8000)
    pcm, _ = read_wav(path)
    assert pcm.tolist() == [-32768, 0, 32512]


def test_24bit_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "s24.wav"
    write_raw(path, bytes.fromhex("000080000100ffffff"), channels=1, width=3, rate=8000)
    pcm, _ = read_wav(path)
    assert pcm.tolist() == [-32768, 1, 0]


def test_other_rates_are_resampled(tmp_path: Path) -> None:
    t = np.arange(16000) / 16000
    tone = np.round(10000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    path = tmp_path / "16k.wav"
    write_wav(path, tone, rate=16000)
    pcm, rate = read_wav(path)
    assert rate == 8000
    assert pcm.size == 8000
    spectrum = np.abs(np.fft.rfft(pcm))
    assert int(np.argmax(spectrum)) == 440


def test_native_rate_is_kept_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "16k.wav"
    write_wav(path, ramp(), rate=16000)
    pcm, rate = read_wav(path, rate=None)
    assert rate == 16000
    assert np.array_equal(pcm, ramp())


def test_non_pcm_file_is_named(tmp_path: Path) -> None:
    # A µ-law WAV (format tag 7), which the wave module does not read.
    path = tmp_path / "ulaw.wav"
    fmt = (7).to_bytes(2, "little") + (1).to_bytes(2, "little") + (8000).to_bytes(4, "little")
    fmt += (8000).to_bytes(4, "little") + (1).to_bytes(2, "little") + (8).to_bytes(2, "little")
    data = b"\xff" * 8
    body = (
        b"WAVE"
        + b"fmt "
        + len(fmt).to_bytes(4, "little")
        + fmt
        + b"data"
        + len(data).to_bytes(4, "little")
        + data
    )
    path.write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)
    with pytest.raises(WavError, match=r"ulaw\.wav: not a PCM WAV file"):
        read_wav(path)


def test_garbage_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "junk.wav"
    path.write_bytes(b"this is not audio at all")
    with pytest.raises(WavError, match=r"junk\.wav"):
        read_wav(path)


def test_bad_samples_are_refused() -> None:
    with pytest.raises(WavError, match="int16"):
        wav_bytes(np.zeros(10))
    with pytest.raises(WavError, match="1-D"):
        wav_bytes(np.zeros((10, 2), dtype=np.int16))
