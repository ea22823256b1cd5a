"""The prompt catalogue and the generated prompts that carry its codes."""

import importlib
from pathlib import Path

import numpy as np
import pytest

import harness.voicemail
from harness.media import g711
from harness.media.dtmf import detect_inband
from harness.media.hearing import heard_prompts
from harness.media.prompts import (
    BEEP_HZ,
    CATALOGUE,
    GeneratedPrompts,
    PromptError,
    prompt_code,
    prompt_name,
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
    folder = Path(harness.voicemail.__file__).parent
    return sorted(
        ".".join(("harness.voicemail", *path.relative_to(folder).with_suffix("").parts))
        for path in folder.rglob("*.py")
        if "PROMPTS_USED" in path.read_text(encoding="utf-8")
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
