"""What every part of the retrieval menu shares: the engine, the options, where the caller
is, the logged-in mailbox, and the main menu the parts return to."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from harness.voicemail.flows.callflow import Action, MailboxView, Playable, Prompt
from harness.voicemail.flows.engine import Engine, KeyStep
from harness.voicemail.flows.retrieve.mailbox import SessionMailbox
from harness.voicemail.flows.retrieve.options import MAX_ENTRY, RetrieveOptions
from harness.voicemail.flows.retrieve.state import TRANSITIONS, RetrieveState
from harness.voicemail.flows.transitions import Transitions


def prompts(*names: str) -> list[Playable]:
    """Prompts by name."""
    return [Prompt(name) for name in names]


class Menus(Protocol):
    """The main menu as the other parts go back to it."""

    def menu(
        self, now: float, prefix: Sequence[Playable] = (), *, help_: bool = False
    ) -> list[Action]:
        """Say ``prefix`` and the instructions, then wait for a menu key."""
        ...

    def command(self, key: str, now: float) -> list[Action]:
        """Act on a main-menu key."""
        ...

    def after_command(self, now: float, said: Sequence[Playable]) -> list[Action]:
        """What follows a delete or a save."""
        ...

    def nomore(self, now: float, prefix: Sequence[Playable] = ()) -> list[Action]:
        """``vm-nomore``, then the menu."""
        ...


class Context:
    """One retrieval call's shared state. ``call_time``: the wall-clock time of CallStarted."""

    def __init__(self, options: RetrieveOptions, call_time: float | None) -> None:
        self.options = options
        self.engine = Engine()
        self.states = Transitions(TRANSITIONS, RetrieveState.IDLE)
        self.call_time = call_time
        self.started: float | None = None
        self.finished = False
        #: Unanswered rounds of the sub-menu the caller is in (a greeting's review counts on
        #: with the options menu it returns to, as in Asterisk).
        self.rounds = 0
        self._box: SessionMailbox | None = None
        self._menus: Menus | None = None

    @property
    def logged_in(self) -> bool:
        """Whether a mailbox is open."""
        return self._box is not None

    @property
    def box(self) -> SessionMailbox:
        """The logged-in mailbox (only asked for after login)."""
        assert self._box is not None, "no mailbox is logged in"
        return self._box

    def log_in(self, view: MailboxView) -> SessionMailbox:
        """Open ``view`` as the session's mailbox."""
        self._box = SessionMailbox(view, moveheard=self.options.moveheard)
        return self._box

    @property
    def menus(self) -> Menus:
        """The main menu."""
        assert self._menus is not None, "the main menu is not bound"
        return self._menus

    def bind(self, menus: Menus) -> None:
        """Name the main menu the parts go back to."""
        self._menus = menus

    def move(self, state: RetrieveState) -> None:
        """Go to ``state`` (the transition table checks the move)."""
        self.states.move(state)

    def read(self, items: Iterable[Playable], now: float, then: KeyStep) -> list[Action]:
        """Play ``items`` and read digits up to ``#`` with the configured timeouts."""
        return self.engine.read(
            items,
            now,
            then,
            first_wait=self.options.first_digit_timeout,
            between=self.options.digit_timeout,
            longest=MAX_ENTRY,
        )

    def wall(self, now: float) -> float | None:
        """The wall-clock time at loop time ``now``, when the call's is known."""
        if self.call_time is None or self.started is None:
            return None
        return self.call_time + (now - self.started)

    def end(self, actions: list[Action]) -> list[Action]:
        """The call is over for the flow after ``actions``."""
        self.finished = True
        self.move(RetrieveState.DONE)
        self.engine.stop()
        return actions
