"""The prompt catalogue, generated and recorded prompts, and hearing them back."""

import importlib
import logging
from pathlib import Path

import numpy as np
import pytest

from harness.media import g711
from harness.media.dtmf import detect_inband
from harness.media.signal import speech_like
from harness.media.signature import FrameKind, encode_frame, message_signature
from harness.media.wav import write_wav
from harness.voicemail import prompts
from harness.voicemail.prompts import (
    BEEP_HZ,
    CATALOGUE,
    GeneratedPrompts,
    PromptError,
    SoundsDirectory,
    describe_heard,
    heard_prompts,
    prompt_code,
    prompt_name,
    write_sounds,
)

RATE = 8000

#: Prompts the voicemail flows are known to play (issue: deposit, retrieval, options).
MENU_PROMPTS = [
    "vm-intro",
    "vm-theperson",
    "vm-isunavail",
    "vm-isonphone",
    "beep",
    "vm-login",
    "vm-password",
    "vm-incorrect",
    "vm-incorrect-mailbox",
    "vm-goodbye",
    "vm-youhave",
    "vm-INBOX",
    "vm-Old",
    "vm-Work",
    "vm-Family",
    "vm-Friends",
    "vm-Urgent",
    "vm-message",
    "vm-messages",
    "vm-no",
    "vm-and",
    "vm-first",
    "vm-next",
    "vm-last",
    "vm-nomore",
    "vm-onefor",
    "vm-for",
    "vm-opts",
    "vm-savedto",
    "vm-deleted",
    "vm-undeleted",
    "vm-msgsaved",
    "vm-mailboxfull",
    "vm-received",
    "vm-from",
    "vm-duration",
    "vm-minutes",
    "vm-seconds",
    "vm-advopts",
    "vm-savefolder",
    "vm-changeto",
    "vm-helpexit",
    "vm-rec-unv",
    "vm-rec-busy",
    "vm-rec-name",
    "vm-rec-temp",
    "vm-tempgreetactive",
    "vm-tempremoved",
    "vm-newpassword",
    "vm-reenterpassword",
    "vm-passchanged",
    "vm-mismatch",
    "vm-forward",
    "vm-extension",
    "vm-sorry",
    "vm-tooshort",
    "vm-review",
    "vm-msginstruct",
    "vm-tocancelmsg",
    "vm-whichbox",
    "digits/hundred",
    "digits/thousand",
]


# --- the catalogue -------------------------------------------------------------------------


def test_catalogue_names_are_unique() -> None:
    assert len(set(CATALOGUE)) == len(CATALOGUE)


@pytest.mark.parametrize(
    "name", [*MENU_PROMPTS, *(f"digits/{n}" for n in [*range(21), *range(30, 100, 10)])]
)
def test_catalogue_has_the_menu_prompts(name: str) -> None:
    assert name in CATALOGUE


def test_codes_fit_the_frame_and_index_the_catalogue() -> None:
    assert len(CATALOGUE) < 2**16
    assert prompt_code("beep") == 0
    assert prompt_name(prompt_code("vm-youhave")) == "vm-youhave"
    with pytest.raises(PromptError, match="'vm-nosuch' is not in the prompt catalogue"):
        prompt_code("vm-nosuch")
    with pytest.raises(PromptError, match=f"code {len(CATALOGUE)} is not in the catalogue"):
        prompt_name(len(CATALOGUE))


def _modules_declaring_prompts() -> list[str]:
    folder = Path(prompts.__file__).parent
    return sorted(
        f"harness.voicemail.{path.stem}"
        for path in folder.glob("*.py")
        if "PROMPTS_USED" in path.read_text(encoding="utf-8") and path.stem != "prompts"
    )


@pytest.mark.parametrize("module", _modules_declaring_prompts())
def test_every_prompt_a_flow_plays_is_in_the_catalogue(module: str) -> None:
    used = importlib.import_module(module).PROMPTS_USED
    assert sorted(set(used) - set(CATALOGUE)) == []


# --- generated prompts ---------------------------------------------------------------------


def test_every_prompt_is_heard_back_through_g711_in_any_order() -> None:
    library = GeneratedPrompts()
    rng = np.random.default_rng(2024)
    names = list(rng.permutation(CATALOGUE)) + list(rng.choice(CATALOGUE, 20))
    parts = []
    for name in names:
        parts.append(np.zeros(int(rng.integers(0, 1600)), dtype=np.int16))
        parts.append(library.audio(name))
    pcm = np.concatenate(parts).astype(np.float64)
    noisy = np.round(pcm + rng.normal(0, 40, pcm.size)).astype(np.int16)
    for codec in ("PCMU", "PCMA"):
        heard = g711.decode(g711.encode(noisy, codec), codec)
        assert heard_prompts(heard) == names


def test_generated_prompts_are_short_cached_and_read_only() -> None:
    library = GeneratedPrompts()
    audio = library.audio("vm-intro")
    assert audio.dtype == np.int16
    assert 0.5 <= audio.size / RATE <= 0.65
    assert library.audio("vm-intro") is audio
    with pytest.raises(ValueError, match="read-only"):
        audio[0] = 1


def test_beep_ends_with_a_beep_like_asterisks() -> None:
    audio = GeneratedPrompts().audio("beep")
    tail = audio[-round(0.4 * RATE) :].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(tail))
    assert np.fft.rfftfreq(tail.size, 1 / RATE)[spectrum.argmax()] == pytest.approx(BEEP_HZ, abs=3)
    assert np.abs(tail).max() > 5000
    assert heard_prompts(audio) == ["beep"]


def test_no_prompt_sounds_like_a_dtmf_key() -> None:
    library = GeneratedPrompts()
    pcm = np.concatenate([library.audio(name) for name in CATALOGUE])
    for codec in ("PCMU", "PCMA"):
        assert detect_inband(g711.decode(g711.encode(pcm, codec), codec), min_ms=20) == ""


def test_unknown_generated_prompt_is_named() -> None:
    with pytest.raises(PromptError, match="'vm-nosuch'"):
        GeneratedPrompts().audio("vm-nosuch")


# --- a sounds directory --------------------------------------------------------------------


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
    with caplog.at_level(logging.WARNING, logger="harness.voicemail.prompts"):
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
    with caplog.at_level(logging.WARNING, logger="harness.voicemail.prompts"):
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


# --- hearing ----------------------------------------------------------------------------------


def test_heard_prompts_skips_other_frames_and_marks_unknown_codes() -> None:
    library = GeneratedPrompts()
    pcm = np.concatenate(
        [
            library.audio("vm-youhave"),
            message_signature("XY12"),
            speech_like(0.5, 3),
            encode_frame(FrameKind.PROMPT, (60000).to_bytes(2, "big")),
            library.audio("digits/2"),
        ]
    )
    assert heard_prompts(pcm) == ["vm-youhave", "?60000", "digits/2"]


def test_describe_heard_shows_frames_and_the_first_difference() -> None:
    library = GeneratedPrompts()
    pcm = np.concatenate(
        [library.audio("vm-login"), message_signature("AB7"), library.audio("vm-incorrect")]
    )
    text = describe_heard(pcm, ["vm-login", "vm-password"])
    assert "3 signature frame(s)" in text
    assert "message  AB7" in text
    assert "heard prompts:    vm-login, vm-incorrect" in text
    assert "first difference at prompt 2: expected 'vm-password', heard 'vm-incorrect'" in text
    matching = describe_heard(pcm, ["vm-login", "vm-incorrect"])
    assert "the prompts heard are the ones expected" in matching
    assert "expected nothing" in describe_heard(pcm, ["vm-login"])
