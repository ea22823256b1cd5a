"""Folders (``get_folder2()``): changing to another folder (``2``) and saving a message to
one (``9``). The folder list is recited at most ``FOLDER_ROUNDS`` times when no key comes."""

from __future__ import annotations

from harness.voicemail.flows.callflow import Action, Log, Pause, Playable, Prompt
from harness.voicemail.flows.engine import KeyStep
from harness.voicemail.flows.retrieve.context import Context, prompts
from harness.voicemail.flows.retrieve.options import FOLDER_GAP, FOLDER_ROUNDS, FOLDER_WAIT, FOLDERS
from harness.voicemail.flows.retrieve.state import RetrieveState
from harness.voicemail.flows.say import folder_name, say_number

#: What the folder list takes: a folder's number, or ``#`` to cancel.
FOLDER_KEYS = "0123456789#"


class Folders:
    """The folder list, and what choosing from it does."""

    def __init__(self, context: Context) -> None:
        self._c = context

    def _folder_menu(self, now: float, prompt: str, then: KeyStep) -> list[Action]:
        """``prompt``, then the folder list until a key 0-9 or ``#``."""
        self._c.rounds = 0
        self._c.move(RetrieveState.FOLDER_SELECT)
        engine = self._c.engine

        def on_key(key: str, t: float) -> list[Action]:
            if key in FOLDER_KEYS:
                return [Log("USERPRESS", f"DTMF: {key}"), *then(key, t)]
            return recite(t)

        def recite(t: float) -> list[Action]:
            self._c.rounds += 1
            if self._c.rounds > FOLDER_ROUNDS:
                return then("#", t)
            said: list[Playable] = [Prompt("vm-press")]
            for index, folder in enumerate(FOLDERS[:5]):
                said += [*say_number(index), Prompt("vm-for"), *folder_name(folder)]
                said.append(Pause(FOLDER_GAP))
            said.append(Prompt("vm-tocancel"))
            return engine.ask(said, t, on_key, recite, FOLDER_WAIT)

        return engine.play(prompts(prompt), recite, now, on_key)

    def change_folder(self, now: float) -> list[Action]:
        """``2``: open another folder."""
        return [
            Log("CHANGEFOLDER", "browsing to a different folder"),
            *self._folder_menu(now, "vm-changeto", self._changed_folder),
        ]

    def _changed_folder(self, key: str, now: float) -> list[Action]:
        box = self._c.box
        if key != "#":
            box.reopen(FOLDERS[int(key)])
        box.starting, box.cur = True, 0
        return self._c.menus.menu(now, folder_name(box.folder))

    def save(self, now: float) -> list[Action]:
        """``9``: save the current message to a folder."""
        box = self._c.box
        log = Log("SAVEMSG", f"message {box.cur}")
        if box.current() is None:
            return [log, *self._c.menus.menu(now)]
        return [log, *self._folder_menu(now, "vm-savefolder", self._saved_to)]

    def _saved_to(self, key: str, now: float) -> list[Action]:
        box = self._c.box
        ref = box.current()
        if key == "#" or ref is None:
            return self._c.menus.menu(now)
        folder = FOLDERS[int(key)]
        box.saved[ref.msg_id] = folder
        box.deleted.discard(ref.msg_id)
        said = [
            Prompt("vm-message"),
            *say_number(box.cur + 1),
            Prompt("vm-savedto"),
            *folder_name(folder),
        ]
        return self._c.menus.after_command(now, said)
