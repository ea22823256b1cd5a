"""The prompts a voicemail server plays, by Asterisk sound name, and their generated audio.

Every prompt has a code: its index in :data:`CATALOGUE`. :class:`GeneratedPrompts` renders a
prompt as a signature frame carrying that code (see :mod:`harness.media.signature`), so whoever
records what it hears can tell which prompts were played, in which order
(:mod:`harness.media.hearing`). Server and listener share this catalogue; neither needs the
other to agree on it.
"""

from __future__ import annotations

from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from harness.media.signature import DEFAULT_AMPLITUDE, RATE, FrameKind, encode_frame

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


def read_only(pcm: Pcm) -> Pcm:
    """``pcm`` made read-only, so audio handed out from a cache cannot be changed."""
    pcm.setflags(write=False)
    return pcm


def _beep(amplitude: float) -> Pcm:
    t = np.arange(round(BEEP_SECONDS * RATE)) / RATE
    # 5 ms ramps keep the tone from clicking at its ends.
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.005)
    return np.round(amplitude * ramp * np.sin(2 * np.pi * BEEP_HZ * t)).astype(np.int16)


class GeneratedPrompts:
    """Prompts a test can hear: each is its signature frame and :data:`PAD_SECONDS` of silence.

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
        pcm = read_only(np.concatenate(parts))
        self._cache[name] = pcm
        return pcm
