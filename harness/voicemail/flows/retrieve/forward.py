"""Advanced options (``3``: the envelope again) and forwarding a message (``8``).

Reply, call back, dial out and compose need a dialplan this server does not have
(``vm-sorry``); prepending to a forwarded message is not offered either (``1`` of the forward
options says ``vm-sorry``).
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.core.mailbox import MailboxId
from harness.voicemail.flows.callflow import (
    Action,
    CopyMessage,
    Greeting,
    Log,
    MailboxView,
    Playable,
    Prompt,
)
from harness.voicemail.flows.retrieve.context import Context, prompts
from harness.voicemail.flows.retrieve.options import (
    FORWARD_ATTEMPTS,
    MENU_WAIT,
    SUBMENU_TIMEOUTS,
)
from harness.voicemail.flows.retrieve.state import RetrieveState
from harness.voicemail.flows.say import say_caller, say_digits, say_received


class Forwarding:
    """The advanced options menu and the forward dialogue."""

    def __init__(self, context: Context) -> None:
        self._c = context

    # -- advanced options (3) ------------------------------------------------------------------

    def advanced(self, now: float, *, first: bool = True) -> list[Action]:
        """``3``: the advanced options menu."""
        self._c.move(RetrieveState.ADVANCED)
        actions: list[Action] = []
        if first:
            self._c.rounds = 0
            actions.append(Log("ADVOPTIONS", "entering advanced options menu"))
        said: list[Playable] = []
        if not self._c.box.starting:
            said += prompts("vm-toreply", "vm-tohearenv")
        said.append(Prompt("vm-starmain"))
        return actions + self._c.engine.ask(
            said, now, self._advanced_key, self._advanced_unanswered, MENU_WAIT
        )

    def _advanced_unanswered(self, now: float) -> list[Action]:
        self._c.rounds += 1
        if self._c.rounds > SUBMENU_TIMEOUTS:
            return self._c.menus.menu(now)
        return self.advanced(now, first=False)

    def _advanced_key(self, key: str, now: float) -> list[Action]:
        log = Log("USERPRESS", f"DTMF: {key}")
        box = self._c.box
        ref = box.current()
        menu = self._c.menus.menu
        if key == "3" and ref is not None and not box.starting:
            said = [
                *say_received(ref.origtime, self._c.wall(now), self._c.options.timezone),
                *say_caller(ref.callerid),
            ]
            return [log, *self._c.engine.play(said, menu, now)]
        if key in "12345":
            return [log, *self._c.engine.play(prompts("vm-sorry"), menu, now)]
        if key == "*":
            return [log, *menu(now)]
        self._c.rounds = 0
        return [log, *self.advanced(now, first=False)]

    # -- forwarding (8) ------------------------------------------------------------------------

    def forward(self, now: float) -> list[Action]:
        """``8``: forward the current message to other mailboxes."""
        box = self._c.box
        if box.current() is None:
            return self._c.menus.nomore(now)
        self._c.rounds = 0
        return [Log("FORWARD", f"message {box.cur}"), *self._ask_extension(now)]

    def _ask_extension(self, now: float, prefix: Sequence[Playable] = ()) -> list[Action]:
        self._c.rounds += 1
        if self._c.rounds > FORWARD_ATTEMPTS:
            return self._c.menus.menu(now)
        self._c.move(RetrieveState.FORWARD_EXTENSION)
        return self._c.read([*prefix, Prompt("vm-extension")], now, self._extensions_entered)

    def _extensions_entered(self, entry: str, now: float) -> list[Action]:
        if not entry:
            return self._ask_extension(now)
        own = self._c.box.view.mailbox
        wanted: list[MailboxId] = []
        for box in entry.split("*"):
            try:
                mailbox = MailboxId(box, own.context)
            except ValueError:
                return self._invalid_extension(now)
            if box == own.box:
                return self._invalid_extension(now)  # not to oneself, as Asterisk
            wanted.append(mailbox)
        return self._check_extensions(now, wanted, [])

    def _check_extensions(
        self, now: float, pending: list[MailboxId], found: list[MailboxId]
    ) -> list[Action]:
        if not pending:
            # Each recipient by recorded name, else by number; then the forward options.
            said = [Greeting(mailbox, "greet", tuple(say_digits(mailbox.box))) for mailbox in found]
            self._c.rounds = 0
            return self._c.engine.play(said, lambda t: self._forward_options(t, found), now)

        def loaded(view: MailboxView | None, t: float) -> list[Action]:
            if view is None:
                return self._invalid_extension(t)
            return self._check_extensions(t, pending[1:], [*found, pending[0]])

        self._c.move(RetrieveState.FORWARD_CHECK)
        return self._c.engine.load(pending[0], loaded)

    def _invalid_extension(self, now: float) -> list[Action]:
        self._c.move(RetrieveState.FORWARD_EXTENSION)
        return self._c.engine.play(prompts("pbx-invalid"), self._ask_extension, now)

    def _forward_options(self, now: float, to: list[MailboxId]) -> list[Action]:
        self._c.move(RetrieveState.FORWARD_OPTIONS)
        engine = self._c.engine
        options = prompts("vm-forwardoptions", "vm-starmain")

        def on_key(key: str, t: float) -> list[Action]:
            log = Log("USERPRESS", f"DTMF: {key}")
            box = self._c.box
            ref = box.current()
            if key == "2" and ref is not None:
                copy = CopyMessage(box.view.mailbox, ref.folder, ref.msg_id, tuple(to))
                # forward_message() confirms with vm-msgforwarded, not vm-msgsaved.
                return [log, copy, *self._c.menus.menu(t, prompts("vm-msgforwarded"))]
            if key == "*":
                return self._c.menus.command("*", t)  # as Asterisk: the cancel key goes on to help
            self._c.rounds = 0
            prefix = prompts("vm-sorry") if key == "1" else []  # prepending is not offered
            return [log, *engine.ask([*prefix, *options], t, on_key, unanswered, MENU_WAIT)]

        def unanswered(t: float) -> list[Action]:
            self._c.rounds += 1
            if self._c.rounds > SUBMENU_TIMEOUTS:
                return self._c.menus.command("*", t)
            return engine.ask(options, t, on_key, unanswered, MENU_WAIT)

        return engine.ask(options, now, on_key, unanswered, MENU_WAIT)
