"""Prompts played from and written to an Asterisk-style sounds directory."""

import logging
from pathlib import Path

import numpy as np
import pytest

from harness.media import g711
from harness.media.hearing import heard_prompts
from harness.media.prompts import PromptError
from harness.media.signal import speech_like
from harness.media.sounds import SoundsDirectory, write_sounds
from harness.media.wav import write_wav

RATE = 8000


def test_sounds_directory_reads_and_resamples_wav_files(tmp_path: Path) -> None:
    t = np.arange(16000) / 16000
    wideband = np.round(5000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    (tmp_path / "digits").mkdir()
    write_wav(tmp_path / "digits" / "2.wav", wideband, rate=16000)
    library = SoundsDirectory(tmp_path)
    audio = library.audio("digits/2")
    assert audio.size == RATE
    assert np.abs(audio).max() == pytest.approx(5000, abs=50)
    (tmp_path / "digits" / "2.wav").unlink()
    assert library.audio("digits/2") is audio  # cached


@pytest.mark.parametrize("extension", ["sln", "ulaw", "alaw"])
def test_sounds_directory_reads_raw_asterisk_formats(tmp_path: Path, extension: str) -> None:
    speech = speech_like(0.5, extension)
    encoded = {
        "sln": speech.astype("<i2").tobytes(),
        "ulaw": g711.ulaw_encode(speech),
        "alaw": g711.alaw_encode(speech),
    }[extension]
    (tmp_path / f"vm-goodbye.{extension}").write_bytes(encoded)
    audio = SoundsDirectory(tmp_path).audio("vm-goodbye")
    assert audio.size == speech.size
    assert np.abs(audio.astype(int) - speech).max() <= (0 if extension == "sln" else 1100)


def test_missing_file_falls_back_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    library = SoundsDirectory(tmp_path)
    with caplog.at_level(logging.WARNING, logger="harness.media.sounds"):
        first = library.audio("vm-youhave")
        second = library.audio("vm-youhave")
    assert heard_prompts(first) == ["vm-youhave"]
    assert second is first
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "vm-youhave" in warnings[0]
    assert str(tmp_path) in warnings[0]


def test_unreadable_file_falls_back_naming_the_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "vm-intro.wav").write_bytes(b"RIFF\x00\x00")
    with caplog.at_level(logging.WARNING, logger="harness.media.sounds"):
        audio = SoundsDirectory(tmp_path).audio("vm-intro")
    assert heard_prompts(audio) == ["vm-intro"]
    assert "vm-intro.wav" in caplog.text


def test_unknown_prompt_without_a_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match=r"'vm-nosuch': no sound file .*not in the prompt cat"):
        SoundsDirectory(tmp_path).audio("vm-nosuch")


def test_a_file_outside_the_catalogue_is_played(tmp_path: Path) -> None:
    write_wav(tmp_path / "custom-welcome.wav", speech_like(0.3, 1))
    assert SoundsDirectory(tmp_path).audio("custom-welcome").size == round(0.3 * RATE)


@pytest.mark.parametrize("name", ["../etc/passwd", "/vm-intro", "digits//2", "", "vm intro"])
def test_names_that_are_not_sound_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(PromptError, match="is not a sound name"):
        SoundsDirectory(tmp_path).audio(name)


def test_written_sounds_are_read_back_and_heard(tmp_path: Path) -> None:
    names = ["vm-login", "digits/7", "beep"]
    written = write_sounds(tmp_path, names=names)
    assert written == [tmp_path / "vm-login.wav", tmp_path / "digits/7.wav", tmp_path / "beep.wav"]
    library = SoundsDirectory(tmp_path)
    pcm = np.concatenate([library.audio(name) for name in names])
    assert heard_prompts(pcm) == names
