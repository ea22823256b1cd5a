"""The vocabulary between a voicemail call flow and the call it runs on.

The deposit flow (VoiceMail) and the retrieval menu (VoiceMailMain) are sans-IO state
machines. The call session feeds them :data:`Event` values — the call started, a key was
pressed (whatever the DTMF mode), a playback or a recording ended, a mailbox was loaded, the
caller hung up, a timer fired — and carries out the :data:`Action` values they return: play
prompts and messages, record, store and change messages, send MWI, hang up. Time is always an
argument; a machine's deadlines come out of ``next_timer()`` and go back in as
:class:`TimerFired`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from harness.core.mailbox import MailboxId

# -- what can be played ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prompt:
    """A prompt by its Asterisk sound name: ``vm-intro``, ``beep``, ``digits/2``…"""

    name: str


@dataclass(frozen=True, slots=True)
class Greeting:
    """A mailbox's recorded greeting (``unavail``, ``busy``, ``temp``, ``greet``), if it has one.

    The session plays the file when it exists and ``fallback`` when it does not.
    """

    mailbox: MailboxId
    kind: Literal["unavail", "busy", "temp", "greet"]
    fallback: tuple[Prompt, ...] = ()


@dataclass(frozen=True, slots=True)
class MessageAudio:
    """A stored message's recording, from ``offset`` seconds on."""

    mailbox: MailboxId
    folder: str
    msg_id: str
    offset: float = 0.0


@dataclass(frozen=True, slots=True)
class Recording:
    """The recording just made and not yet stored (the review menu plays it back)."""


@dataclass(frozen=True, slots=True)
class Pause:
    """Silence of ``seconds``."""

    seconds: float


Playable = Prompt | Greeting | MessageAudio | Recording | Pause

# -- mailbox contents as a flow sees them ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageRef:
    """One stored message as the menu knows it (identified by ``msg_id``, not by number)."""

    msg_id: str
    folder: str
    callerid: str
    origtime: int
    duration: int
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class MailboxView:
    """A mailbox's configuration and contents when it was loaded.

    ``pin`` is None when no PIN is asked; ``pin_changeable`` is False for a leading ``-``.
    ``folders`` maps each non-empty folder name to its messages in number order; a view
    loaded without them (what a deposit needs) has ``counts`` instead.
    """

    mailbox: MailboxId
    pin: str | None
    pin_changeable: bool
    folders: tuple[tuple[str, tuple[MessageRef, ...]], ...]
    greetings: frozenset[str] = frozenset()
    #: Locked after too many failed logins: every PIN is refused as a wrong one is.
    locked: bool = False
    #: How many messages each folder holds, in a view loaded without them; None when
    #: ``folders`` has every message.
    counts: tuple[tuple[str, int], ...] | None = None

    def messages(self, folder: str) -> tuple[MessageRef, ...]:
        """The messages of ``folder`` (empty when it has none)."""
        for name, messages in self.folders:
            if name == folder:
                return messages
        return ()

    def count(self, folder: str) -> int:
        """How many messages ``folder`` holds."""
        if self.counts is None:
            return len(self.messages(folder))
        return dict(self.counts).get(folder, 0)


# -- events: what happened on the call -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallStarted:
    """The call was answered and media flows."""

    now: float


@dataclass(frozen=True, slots=True)
class DigitPressed:
    """The caller pressed ``key`` (``0``-``9``, ``*``, ``#``, ``A``-``D``)."""

    key: str
    now: float


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    """The last :class:`Play` ended: played to the end, or cut short by a key."""

    now: float
    interrupted: bool = False


@dataclass(frozen=True, slots=True)
class RecordingFinished:
    """The :class:`Record` in progress ended.

    ``why``: ``key`` (``key`` holds it), ``maxsecs``, ``silence`` (``seconds`` already has the
    trailing silence removed), or ``hangup``.
    """

    now: float
    why: Literal["key", "maxsecs", "silence", "hangup"]
    seconds: float
    key: str | None = None


@dataclass(frozen=True, slots=True)
class MailboxLoaded:
    """The answer to :class:`LoadMailbox`: the view, or None when no such mailbox exists."""

    now: float
    mailbox: MailboxId
    view: MailboxView | None


@dataclass(frozen=True, slots=True)
class StoreFinished:
    """The answer to :class:`StoreRecording`: ``stored`` mailboxes, and those that were full."""

    now: float
    stored: tuple[MailboxId, ...]
    full: tuple[MailboxId, ...] = ()


@dataclass(frozen=True, slots=True)
class HungUp:
    """The caller hung up."""

    now: float


@dataclass(frozen=True, slots=True)
class TimerFired:
    """A deadline from the machine's ``next_timer()`` passed."""

    now: float


