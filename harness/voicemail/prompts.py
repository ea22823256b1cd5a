"""The prompts the voicemail server plays, by Asterisk sound name, and how a test hears them.

Every prompt has a code: its index in :data:`CATALOGUE`. :class:`GeneratedPrompts` renders a
prompt as a signature frame carrying that code (see :mod:`harness.media.signature`), so a
phone that records what it hears can tell which prompts were played, in which order, with
:func:`heard_prompts`. :class:`SoundsDirectory` plays real recordings, such as Asterisk's
core sounds, and falls back to the generated prompt for a file it lacks.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from harness.media import g711
from harness.media.signature import (
    DEFAULT_AMPLITUDE,
    RATE,
    FrameKind,
    decode_frames,
    encode_frame,
)
from harness.media.wav import WavError, read_wav, write_wav

log = logging.getLogger(__name__)

Pcm = npt.NDArray[np.int16]

# The index of a name is the prompt's code, which recordings carry: the catalogue is
# append-only. Never reorder or remove a name; add new ones at the end.
CATALOGUE: Final[tuple[str, ...]] = (
    "beep",
    # Numbers as ast_say_number speaks them.
    *(f"digits/{n}" for n in range(21)),
    *(f"digits/{n}" for n in range(30, 100, 10)),
    "digits/hundred",
    "digits/thousand",
    "digits/million",
    "digits/star",
    "digits/pound",
    # Dates and times of a message envelope ("'vm-received' q 'digits/at' IMp").
    *(f"digits/day-{n}" for n in range(7)),
    *(f"digits/mon-{n}" for n in range(12)),
    *(f"digits/h-{n}" for n in range(1, 21)),
    "digits/h-30",
    "digits/today",
    "digits/yesterday",
    "digits/at",
    "digits/oclock",
    "digits/oh",
    "digits/a-m",
    "digits/p-m",
    # Leaving a message (VoiceMail).
    "vm-intro",
    "vm-theperson",
    "vm-extension",
    "vm-isunavail",
    "vm-isonphone",
    "vm-nobodyavail",
    "vm-mailboxfull",
    "vm-tooshort",
    "vm-review",
    "vm-review-urgent",
    "vm-review-nonurgent",
    "vm-marked-urgent",
    "vm-marked-nonurgent",
    "vm-msgsaved",
    "vm-reachoper",
    "vm-saveoper",
    "vm-tocancelmsg",
    "vm-whichbox",
    "vm-leavemsg",
    "auth-thankyou",
    "transfer",
    "pbx-invalid",
    # Logging in and the main menu (VoiceMailMain).
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
    *(f"vm-Cust{n}" for n in range(1, 6)),
    "vm-message",
    "vm-messages",
    "vm-no",
    "vm-and",
    "vm-first",
    "vm-next",
    "vm-last",
    "vm-nomore",
    "vm-prev",
    "vm-repeat",
    "vm-delete",
    "vm-undelete",
    "vm-toforward",
    "vm-savemessage",
    "vm-helpexit",
    "vm-instructions",
    "vm-opts",
    "vm-opts-full",
    "vm-onefor",
    "vm-onefor-full",
    "vm-for",
    "vm-press",
    "vm-msginstruct",
    "vm-starmain",
    "vm-then-pound",
    "vm-tocancel",
    "vm-star-cancel",
    "vm-sorry",
    # A message's envelope. vm-seconds is not among Asterisk's core sounds (app_voicemail
    # says durations in minutes); a sounds directory plays it generated.
    "vm-received",
    "vm-from",
    "vm-from-extension",
    "vm-from-phonenumber",
    "vm-unknown-caller",
    "vm-duration",
    "vm-minutes",
    "vm-seconds",
    # Folders, saving and deleting.
    "vm-changeto",
    "vm-savefolder",
    "vm-savedto",
    "vm-saved",
    "vm-deleted",
    "vm-undeleted",
    # Advanced options and forwarding.
    "vm-advopts",
    "vm-toreply",
    "vm-tocallback",
    "vm-tohearenv",
    "vm-tomakecall",
    "vm-forward",
    "vm-forward-multiple",
    "vm-forwardoptions",
    "vm-record-prepend",
    "vm-msgforwarded",
    "vm-nobox",
    "vm-nonumber",
    "vm-num-i-have",
    "vm-tocallnum",
    "vm-calldiffnum",
    "vm-toenternumber",
    "vm-enter-num-to-call",
    "vm-dialout",
    # Mailbox options: greetings, name, password.
    "vm-options",
    "vm-rec-unv",
    "vm-rec-busy",
    "vm-rec-name",
    "vm-rec-temp",
    "vm-tempgreeting",
    "vm-tempgreeting2",
    "vm-tempgreetactive",
    "vm-tmpexists",
    "vm-tempremoved",
    "vm-torerecord",
    "vm-newpassword",
    "vm-reenterpassword",
    "vm-passchanged",
    "vm-mismatch",
    "vm-invalidpassword",
    "vm-invalid-password",
    "vm-pls-try-again",
    "vm-newuser",
)

_CODES: Final = {name: code for code, name in enumerate(CATALOGUE)}

#: Silence after each generated prompt's frame.
PAD_SECONDS: Final = 0.04
#: Asterisk's beep.wav: 0.425 s of 700 Hz at about 6000 peak.
BEEP_HZ: Final = 700.0
BEEP_SECONDS: Final = 0.425

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*")


class PromptError(LookupError):
    """A prompt name that is not in the catalogue or not a valid sound name."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def prompt_code(name: str) -> int:
    """The code of prompt ``name``: its index in :data:`CATALOGUE`."""
    try:
        return _CODES[name]
    except KeyError:
        raise PromptError(f"prompt {name!r} is not in the prompt catalogue") from None


