"""The retrieval menu: app_voicemail's ``VoiceMailMain`` as a sans-IO call flow.

:class:`Retrieval` logs a caller in, walks them through their folders with app_voicemail's DTMF
menu (``vm_execmain()``) and, when they leave, hands back what changed. It says what Asterisk
says in English, prompt for prompt, and takes the same keys, so a scenario written against an
Asterisk ``VoiceMailMain`` runs unchanged here.

Login (``vm_authenticate()``): with the mailbox known (from the request) only the PIN is asked,
``vm-password``, and a wrong one is answered ``vm-incorrect`` and asked again; a known mailbox
that does not exist is treated as unknown, as Asterisk does. Otherwise ``vm-login`` asks for the
box (an empty entry means the caller's number), then ``vm-password`` — even for a box that does
not exist — and a failure is answered ``vm-incorrect-mailbox``, which asks for the box again.
The ``maxlogins``-th failure is answered ``vm-incorrect``, ``vm-goodbye`` and the call ends,
with nothing applied and no ``MailboxChanged``. Digits end with ``#``, after
``first_digit_timeout`` without a first digit or ``digit_timeout`` between digits.

Exit: ``#`` (or the menu going unanswered, or the caller hanging up) applies the session's
changes in one ``ApplyChanges``, then ``MailboxChanged`` (also when nothing changed, as Asterisk
republishes MWI after every session), then ``Hangup`` unless the caller is gone. Changes name
messages by ``msg_id`` and are worked out on the :class:`MailboxView` snapshot, so messages
deposited meanwhile are never touched. As in Asterisk, leaving a folder settles it: deleted
messages go, saved ones move to their folder and heard INBOX/Urgent ones to Old
(``moveheard``), so a caller who changes to Old finds the messages just heard there.

Playback position. A message plays as ``Play([MessageAudio(offset=o)])`` issued at time ``s``
(the ``now`` of the event it answers). A key that cuts it at time ``t`` finds the position
``o + (t - s)``, clamped to ``[0, duration]`` when the duration is known; the
``PlaybackFinished(interrupted=True)`` that follows the key carries nothing more and is only
counted off. Fast-forward (``#``) and rewind (``*``) move the position by ``skipms`` and play
again from there (forward past the end ends the message); ``2`` plays from 0; ``0`` pauses at
the position and ``0`` again resumes there; ``1``, ``3``-``9`` stop and act as menu keys.

Where Asterisk's code does something no caller could want, this flow does the evident thing
and says so: ``4`` from the first INBOX message plays the *last* Urgent message (Asterisk plays
the one before it); the folder list is recited at most three times when no key comes (Asterisk
loops forever); a key resets the count of unanswered menus (Asterisk counts them over the whole
call). Messages are not "saved" by copying: a saved message moves, and ``7`` on it cancels the
move. Not offered here: prepending to a forwarded message (``1`` of the forward options says
``vm-sorry``), reply, callback, dial-out and compose (``vm-sorry``), the new-user wizard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Literal

from harness.core.mailbox import DEFAULT_CONTEXT, MailboxId
from harness.voicemail.flows.callflow import (
    Action,
    ApplyChanges,
    CallStarted,
    ChangePin,
    CopyMessage,
    DigitPressed,
    DiscardRecording,
    Event,
    Greeting,
    Hangup,
    HungUp,
    LoadMailbox,
    Log,
    MailboxChanged,
    MailboxLoaded,
    MailboxView,
    MessageAudio,
    MessageChange,
    MessageRef,
    Pause,
    Play,
    Playable,
    PlaybackFinished,
    Prompt,
    Record,
    Recording,
    RecordingFinished,
    RemoveGreeting,
    StoreGreeting,
    TimerFired,
)

#: Every DTMF key; what ``ast_play_and_wait()`` lets cut a prompt short.
ANY_KEY = "0123456789*#ABCD"
#: The folders behind keys 0-9 of the folder menus, as app_voicemail numbers them.
FOLDERS = ("INBOX", "Old", "Work", "Family", "Friends", "Cust1", "Cust2", "Cust3", "Cust4", "Cust5")
URGENT = "Urgent"
INBOX = "INBOX"
OLD = "Old"

#: Seconds the menus wait for a key after their prompts (``ast_waitfordigit(chan, 6000)``).
MENU_WAIT = 6.0
#: How many times the main menu is played before an unanswered call is ended.
MENU_PLAYS = 3
#: Unanswered rounds a sub-menu allows before it gives up (Asterisk's ``retries > 3``).
SUBMENU_TIMEOUTS = 3
#: The folder list: a pause after each folder, the wait after ``vm-tocancel``, and how many
#: times it is recited before the choice counts as cancelled.
FOLDER_GAP = 0.5
FOLDER_WAIT = 4.0
FOLDER_ROUNDS = 3
#: How many times ``vm-extension`` is asked when forwarding before giving up.
FORWARD_ATTEMPTS = 4
#: Longest digit entry read (Asterisk's buffers hold 79 characters).
MAX_ENTRY = 79

_DTMF = frozenset(ANY_KEY)
_FOLDER_KEYS = "0123456789#"


def _p(*names: str) -> list[Playable]:
    return [Prompt(name) for name in names]


@dataclass(frozen=True, slots=True)
class RetrieveOptions:
    """How the retrieval menu behaves: voicemail.conf settings and ``VoiceMailMain`` options.

    Defaults are app_voicemail's. ``skip_password`` is option ``s`` (no PIN for a mailbox
    known from the request). ``saycid`` says the caller in the envelope; ``saydurationm`` is
    the shortest duration, in minutes, worth saying. ``maxgreet``/``maxsilence`` (seconds, 0
    no limit) and ``silencethreshold`` shape greeting recordings. ``timezone`` is the one the
    envelope's date is said in. The ``*_key``/``stop_keys`` fields are voicemail.conf's
    ``listen-control-*-key`` settings for a message playing.
    """

    maxlogins: int = 3
    skip_password: bool = False
    moveheard: bool = True
    skipms: int = 3000
    envelope: bool = True
    sayduration: bool = True
    saydurationm: int = 2
    saycid: bool = False
    nextaftercmd: bool = False
    messagewrap: bool = False
    minpassword: int = 0
    maxgreet: float = 0
    maxsilence: float = 0
    silencethreshold: int = 128
    tempgreetwarn: bool = False
    first_digit_timeout: float = 10.0
    digit_timeout: float = 2.0
    default_context: str = DEFAULT_CONTEXT
    timezone: tzinfo = UTC
    forward_key: str = "#"
    reverse_key: str = "*"
    pause_key: str = "0"
    restart_key: str = "2"
    stop_keys: str = "13456789"

    def __post_init__(self) -> None:
        if not self.maxlogins >= 1:
            raise ValueError(f"RetrieveOptions.maxlogins must be 1 or more, not {self.maxlogins!r}")
        for name in ("skipms", "saydurationm", "minpassword", "maxgreet", "maxsilence"):
            value = getattr(self, name)
            # ``not >=`` also refuses NaN.
            if not value >= 0:
                raise ValueError(f"RetrieveOptions.{name} must be 0 or more, not {value!r}")
        for name in ("first_digit_timeout", "digit_timeout"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"RetrieveOptions.{name} must be more than 0, not {value!r}")
        for name in ("forward_key", "reverse_key", "pause_key", "restart_key"):
            value = getattr(self, name)
            if len(value) != 1 or value not in _DTMF:
                raise ValueError(f"RetrieveOptions.{name} must be one DTMF key, not {value!r}")
        if not set(self.stop_keys) <= _DTMF:
            raise ValueError(f"RetrieveOptions.stop_keys must be DTMF keys, not {self.stop_keys!r}")
        try:
            MailboxId("0", self.default_context)
        except ValueError as error:
            raise ValueError(f"RetrieveOptions.default_context: {error}") from None

    @property
    def listen_keys(self) -> str:
        """The keys that act while a message plays."""
        keys = self.forward_key + self.reverse_key + self.pause_key + self.restart_key
        return keys + self.stop_keys


# -- what numbers, dates and callers sound like (English, as Asterisk's say.c) -----------------


def say_number(number: int) -> list[Prompt]:
    """``number`` as ``ast_say_number()`` says it: ``digits/0``-``digits/20``, tens + units,
    ``digits/hundred``, ``digits/thousand``, ``digits/million`` (no "and")."""
    if not 0 <= number < 1_000_000_000:
        raise ValueError(f"cannot say {number!r}: only 0 to 999999999")
    if number == 0:
        return [Prompt("digits/0")]
    said: list[Prompt] = []
    while number:
        if number < 20:
            said.append(Prompt(f"digits/{number}"))
            number = 0
        elif number < 100:
            said.append(Prompt(f"digits/{number // 10 * 10}"))
            number %= 10
        elif number < 1000:
            said += [Prompt(f"digits/{number // 100}"), Prompt("digits/hundred")]
            number %= 100
        elif number < 1_000_000:
            said += [*say_number(number // 1000), Prompt("digits/thousand")]
            number %= 1000
        else:
            said += [*say_number(number // 1_000_000), Prompt("digits/million")]
            number %= 1_000_000
    return said


def say_ordinal(number: int) -> list[Prompt]:
    """``number`` (1-99) as ``ast_say_enumeration()`` says it: ``digits/h-1``… ``digits/h-20``,
    ``digits/20`` + ``digits/h-1``, ``digits/h-30``…"""
    if not 1 <= number < 100:
        raise ValueError(f"cannot say ordinal {number!r}: only 1 to 99")
    if number <= 20 or number % 10 == 0:
        return [Prompt(f"digits/h-{number}")]
    return [Prompt(f"digits/{number // 10 * 10}"), Prompt(f"digits/h-{number % 10}")]


def say_digits(text: str) -> list[Prompt]:
    """``text`` digit by digit, as ``ast_say_digit_str()``: ``*`` and ``#`` are ``digits/star``
    and ``digits/pound``; other characters are skipped."""
    names = {"*": "digits/star", "#": "digits/pound"}
    return [
        Prompt(names.get(char, f"digits/{char}"))
        for char in text
        if char.isdigit() or char in names
    ]


def _say_year(year: int) -> list[Prompt]:
    if year >= 2000:
        return say_number(year)
    if year <= 1900:
        return []  # Asterisk stays silent about such years
    if year <= 1909:
        return [Prompt("digits/19"), Prompt("digits/oh"), Prompt(f"digits/{year - 1900}")]
    if year <= 1920:
        return [Prompt("digits/19"), Prompt(f"digits/{year - 1900}")]
    return [Prompt("digits/19"), *say_number(year - 1900)]


def _say_minute(minute: int) -> list[Prompt]:
    if minute == 0:
        return [Prompt("digits/oclock")]
    if minute < 10:
        return [Prompt("digits/oh"), Prompt(f"digits/{minute}")]
    return say_number(minute)


def say_received(origtime: int, now: float | None, timezone: tzinfo) -> list[Prompt]:
    """When a message came, as app_voicemail's envelope says it in English: the format
    ``'vm-received' q 'digits/at' IMp``.

    ``q`` says nothing for today, ``digits/yesterday``, the weekday within the last six days,
    else weekday, month, day and year; with ``now`` unknown the full date is always said.
    """
    when = datetime.fromtimestamp(origtime, timezone)
    full = [
        Prompt(f"digits/day-{(when.weekday() + 1) % 7}"),
        Prompt(f"digits/mon-{when.month - 1}"),
        *say_ordinal(when.day),
        *_say_year(when.year),
    ]
    said: list[Prompt] = [Prompt("vm-received")]
    if now is None:
        said += full
    else:
        today = datetime.fromtimestamp(now, timezone)
        midnight = now - (today.hour * 3600 + today.minute * 60 + today.second)
        if midnight < origtime:
            pass
        elif midnight - 86400 < origtime:
            said.append(Prompt("digits/yesterday"))
        elif midnight - 86400 * 6 < origtime:
            said.append(full[0])
        else:
            said += full
    hour = when.hour % 12 or 12
    said += [Prompt("digits/at"), Prompt(f"digits/{hour}"), *_say_minute(when.minute)]
    said.append(Prompt("digits/p-m" if when.hour > 11 else "digits/a-m"))
    return said


def caller_number(callerid: str) -> str:
    """The number in a ``callerid=`` value, as ``ast_callerid_parse()`` finds it: inside
    ``<…>``, or the whole value when it is a phone number; ``""`` when there is none."""
    text = callerid.strip()
    if "<" in text and ">" in text.partition("<")[2]:
        return text.partition("<")[2].partition(">")[0].strip()
    shrunk = "".join(char for char in text if char not in " -().")
    if shrunk and all(char.isdigit() or char in "*#+" for char in shrunk):
        return shrunk
    return ""


def say_caller(callerid: str) -> list[Prompt]:
    """Who left a message: ``vm-from-phonenumber`` + its digits, or ``vm-unknown-caller``."""
    number = caller_number(callerid)
    if not number or number == "Unknown":
        return [Prompt("vm-unknown-caller")]
    return [Prompt("vm-from-phonenumber"), *say_digits(number)]


def folder_name(folder: str) -> list[Prompt]:
    """A folder as the menus name it: ``vm-<Folder>`` ``vm-messages``."""
    return [Prompt(f"vm-{folder}"), Prompt("vm-messages")]


def _messages(count: int) -> Prompt:
    return Prompt("vm-message" if count == 1 else "vm-messages")


# -- the flow ----------------------------------------------------------------------------------

_Step = Callable[[float], list[Action]]
_KeyStep = Callable[[str, float], list[Action]]
_Loaded = Callable[[MailboxView | None, float], list[Action]]
_Back = Callable[[float, Sequence[Playable]], list[Action]]
GreetingKind = Literal["unavail", "busy", "temp", "greet"]


class Retrieval:
    """One caller at the retrieval menu. Implements
    :class:`~harness.voicemail.flows.callflow.CallFlow`.

    ``mailbox``: the mailbox the request named (X-Voicemail headers, the caller's own box), or
    None to ask for it. ``caller``: the caller's number, used for an empty mailbox entry.
    ``call_time``: the wall-clock (Unix) time of :class:`CallStarted`, which lets the envelope
    say "yesterday" and weekdays; without it dates are said in full.
    """

    def __init__(
        self,
        options: RetrieveOptions,
        mailbox: MailboxId | None = None,
        caller: str | None = None,
        *,
        call_time: float | None = None,
    ) -> None:
        self._opts = options
        self._requested = mailbox
        self._caller = caller or None
        self._context = mailbox.context if mailbox is not None else options.default_context
        self._call_time = call_time
        self._started: float | None = None
        self._state = "idle"
        self._finished = False
        # What the flow waits for: the end of its Plays, a key, a deadline, a mailbox, a recording.
        self._plays = 0
        self._interrupt = ""
        self._after_play: _Step | None = None
        self._on_key: _KeyStep | None = None
        self._held: list[str] = []
        self._deadline: float | None = None
        self._on_timeout: _Step | None = None
        self._loading: MailboxId | None = None
        self._on_loaded: _Loaded | None = None
        self._recording = False
        self._on_recorded: Callable[[RecordingFinished], list[Action]] | None = None
        self._entry = ""
        # Login.
        self._failures = 0
        # The mailbox, once logged in: the snapshot and how the session has rearranged it.
        self._view: MailboxView | None = None
        self._refs: dict[str, MessageRef] = {}
        self._folders: dict[str, list[str]] = {}
        self._greetings: set[str] = set()
        self._folder = URGENT
        self._ids: list[str] = []
        self._cur = 0
        self._starting = True
        self._deleted: set[str] = set()
        self._heard: set[str] = set()
        self._saved: dict[str, str] = {}
        self._closed = False
        # Menus.
        self._repeats = 0
        self._help = False
        self._rounds = 0
        self._audio_start = 0.0
        self._audio_offset = 0.0
        self._paused_at = 0.0
        self._new_pin = ""

    # -- CallFlow ----------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """Whether the call is over for this flow."""
        return self._finished

    @property
    def state(self) -> str:
        """Where the caller is, for logs and tests: ``login-pin``, ``menu``, ``message``…"""
        return self._state

    def next_timer(self) -> float | None:
        """When the flow wants :class:`TimerFired`, or None."""
        return None if self._finished else self._deadline

    def handle(self, event: Event) -> list[Action]:
        """Take one event; return what to do, in order."""
        if isinstance(event, DigitPressed) and (len(event.key) != 1 or event.key not in _DTMF):
            raise ValueError(f"DigitPressed key {event.key!r} is not one of {ANY_KEY}")
        if self._finished:
            return []
        if isinstance(event, HungUp):
            return self._hung_up()
        if isinstance(event, CallStarted):
            if self._started is not None:
                return []
            self._started = event.now
            return [Log("START", "VoiceMailMain started"), *self._begin(event.now)]
        if self._started is None:
            return []
        if isinstance(event, DigitPressed):
            return self._flush(self._key(event.key, event.now), event.now)
        if isinstance(event, PlaybackFinished):
            return self._played(event.now)
        if isinstance(event, TimerFired):
            return self._timer(event.now)
        if isinstance(event, MailboxLoaded):
            return self._loaded(event)
        if isinstance(event, RecordingFinished):
            return self._recorded(event)
        return []

    # -- the machinery: plays, keys, deadlines -----------------------------------------------

    def _play(
        self,
        items: Iterable[Playable],
        then: _Step | None,
        now: float,
        on_key: _KeyStep | None = None,
        interrupt: str = ANY_KEY,
    ) -> list[Action]:
        """Play ``items``; keys in ``interrupt`` go to ``on_key`` (none if it is None);
        ``then`` follows when the play ends by itself."""
        items = tuple(items)
        self._on_key = on_key
        self._deadline = self._on_timeout = None
        if not items:
            return then(now) if then is not None else []
        self._plays += 1
        self._after_play = then
        self._interrupt = interrupt if on_key is not None else ""
        return [Play(items, self._interrupt)]

    def _ask(
        self,
        items: Iterable[Playable],
        now: float,
        on_key: _KeyStep,
        on_timeout: _Step,
        wait: float,
    ) -> list[Action]:
        """Play ``items`` (any key cuts them), then wait ``wait`` seconds for a key."""
        return self._play(items, lambda t: self._arm(t + wait, on_timeout), now, on_key)

    def _read(self, items: Iterable[Playable], now: float, then: _KeyStep) -> list[Action]:
        """``ast_readstring()``: play ``items`` and read digits ended by ``#``, by
        ``first_digit_timeout`` without a digit after the prompt or ``digit_timeout`` between
        digits; ``then`` gets the digits (``#`` not included)."""
        self._entry = ""

        def done(t: float) -> list[Action]:
            return then(self._entry, t)

        def on_key(key: str, t: float) -> list[Action]:
            if key == "#":
                return done(t)
            self._entry += key
            if len(self._entry) >= MAX_ENTRY:
                return done(t)
            return self._arm(t + self._opts.digit_timeout, done)

        return self._play(
            items, lambda t: self._arm(t + self._opts.first_digit_timeout, done), now, on_key
        )

    def _arm(self, deadline: float, then: _Step) -> list[Action]:
        self._deadline, self._on_timeout = deadline, then
        return []

    def _key(self, key: str, now: float) -> list[Action]:
        if self._loading is not None or (self._plays and key not in self._interrupt):
            # The key waits for the play (or the lookup) to end, as a channel buffers it.
            self._held.append(key)
            return []
        handler = self._on_key
        if handler is None:
            return []
        self._after_play = None
        self._deadline = self._on_timeout = None
        return handler(key, now)

    def _flush(self, actions: list[Action], now: float) -> list[Action]:
        """Deliver keys held back while the flow could not take them."""
        if self._loading is None and not self._plays and self._held:
            held, self._held = self._held, []
            for key in held:
                if self._finished:
                    break
                actions += self._key(key, now)
        return actions

    def _played(self, now: float) -> list[Action]:
        if self._plays:
            self._plays -= 1
        if self._plays:
            return []  # a play cut short by a key already handled
        then, self._after_play = self._after_play, None
        return self._flush(then(now) if then is not None else [], now)

    def _timer(self, now: float) -> list[Action]:
        # _play clears the deadline, so one that is due never waits on a live play (at most on
        # the PlaybackFinished of one a key already cut).
        if self._deadline is None or now < self._deadline:
            return []
        then = self._on_timeout
        self._deadline = self._on_timeout = None
        return self._flush(then(now) if then is not None else [], now)

    def _load(self, mailbox: MailboxId, then: _Loaded, state: str) -> list[Action]:
        self._state = state
        self._on_key = None
        self._loading, self._on_loaded = mailbox, then
        return [LoadMailbox(mailbox)]

    def _loaded(self, event: MailboxLoaded) -> list[Action]:
        if self._on_loaded is None or event.mailbox != self._loading:
            return []
        then = self._on_loaded
        self._loading = self._on_loaded = None
        return self._flush(then(event.view, event.now), event.now)

    def _wall(self, now: float) -> float | None:
        if self._call_time is None or self._started is None:
            return None
        return self._call_time + (now - self._started)

    # -- login -------------------------------------------------------------------------------

    def _begin(self, now: float) -> list[Action]:
        if self._requested is None:
            return self._ask_mailbox(now, first=True)
        return self._load(self._requested, self._requested_loaded, "login-load")

    def _requested_loaded(self, view: MailboxView | None, now: float) -> list[Action]:
        if view is None:
            # Asterisk asks for a mailbox when the one it was given does not exist.
            return self._ask_mailbox(now, first=True)
        if self._opts.skip_password or view.pin is None:
            return self._authenticated(view, now)
        return self._ask_pin(view, now, known=True)

    def _ask_mailbox(self, now: float, *, first: bool) -> list[Action]:
        self._state = "login-mailbox"
        prompt = "vm-login" if first else "vm-incorrect-mailbox"
        return self._read(_p(prompt), now, self._mailbox_entered)

    def _mailbox_entered(self, entry: str, now: float) -> list[Action]:
        if not entry:
            if self._caller is None:
                # Nothing entered and no caller number: Asterisk gives up without a word.
                return self._end([Log("HANGUP", "no mailbox entered"), Hangup()])
            entry = self._caller
        try:
            mailbox = MailboxId(entry, self._context)
        except ValueError:
            return self._ask_pin(None, now, known=False)
        return self._load(mailbox, self._entered_loaded, "login-load")

    def _entered_loaded(self, view: MailboxView | None, now: float) -> list[Action]:
        if view is not None and view.pin is None:
            return self._check(view, "", now, known=False)
        return self._ask_pin(view, now, known=False)

    def _ask_pin(self, view: MailboxView | None, now: float, *, known: bool) -> list[Action]:
        self._state = "login-pin"
        return self._read(
            _p("vm-password"), now, lambda pin, t: self._check(view, pin, t, known=known)
        )

    def _check(
        self, view: MailboxView | None, pin: str, now: float, *, known: bool
    ) -> list[Action]:
        if view is not None and (view.pin is None or pin == view.pin):
            return self._authenticated(view, now)
        self._failures += 1
        self._state = "login-failed"
        if self._failures >= self._opts.maxlogins:
            return self._play(
                _p("vm-incorrect", "vm-goodbye"),
                lambda t: self._end([Log("HANGUP", "too many failed logins"), Hangup()]),
                now,
            )
        if known:
            return self._play(_p("vm-incorrect"), lambda t: self._ask_pin(view, t, known=True), now)
        return self._ask_mailbox(now, first=False)

    def _authenticated(self, view: MailboxView, now: float) -> list[Action]:
        self._view = view
        self._refs = {ref.msg_id: ref for _, refs in view.folders for ref in refs}
        self._folders = {name: [ref.msg_id for ref in refs] for name, refs in view.folders}
        self._greetings = set(view.greetings)
        urgent, new, old = (len(view.messages(name)) for name in (URGENT, INBOX, OLD))
        if urgent or not (new or old):
            self._open(URGENT)  # Asterisk opens Urgent for an empty mailbox too
        else:
            self._open(INBOX if new else OLD)
        intro: list[Playable] = []
        if self._opts.tempgreetwarn and "temp" in self._greetings:
            intro.append(Prompt("vm-tempgreetactive"))
        intro.append(Prompt("vm-youhave"))
        if urgent:
            intro += [*say_number(urgent), Prompt("vm-Urgent")]
            intro.append(Prompt("vm-and") if new or old else _messages(urgent))
        if new:
            intro += [*say_number(new), Prompt("vm-INBOX")]
            intro.append(Prompt("vm-and") if old else _messages(new))
        if old:
            intro += [*say_number(old), Prompt("vm-Old"), _messages(old)]
        if not (urgent or new or old):
            intro += _p("vm-no", "vm-messages")
        logs: list[Action] = [
            Log("AUTHENTICATED", f"mailbox {view.mailbox}"),
            Log("INTRO", f"{urgent} urgent, {new} new, {old} old"),
        ]
        return logs + self._menu(now, intro)

    # -- folders and what happens to messages -------------------------------------------------

    def _open(self, folder: str) -> None:
        self._folder = folder
        self._ids = list(self._folders.get(folder, ()))
        self._cur = 0
        self._starting = True
        self._deleted, self._heard, self._saved = set(), set(), {}

    def _close(self) -> None:
        """Settle the open folder as ``close_mailbox()`` does."""
        keep: list[str] = []
        for msg_id in self._ids:
            if msg_id in self._deleted:
                continue
            target = self._saved.get(msg_id)
            if (
                target is None
                and msg_id in self._heard
                and self._opts.moveheard
                and self._folder in (INBOX, URGENT)
            ):
                target = OLD
            if target is None or target == self._folder:
                keep.append(msg_id)
            else:
                self._folders.setdefault(target, []).append(msg_id)
        self._folders[self._folder] = keep
        self._ids = []

    def _changes(self) -> tuple[MessageChange, ...]:
        if not self._closed:
            self._close()
            self._closed = True
        now_in = {msg_id: folder for folder, ids in self._folders.items() for msg_id in ids}
        changes = []
        for msg_id, ref in self._refs.items():
            folder = now_in.get(msg_id)
            if folder != ref.folder:
                changes.append(MessageChange(msg_id, folder))
        return tuple(changes)

    def _settle(self) -> list[Action]:
        assert self._view is not None
        mailbox = self._view.mailbox
        return [ApplyChanges(mailbox, self._changes()), MailboxChanged(mailbox)]

    def _count(self, folder: str) -> int:
        if folder == self._folder:
            return sum(1 for msg_id in self._ids if msg_id not in self._deleted)
        return len(self._folders.get(folder, ()))

    @property
    def _last(self) -> int:
        return len(self._ids) - 1

    def _current(self) -> MessageRef | None:
        if 0 <= self._cur < len(self._ids):
            return self._refs[self._ids[self._cur]]
        return None

    def _marked(self, msg_id: str) -> bool:
        # Asterisk marks a saved message deleted (its copy lives in the other folder).
        return msg_id in self._deleted or msg_id in self._saved

    # -- the main menu -----------------------------------------------------------------------

    def _instructions(self, help_: bool) -> list[Playable]:
        """``vm_instructions_en()``: what the keys do now (``help_``: the long form)."""
        onefor, opts = ("vm-onefor-full", "vm-opts-full") if help_ else ("vm-onefor", "vm-opts")
        said: list[Playable] = []
        if self._starting:
            if self._ids:
                said += [Prompt(onefor), *folder_name(self._folder)]
            said.append(Prompt(opts))
        else:
            in_urgent = self._folder == URGENT
            wrap = self._opts.messagewrap and self._last > 0
            if help_:
                said += [Prompt(onefor), *folder_name(self._folder), Prompt(opts)]
            if self._cur or (not in_urgent and self._count(URGENT)) or wrap:
                said.append(Prompt("vm-prev"))
            if not help_:
                said.append(Prompt("vm-advopts"))
            said.append(Prompt("vm-repeat"))
            if self._cur != self._last or (in_urgent and self._count(INBOX)) or wrap:
                said.append(Prompt("vm-next"))
            current = self._current()
            marked = current is not None and self._marked(current.msg_id)
            said += _p("vm-undelete" if marked else "vm-delete", "vm-toforward", "vm-savemessage")
        said.append(Prompt("vm-helpexit"))
        return said

    def _menu(
        self, now: float, prefix: Sequence[Playable] = (), *, help_: bool = False
    ) -> list[Action]:
        """Say ``prefix`` and the instructions, then wait for a menu key."""
        self._state = "menu"
        self._help = help_
        items = [*prefix, *self._instructions(help_)]
        return [
            Log("PLAYBACK", "instructions"),
            *self._ask(items, now, self._command, self._menu_unanswered, MENU_WAIT),
        ]

    def _menu_unanswered(self, now: float) -> list[Action]:
        self._repeats += 1
        if self._repeats >= MENU_PLAYS:
            return [Log("TIMEOUT", "no key at the main menu"), *self._goodbye(now)]
        return self._menu(now, help_=self._help)

    def _command(self, key: str, now: float) -> list[Action]:
        self._repeats = 0
        actions: list[Action] = [Log("USERPRESS", f"DTMF: {key}")]
        if key == "1":
            self._cur = 0
            return actions + self._browse(now)
        handlers: dict[str, _Step] = {
            "5": self._browse,
            "2": self._change_folder,
            "3": self._advanced,
            "4": self._previous,
            "6": self._next,
            "7": self._delete,
            "8": self._forward,
            "9": self._save,
            "*": self._help_menu,
            "0": self._options,
            "#": self._goodbye,
        }
        handler = handlers.get(key, self._menu)
        return actions + handler(now)

    def _goodbye(self, now: float) -> list[Action]:
        self._state = "goodbye"
        return self._play(_p("vm-goodbye"), lambda t: self._end([*self._settle(), Hangup()]), now)

    def _end(self, actions: list[Action]) -> list[Action]:
        self._finished = True
        self._state = "done"
        self._deadline = self._on_timeout = None
        return actions

    def _hung_up(self) -> list[Action]:
        actions: list[Action] = [Log("HANGUP", "caller hung up")]
        if self._recording:
            self._recording = False
            actions.append(DiscardRecording())
        if self._view is not None:
            actions += self._settle()
        return self._end(actions)

    # -- playing messages --------------------------------------------------------------------

    def _browse(self, now: float) -> list[Action]:
        log = Log("BROWSE", f"message {self._cur}")
        if not self._ids:
            said = [*_p("vm-youhave", "vm-no"), *folder_name(self._folder)]
            return [log, *self._menu(now, said)]
        return [log, *self._play_message(now)]

    def _play_message(self, now: float, prefix: Sequence[Playable] = ()) -> list[Action]:
        """``play_message()``: the announcement (any key cuts it; ``1`` skips to the message),
        then the message itself."""
        if self._current() is None:
            self._cur = 0
        ref = self._current()
        assert ref is not None
        self._starting = False
        self._state = "message"
        said: list[Playable] = list(prefix)
        if self._cur == 0:
            said.append(Prompt("vm-first"))
        elif self._cur == self._last:
            said.append(Prompt("vm-last"))
        if ref.urgent:
            said.append(Prompt("vm-Urgent"))
        said.append(Prompt("vm-message"))
        if self._cur not in (0, self._last):
            said += say_number(self._cur + 1)
        if self._opts.envelope:
            said += say_received(ref.origtime, self._wall(now), self._opts.timezone)
        if self._opts.saycid:
            said += say_caller(ref.callerid)
        minutes = ref.duration // 60
        if self._opts.sayduration and minutes >= self._opts.saydurationm:
            said += [Prompt("vm-duration"), *say_number(minutes), Prompt("vm-minutes")]
        return self._play(said, lambda t: self._listen(t, 0.0), now, self._announcement_key)

    def _announcement_key(self, key: str, now: float) -> list[Action]:
        if key == "1":
            return [Log("USERPRESS", "DTMF: 1"), *self._listen(now, 0.0)]
        return self._command(key, now)

    def _listen(self, now: float, offset: float, *, first: bool = True) -> list[Action]:
        ref = self._current()
        assert ref is not None
        assert self._view is not None
        actions: list[Action] = []
        if first:
            self._heard.add(ref.msg_id)
            actions.append(Log("PLAYVOICE", f"{ref.folder}/{ref.msg_id}"))
        self._state = "message"
        self._audio_start, self._audio_offset = now, offset
        audio = MessageAudio(self._view.mailbox, ref.folder, ref.msg_id, offset)
        return actions + self._play(
            [audio], self._menu, now, self._listen_key, self._opts.listen_keys
        )

    def _position(self, now: float) -> float:
        ref = self._current()
        position = self._audio_offset + max(0.0, now - self._audio_start)
        if ref is not None and ref.duration > 0:
            position = min(position, float(ref.duration))
        return position

    def _listen_key(self, key: str, now: float) -> list[Action]:
        opts = self._opts
        ref = self._current()
        position = self._position(now)
        skip = opts.skipms / 1000
        if key == opts.forward_key:
            ahead = position + skip
            if ref is not None and ref.duration > 0 and ahead >= ref.duration:
                return self._menu(now)  # past the end: the message is over
            return self._listen(now, ahead, first=False)
        if key == opts.reverse_key:
            return self._listen(now, max(0.0, position - skip), first=False)
        if key == opts.restart_key:
            return self._listen(now, 0.0, first=False)
        if key == opts.pause_key:
            self._state = "paused"
            self._paused_at = position
            self._on_key = self._paused_key
            return []
        if key in opts.stop_keys:
            return self._command(key, now)
        return self._listen(now, position, first=False)

    def _paused_key(self, key: str, now: float) -> list[Action]:
        if key == self._opts.pause_key:
            return self._listen(now, self._paused_at, first=False)
        if key in self._opts.stop_keys:
            return self._command(key, now)
        return []  # other keys do nothing while paused

    # -- navigation, delete, save ------------------------------------------------------------

    def _nomore(self, now: float, prefix: Sequence[Playable] = ()) -> list[Action]:
        return self._menu(now, [*prefix, Prompt("vm-nomore")])

    def _previous(self, now: float) -> list[Action]:
        log = Log("PREVMSG", f"message {self._cur - 1}")
        if self._cur > 0:
            self._cur -= 1
            return [log, *self._play_message(now)]
        if self._folder != URGENT and self._count(URGENT):
            self._close()
            self._open(URGENT)
            self._cur = self._last
            return [log, *self._play_message(now)]
        if self._opts.messagewrap and self._last > 0:
            self._cur = self._last
            return [log, *self._play_message(now)]
        return [log, *self._nomore(now)]

    def _next(self, now: float) -> list[Action]:
        log = Log("PREVMSG", f"message {self._cur + 1}")  # Asterisk's name for 6 as well
        if self._cur < self._last:
            self._cur += 1
            return [log, *self._play_message(now)]
        if self._folder == URGENT and self._count(INBOX):
            self._close()
            self._open(INBOX)
            return [log, *self._play_message(now)]
        if self._opts.messagewrap and self._last > 0:
            self._cur = 0
            return [log, *self._play_message(now)]
        return [log, *self._nomore(now)]

    def _after_command(self, now: float, said: Sequence[Playable]) -> list[Action]:
        """What follows a delete or a save: the next message with ``nextaftercmd``."""
        if not self._opts.nextaftercmd:
            return self._menu(now, said)
        if self._cur < self._last:
            self._cur += 1
            return self._play_message(now, said)
        if self._opts.messagewrap and self._last > 0:
            self._cur = 0
            return self._play_message(now, said)
        if self._folder == URGENT and self._count(INBOX):
            self._close()
            self._open(INBOX)
            return self._menu(now, said)
        return self._nomore(now, said)

    def _delete(self, now: float) -> list[Action]:
        ref = self._current()
        if ref is None:
            return self._menu(now)
        if self._marked(ref.msg_id):
            self._deleted.discard(ref.msg_id)
            self._saved.pop(ref.msg_id, None)
            said = "vm-undeleted"
        else:
            self._deleted.add(ref.msg_id)
            said = "vm-deleted"
        return [Log("DELETE", f"{said[3:]} {ref.msg_id}"), *self._after_command(now, _p(said))]

    def _folder_menu(self, now: float, prompt: str, then: _KeyStep) -> list[Action]:
        """``get_folder2()``: ``prompt``, then the folder list until a key 0-9 or ``#``."""
        self._rounds = 0
        self._state = "folder-select"

        def on_key(key: str, t: float) -> list[Action]:
            if key in _FOLDER_KEYS:
                return [Log("USERPRESS", f"DTMF: {key}"), *then(key, t)]
            return recite(t)

        def recite(t: float) -> list[Action]:
            self._rounds += 1
            if self._rounds > FOLDER_ROUNDS:
                return then("#", t)
            said: list[Playable] = [Prompt("vm-press")]
            for index, folder in enumerate(FOLDERS[:5]):
                said += [*say_number(index), Prompt("vm-for"), *folder_name(folder)]
                said.append(Pause(FOLDER_GAP))
            said.append(Prompt("vm-tocancel"))
            return self._ask(said, t, on_key, recite, FOLDER_WAIT)

        return self._play(_p(prompt), recite, now, on_key)

    def _change_folder(self, now: float) -> list[Action]:
        return [
            Log("CHANGEFOLDER", "browsing to a different folder"),
            *self._folder_menu(now, "vm-changeto", self._changed_folder),
        ]

    def _changed_folder(self, key: str, now: float) -> list[Action]:
        if key != "#":
            self._close()
            self._open(FOLDERS[int(key)])
        self._starting, self._cur = True, 0
        return self._menu(now, folder_name(self._folder))

    def _save(self, now: float) -> list[Action]:
        log = Log("SAVEMSG", f"message {self._cur}")
        if self._current() is None:
            return [log, *self._menu(now)]
        return [log, *self._folder_menu(now, "vm-savefolder", self._saved_to)]

    def _saved_to(self, key: str, now: float) -> list[Action]:
        ref = self._current()
        if key == "#" or ref is None:
            return self._menu(now)
        folder = FOLDERS[int(key)]
        self._saved[ref.msg_id] = folder
        self._deleted.discard(ref.msg_id)
        said = [
            Prompt("vm-message"),
            *say_number(self._cur + 1),
            Prompt("vm-savedto"),
            *folder_name(folder),
        ]
        return self._after_command(now, said)

    def _help_menu(self, now: float) -> list[Action]:
        if self._starting:
            return self._menu(now)
        said = [Prompt("vm-onefor"), *folder_name(self._folder), Prompt("vm-opts")]
        return self._menu(now, said, help_=True)

    # -- advanced options (3) ------------------------------------------------------------------

    def _advanced(self, now: float, *, first: bool = True) -> list[Action]:
        self._state = "advanced"
        actions: list[Action] = []
        if first:
            self._rounds = 0
            actions.append(Log("ADVOPTIONS", "entering advanced options menu"))
        said: list[Playable] = []
        if not self._starting:
            said += _p("vm-toreply", "vm-tohearenv")
        said.append(Prompt("vm-starmain"))
        return actions + self._ask(
            said, now, self._advanced_key, self._advanced_unanswered, MENU_WAIT
        )

    def _advanced_unanswered(self, now: float) -> list[Action]:
        self._rounds += 1
        if self._rounds > SUBMENU_TIMEOUTS:
            return self._menu(now)
        return self._advanced(now, first=False)

    def _advanced_key(self, key: str, now: float) -> list[Action]:
        log = Log("USERPRESS", f"DTMF: {key}")
        ref = self._current()
        if key == "3" and ref is not None and not self._starting:
            said = [
                *say_received(ref.origtime, self._wall(now), self._opts.timezone),
                *say_caller(ref.callerid),
            ]
            return [log, *self._play(said, self._menu, now)]
        if key in "12345":
            # Reply, call back, dial out and compose need a dialplan this server does not have.
            return [log, *self._play(_p("vm-sorry"), self._menu, now)]
        if key == "*":
            return [log, *self._menu(now)]
        self._rounds = 0
        return [log, *self._advanced(now, first=False)]

    # -- forwarding (8) ------------------------------------------------------------------------

    def _forward(self, now: float) -> list[Action]:
        if self._current() is None:
            return self._nomore(now)
        self._rounds = 0
        return [Log("FORWARD", f"message {self._cur}"), *self._ask_extension(now)]

    def _ask_extension(self, now: float, prefix: Sequence[Playable] = ()) -> list[Action]:
        self._rounds += 1
        if self._rounds > FORWARD_ATTEMPTS:
            return self._menu(now)
        self._state = "forward-extension"
        return self._read([*prefix, Prompt("vm-extension")], now, self._extensions_entered)

    def _extensions_entered(self, entry: str, now: float) -> list[Action]:
        if not entry:
            return self._ask_extension(now)
        assert self._view is not None
        wanted: list[MailboxId] = []
        for box in entry.split("*"):
            try:
                mailbox = MailboxId(box, self._context)
            except ValueError:
                return self._invalid_extension(now)
            if box == self._view.mailbox.box:
                return self._invalid_extension(now)  # not to oneself, as Asterisk
            wanted.append(mailbox)
        return self._check_extensions(now, wanted, [])

    def _check_extensions(
        self, now: float, pending: list[MailboxId], found: list[MailboxId]
    ) -> list[Action]:
        if not pending:
            # Each recipient by recorded name, else by number; then the forward options.
            said = [Greeting(mailbox, "greet", tuple(say_digits(mailbox.box))) for mailbox in found]
            self._rounds = 0
            return self._play(said, lambda t: self._forward_options(t, found), now)

        def loaded(view: MailboxView | None, t: float) -> list[Action]:
            if view is None:
                return self._invalid_extension(t)
            return self._check_extensions(t, pending[1:], [*found, pending[0]])

        return self._load(pending[0], loaded, "forward-check")

    def _invalid_extension(self, now: float) -> list[Action]:
        self._state = "forward-extension"
        return self._play(_p("pbx-invalid"), self._ask_extension, now)

    def _forward_options(self, now: float, to: list[MailboxId]) -> list[Action]:
        self._state = "forward-options"

        def on_key(key: str, t: float) -> list[Action]:
            log = Log("USERPRESS", f"DTMF: {key}")
            ref = self._current()
            if key == "2" and ref is not None and self._view is not None:
                copy = CopyMessage(self._view.mailbox, ref.folder, ref.msg_id, tuple(to))
                return [log, copy, *self._menu(t, _p("vm-msgsaved"))]
            if key == "*":
                return self._command("*", t)  # as Asterisk: the cancel key goes on to help
            self._rounds = 0
            prefix = _p("vm-sorry") if key == "1" else []  # prepending is not offered
            return [log, *self._ask([*prefix, *options], t, on_key, unanswered, MENU_WAIT)]

        def unanswered(t: float) -> list[Action]:
            self._rounds += 1
            if self._rounds > SUBMENU_TIMEOUTS:
                return self._command("*", t)
            return self._ask(options, t, on_key, unanswered, MENU_WAIT)

        options = _p("vm-forwardoptions", "vm-starmain")
        return self._ask(options, now, on_key, unanswered, MENU_WAIT)

    # -- mailbox options (0) -------------------------------------------------------------------

    def _options(self, now: float) -> list[Action]:
        self._rounds = 0
        return [Log("VMOPTIONS", "entering mailbox options"), *self._options_menu(now)]

    def _options_menu(self, now: float, prefix: Sequence[Playable] = ()) -> list[Action]:
        self._state = "options"
        said = [*prefix]
        if "temp" in self._greetings:
            said.append(Prompt("vm-tmpexists"))
        said.append(Prompt("vm-options"))
        return self._ask(said, now, self._options_key, self._options_unanswered, MENU_WAIT)

    def _options_unanswered(self, now: float) -> list[Action]:
        self._rounds += 1
        if self._rounds > SUBMENU_TIMEOUTS:
            return self._leave_options(now)
        return self._options_menu(now)

    def _leave_options(self, now: float) -> list[Action]:
        self._starting, self._cur = True, 0
        return self._menu(now)

    def _options_key(self, key: str, now: float) -> list[Action]:
        self._rounds = 0
        log = Log("USERPRESS", f"DTMF: {key}")
        greetings: dict[str, tuple[GreetingKind, str]] = {
            "1": ("unavail", "vm-rec-unv"),
            "2": ("busy", "vm-rec-busy"),
            "3": ("greet", "vm-rec-name"),
        }
        if key in greetings:
            kind, prompt = greetings[key]
            return [log, *self._record_greeting(now, kind, prompt, self._options_menu)]
        if key == "4":
            return [log, Log("TEMPGREETING", "entering temp greeting options"), *self._temp(now)]
        if key == "5":
            return [log, *self._change_pin(now)]
        if key == "*":
            return [log, *self._leave_options(now)]
        return [log, *self._options_menu(now)]

    def _temp(self, now: float, prefix: Sequence[Playable] = ()) -> list[Action]:
        if "temp" not in self._greetings:
            return self._record_greeting(now, "temp", "vm-rec-temp", self._options_menu)
        self._state = "temp-greeting"
        return self._ask(
            [*prefix, Prompt("vm-tempgreeting2")],
            now,
            self._temp_key,
            self._temp_unanswered,
            MENU_WAIT,
        )

    def _temp_unanswered(self, now: float) -> list[Action]:
        self._rounds += 1
        if self._rounds > SUBMENU_TIMEOUTS:
            return self._options_menu(now)
        return self._temp(now)

    def _temp_key(self, key: str, now: float) -> list[Action]:
        self._rounds = 0
        log = Log("USERPRESS", f"DTMF: {key}")
        if key == "1":
            return [log, *self._record_greeting(now, "temp", "vm-rec-temp", self._temp)]
        if key == "2":
            assert self._view is not None
            self._greetings.discard("temp")
            removed = RemoveGreeting(self._view.mailbox, "temp")
            return [log, removed, *self._play(_p("vm-tempremoved"), self._options_menu, now)]
        if key == "*":
            return [log, *self._options_menu(now)]
        return [log, *self._temp(now)]

    def _record_greeting(
        self, now: float, kind: GreetingKind, prompt: str, back: _Back
    ) -> list[Action]:
        """``play_record_review()`` for a greeting: ``prompt``, ``beep``, record until ``#``,
        then review: 1 keep (``vm-msgsaved``), 2 listen, 3 record again."""
        self._state = "record-greeting"
        self._rounds = 0

        def beep(t: float) -> list[Action]:
            return self._play(_p("beep"), record, t)

        def record(t: float) -> list[Action]:
            self._state = "recording"
            self._recording = True
            self._on_recorded = recorded
            opts = self._opts
            return [Record("#", opts.maxgreet, opts.maxsilence, opts.silencethreshold)]

        def recorded(event: RecordingFinished) -> list[Action]:
            self._recording = False
            if event.why == "hangup":
                return [DiscardRecording()]  # a greeting cut off by a hangup is not kept
            return review(event.now, ())

        def review(t: float, prefix: Sequence[Playable]) -> list[Action]:
            self._state = "greeting-review"
            return self._ask([*prefix, Prompt("vm-review")], t, on_key, unanswered, MENU_WAIT)

        def unanswered(t: float) -> list[Action]:
            self._rounds += 1
            if self._rounds > SUBMENU_TIMEOUTS:
                return [DiscardRecording(), *back(t, ())]
            return review(t, ())

        def on_key(key: str, t: float) -> list[Action]:
            log = Log("USERPRESS", f"DTMF: {key}")
            if key == "1":
                assert self._view is not None
                self._greetings.add(kind)
                store = StoreGreeting(self._view.mailbox, kind)
                return [log, store, *self._play(_p("vm-msgsaved"), lambda t2: back(t2, ()), t)]
            if key == "2":
                return [log, *self._play([Recording()], lambda t2: review(t2, ()), t, on_key)]
            if key == "3":
                return [log, DiscardRecording(), *start(t)]
            return [log, *review(t, _p("vm-sorry"))]

        def start(t: float) -> list[Action]:
            self._state = "record-greeting"
            # The prompt can be cut short, but the key is swallowed; the beep cannot.
            return self._play(_p(prompt), beep, t, lambda _key, t2: beep(t2))

        return start(now)

    def _recorded(self, event: RecordingFinished) -> list[Action]:
        then, self._on_recorded = self._on_recorded, None
        if then is None:
            return []
        return self._flush(then(event), event.now)

    def _change_pin(self, now: float) -> list[Action]:
        assert self._view is not None
        if not self._view.pin_changeable:
            return self._options_menu(now, _p("vm-no"))
        self._state = "pin-new"
        return self._read(_p("vm-newpassword"), now, self._first_pin)

    def _first_pin(self, pin: str, now: float) -> list[Action]:
        if len(pin) < self._opts.minpassword or pin.startswith("*"):
            return self._options_menu(now, _p("vm-invalid-password", "vm-pls-try-again"))
        self._new_pin = pin
        self._state = "pin-reenter"
        return self._read(_p("vm-reenterpassword"), now, self._second_pin)

    def _second_pin(self, pin: str, now: float) -> list[Action]:
        assert self._view is not None
        if pin != self._new_pin:
            return self._options_menu(now, _p("vm-mismatch", "vm-pls-try-again"))
        return [
            ChangePin(self._view.mailbox, pin),
            Log("PASSWORDCHANGED", f"mailbox {self._view.mailbox}"),
            *self._options_menu(now, _p("vm-passchanged")),
        ]


#: Every prompt this flow can play, for the prompt catalogue's completeness test.
PROMPTS_USED: tuple[str, ...] = tuple(
    sorted(
        {
            *(
                "beep",
                "vm-login",
                "vm-password",
                "vm-incorrect",
                "vm-incorrect-mailbox",
                "vm-goodbye",
                "vm-tempgreetactive",
                "vm-youhave",
                "vm-and",
                "vm-no",
                "vm-message",
                "vm-messages",
                "vm-onefor",
                "vm-onefor-full",
                "vm-opts",
                "vm-opts-full",
                "vm-prev",
                "vm-advopts",
                "vm-repeat",
                "vm-next",
                "vm-delete",
                "vm-undelete",
                "vm-toforward",
                "vm-savemessage",
                "vm-helpexit",
                "vm-first",
                "vm-last",
                "vm-received",
                "vm-from-phonenumber",
                "vm-unknown-caller",
                "vm-duration",
                "vm-minutes",
                "vm-nomore",
                "vm-deleted",
                "vm-undeleted",
                "vm-changeto",
                "vm-savefolder",
                "vm-press",
                "vm-for",
                "vm-tocancel",
                "vm-savedto",
                "vm-toreply",
                "vm-tohearenv",
                "vm-starmain",
                "vm-sorry",
                "vm-extension",
                "pbx-invalid",
                "vm-forwardoptions",
                "vm-msgsaved",
                "vm-options",
                "vm-tmpexists",
                "vm-tempgreeting2",
                "vm-tempremoved",
                "vm-rec-unv",
                "vm-rec-busy",
                "vm-rec-name",
                "vm-rec-temp",
                "vm-review",
                "vm-newpassword",
                "vm-reenterpassword",
                "vm-invalid-password",
                "vm-pls-try-again",
                "vm-mismatch",
                "vm-passchanged",
            ),
            *(f"vm-{folder}" for folder in (*FOLDERS, URGENT)),
            *(f"digits/{n}" for n in (*range(21), *range(30, 100, 10))),
            *(f"digits/h-{n}" for n in (*range(1, 21), 30)),
            *(f"digits/day-{n}" for n in range(7)),
            *(f"digits/mon-{n}" for n in range(12)),
            *(
                f"digits/{name}"
                for name in (
                    "hundred",
                    "thousand",
                    "million",
                    "at",
                    "yesterday",
                    "oclock",
                    "oh",
                    "a-m",
                    "p-m",
                    "star",
                    "pound",
                )
            ),
        }
    )
)
