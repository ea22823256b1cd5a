"""One call of a load run as a sans-IO state machine.

A :class:`LoadCall` is told what happened (the INVITE's final response, a packet heard, the
BYE's answer, the time passing) and answers with what to do next (:data:`Action`). It never
touches a socket or a clock, so the generator can drive thousands of them from one timer, and a
test can drive one with a fake clock.

A deposit waits for the greeting to end — a fixed time, or the server falling quiet after the
beep — talks for ``talk`` seconds and hangs up. A retrieval waits for the login prompt to end,
sends the PIN and ``#``, waits for the menu, presses ``1`` (play the first message), listens to
it and hangs up, which leaves that message heard (moved to Old).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

#: What a load call is for.
CallKind = Literal["deposit", "retrieval"]


class Phase(StrEnum):
    """Where a call is."""

    INVITING = "inviting"
    WAITING = "waiting"
    TALKING = "talking"
    HANGING_UP = "hanging-up"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Invite:
    """Send the call's INVITE."""


@dataclass(frozen=True, slots=True)
class Ack:
    """Acknowledge the 2xx: the call is up, media may flow."""


@dataclass(frozen=True, slots=True)
class Talk:
    """Send the call's audio frames until ``until`` (the generator's clock)."""

    until: float


@dataclass(frozen=True, slots=True)
class Keys:
    """Send ``digits`` as RFC 4733 events."""

    digits: str


@dataclass(frozen=True, slots=True)
class Bye:
    """Hang up."""


@dataclass(frozen=True, slots=True)
class Finished:
    """The call is over: ``cause`` is None when it did what it was for, else why not."""

    cause: str | None


Action = Invite | Ack | Talk | Keys | Bye | Finished


@dataclass(frozen=True, slots=True)
class CallPlan:
    """What one call does.

    ``greeting`` is a fixed wait before talking (None: wait until the server falls quiet for
    ``quiet`` seconds after its beep, or for ``unheard_beep_quiet`` seconds when no beep was
    heard: a server whose beep is another tone, or a stall, is not taken for the beep).
    ``skip_greeting`` presses ``#`` as soon as the call is up, which skips the greeting and
    the instructions straight to the beep, as a caller who knows the system does.
    A retrieval listening to its message hangs up after ``listen_quiet`` seconds of quiet, or
    ``envelope + talk`` seconds after its key, whichever comes first: Asterisk falls silent
    between the sound files of a message's envelope (a caller who hangs up there has not heard
    the message, which stays new), and goes on to its menu right after the message.
    ``patience`` bounds every wait for the server.
    """

    kind: CallKind
    user: str
    talk: float = 3.0
    greeting: float | None = None
    pin: str = ""
    quiet: float = 0.3
    listen_quiet: float = 1.5
    envelope: float = 12.0
    unheard_beep_quiet: float = 2.0
    patience: float = 30.0
    skip_greeting: bool = False


class LoadCall:
    """The state of one call; every method returns the actions it leads to."""

    def __init__(self, plan: CallPlan) -> None:
        self.plan = plan
        self.phase = Phase.INVITING
        #: When the INVITE went out, when its 2xx came, when the talking (deposit) ended.
        self.invited_at: float | None = None
        self.answered_at: float | None = None
        self.talked_until: float | None = None
        self._waiting_since = 0.0
        self._heard_at: float | None = None
        self._beeped = False
        # The keys still to press, each when the server has spoken and fallen quiet.
        self._menu: list[str] = [f"{plan.pin}#", "1", ""] if plan.kind == "retrieval" else []
        self._cause: str | None = None

    @property
    def setup_latency(self) -> float | None:
        """Seconds from INVITE to its 2xx (None before the call is up)."""
        if self.invited_at is None or self.answered_at is None:
            return None
        return self.answered_at - self.invited_at

    def start(self, now: float) -> list[Action]:
        """The call begins: send the INVITE."""
        self.invited_at = now
        return [Invite()]

    def answered(self, status: int, now: float) -> list[Action]:
        """The INVITE's final response arrived."""
        if self.phase is not Phase.INVITING:
            return []
        if not 200 <= status < 300:
            self.phase = Phase.DONE
            return [Finished(f"invite-{status}")]
        self.answered_at = now
        self._wait(now)
        if self.plan.kind == "deposit" and self.plan.skip_greeting:
            return [Ack(), Keys("#")]
        return [Ack()]

    def invite_failed(self, cause: str) -> list[Action]:
        """The INVITE got no final response (``cause`` says how it failed)."""
        self.phase = Phase.DONE
        return [Finished(cause)]

    def heard(self, now: float, *, beep: bool = False) -> None:
        """A packet of the server's audio arrived (``beep``: the beep's tone was heard)."""
        self._heard_at = now
        self._beeped = self._beeped or beep

    def tick(self, now: float) -> list[Action]:
        """Time passed: move on where a wait is over."""
        if self.phase is Phase.WAITING:
            return self._waited(now)
        talking = self.phase is Phase.TALKING and self.talked_until is not None
        if talking and now >= (self.talked_until or 0.0):
            return self._hang_up(None)
        return []

    def remote_hangup(self) -> list[Action]:
        """The server sent BYE: a retrieval that heard its message is done, anything else
        was cut short."""
        if self.phase is Phase.DONE:
            return []
        self.phase = Phase.DONE
        if self.plan.kind == "retrieval" and not self._menu:
            return [Finished(None)]
        cut = "talking" if self.talked_until is not None else "waiting"
        return [Finished(f"hung-up-by-server-while-{cut}")]

    def bye_answered(self, status: int | None) -> list[Action]:
        """The BYE's final response arrived (None: none came)."""
        if self.phase is Phase.DONE:
            return []
        self.phase = Phase.DONE
        if self._cause is not None:
            return [Finished(self._cause)]
        if status is None or not 200 <= status < 300:
            return [Finished("bye-" + ("timeout" if status is None else str(status)))]
        return [Finished(None)]

    def _wait(self, now: float) -> None:
        self.phase = Phase.WAITING
        self._waiting_since = now
        self._heard_at = None

    def _quiet(self, now: float) -> bool:
        """The server spoke and has been quiet long enough: ``quiet`` seconds after a beep
        (or in a menu), ``unheard_beep_quiet`` before a deposit's beep was heard."""
        plan = self.plan
        wait = plan.quiet
        if plan.kind == "deposit" and not self._beeped:
            wait = plan.unheard_beep_quiet
        elif plan.kind == "retrieval" and self._menu == [""]:
            wait = plan.listen_quiet
        return self._heard_at is not None and now - self._heard_at >= wait

    def _waited(self, now: float) -> list[Action]:
        plan = self.plan
        if plan.kind == "deposit":
            fixed = plan.greeting is not None and now - self._waiting_since >= plan.greeting
            if fixed or (plan.greeting is None and self._quiet(now)):
                self.phase = Phase.TALKING
                self.talked_until = now + plan.talk
                return [Talk(self.talked_until)]
        elif self._menu == [""] and now - self._waiting_since >= plan.envelope + plan.talk:
            # The message has played by now; what still plays is the menu after it.
            return self._hang_up(None)
        elif self._quiet(now):
            keys = self._menu.pop(0)
            if not keys:
                return self._hang_up(None)
            self._wait(now)
            return [Keys(keys)]
        if now - self._waiting_since >= plan.patience:
            return self._hang_up("server-never-fell-quiet")
        return []

    def _hang_up(self, cause: str | None) -> list[Action]:
        self._cause = cause
        self.phase = Phase.HANGING_UP
        return [Bye()]