def prompt_name(code: int) -> str:
    """The name of the prompt with ``code``."""
    if not 0 <= code < len(CATALOGUE):
        raise PromptError(f"prompt code {code} is not in the catalogue (0-{len(CATALOGUE) - 1})")
    return CATALOGUE[code]


class PromptLibrary(Protocol):
    """Where prompt audio comes from."""

    def audio(self, name: str) -> Pcm:
        """The 8 kHz audio of prompt ``name``."""
        ...


def _frozen(pcm: Pcm) -> Pcm:
    """``pcm`` made read-only, so audio handed out from a cache cannot be changed."""
    pcm.setflags(write=False)
    return pcm


def _beep(amplitude: float) -> Pcm:
    t = np.arange(round(BEEP_SECONDS * RATE)) / RATE
    # 5 ms ramps keep the tone from clicking at its ends.
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.005)
    return np.round(amplitude * ramp * np.sin(2 * np.pi * BEEP_HZ * t)).astype(np.int16)


class GeneratedPrompts:
    """Prompts a test can hear: each is its signature frame and 100 ms of silence.

    ``beep`` is followed by a beep like Asterisk's, so that, as with Asterisk, the tone is
    the last thing a caller hears before the recording starts.
    """

    def __init__(self, *, amplitude: float = DEFAULT_AMPLITUDE) -> None:
        self.amplitude = amplitude
        self._cache: dict[str, Pcm] = {}

    def audio(self, name: str) -> Pcm:
        """The audio of prompt ``name`` (read-only). Raises :class:`PromptError` if unknown."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        frame = encode_frame(
            FrameKind.PROMPT, prompt_code(name).to_bytes(2, "big"), amplitude=self.amplitude
        )
        parts = [frame, np.zeros(round(PAD_SECONDS * RATE), dtype=np.int16)]
        if name == "beep":
            parts.append(_beep(self.amplitude))
        pcm = _frozen(np.concatenate(parts))
        self._cache[name] = pcm
        return pcm


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
            pcm = _frozen(pcm)
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
                pcm = _frozen(pcm.copy())
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


# --- what a phone heard ------------------------------------------------------------------------


def _prompt_of(payload: bytes) -> str:
    """The prompt name a frame's payload codes; ``?<code>`` for a code not in the catalogue."""
    code = int.from_bytes(payload, "big")
    if len(payload) == 2 and code < len(CATALOGUE):
        return CATALOGUE[code]
    return f"?{code}"


def heard_prompts(pcm: npt.ArrayLike) -> list[str]:
    """The prompts in a recording of what a phone heard, in order.

    Only prompts rendered by :class:`GeneratedPrompts` can be heard. A code this catalogue
    does not have (a newer catalogue's) appears as ``?<code>``.
    """
    return [
        _prompt_of(frame.payload) for frame in decode_frames(pcm) if frame.kind is FrameKind.PROMPT
    ]


def describe_heard(pcm: npt.ArrayLike, expected: Sequence[str] | None = None) -> str:
    """A readable account of the frames in a recording, for a failure message.

    One line per frame (time, kind, what it says); with ``expected`` prompt names, both
    prompt sequences and where they first differ.
    """
    signal = np.asarray(pcm)
    frames = decode_frames(signal)
    lines = [f"{len(frames)} signature frame(s) in {signal.size / RATE:.2f} s of audio"]
    for frame in frames:
        if frame.kind is FrameKind.PROMPT:
            what = _prompt_of(frame.payload)
        else:
            what = frame.payload.decode("ascii", "backslashreplace")
        lines.append(f"  {frame.start_sample / RATE:7.2f} s  {frame.kind.value:<7}  {what}")
    if expected is not None:
        heard = [_prompt_of(f.payload) for f in frames if f.kind is FrameKind.PROMPT]
        lines.append(f"expected prompts: {', '.join(expected) or '(none)'}")
        lines.append(f"heard prompts:    {', '.join(heard) or '(none)'}")
        for index in range(max(len(expected), len(heard))):
            want = expected[index] if index < len(expected) else None
            got = heard[index] if index < len(heard) else None
            if want != got:
                lines.append(
                    f"first difference at prompt {index + 1}: expected "
                    f"{'nothing' if want is None else repr(want)}, heard "
                    f"{'nothing' if got is None else repr(got)}"
                )
                break
        else:
            lines.append("the prompts heard are the ones expected")
    return "\n".join(lines)
