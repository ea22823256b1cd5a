"""Leaving a message: app_voicemail's ``VoiceMail`` application as a sans-IO call flow.

:class:`Leave` takes the call's events and returns what to play, record and store, as
app_voicemail's ``leave_voicemail()`` and ``play_record_review()`` do:

1. ``LoadMailbox`` of the first mailbox; an unknown mailbox ends the call (``FAILED``).
2. The greeting of the first mailbox: the temporary greeting when recorded, else the busy or
   unavailable one (``Greeting`` with the invented fallback ``vm-theperson`` + the box as
   digits + ``vm-isonphone`` / ``vm-isunavail``; a recorded name replaces the first two).
   ``greeting="default"`` plays no greeting at all unless a temporary one is recorded.
3. ``vm-intro`` unless ``skip_instructions`` or ``#`` was pressed during the greeting.
   During 2 and 3, ``#`` skips ahead, ``*`` leaves (``star_exit``) and ``0`` goes to the
   operator (``operator``): ``transfer``, then the call ends (``USEREXIT``).
4. A greetings-only box (``maxmsg=0``) ends here (``SUCCESS``); a first mailbox whose INBOX
   holds ``maxmsg`` messages plays ``vm-mailboxfull`` and ends (``FAILED``).
5. ``beep``, then ``Record`` ended by ``#`` (and ``0`` with the operator), ``maxsecs``,
   ``maxsilence`` or hangup. ``*`` does not stop a recording (Asterisk never listens for it).
6. The message is kept unless shorter than ``minsecs``: ``StoreRecording`` to every mailbox,
   ``MailboxChanged`` for each one stored. The caller hears ``auth-thankyou`` (after ``#``,
   silence or ``maxsecs``) and the call ends. A caller who hangs up mid-recording leaves the
   message too: the session reports ``RecordingFinished(why="hangup")`` (before or after
   :class:`~harness.voicemail.flows.callflow.HungUp`) and the flow stores it without a word.
7. ``0`` while recording (operator): ``vm-saveoper``, then within 3 s ``1`` keeps the
   message, ``4`` keeps it Urgent, anything else deletes it (``vm-deleted``); ``transfer``.
8. ``review=yes``: ``vm-review`` + ``vm-review-urgent`` (``vm-review-nonurgent`` once Urgent)
   [+ ``vm-reachoper``]; 1 keep (``vm-msgsaved``), 2 listen, 3 re-record (``vm-intro``,
   ``beep``), 4 toggle Urgent, 0 operator (as in 7), other keys ``vm-sorry``. The menu is
   repeated after 6 s of silence; after the fourth silent round the message is kept and the
   caller hears ``vm-goodbye``. Asterisk's ``*`` is ``vm-sorry`` here too: its cancel branch
   is compiled out.

Where Asterisk is inconsistent this flow is honest instead: ``vm-msgsaved`` is only said of a
message that is kept (Asterisk says it, then drops a message under ``minsecs``), and a caller
who hangs up before a re-recording leaves nothing, with status ``FAILED``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from harness.core.mailbox import MailboxId
from harness.voicemail.flows.callflow import (
    Action,
    CallStarted,
    DigitPressed,
    DiscardRecording,
    Event,
    Greeting,
    Hangup,
    HungUp,
    Log,
    MailboxChanged,
    MailboxLoaded,
    MailboxView,
    MarkUrgent,
    Playable,
    PlaybackFinished,
    Prompt,
    Record,
    Recording,
    RecordingFinished,
    StoreFinished,
    StoreRecording,
)
from harness.voicemail.flows.engine import Engine
from harness.voicemail.flows.say import say_box
from harness.voicemail.flows.transitions import Transitions

Status = Literal["SUCCESS", "USEREXIT", "FAILED"]


class LeaveState(StrEnum):
    """Where a caller leaving a message is."""

    IDLE = "idle"
    LOADING = "loading"
    GREETING = "greeting"
    INSTRUCTIONS = "instructions"
    MAILBOX_FULL = "mailbox-full"
    BEEP = "beep"
    RECORDING = "recording"
    REVIEW = "review"
    SAVE_OPERATOR = "save-operator"
    RE_RECORD = "re-record"
    CLOSING = "closing"
    DONE = "done"


_S = LeaveState
#: Every move the deposit flow makes; a hang-up ends it from anywhere.
TRANSITIONS: dict[LeaveState, frozenset[LeaveState]] = {
    _S.IDLE: frozenset({_S.LOADING, _S.DONE}),
    _S.LOADING: frozenset(
        {_S.GREETING, _S.INSTRUCTIONS, _S.MAILBOX_FULL, _S.BEEP, _S.CLOSING, _S.DONE}
    ),
    _S.GREETING: frozenset({_S.INSTRUCTIONS, _S.MAILBOX_FULL, _S.BEEP, _S.CLOSING, _S.DONE}),
    _S.INSTRUCTIONS: frozenset({_S.MAILBOX_FULL, _S.BEEP, _S.CLOSING, _S.DONE}),
    _S.MAILBOX_FULL: frozenset({_S.DONE}),
    _S.BEEP: frozenset({_S.RECORDING, _S.DONE}),
    _S.RECORDING: frozenset({_S.REVIEW, _S.SAVE_OPERATOR, _S.CLOSING, _S.DONE}),
    _S.REVIEW: frozenset({_S.RE_RECORD, _S.SAVE_OPERATOR, _S.CLOSING, _S.DONE}),
    _S.RE_RECORD: frozenset({_S.RECORDING, _S.DONE}),
    _S.SAVE_OPERATOR: frozenset({_S.CLOSING, _S.DONE}),
    _S.CLOSING: frozenset({_S.DONE}),
    _S.DONE: frozenset(),
}

#: Every DTMF key; the review menus stop on any of them (Asterisk's ``AST_DIGIT_ANY``).
ANY_KEY = "0123456789#*ABCD"
#: Silence after the review menu before it is repeated (``ast_waitfordigit(chan, 6000)``).
REVIEW_WAIT = 6.0
#: Silent review rounds tolerated; one more and the message is kept (``max_attempts``).
REVIEW_ROUNDS = 3
#: How long ``vm-saveoper`` waits for 1 or 4 before deleting the message.
SAVE_OPERATOR_WAIT = 3.0
#: The most messages a folder can hold (four-digit ``msgNNNN`` names).
MAXMSG_LIMIT = 9999

_DIGITS = tuple(Prompt(f"digits/{d}") for d in "0123456789")
_THEPERSON = Prompt("vm-theperson")
_ISONPHONE = Prompt("vm-isonphone")
_ISUNAVAIL = Prompt("vm-isunavail")
_INTRO = Prompt("vm-intro")
_BEEP = Prompt("beep")
_MAILBOXFULL = Prompt("vm-mailboxfull")
_TRANSFER = Prompt("transfer")
_THANKYOU = Prompt("auth-thankyou")
_REVIEW = Prompt("vm-review")
_REVIEW_URGENT = Prompt("vm-review-urgent")
_REVIEW_NONURGENT = Prompt("vm-review-nonurgent")
_REACHOPER = Prompt("vm-reachoper")
_MARKED_URGENT = Prompt("vm-marked-urgent")
_MARKED_NONURGENT = Prompt("vm-marked-nonurgent")
_SORRY = Prompt("vm-sorry")
_MSGSAVED = Prompt("vm-msgsaved")
_GOODBYE = Prompt("vm-goodbye")
_SAVEOPER = Prompt("vm-saveoper")
_DELETED = Prompt("vm-deleted")

#: Every prompt this flow can play, for the prompt catalogue's completeness test.
PROMPTS_USED: tuple[str, ...] = tuple(
    prompt.name
    for prompt in (
        _THEPERSON,
        *_DIGITS,
        _ISONPHONE,
        _ISUNAVAIL,
        _INTRO,
        _BEEP,
        _MAILBOXFULL,
        _TRANSFER,
        _THANKYOU,
        _REVIEW,
        _REVIEW_URGENT,
        _REVIEW_NONURGENT,
        _REACHOPER,
        _MARKED_URGENT,
        _MARKED_NONURGENT,
        _SORRY,
        _MSGSAVED,
        _GOODBYE,
        _SAVEOPER,
        _DELETED,
    )
)


@dataclass(frozen=True, slots=True)
class LeaveOptions:
    """How ``VoiceMail`` runs: its options (``u``/``b``, ``s``, ``U``) and voicemail.conf's.

    ``greeting``: ``unavail`` (``u``), ``busy`` (``b``) or ``default`` (neither: no greeting
    unless a temporary one is recorded). ``star_exit``: ``*`` leaves (Asterisk's ``a``
    extension exists). ``operator``: ``operator=yes``, ``0`` goes to the operator.
    ``maxmsg``: messages the first mailbox's INBOX may hold, 0 for a greetings-only box.
    ``maxsecs``, ``maxsilence``: 0 is no limit. Recordings shorter than ``minsecs`` are dropped.
    """

    greeting: Literal["unavail", "busy", "default"] = "unavail"
    skip_instructions: bool = False
    urgent: bool = False
    operator: bool = False
    star_exit: bool = False
    review: bool = False
    maxmsg: int = 100
    maxsecs: float = 0
    minsecs: float = 0
    maxsilence: float = 0
    silencethreshold: int = 128

    def __post_init__(self) -> None:
        if self.greeting not in ("unavail", "busy", "default"):
            raise ValueError(
                f"LeaveOptions.greeting must be 'unavail', 'busy' or 'default', "
                f"not {self.greeting!r}"
            )
        if not 0 <= self.maxmsg <= MAXMSG_LIMIT:
            raise ValueError(
                f"LeaveOptions.maxmsg must be 0 to {MAXMSG_LIMIT}, not {self.maxmsg!r}"
            )
        for name in ("maxsecs", "minsecs", "maxsilence", "silencethreshold"):
            value = getattr(self, name)
            # ``not >=`` also refuses NaN.
            if not value >= 0:
                raise ValueError(f"LeaveOptions.{name} must be 0 or more, not {value!r}")


class Leave:
    """One caller leaving a message for ``mailboxes`` (the greeting is the first one's).

    Implements :class:`~harness.voicemail.flows.callflow.CallFlow`. ``status`` is Asterisk's
    ``VMSTATUS`` once decided: ``SUCCESS`` (stored, or a greetings-only box), ``USEREXIT``
    (``*`` or the operator) or ``FAILED`` (no mailbox, mailbox full, too short, hung up before
    recording, nothing stored).

    After the caller hangs up the session still owes the flow the ``RecordingFinished`` of a
    recording in progress and the ``StoreFinished`` of a store; the flow is finished once they
    are in, and sends no ``Hangup`` to a caller who is gone.
    """

    def __init__(self, mailboxes: tuple[MailboxId, ...], options: LeaveOptions) -> None:
        if not mailboxes:
            raise ValueError("Leave needs at least one mailbox")
        for index, mailbox in enumerate(mailboxes):
            if not isinstance(mailbox, MailboxId):
                raise ValueError(f"Leave mailbox {index + 1} is {mailbox!r}, not a MailboxId")
            if mailbox in mailboxes[:index]:
                raise ValueError(f"Leave mailbox {mailbox} is listed twice")
        self._mailboxes = mailboxes
        self._options = options
        self._engine = Engine()
        self._states = Transitions(TRANSITIONS, LeaveState.IDLE)
        self._status: Status | None = None
        self._view: MailboxView | None = None
        self._skip_intro = options.skip_instructions
        self._urgent = options.urgent
        self._seconds = 0.0
        self._rounds = 0
        self._caller_here = True
        self._storing = False
        # When the event being handled happened.
        self._now = 0.0

    @property
    def state(self) -> LeaveState:
        """Where the flow is."""
        return self._states.state

    @property
    def status(self) -> Status | None:
        """Asterisk's ``VMSTATUS``, or None while undecided."""
        return self._status

    @property
    def urgent(self) -> bool:
        """Whether the message is (or would be) stored as Urgent."""
        return self._urgent

    @property
    def finished(self) -> bool:
        """Whether the flow is over: it hung up, or the caller did and nothing is pending."""
        return self.state == LeaveState.DONE and not self._engine.owing

    def next_timer(self) -> float | None:
        """When a menu stops waiting for a key (the review menu, ``vm-saveoper``), or None."""
        return self._engine.next_timer()

    def handle(self, event: Event) -> list[Action]:
        """Take one event; return what the session must do, in order.

        Raises :class:`ValueError` for an event the session should not have sent now: a second
        CallStarted, a MailboxLoaded, RecordingFinished or StoreFinished nothing asked for, or
        a key that is no DTMF key. Keys, playback ends and timers that arrive when they no
        longer matter are ignored, as is everything once the flow is over.
        """
        if isinstance(event, DigitPressed) and (len(event.key) != 1 or event.key not in ANY_KEY):
            raise ValueError(f"DigitPressed key {event.key!r} is not one of {ANY_KEY}")
        if self.finished:
            return []
        if self.state == LeaveState.DONE:
            return self._engine.owed(event)
        self._now = event.now
        if isinstance(event, CallStarted):
            return self._on_call_started()
        if isinstance(event, MailboxLoaded):
            return self._on_mailbox_loaded(event)
        if isinstance(event, DigitPressed):
            return self._engine.key(event.key, event.now)
        if isinstance(event, PlaybackFinished):
            return self._engine.played(event.now, interrupted=event.interrupted)
        if isinstance(event, RecordingFinished):
            if self.state != LeaveState.RECORDING:
                raise ValueError(f"RecordingFinished in state {self.state}: nothing was recording")
            return self._engine.recorded(event)
        if isinstance(event, StoreFinished):
            return self._on_store_finished(event)
        if isinstance(event, HungUp):
            return self._on_hung_up()
        return self._engine.timer(event.now)

    # -- events ------------------------------------------------------------------------------

    def _on_call_started(self) -> list[Action]:
        if self.state != LeaveState.IDLE:
            raise ValueError(f"CallStarted in state {self.state}: the call had started")
        self._states.move(LeaveState.LOADING)
        return self._engine.load(self._mailboxes[0], self._loaded, contents=False)

    def _on_mailbox_loaded(self, event: MailboxLoaded) -> list[Action]:
        if self.state != LeaveState.LOADING:
            raise ValueError(
                f"MailboxLoaded for {event.mailbox} in state {self.state}: nothing was loading"
            )
        if event.mailbox != self._mailboxes[0]:
            raise ValueError(
                f"MailboxLoaded for {event.mailbox}, but {self._mailboxes[0]} was asked for"
            )
        return self._engine.loaded(event)

    def _loaded(self, view: MailboxView | None, now: float) -> list[Action]:
        if view is None:
            self._status = "FAILED"
            return [Log("no-mailbox", str(self._mailboxes[0])), *self._end()]
        self._view = view
        items = self._greeting()
        if not items:
            return self._after_greeting()
        self._states.move(LeaveState.GREETING)
        return self._play(items, self._exit_keys())

    def _on_recording_finished(self, event: RecordingFinished) -> list[Action]:
        self._seconds = event.seconds
        ended = f"{event.why} {event.key}" if event.why == "key" else event.why
        log = Log("recorded", f"{event.seconds:g} s, ended by {ended}")
        if event.why == "hangup":
            self._caller_here = False
        if not self._caller_here:
            return [log, *self._keep((), confirm=False)]
        if event.why == "key" and event.key == "0" and self._options.operator:
            return [log, *self._save_operator()]
        if self._options.review:
            self._states.move(LeaveState.REVIEW)
            return [log, self._play((_THANKYOU, *self._menu()), ANY_KEY)[0]]
        return [log, *self._keep((_THANKYOU,), confirm=False)]

    def _on_store_finished(self, event: StoreFinished) -> list[Action]:
        if not self._storing:
            raise ValueError("StoreFinished, but no StoreRecording is outstanding")
        self._storing = False
        actions: list[Action] = [Log("full", str(mailbox)) for mailbox in event.full]
        if event.stored:
            actions.append(Log("stored", ", ".join(str(mailbox) for mailbox in event.stored)))
        else:
            actions.append(Log("not-stored", "every mailbox was full"))
        actions.extend(MailboxChanged(mailbox) for mailbox in event.stored)
        if self._status is None:
            self._status = "SUCCESS" if event.stored else "FAILED"
        if not event.stored and self._caller_here:
            # Thanked already, but nothing was kept (the disk is full, say): tell the caller.
            return actions + self._play((_MAILBOXFULL,), "")
        return actions + self._end_when_idle()

    def _on_hung_up(self) -> list[Action]:
        self._caller_here = False
        # Nothing plays to a caller who is gone; late PlaybackFinished reports are ignored.
        owed = self._engine.hung_up()
        state = self.state
        log = Log("hangup", f"in state {state}")
        return [*owed, log, *self._on_hung_up_in(state)]

    def _on_hung_up_in(self, state: LeaveState) -> list[Action]:
        """What a hang-up in ``state`` leaves behind."""
        if state == LeaveState.RECORDING:
            # The session reports RecordingFinished(why="hangup") as well; that one decides.
            return []
        if state == LeaveState.REVIEW:
            return [*self._keep((), confirm=False)]
        if state == LeaveState.SAVE_OPERATOR:
            # Asterisk's vm-saveoper deletes the message unless 1 or 4 was pressed.
            self._status = "USEREXIT"
            return [DiscardRecording(), *self._end()]
        if state == LeaveState.CLOSING:
            return [*self._end_when_idle()]
        discard: list[Action] = [DiscardRecording()] if state == LeaveState.RE_RECORD else []
        if self._status is None:
            self._status = "FAILED"
        return [*discard, *self._end()]

    # -- steps -------------------------------------------------------------------------------

    def _on_key(self, key: str, now: float) -> list[Action]:
        """A key that matters in this state, after any Play it cut short has ended."""
        if self.state in (LeaveState.GREETING, LeaveState.INSTRUCTIONS):
            return self._exit_key(key)
        if self.state == LeaveState.SAVE_OPERATOR:
            return self._operator_choice(key)
        return self._review_key(key)

    def _prompts_done(self, now: float) -> list[Action]:
        """The Play of this state was heard to its end."""
        state = self.state
        if state == LeaveState.GREETING:
            return self._after_greeting()
        if state == LeaveState.INSTRUCTIONS:
            return self._after_instructions()
        if state in (LeaveState.BEEP, LeaveState.RE_RECORD):
            return self._record()
        if state == LeaveState.REVIEW:
            return self._engine.arm(now + REVIEW_WAIT, self._review_unanswered)
        if state == LeaveState.SAVE_OPERATOR:
            return self._engine.arm(now + SAVE_OPERATOR_WAIT, lambda t: self._operator_choice(None))
        # mailbox-full and closing: the last words were said.
        return self._end_when_idle()

    def _record(self) -> list[Action]:
        self._states.move(LeaveState.RECORDING)
        options = self._options
        record = Record(
            stop_keys="#0" if options.operator else "#",
            max_seconds=options.maxsecs,
            max_silence=options.maxsilence,
            silence_threshold=options.silencethreshold,
        )
        return self._engine.record(record, self._on_recording_finished)

    def _review_unanswered(self, now: float) -> list[Action]:
        self._rounds += 1
        if self._rounds > REVIEW_ROUNDS:
            return [Log("review", "no key: message kept"), *self._keep((_GOODBYE,), confirm=False)]
        return self._play(self._menu(), ANY_KEY)

    def _after_greeting(self) -> list[Action]:
        if self._options.maxmsg == 0:
            self._status = "SUCCESS"
            return [Log("greetings-only", str(self._mailboxes[0])), *self._end()]
        if self._skip_intro:
            return self._after_instructions()
        self._states.move(LeaveState.INSTRUCTIONS)
        return self._play((_INTRO,), self._exit_keys())

    def _after_instructions(self) -> list[Action]:
        assert self._view is not None
        held = self._view.count("INBOX")
        if held >= self._options.maxmsg:
            self._status = "FAILED"
            self._states.move(LeaveState.MAILBOX_FULL)
            detail = f"{self._mailboxes[0]} INBOX holds {held}, maxmsg is {self._options.maxmsg}"
            return [Log("mailbox-full", detail), *self._play((_MAILBOXFULL,), "")]
        self._states.move(LeaveState.BEEP)
        return self._play((_BEEP,), "")

    def _exit_key(self, key: str) -> list[Action]:
        """``#``, ``*`` or ``0`` during the greeting or the instructions."""
        if key == "#":
            if self.state == LeaveState.GREETING:
                self._skip_intro = True
                return self._after_greeting()
            return self._after_instructions()
        self._status = "USEREXIT"
        if key == "*":
            return [Log("exit", "*"), *self._end()]
        return self._close([Log("operator", f"0 during the {self.state}")], (_TRANSFER,))

    def _review_key(self, key: str) -> list[Action]:
        """A choice in the review menu (``play_record_review``)."""
        if key == "1":
            return [Log("review", "1: keep"), *self._keep((), confirm=True)]
        if key == "2":
            return self._play(_with_recording(self._menu()), ANY_KEY)
        if key == "3":
            self._states.move(LeaveState.RE_RECORD)
            return [
                Log("review", "3: record again"),
                DiscardRecording(),
                *self._play((_INTRO, _BEEP), ""),
            ]
        if key == "4":
            self._urgent = not self._urgent
            said = _MARKED_URGENT if self._urgent else _MARKED_NONURGENT
            log = Log("urgent", "on" if self._urgent else "off")
            return [log, MarkUrgent(self._urgent), *self._play((said, *self._menu()), ANY_KEY)]
        if key == "0" and self._options.operator:
            return self._save_operator()
        if key in "ABCD":
            return self._play(self._menu(), ANY_KEY)
        return self._play((_SORRY, *self._menu()), ANY_KEY)

    def _save_operator(self) -> list[Action]:
        self._states.move(LeaveState.SAVE_OPERATOR)
        return self._play((_SAVEOPER,), ANY_KEY)

    def _operator_choice(self, key: str | None) -> list[Action]:
        """After ``vm-saveoper``: 1 keeps the message, 4 keeps it Urgent, else it is deleted."""
        self._status = "USEREXIT"
        log = Log("operator", f"{key or 'no key'} after vm-saveoper")
        prompts: list[Prompt] = []
        if key in ("1", "4"):
            marked: list[Action] = []
            if key == "4":
                marked = [] if self._urgent else [MarkUrgent(True)]
                self._urgent = True
                prompts.append(_MARKED_URGENT)
            actions = [*marked, *self._store_or_discard()]
            if self._storing:
                prompts.append(_MSGSAVED)
        else:
            actions = [Log("deleted", "the caller did not ask to keep it"), DiscardRecording()]
            prompts.append(_DELETED)
        return self._close([log, *actions], (*prompts, _TRANSFER))

    def _keep(self, prompts: tuple[Prompt, ...], *, confirm: bool) -> list[Action]:
        """Keep the recording if long enough, say ``prompts`` and end the call."""
        actions = self._store_or_discard()
        if self._storing and confirm:
            prompts = (_MSGSAVED, *prompts)
        return self._close(actions, prompts)

    def _store_or_discard(self) -> list[Action]:
        minsecs = self._options.minsecs
        if self._seconds < minsecs:
            if self._status is None:
                self._status = "FAILED"
            detail = f"{self._seconds:g} s is under minsecs {minsecs:g}: discarded"
            return [Log("too-short", detail), DiscardRecording()]
        self._storing = True
        return [StoreRecording(self._mailboxes, urgent=self._urgent)]

    def _close(self, actions: list[Action], prompts: tuple[Prompt, ...]) -> list[Action]:
        """Say the last ``prompts`` (to a caller still there), then end when nothing is pending."""
        self._states.move(LeaveState.CLOSING)
        if self._caller_here and prompts:
            return [*actions, *self._play(prompts, "")]
        self._engine.listen(None)
        return actions + self._end_when_idle()

    def _end_when_idle(self) -> list[Action]:
        if self.state not in (LeaveState.CLOSING, LeaveState.MAILBOX_FULL):
            return []
        if self._storing or self._engine.playing:
            return []
        return self._end()

    def _end(self) -> list[Action]:
        self._states.move(LeaveState.DONE)
        self._engine.stop()
        return [Hangup()] if self._caller_here else []

    # -- what is played ----------------------------------------------------------------------

    def _play(self, items: tuple[Playable, ...], interrupt: str) -> list[Action]:
        """Play ``items``; keys in ``interrupt`` act once the Play has ended."""
        on_key = self._on_key if interrupt else None
        return self._engine.play(items, self._prompts_done, self._now, on_key, interrupt)

    def _exit_keys(self) -> str:
        return (
            "#" + ("*" if self._options.star_exit else "") + ("0" if self._options.operator else "")
        )

    def _menu(self) -> tuple[Prompt, ...]:
        urgent = _REVIEW_NONURGENT if self._urgent else _REVIEW_URGENT
        return (_REVIEW, urgent, *((_REACHOPER,) if self._options.operator else ()))

    def _greeting(self) -> tuple[Playable, ...]:
        """The first mailbox's greeting as ``leave_voicemail()`` picks it."""
        assert self._view is not None
        mailbox = self._mailboxes[0]
        recorded = self._view.greetings
        kind = self._options.greeting
        if kind == "default":
            invented: tuple[Prompt, ...] = ()
        else:
            person = (_THEPERSON, *say_box(mailbox.box))
            invented = (*person, _ISONPHONE if kind == "busy" else _ISUNAVAIL)
        if "temp" in recorded:
            return (Greeting(mailbox, "temp", fallback=invented),)
        if kind == "default":
            return ()
        if kind in recorded:
            return (Greeting(mailbox, kind, fallback=invented),)
        if "greet" in recorded:
            # invent_message() says the recorded name in place of "the person at <box>".
            return (Greeting(mailbox, "greet", fallback=invented[:-1]), invented[-1])
        return invented


def _with_recording(items: tuple[Prompt, ...]) -> tuple[Playable, ...]:
    # Playable lacks a member for the unsaved recording; Recording stands in for it.
    return (Recording(), *items)
