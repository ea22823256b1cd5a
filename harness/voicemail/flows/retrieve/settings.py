"""Mailbox options (``0``): record the unavailable, busy and name greetings, manage the
temporary greeting, change the PIN."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from harness.voicemail.flows.callflow import (
    Action,
    ChangePin,
    DiscardRecording,
    Log,
    Playable,
    Prompt,
    Record,
    Recording,
    RecordingFinished,
    RemoveGreeting,
    StoreGreeting,
)
from harness.voicemail.flows.retrieve.context import Context, prompts
from harness.voicemail.flows.retrieve.options import MENU_WAIT, SUBMENU_TIMEOUTS
from harness.voicemail.flows.retrieve.state import RetrieveState

GreetingKind = Literal["unavail", "busy", "temp", "greet"]
_Back = Callable[[float, Sequence[Playable]], list[Action]]
_GREETING_KEYS: dict[str, tuple[GreetingKind, str]] = {
    "1": ("unavail", "vm-rec-unv"),
    "2": ("busy", "vm-rec-busy"),
    "3": ("greet", "vm-rec-name"),
}


class MailboxSettings:
    """The mailbox options menu, the temporary greeting menu and the PIN change."""

    def __init__(self, context: Context) -> None:
        self._c = context
        self._new_pin = ""

    def options(self, now: float) -> list[Action]:
        """``0``: the mailbox options menu."""
        self._c.rounds = 0
        return [Log("VMOPTIONS", "entering mailbox options"), *self._options_menu(now)]

    def _options_menu(self, now: float, prefix: Sequence[Playable] = ()) -> list[Action]:
        self._c.move(RetrieveState.OPTIONS)
        said = [*prefix]
        if "temp" in self._c.box.greetings:
            said.append(Prompt("vm-tmpexists"))
        said.append(Prompt("vm-options"))
        return self._c.engine.ask(said, now, self._options_key, self._options_unanswered, MENU_WAIT)

    def _options_unanswered(self, now: float) -> list[Action]:
        self._c.rounds += 1
        if self._c.rounds > SUBMENU_TIMEOUTS:
            return self._leave(now)
        return self._options_menu(now)

    def _leave(self, now: float) -> list[Action]:
        box = self._c.box
        box.starting, box.cur = True, 0
        return self._c.menus.menu(now)

    def _options_key(self, key: str, now: float) -> list[Action]:
        self._c.rounds = 0
        log = Log("USERPRESS", f"DTMF: {key}")
        if key in _GREETING_KEYS:
            kind, prompt = _GREETING_KEYS[key]
            return [log, *self._record(now, kind, prompt, self._options_menu)]
        if key == "4":
            return [log, Log("TEMPGREETING", "entering temp greeting options"), *self._temp(now)]
        if key == "5":
            return [log, *self._change_pin(now)]
        if key == "*":
            return [log, *self._leave(now)]
        return [log, *self._options_menu(now)]

    # -- the temporary greeting ----------------------------------------------------------------

    def _temp(self, now: float, prefix: Sequence[Playable] = ()) -> list[Action]:
        if "temp" not in self._c.box.greetings:
            return self._record(now, "temp", "vm-rec-temp", self._options_menu)
        self._c.move(RetrieveState.TEMP_GREETING)
        return self._c.engine.ask(
            [*prefix, Prompt("vm-tempgreeting2")],
            now,
            self._temp_key,
            self._temp_unanswered,
            MENU_WAIT,
        )

    def _temp_unanswered(self, now: float) -> list[Action]:
        self._c.rounds += 1
        if self._c.rounds > SUBMENU_TIMEOUTS:
            return self._options_menu(now)
        return self._temp(now)

    def _temp_key(self, key: str, now: float) -> list[Action]:
        self._c.rounds = 0
        log = Log("USERPRESS", f"DTMF: {key}")
        box = self._c.box
        if key == "1":
            return [log, *self._record(now, "temp", "vm-rec-temp", self._temp)]
        if key == "2":
            box.greetings.discard("temp")
            removed = RemoveGreeting(box.view.mailbox, "temp")
            played = self._c.engine.play(prompts("vm-tempremoved"), self._options_menu, now)
            return [log, removed, *played]
        if key == "*":
            return [log, *self._options_menu(now)]
        return [log, *self._temp(now)]

    def _record(self, now: float, kind: GreetingKind, prompt: str, back: _Back) -> list[Action]:
        self._c.rounds = 0
        return GreetingRecording(self._c, kind, prompt, back).start(now)

    # -- the PIN ---------------------------------------------------------------------------------

    def _change_pin(self, now: float) -> list[Action]:
        if not self._c.box.view.pin_changeable:
            return self._options_menu(now, prompts("vm-no"))
        self._c.move(RetrieveState.PIN_NEW)
        return self._c.read(prompts("vm-newpassword"), now, self._first_pin)

    def _first_pin(self, pin: str, now: float) -> list[Action]:
        if len(pin) < self._c.options.minpassword or pin.startswith("*"):
            return self._options_menu(now, prompts("vm-invalid-password", "vm-pls-try-again"))
        self._new_pin = pin
        self._c.move(RetrieveState.PIN_REENTER)
        return self._c.read(prompts("vm-reenterpassword"), now, self._second_pin)

    def _second_pin(self, pin: str, now: float) -> list[Action]:
        mailbox = self._c.box.view.mailbox
        if pin != self._new_pin:
            return self._options_menu(now, prompts("vm-mismatch", "vm-pls-try-again"))
        return [
            ChangePin(mailbox, pin),
            Log("PASSWORDCHANGED", f"mailbox {mailbox}"),
            *self._options_menu(now, prompts("vm-passchanged")),
        ]


class GreetingRecording:
    """``play_record_review()`` for a greeting: ``prompt``, ``beep``, record until ``#``,
    ``auth-thankyou``, then review: 1 keep (``vm-msgsaved``), 2 listen, 3 record again;
    ``back`` follows."""

    def __init__(self, context: Context, kind: GreetingKind, prompt: str, back: _Back) -> None:
        self._c = context
        self._kind = kind
        self._prompt = prompt
        self._back = back

    def start(self, now: float) -> list[Action]:
        """Say the prompt: it can be cut short, but the key is swallowed; the beep cannot."""
        self._c.move(RetrieveState.RECORD_GREETING)
        return self._c.engine.play(
            prompts(self._prompt), self._beep, now, lambda _key, t: self._beep(t)
        )

    def _beep(self, now: float) -> list[Action]:
        return self._c.engine.play(prompts("beep"), self._record, now)

    def _record(self, now: float) -> list[Action]:
        self._c.move(RetrieveState.RECORDING)
        options = self._c.options
        record = Record("#", options.maxgreet, options.maxsilence, options.silencethreshold)
        return self._c.engine.record(record, self._recorded)

    def _recorded(self, event: RecordingFinished) -> list[Action]:
        if event.why == "hangup":
            return [DiscardRecording()]  # a greeting cut off by a hangup is not kept
        # ast_play_and_record_full() thanks for every recording it kept, before the review;
        # no key cuts it.
        return self._c.engine.play(prompts("auth-thankyou"), self._review, event.now)

    def _review(self, now: float, prefix: Sequence[Playable] = ()) -> list[Action]:
        self._c.move(RetrieveState.GREETING_REVIEW)
        return self._c.engine.ask(
            [*prefix, Prompt("vm-review")], now, self._review_key, self._unanswered, MENU_WAIT
        )

    def _unanswered(self, now: float) -> list[Action]:
        self._c.rounds += 1
        if self._c.rounds > SUBMENU_TIMEOUTS:
            return [DiscardRecording(), *self._back(now, ())]
        return self._review(now)

    def _review_key(self, key: str, now: float) -> list[Action]:
        log = Log("USERPRESS", f"DTMF: {key}")
        engine = self._c.engine
        if key == "1":
            box = self._c.box
            box.greetings.add(self._kind)
            store = StoreGreeting(box.view.mailbox, self._kind)
            saved = engine.play(prompts("vm-msgsaved"), lambda t: self._back(t, ()), now)
            return [log, store, *saved]
        if key == "2":
            return [log, *engine.play([Recording()], self._review, now, self._review_key)]
        if key == "3":
            return [log, DiscardRecording(), *self.start(now)]
        return [log, *self._review(now, prompts("vm-sorry"))]