Event = (
    CallStarted
    | DigitPressed
    | PlaybackFinished
    | RecordingFinished
    | MailboxLoaded
    | StoreFinished
    | HungUp
    | TimerFired
)

# -- actions: what the session must do -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Play:
    """Play ``items`` in order. Keys in ``interrupt`` cut it short (and still arrive as
    :class:`DigitPressed`); other keys are kept for after it. Answered by PlaybackFinished."""

    items: tuple[Playable, ...]
    interrupt: str = ""


@dataclass(frozen=True, slots=True)
class StopPlayback:
    """Stop what is playing now (no PlaybackFinished follows)."""


@dataclass(frozen=True, slots=True)
class Record:
    """Record the caller until a key in ``stop_keys``, ``max_seconds`` (0: no limit) or
    ``max_silence`` seconds of audio under ``silence_threshold`` (0: off). Answered by
    :class:`RecordingFinished`."""

    stop_keys: str = "#"
    max_seconds: float = 0.0
    max_silence: float = 0.0
    silence_threshold: int = 128


@dataclass(frozen=True, slots=True)
class DiscardRecording:
    """Forget the last recording."""


@dataclass(frozen=True, slots=True)
class StoreRecording:
    """Store the last recording as a new message in each of ``mailboxes`` (one copy each).

    Answered by :class:`StoreFinished`.
    """

    mailboxes: tuple[MailboxId, ...]
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class MarkUrgent:
    """The message being left is now Urgent (or no longer is) before it is stored: a crash
    before then recovers it into the folder the caller chose last."""

    urgent: bool


@dataclass(frozen=True, slots=True)
class StoreGreeting:
    """Store the last recording as a mailbox's greeting (``unavail``, ``busy``, ``temp``,
    ``greet``)."""

    mailbox: MailboxId
    kind: Literal["unavail", "busy", "temp", "greet"]


@dataclass(frozen=True, slots=True)
class RemoveGreeting:
    """Remove a mailbox greeting (the temporary one, from the options menu)."""

    mailbox: MailboxId
    kind: Literal["unavail", "busy", "temp", "greet"]


@dataclass(frozen=True, slots=True)
class LoadMailbox:
    """Look ``mailbox`` up; answered by :class:`MailboxLoaded`. ``contents`` False loads
    what a deposit needs, the greetings and how many messages each folder holds, without
    reading every message's information."""

    mailbox: MailboxId
    contents: bool = True


@dataclass(frozen=True, slots=True)
class MessageChange:
    """One change to a stored message: move it to ``folder``, or delete it (folder None)."""

    msg_id: str
    folder: str | None


@dataclass(frozen=True, slots=True)
class ApplyChanges:
    """Apply the session's changes to ``mailbox`` and renumber every folder contiguously.

    Messages deposited meanwhile keep their place; their numbers close up with the rest.
    """

    mailbox: MailboxId
    changes: tuple[MessageChange, ...]


@dataclass(frozen=True, slots=True)
class CopyMessage:
    """Forward a stored message: a copy into each of ``to`` mailboxes' INBOX."""

    mailbox: MailboxId
    folder: str
    msg_id: str
    to: tuple[MailboxId, ...]


@dataclass(frozen=True, slots=True)
class ChangePin:
    """Set the mailbox's new PIN."""

    mailbox: MailboxId
    pin: str


@dataclass(frozen=True, slots=True)
class MailboxChanged:
    """Tell the world (MWI NOTIFY, SMDI lamp, externnotify) the mailbox's counts now."""

    mailbox: MailboxId


@dataclass(frozen=True, slots=True)
class LoginFailed:
    """A PIN entered for ``mailbox`` was refused (counted across calls: see lockout)."""

    mailbox: MailboxId


@dataclass(frozen=True, slots=True)
class LoginSucceeded:
    """The PIN of ``mailbox`` was accepted."""

    mailbox: MailboxId


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the call."""


@dataclass(frozen=True, slots=True)
class Log:
    """A state change worth a line in the server log (and in traces): Asterisk's TestEvents."""

    state: str
    detail: str = ""


Action = (
    Play
    | StopPlayback
    | Record
    | DiscardRecording
    | StoreRecording
    | MarkUrgent
    | StoreGreeting
    | RemoveGreeting
    | LoadMailbox
    | ApplyChanges
    | CopyMessage
    | ChangePin
    | MailboxChanged
    | LoginFailed
    | LoginSucceeded
    | Hangup
    | Log
)


class CallFlow(Protocol):
    """What the session needs of a deposit flow or a retrieval menu."""

    def handle(self, event: Event) -> list[Action]:
        """Take one event; return what to do, in order."""
        ...

    def next_timer(self) -> float | None:
        """When to send :class:`TimerFired`, or None."""
        ...

    @property
    def finished(self) -> bool:
        """Whether the flow is over (after its Hangup)."""
        ...
