"""The machinery every call flow runs on: play, collect digits, wait, look up, record.

A flow says what it wants next — play these prompts and then do this, wait so long for a key,
read digits up to ``#``, load a mailbox, record — and hands the engine each event of the call;
the engine answers with the flow's next actions. Keys follow the rules of a channel in
Asterisk, whichever flow runs:

- A key that may cut the playing prompts acts when it comes (a deadline it sets runs from
  then), but what it asks for goes out once the cut prompts have reported their end; when
  the end comes first (``PlaybackFinished(interrupted=True)``), the key acts as it comes.
- Any other key pressed while prompts play, or while a mailbox is looked up, waits in a buffer
  and is delivered once the flow listens again, as a channel buffers DTMF.
- A key with nobody listening (while recording, say) is dropped.

Time is always an argument; the one deadline comes out of :meth:`Engine.next_timer`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from harness.core.mailbox import MailboxId
from harness.voicemail.flows.callflow import (
    Action,
    Event,
    HungUp,
    LoadMailbox,
    MailboxLoaded,
    MailboxView,
    Play,
    Playable,
    PlaybackFinished,
    Record,
    RecordingFinished,
)

#: Every DTMF key; what ``ast_play_and_wait()`` lets cut a prompt short.
ANY_KEY = "0123456789*#ABCD"

Step = Callable[[float], list[Action]]
KeyStep = Callable[[str, float], list[Action]]
Loaded = Callable[[MailboxView | None, float], list[Action]]
Recorded = Callable[[RecordingFinished], list[Action]]


class Engine:
    """Plays, key buffer, deadline, lookup and recording of one call flow."""

    def __init__(self) -> None:
        # Plays out whose end has not been reported (a cut one's end still comes).
        self._plays = 0
        self._interrupt = ""
        self._after_play: Step | None = None
        self._on_key: KeyStep | None = None
        # Ends still to come of prompts a key cut; what such keys asked for waits for them.
        self._cut_ends = 0
        self._deferred: list[Action] = []
        # The prompts reported an interrupted end; the key that cut them is still to come.
        self._awaiting_key = False
        self._held: list[str] = []
        self._deadline: float | None = None
        self._on_timeout: Step | None = None
        self._loading: MailboxId | None = None
        self._on_loaded: Loaded | None = None
        self._on_recorded: Recorded | None = None

    @property
    def playing(self) -> bool:
        """Whether a Play is out, not cut by a key, and its end not yet reported."""
        return self._plays > self._cut_ends

    @property
    def recording(self) -> bool:
        """Whether a Record is out and its RecordingFinished not yet in."""
        return self._on_recorded is not None

    @property
    def loading(self) -> MailboxId | None:
        """The mailbox a LoadMailbox is out for, or None."""
        return self._loading

    def next_timer(self) -> float | None:
        """When the flow's deadline passes, or None."""
        return self._deadline

    # -- what a flow asks for -----------------------------------------------------------------

    def play(
        self,
        items: Iterable[Playable],
        then: Step | None,
        now: float,
        on_key: KeyStep | None = None,
        interrupt: str = ANY_KEY,
    ) -> list[Action]:
        """Play ``items``; keys in ``interrupt`` cut them and go to ``on_key`` (none when it is
        None); ``then`` follows when they end by themselves (at once when there are none)."""
        items = tuple(items)
        self._on_key = on_key
        self._deadline = self._on_timeout = None
        self._awaiting_key = False
        if not items:
            return then(now) if then is not None else []
        self._plays += 1
        self._after_play = then
        self._interrupt = interrupt if on_key is not None else ""
        return [Play(items, self._interrupt)]

    def ask(
        self, items: Iterable[Playable], now: float, on_key: KeyStep, on_timeout: Step, wait: float
    ) -> list[Action]:
        """Play ``items`` (any key cuts them), then wait ``wait`` seconds for a key."""
        return self.play(items, lambda t: self.arm(t + wait, on_timeout), now, on_key)

    def read(
        self,
        items: Iterable[Playable],
        now: float,
        then: KeyStep,
        *,
        first_wait: float,
        between: float,
        longest: int,
    ) -> list[Action]:
        """``ast_readstring()``: play ``items`` and read digits ended by ``#``, by ``first_wait``
        seconds without a digit after the prompt, ``between`` seconds between digits or
        ``longest`` digits; ``then`` gets the digits (``#`` not included)."""
        entry: list[str] = []

        def done(t: float) -> list[Action]:
            return then("".join(entry), t)

        def on_key(key: str, t: float) -> list[Action]:
            if key == "#":
                return done(t)
            entry.append(key)
            if len(entry) >= longest:
                return done(t)
            return self.arm(t + between, done)

        return self.play(items, lambda t: self.arm(t + first_wait, done), now, on_key)

    def arm(self, deadline: float, then: Step) -> list[Action]:
        """Call ``then`` at ``deadline`` unless a key comes first."""
        self._deadline, self._on_timeout = deadline, then
        return []

    def listen(self, on_key: KeyStep | None) -> None:
        """Send keys to ``on_key`` from now on (None: drop them), with no deadline."""
        self._on_key = on_key
        self._deadline = self._on_timeout = None

    def load(self, mailbox: MailboxId, then: Loaded, *, contents: bool = True) -> list[Action]:
        """Look ``mailbox`` up (see :class:`LoadMailbox`); keys wait until ``then`` has the
        answer."""
        self._on_key = None
        self._loading, self._on_loaded = mailbox, then
        return [LoadMailbox(mailbox, contents)]

    def record(self, record: Record, then: Recorded) -> list[Action]:
        """Record; ``then`` gets the RecordingFinished. Keys meanwhile belong to the session."""
        self._on_key = None
        self._deadline = self._on_timeout = None
        self._on_recorded = then
        return [record]

    @property
    def owing(self) -> bool:
        """Whether actions a key asked for still wait for the end of the prompts it cut."""
        return self._cut_ends > 0

    def stop(self) -> None:
        """The flow is over: no more keys or deadlines. What a key already asked for still
        goes out with the end of the prompts it cut (see :meth:`owed`)."""
        self._interrupt = ""
        self._after_play = None
        self._on_key = None
        self._awaiting_key = False
        self._held = []
        self._deadline = self._on_timeout = None

    def hung_up(self) -> list[Action]:
        """The caller is gone: nothing plays any more. Returns what a key had asked for, but
        for its Plays."""
        self.stop()
        self._plays = self._cut_ends = 0
        owed, self._deferred = self._deferred, []
        return [action for action in owed if not isinstance(action, Play)]

    def owed(self, event: Event) -> list[Action]:
        """After the flow is over, while :attr:`owing`: the end of the cut prompts releases
        what the key asked for; a hang-up releases it without its Plays."""
        if isinstance(event, PlaybackFinished):
            return self.played(event.now, interrupted=event.interrupted)
        if isinstance(event, HungUp):
            return self.hung_up()
        return []

    # -- what the call reports ----------------------------------------------------------------

    def key(self, key: str, now: float) -> list[Action]:
        """A key was pressed."""
        return self._flush(self._key(key, now), now)

    def played(self, now: float, *, interrupted: bool = False) -> list[Action]:
        """The oldest Play out ended (cut short when ``interrupted``)."""
        if not self._plays:
            return []
        self._plays -= 1
        if self._cut_ends:
            # The end of prompts a key cut: what the keys asked for goes out with the last.
            self._cut_ends -= 1
            if self._cut_ends:
                return []
            actions, self._deferred = self._deferred, []
            return self._flush(actions, now)
        if self._plays:
            return []  # one a later Play replaced
        if interrupted and self._interrupt and self._on_key is not None:
            self._awaiting_key = True
            return []
        then, self._after_play = self._after_play, None
        return self._flush(then(now) if then is not None else [], now)

    def timer(self, now: float) -> list[Action]:
        """Time passed; the deadline fires when it is due."""
        if self._deadline is None or now < self._deadline:
            return []
        then = self._on_timeout
        self._deadline = self._on_timeout = None
        return self._flush(then(now) if then is not None else [], now)

    def loaded(self, event: MailboxLoaded) -> list[Action]:
        """The answer to :meth:`load` (one for another mailbox, or unasked for, is ignored)."""
        if self._on_loaded is None or event.mailbox != self._loading:
            return []
        then = self._on_loaded
        self._loading = self._on_loaded = None
        return self._flush(then(event.view, event.now), event.now)

    def recorded(self, event: RecordingFinished) -> list[Action]:
        """The answer to :meth:`record` (ignored when nothing records)."""
        then, self._on_recorded = self._on_recorded, None
        if then is None:
            return []
        return self._flush(then(event), event.now)

    # -- keys -----------------------------------------------------------------------------------

    def _key(self, key: str, now: float) -> list[Action]:
        if self._awaiting_key and key in self._interrupt:
            self._awaiting_key = False
            return self._act(key, now)
        if self._loading is not None or self._awaiting_key:
            self._held.append(key)
            return []
        playing = self.playing
        if playing and key not in self._interrupt:
            self._held.append(key)
            return []
        if playing:
            # The key cut the playing prompts: it acts now, its actions follow their end.
            self._cut_ends += 1
        if self._cut_ends:
            self._deferred += self._act(key, now)
            return []
        return self._act(key, now)

    def _act(self, key: str, now: float) -> list[Action]:
        handler = self._on_key
        if handler is None:
            return []
        self._after_play = None
        self._deadline = self._on_timeout = None
        return handler(key, now)

    def _flush(self, actions: list[Action], now: float) -> list[Action]:
        """Deliver keys held back while the flow could not take them."""
        while self._held and self._loading is None and not self._plays and not self._awaiting_key:
            actions += self._key(self._held.pop(0), now)
        return actions
