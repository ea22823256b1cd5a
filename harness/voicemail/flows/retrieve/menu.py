"""The main menu (``vm_execmain()``): the intro, the instructions, and what each key does.

``1`` plays the first message, ``5`` the current one, ``4``/``6`` the previous/next, ``7``
deletes (or undeletes), ``9`` saves to a folder, ``2`` changes folder, ``3`` advanced options,
``8`` forwards, ``0`` mailbox options, ``*`` help, ``#`` goodbye. The menu is played at most
``MENU_PLAYS`` times unanswered; a key resets the count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness.voicemail.flows.callflow import Action, Hangup, Log, MailboxView, Playable, Prompt
from harness.voicemail.flows.retrieve.context import Context, prompts
from harness.voicemail.flows.retrieve.folders import Folders
from harness.voicemail.flows.retrieve.forward import Forwarding
from harness.voicemail.flows.retrieve.options import INBOX, MENU_PLAYS, MENU_WAIT, OLD, URGENT
from harness.voicemail.flows.retrieve.playback import Playback
from harness.voicemail.flows.retrieve.settings import MailboxSettings
from harness.voicemail.flows.retrieve.state import RetrieveState
from harness.voicemail.flows.say import folder_name, messages_word, say_number

_Step = Callable[[float], list[Action]]


class MainMenu:
    """The main menu and the navigation between messages; the parts behind its keys."""

    def __init__(self, context: Context) -> None:
        self._c = context
        self._playback = Playback(context)
        self._folders = Folders(context)
        self._forwarding = Forwarding(context)
        self._settings = MailboxSettings(context)
        self._repeats = 0
        self._help = False
        context.bind(self)

    # -- login's end ---------------------------------------------------------------------------

    def authenticated(self, view: MailboxView, now: float) -> list[Action]:
        """Open the mailbox and say what it holds (``vm_intro()``), then the menu."""
        box = self._c.log_in(view)
        urgent, new, old = (len(view.messages(name)) for name in (URGENT, INBOX, OLD))
        if urgent or not (new or old):
            box.open(URGENT)  # Asterisk opens Urgent for an empty mailbox too
        else:
            box.open(INBOX if new else OLD)
        intro: list[Playable] = []
        if self._c.options.tempgreetwarn and "temp" in box.greetings:
            intro.append(Prompt("vm-tempgreetactive"))
        intro.append(Prompt("vm-youhave"))
        if urgent:
            intro += [*say_number(urgent), Prompt("vm-Urgent")]
            intro.append(Prompt("vm-and") if new or old else messages_word(urgent))
        if new:
            intro += [*say_number(new), Prompt("vm-INBOX")]
            intro.append(Prompt("vm-and") if old else messages_word(new))
        if old:
            intro += [*say_number(old), Prompt("vm-Old"), messages_word(old)]
        if not (urgent or new or old):
            intro += prompts("vm-no", "vm-messages")
        logs: list[Action] = [
            Log("AUTHENTICATED", f"mailbox {view.mailbox}"),
            Log("INTRO", f"{urgent} urgent, {new} new, {old} old"),
        ]
        return logs + self.menu(now, intro)

    # -- the menu ------------------------------------------------------------------------------

    def _instructions(self, help_: bool) -> list[Playable]:
        """``vm_instructions_en()``: what the keys do now (``help_``: the long form)."""
        box = self._c.box
        onefor, opts = ("vm-onefor-full", "vm-opts-full") if help_ else ("vm-onefor", "vm-opts")
        said: list[Playable] = []
        if box.starting:
            if box.ids:
                said += [Prompt(onefor), *folder_name(box.folder)]
            said.append(Prompt(opts))
            said.append(Prompt("vm-helpexit"))
            return said
        in_urgent = box.folder == URGENT
        wrap = self._c.options.messagewrap and box.last > 0
        if help_:
            said += [Prompt(onefor), *folder_name(box.folder), Prompt(opts)]
        if box.cur or (not in_urgent and box.count(URGENT)) or wrap:
            said.append(Prompt("vm-prev"))
        if not help_:
            said.append(Prompt("vm-advopts"))
        said.append(Prompt("vm-repeat"))
        if box.cur != box.last or (in_urgent and box.count(INBOX)) or wrap:
            said.append(Prompt("vm-next"))
        current = box.current()
        marked = current is not None and box.marked(current.msg_id)
        said += prompts("vm-undelete" if marked else "vm-delete", "vm-toforward", "vm-savemessage")
        said.append(Prompt("vm-helpexit"))
        return said

    def menu(
        self, now: float, prefix: Sequence[Playable] = (), *, help_: bool = False
    ) -> list[Action]:
        """Say ``prefix`` and the instructions, then wait for a menu key."""
        self._c.move(RetrieveState.MENU)
        self._help = help_
        items = [*prefix, *self._instructions(help_)]
        return [
            Log("PLAYBACK", "instructions"),
            *self._c.engine.ask(items, now, self.command, self._unanswered, MENU_WAIT),
        ]

    def _unanswered(self, now: float) -> list[Action]:
        self._repeats += 1
        if self._repeats >= MENU_PLAYS:
            return [Log("TIMEOUT", "no key at the main menu"), *self._goodbye(now)]
        return self.menu(now, help_=self._help)

    def command(self, key: str, now: float) -> list[Action]:
        """Act on a main-menu key."""
        self._repeats = 0
        actions: list[Action] = [Log("USERPRESS", f"DTMF: {key}")]
        if key == "1":
            self._c.box.cur = 0
            return actions + self._playback.browse(now)
        handlers: dict[str, _Step] = {
            "5": self._playback.browse,
            "2": self._folders.change_folder,
            "3": self._forwarding.advanced,
            "4": self._previous,
            "6": self._next,
            "7": self._delete,
            "8": self._forwarding.forward,
            "9": self._folders.save,
            "*": self._help_menu,
            "0": self._settings.options,
            "#": self._goodbye,
        }
        handler = handlers.get(key, self.menu)
        return actions + handler(now)

    def _goodbye(self, now: float) -> list[Action]:
        self._c.move(RetrieveState.GOODBYE)
        return self._c.engine.play(
            prompts("vm-goodbye"), lambda t: self._c.end([*self._c.box.settle(), Hangup()]), now
        )

    def _help_menu(self, now: float) -> list[Action]:
        box = self._c.box
        if box.starting:
            return self.menu(now)
        said = [Prompt("vm-onefor"), *folder_name(box.folder), Prompt("vm-opts")]
        return self.menu(now, said, help_=True)

    # -- moving between messages ---------------------------------------------------------------

    def nomore(self, now: float, prefix: Sequence[Playable] = ()) -> list[Action]:
        """``vm-nomore``, then the menu."""
        return self.menu(now, [*prefix, Prompt("vm-nomore")])

    def _previous(self, now: float) -> list[Action]:
        box = self._c.box
        log = Log("PREVMSG", f"message {box.cur - 1}")
        if box.cur > 0:
            box.cur -= 1
            return [log, *self._playback.play_message(now)]
        if box.folder != URGENT and box.count(URGENT):
            box.reopen(URGENT)
            box.cur = box.last
            return [log, *self._playback.play_message(now)]
        if self._c.options.messagewrap and box.last > 0:
            box.cur = box.last
            return [log, *self._playback.play_message(now)]
        return [log, *self.nomore(now)]

    def _next(self, now: float) -> list[Action]:
        box = self._c.box
        log = Log("PREVMSG", f"message {box.cur + 1}")  # Asterisk's name for 6 as well
        if box.cur < box.last:
            box.cur += 1
            return [log, *self._playback.play_message(now)]
        if box.folder == URGENT and box.count(INBOX):
            box.reopen(INBOX)
            return [log, *self._playback.play_message(now)]
        if self._c.options.messagewrap and box.last > 0:
            box.cur = 0
            return [log, *self._playback.play_message(now)]
        return [log, *self.nomore(now)]

    def after_command(self, now: float, said: Sequence[Playable]) -> list[Action]:
        """What follows a delete or a save: the next message with ``nextaftercmd``."""
        box = self._c.box
        if not self._c.options.nextaftercmd:
            return self.menu(now, said)
        if box.cur < box.last:
            box.cur += 1
            return self._playback.play_message(now, said)
        if self._c.options.messagewrap and box.last > 0:
            box.cur = 0
            return self._playback.play_message(now, said)
        if box.folder == URGENT and box.count(INBOX):
            box.reopen(INBOX)
            return self.menu(now, said)
        return self.nomore(now, said)

    def _delete(self, now: float) -> list[Action]:
        box = self._c.box
        ref = box.current()
        if ref is None:
            return self.menu(now)
        if box.marked(ref.msg_id):
            box.deleted.discard(ref.msg_id)
            box.saved.pop(ref.msg_id, None)
            said = "vm-undeleted"
        else:
            box.deleted.add(ref.msg_id)
            said = "vm-deleted"
        return [Log("DELETE", f"{said[3:]} {ref.msg_id}"), *self.after_command(now, prompts(said))]
