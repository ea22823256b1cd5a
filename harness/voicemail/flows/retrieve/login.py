"""Logging in (``vm_authenticate()``): the mailbox, if the request did not name it, then the PIN.

With the mailbox known only the PIN is asked, ``vm-password``, and a wrong one is answered
``vm-incorrect`` and asked again; a known mailbox that does not exist is treated as unknown,
as Asterisk does. Otherwise ``vm-login`` asks for the box (an empty entry means the caller's
number), then ``vm-password`` — even for a box that does not exist — and a failure is answered
``vm-incorrect-mailbox``, which asks for the box again. The ``maxlogins``-th failure is
answered ``vm-incorrect``, ``vm-goodbye`` and the call ends.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.core.mailbox import MailboxId
from harness.voicemail.flows.callflow import (
    Action,
    Hangup,
    Log,
    LoginFailed,
    LoginSucceeded,
    MailboxView,
)
from harness.voicemail.flows.retrieve.context import Context, prompts
from harness.voicemail.flows.retrieve.state import RetrieveState

Authenticated = Callable[[MailboxView, float], list[Action]]


class Login:
    """Asks for the mailbox and PIN; ``authenticated`` takes over once they are right."""

    def __init__(
        self,
        context: Context,
        mailbox: MailboxId | None,
        caller: str | None,
        authenticated: Authenticated,
    ) -> None:
        self._c = context
        self._requested = mailbox
        self._caller = caller or None
        self._context = mailbox.context if mailbox is not None else context.options.default_context
        self._authenticated = authenticated
        self._failures = 0

    def begin(self, now: float) -> list[Action]:
        """The call started."""
        if self._requested is None:
            return self._ask_mailbox(now, first=True)
        return self._load(self._requested, self._requested_loaded)

    def _load(
        self, mailbox: MailboxId, then: Callable[[MailboxView | None, float], list[Action]]
    ) -> list[Action]:
        self._c.move(RetrieveState.LOGIN_LOAD)
        return self._c.engine.load(mailbox, then)

    def _requested_loaded(self, view: MailboxView | None, now: float) -> list[Action]:
        if view is None:
            # Asterisk asks for a mailbox when the one it was given does not exist.
            return self._ask_mailbox(now, first=True)
        if self._c.options.skip_password or view.pin is None:
            return self._authenticated(view, now)
        return self._ask_pin(view, now, known=True)

    def _ask_mailbox(self, now: float, *, first: bool) -> list[Action]:
        self._c.move(RetrieveState.LOGIN_MAILBOX)
        prompt = "vm-login" if first else "vm-incorrect-mailbox"
        return self._c.read(prompts(prompt), now, self._mailbox_entered)

    def _mailbox_entered(self, entry: str, now: float) -> list[Action]:
        if not entry:
            if self._caller is None:
                # Nothing entered and no caller number: Asterisk gives up without a word.
                return self._c.end([Log("HANGUP", "no mailbox entered"), Hangup()])
            entry = self._caller
        try:
            mailbox = MailboxId(entry, self._context)
        except ValueError:
            return self._ask_pin(None, now, known=False)
        return self._load(mailbox, self._entered_loaded)

    def _entered_loaded(self, view: MailboxView | None, now: float) -> list[Action]:
        if view is not None and view.pin is None:
            return self._check(view, "", now, known=False)
        return self._ask_pin(view, now, known=False)

    def _ask_pin(self, view: MailboxView | None, now: float, *, known: bool) -> list[Action]:
        self._c.move(RetrieveState.LOGIN_PIN)
        return self._c.read(
            prompts("vm-password"), now, lambda pin, t: self._check(view, pin, t, known=known)
        )

    def _check(
        self, view: MailboxView | None, pin: str, now: float, *, known: bool
    ) -> list[Action]:
        if view is not None and not view.locked and (view.pin is None or pin == view.pin):
            return [LoginSucceeded(view.mailbox), *self._authenticated(view, now)]
        self._failures += 1
        self._c.move(RetrieveState.LOGIN_FAILED)
        engine = self._c.engine
        # Counted for the mailbox across calls; never the digits, which would put PINs in logs.
        failed: list[Action] = [LoginFailed(view.mailbox)] if view is not None else []
        if self._failures >= self._c.options.maxlogins:
            return failed + engine.play(
                prompts("vm-incorrect", "vm-goodbye"),
                lambda t: self._c.end([Log("HANGUP", "too many failed logins"), Hangup()]),
                now,
            )
        if known:
            return failed + engine.play(
                prompts("vm-incorrect"), lambda t: self._ask_pin(view, t, known=True), now
            )
        return failed + self._ask_mailbox(now, first=False)
