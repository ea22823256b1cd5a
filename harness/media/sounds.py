"""Prompts as sound files in an Asterisk-style sounds directory: played from it, written to it.

:class:`SoundsDirectory` plays real recordings, such as Asterisk's core sounds, and falls back
to the generated prompt for a file it lacks; :func:`write_sounds` installs the generated prompts
as an Asterisk's sounds, so a test can hear which prompts that Asterisk plays.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Final, Literal

import numpy as np

from harness.media import g711
from harness.media.prompts import (
    CATALOGUE,
    GeneratedPrompts,
    Pcm,
    PromptError,
    PromptLibrary,
    read_only,
)
from harness.media.recognition import sounds_directory
from harness.media.signature import RATE
from harness.media.wav import WavError, read_wav, write_wav

log = logging.getLogger(__name__)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*")

#: Sound file formats read, in order of preference: extension and how to decode the bytes.
#: ``sln`` is Asterisk's raw 16-bit signed linear at 8 kHz; ``ulaw``/``alaw`` raw G.711.
_RAW_FORMATS: Final = ("sln", "ulaw", "alaw")


def _read_raw(path: Path, extension: str) -> Pcm:
    data = path.read_bytes()
    if extension == "ulaw":
        return g711.ulaw_decode(data)
    if extension == "alaw":
        return g711.alaw_decode(data)
    return np.frombuffer(data[: len(data) - len(data) % 2], dtype="<i2").astype(np.int16)


class SoundsDirectory:
    """Prompts read from an Asterisk-style sounds directory, ``<path>/<name>.<format>``.

    ``digits/2`` is ``<path>/digits/2.wav``. WAV files (any rate, width or channel count
    :func:`harness.media.wav.read_wav` converts) are preferred, then raw ``.sln``, ``.ulaw``
    and ``.alaw``. Debian's ``asterisk-core-sounds-en-wav`` installs such a directory as
    ``/usr/share/asterisk/sounds/en_US_f_Allison`` (``sounds/en`` is a link made by the
    ``-gsm`` package). Decoded audio is cached. A prompt without a readable
    file is played from ``fallback`` (generated prompts by default), with one warning per
    name.
    """

    def __init__(self, path: str | Path, *, fallback: PromptLibrary | None = None) -> None:
        self.path = Path(path)
        self.fallback: PromptLibrary = GeneratedPrompts() if fallback is None else fallback
        self._cache: dict[str, Pcm] = {}

    def audio(self, name: str) -> Pcm:
        """The audio of prompt ``name`` (read-only)."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        if not _NAME.fullmatch(name):
            raise PromptError(
                f"{name!r} is not a sound name: '/'-separated parts of letters, digits, "
                "'-', '_' and '.', each starting with a letter or digit"
            )
        pcm, problem = self._read(name)
        if pcm is not None:
            pcm = read_only(pcm)
        else:
            try:
                pcm = self.fallback.audio(name)
            except PromptError:
                raise PromptError(
                    f"prompt {name!r}: {problem}, and it is not in the prompt catalogue"
                ) from None
            # Cached, so warned about once.
            log.warning("prompt %r: %s; playing the generated prompt", name, problem)
            if pcm.flags.writeable:
                pcm = read_only(pcm.copy())
        self._cache[name] = pcm
        return pcm

    def _read(self, name: str) -> tuple[Pcm | None, str]:
        """The file's audio, or None and why not."""
        wav = self.path / f"{name}.wav"
        if wav.is_file():
            try:
                return read_wav(wav, RATE)[0], ""
            except WavError as exc:
                return None, str(exc)
        for extension in _RAW_FORMATS:
            raw = self.path / f"{name}.{extension}"
            if raw.is_file():
                return _read_raw(raw, extension), ""
        looked = ", ".join(f".{ext}" for ext in ("wav", *_RAW_FORMATS))
        return None, f"no sound file {self.path / name}.* (looked for {looked})"


#: Which prompts a server plays: Asterisk's sound files when installed, or the generated ones.
PromptChoice = Literal["sounds", "generated"]


def prompt_library(choice: PromptChoice, directory: str | Path | None = None) -> PromptLibrary:
    """The prompts to play: ``sounds`` plays ``directory`` (default: the installed sounds,
    see :func:`harness.media.recognition.sounds_directory`) and falls back to the generated
    prompts, with a warning, when there is none; ``generated`` plays the generated ones."""
    if choice == "generated":
        return GeneratedPrompts()
    path = Path(directory) if directory is not None else sounds_directory()
    if path is None:
        log.warning(
            "no sound files installed (asterisk-core-sounds-en-wav); playing generated prompts"
        )
        return GeneratedPrompts()
    return SoundsDirectory(path)


def write_sounds(
    directory: str | Path,
    library: PromptLibrary | None = None,
    names: Iterable[str] = CATALOGUE,
) -> list[Path]:
    """Write prompts as 8 kHz WAV files in Asterisk's layout (``digits/2`` → ``digits/2.wav``).

    With the generated prompts installed as an Asterisk's sounds, a test can hear which
    prompts that Asterisk plays. Returns the files written.
    """
    source: PromptLibrary = GeneratedPrompts() if library is None else library
    root = Path(directory)
    written = []
    for name in names:
        if not _NAME.fullmatch(name):
            raise PromptError(f"{name!r} is not a sound name")
        path = root / f"{name}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_wav(path, source.audio(name), RATE)
        written.append(path)
    return written
