"""The retrieval menu: app_voicemail's ``VoiceMailMain`` as a sans-IO call flow.

:class:`Retrieval` logs a caller in, walks them through their folders with app_voicemail's DTMF
menu (``vm_execmain()``) and, when they leave, hands back what changed. It says what Asterisk
says in English, prompt for prompt, and takes the same keys, so a scenario written against an
Asterisk ``VoiceMailMain`` runs unchanged here.

The parts, one job each: :mod:`.login` (mailbox and PIN), :mod:`.menu` (the main menu and
moving between messages), :mod:`.playback` (a message and its listening keys), :mod:`.folders`
(change folder, save to folder), :mod:`.forward` (advanced options, forwarding),
:mod:`.settings` (greetings, PIN change), :mod:`.mailbox` (what the session did to the
mailbox); all run on one :class:`~harness.voicemail.flows.engine.Engine` and move through
:data:`~harness.voicemail.flows.retrieve.state.TRANSITIONS`.

Exit: ``#`` (or the menu going unanswered, or the caller hanging up) applies the session's
changes in one ``ApplyChanges``, then ``MailboxChanged`` (also when nothing changed, as Asterisk
republishes MWI after every session), then ``Hangup`` unless the caller is gone. Changes name
messages by ``msg_id`` and are worked out on the :class:`MailboxView` snapshot, so messages
deposited meanwhile are never touched. As in Asterisk, leaving a folder settles it: deleted
messages go, saved ones move to their folder and heard INBOX/Urgent ones to Old
(``moveheard``), so a caller who changes to Old finds the messages just heard there.

Where Asterisk's code does something no caller could want, this flow does the evident thing
and says so: ``4`` from the first INBOX message plays the *last* Urgent message (Asterisk plays
the one before it); the folder list is recited at most three times when no key comes (Asterisk
loops forever); a key resets the count of unanswered menus (Asterisk counts them over the whole
call). Messages are not "saved" by copying: a saved message moves, and ``7`` on it cancels the
move. Not offered here: prepending to a forwarded message (``1`` of the forward options says
``vm-sorry``), reply, callback, dial-out and compose (``vm-sorry``), the new-user wizard.
"""

from __future__ import annotations

from harness.core.mailbox import MailboxId
from harness.voicemail.flows.callflow import (
    Action,
    CallStarted,
    DigitPressed,
    DiscardRecording,
    Event,
    HungUp,
    Log,
    MailboxLoaded,
    PlaybackFinished,
    RecordingFinished,
)
from harness.voicemail.flows.engine import ANY_KEY
from harness.voicemail.flows.retrieve.context import Context
from harness.voicemail.flows.retrieve.login import Login
from harness.voicemail.flows.retrieve.menu import MainMenu
from harness.voicemail.flows.retrieve.options import FOLDERS, URGENT, RetrieveOptions
from harness.voicemail.flows.retrieve.state import RetrieveState


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
        self._c = Context(options, call_time)
        menu = MainMenu(self._c)
        self._login = Login(self._c, mailbox, caller, menu.authenticated)

    @property
    def finished(self) -> bool:
        """Whether the call is over for this flow."""
        return self._c.finished and not self._c.engine.owing

    @property
    def state(self) -> RetrieveState:
        """Where the caller is, for logs and tests: ``login-pin``, ``menu``, ``message``…"""
        return self._c.states.state

    def next_timer(self) -> float | None:
        """When the flow wants :class:`TimerFired`, or None."""
        return None if self._c.finished else self._c.engine.next_timer()

    def handle(self, event: Event) -> list[Action]:
        """Take one event; return what to do, in order."""
        if isinstance(event, DigitPressed) and (len(event.key) != 1 or event.key not in ANY_KEY):
            raise ValueError(f"DigitPressed key {event.key!r} is not one of {ANY_KEY}")
        if self.finished:
            return []
        if self._c.finished:
            return self._c.engine.owed(event)
        if isinstance(event, HungUp):
            return self._hung_up()
        if isinstance(event, CallStarted):
            if self._c.started is not None:
                return []
            self._c.started = event.now
            return [Log("START", "VoiceMailMain started"), *self._login.begin(event.now)]
        if self._c.started is None:
            return []
        engine = self._c.engine
        if isinstance(event, DigitPressed):
            return engine.key(event.key, event.now)
        if isinstance(event, PlaybackFinished):
            return engine.played(event.now, interrupted=event.interrupted)
        if isinstance(event, MailboxLoaded):
            return engine.loaded(event)
        if isinstance(event, RecordingFinished):
            return engine.recorded(event)
        return engine.timer(event.now)

    def _hung_up(self) -> list[Action]:
        recording = self._c.engine.recording
        actions: list[Action] = [*self._c.engine.hung_up(), Log("HANGUP", "caller hung up")]
        if recording:
            actions.append(DiscardRecording())
        if self._c.logged_in:
            actions += self._c.box.settle()
        return self._c.end(actions)


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
                "vm-msgforwarded",
                "vm-msgsaved",
                "auth-thankyou",
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
