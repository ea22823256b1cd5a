"""Hearing Asterisk's recorded prompts and its beep in what a phone received.

The prompts are Debian's ``asterisk-core-sounds-en-wav`` (skipped without them, failed under
CI), played back to back as app_voicemail plays them, through G.711 with lost packets.
"""

from __future__ import annotations

import random
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from harness.media import g711
from harness.media.fingerprint import FingerprintIndex
from harness.media.hearing import Hearing, heard_prompts
from harness.media.prompts import CATALOGUE, GeneratedPrompts
from harness.media.recognition import Listener, index_of
from harness.media.signal import speech_like
from harness.media.sounds import SoundsDirectory
from harness.media.wav import read_wav

#: vm-seconds is not among Asterisk's core sounds.
RECORDED = [name for name in CATALOGUE if name not in ("vm-seconds", "beep")]
PACKET = 160


def _line(
    pcm: npt.NDArray[np.int16], codec: str, loss: float, rng: random.Random
) -> npt.NDArray[np.int16]:
    """``pcm`` through G.711 with ``loss`` of its 20 ms packets lost (silence in their place,
    as the phone's receiver fills them)."""
    received = g711.decode(g711.encode(pcm, codec), codec).copy()
    for start in range(0, received.size, PACKET):
        if rng.random() < loss:
            received[start : start + PACKET] = 0
    return received


@pytest.fixture(scope="module")
def sounds(require_sounds: Path) -> SoundsDirectory:
    return SoundsDirectory(require_sounds)


@pytest.fixture(scope="module")
def index(sounds: SoundsDirectory) -> FingerprintIndex:
    return index_of(sounds.path.resolve())


def test_every_catalogue_prompt_is_heard_in_sequence_through_g711_with_loss(
    sounds: SoundsDirectory, index: FingerprintIndex
) -> None:
    rng = random.Random(12)
    names = RECORDED.copy()
    rng.shuffle(names)
    expected_total = matched = 0
    wrong = []
    for first in range(0, len(names), 6):
        played = names[first : first + 6]
        audio = np.concatenate([sounds.audio(name) for name in played])
        received = _line(audio, rng.choice(("PCMU", "PCMA")), 0.02, rng)
        listener = Listener(index)
        # Heard while it arrives, a second at a time, as a call hears it.
        for end in range(8000, received.size, 8000):
            listener.hear(received[:end])
        heard = [h.name for h in listener.hear(received, final=True)]
        blocks = SequenceMatcher(a=played, b=heard).get_matching_blocks()
        matched += sum(block.size for block in blocks)
        expected_total += len(played)
        if heard != played:
            wrong.append((played, heard))
    assert matched / expected_total >= 0.97, wrong


def test_a_prompt_is_not_decided_before_all_of_it_arrived(
    sounds: SoundsDirectory, index: FingerprintIndex
) -> None:
    audio = np.concatenate([sounds.audio("vm-intro"), np.zeros(4000, dtype=np.int16)])
    listener = Listener(index)
    assert listener.hear(audio[: audio.size // 2]) == []
    assert [h.name for h in listener.hear(audio)] == ["vm-intro"]


def test_speech_that_is_no_prompt_is_heard_as_none(index: FingerprintIndex) -> None:
    assert Listener(index).hear(speech_like(20.0, "a caller"), final=True) == []


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_asterisks_beep_is_heard_after_its_greeting(
    sounds: SoundsDirectory, index: FingerprintIndex, codec: str
) -> None:
    audio = np.concatenate(
        [sounds.audio("vm-isunavail"), sounds.audio("vm-intro"), sounds.audio("beep")]
    )
    received = _line(audio, codec, 0.05, random.Random(3))
    assert heard_prompts(received, index) == ["vm-isunavail", "vm-intro", "beep"]


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_the_prompts_before_the_beep_are_heard_packet_by_packet(
    sounds: SoundsDirectory, index: FingerprintIndex, codec: str
) -> None:
    # A phone polls what it heard as packets arrive, so a prompt is often looked at when
    # only the first frames of one of its blocks are there, frames vm-intro has quiet: a
    # block judged on those rejected vm-intro for good, and the caller never heard it.
    audio = np.concatenate(
        [sounds.audio("vm-isunavail"), sounds.audio("vm-intro"), sounds.audio("beep")]
    )
    received = _line(audio, codec, 0.0, random.Random(5))
    hearing = Hearing(index)
    for end in range(PACKET, received.size, PACKET):
        hearing.prompts(received[:end])
    assert hearing.prompts(received, final=True) == ["vm-isunavail", "vm-intro", "beep"]


def test_no_sound_file_but_the_beep_sounds_like_a_beep(require_sounds: Path) -> None:
    false_beeps = []
    for path in sorted(require_sounds.rglob("*.wav")):
        if path.stem == "beep":
            continue
        audio = g711.decode(g711.encode(read_wav(path)[0], "PCMU"), "PCMU")
        if Listener(None).hear(audio, final=True):
            false_beeps.append(path.name)
    assert false_beeps == []


def test_a_generated_beep_prompt_is_one_beep() -> None:
    audio = np.concatenate([GeneratedPrompts().audio(n) for n in ("vm-intro", "beep")])
    assert Hearing().prompts(audio, final=True) == ["vm-intro", "beep"]


def test_the_index_is_built_once_and_rebuilt_when_a_sound_changes(
    tmp_path: Path, sounds: SoundsDirectory
) -> None:
    directory = tmp_path / "sounds"
    (directory / "digits").mkdir(parents=True)
    for name in ("vm-intro", "digits/2"):
        (directory / f"{name}.wav").write_bytes((sounds.path / f"{name}.wav").read_bytes())
    cache = tmp_path / "cache"
    first = FingerprintIndex.from_directory(directory, cache)
    assert sorted(first.names) == ["digits/2", "vm-intro"]
    (cached,) = cache.iterdir()
    again = FingerprintIndex.from_directory(directory, cache)
    assert [t.words.tolist() for t in again.templates] == [
        t.words.tolist() for t in first.templates
    ]
    (directory / "vm-login.wav").write_bytes((sounds.path / "vm-login.wav").read_bytes())
    rebuilt = FingerprintIndex.from_directory(directory, cache)
    assert "vm-login" in rebuilt.names
    assert len(list(cache.iterdir())) == 2
    assert cached.exists()


@pytest.mark.parametrize("heard_ms", [800, 1500, 3000])
def test_a_prompt_cut_short_by_a_key_counts_as_heard_before_the_next(
    sounds: SoundsDirectory, index: FingerprintIndex, heard_ms: int
) -> None:
    # A key pressed during vm-options stops it at once and the server goes on with the
    # prompt the key asked for.
    cut = sounds.audio("vm-options")[: heard_ms * 8]
    audio = np.concatenate([cut, sounds.audio("vm-newpassword"), np.zeros(4000, np.int16)])
    received = _line(audio, "PCMU", 0.02, random.Random(heard_ms))
    hearing = Hearing(index)
    for end in range(PACKET, received.size, PACKET * 5):
        hearing.prompts(received[:end])
    assert hearing.prompts(received, final=True) == ["vm-options", "vm-newpassword"]


def test_a_prompt_cut_within_its_first_half_second_is_not_heard(
    sounds: SoundsDirectory, index: FingerprintIndex
) -> None:
    cut = sounds.audio("vm-options")[: 400 * 8]
    audio = np.concatenate([cut, sounds.audio("vm-newpassword"), np.zeros(4000, np.int16)])
    assert heard_prompts(audio, index) == ["vm-newpassword"]
