"""Playing messages (``play_message()``): the announcement, the message, and the keys that
move around in it.

A message plays as ``Play([MessageAudio(offset=o)])`` issued at time ``s``. A key that cuts it
at time ``t`` finds the position ``o + (t - s)``, clamped to ``[0, duration]`` when the
duration is known. Fast-forward and rewind move the position by ``skipms`` and play again
from there (forward past the end ends the message); restart plays from 0; pause stops at the
position and pause again resumes there; the stop keys end the message and act as menu keys.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.voicemail.flows.callflow import Action, Log, MessageAudio, Playable, Prompt
from harness.voicemail.flows.retrieve.context import Context, prompts
from harness.voicemail.flows.retrieve.state import RetrieveState
from harness.voicemail.flows.say import folder_name, say_caller, say_number, say_received


class Playback:
    """The current message: its announcement, its audio and the listening keys."""

    def __init__(self, context: Context) -> None:
        self._c = context
        self._audio_start = 0.0
        self._audio_offset = 0.0
        self._paused_at = 0.0

    def browse(self, now: float) -> list[Action]:
        """Play the current message (``5``), or say the folder is empty."""
        box = self._c.box
        log = Log("BROWSE", f"message {box.cur}")
        if not box.ids:
            said = [*prompts("vm-youhave", "vm-no"), *folder_name(box.folder)]
            return [log, *self._c.menus.menu(now, said)]
        return [log, *self.play_message(now)]

    def play_message(self, now: float, prefix: Sequence[Playable] = ()) -> list[Action]:
        """The announcement (any key cuts it; ``1`` skips to the message), then the message."""
        box = self._c.box
        options = self._c.options
        if box.current() is None:
            box.cur = 0
        ref = box.current()
        assert ref is not None
        box.starting = False
        self._c.move(RetrieveState.MESSAGE)
        said: list[Playable] = list(prefix)
        if box.cur == 0:
            said.append(Prompt("vm-first"))
        elif box.cur == box.last:
            said.append(Prompt("vm-last"))
        if ref.urgent:
            said.append(Prompt("vm-Urgent"))
        said.append(Prompt("vm-message"))
        if box.cur not in (0, box.last):
            said += say_number(box.cur + 1)
        if options.envelope:
            said += say_received(ref.origtime, self._c.wall(now), options.timezone)
        if options.saycid:
            said += say_caller(ref.callerid)
        minutes = ref.duration // 60
        if options.sayduration and minutes >= options.saydurationm:
            said += [Prompt("vm-duration"), *say_number(minutes), Prompt("vm-minutes")]
        return self._c.engine.play(
            said, lambda t: self._listen(t, 0.0), now, self._announcement_key
        )

    def _announcement_key(self, key: str, now: float) -> list[Action]:
        if key == "1":
            return [Log("USERPRESS", "DTMF: 1"), *self._listen(now, 0.0)]
        return self._c.menus.command(key, now)

    def _listen(self, now: float, offset: float, *, first: bool = True) -> list[Action]:
        box = self._c.box
        ref = box.current()
        assert ref is not None
        actions: list[Action] = []
        if first:
            box.heard.add(ref.msg_id)
            actions.append(Log("PLAYVOICE", f"{ref.folder}/{ref.msg_id}"))
        self._c.move(RetrieveState.MESSAGE)
        self._audio_start, self._audio_offset = now, offset
        audio = MessageAudio(box.view.mailbox, ref.folder, ref.msg_id, offset)
        return actions + self._c.engine.play(
            [audio], self._c.menus.menu, now, self._listen_key, self._c.options.listen_keys
        )

    def _position(self, now: float) -> float:
        ref = self._c.box.current()
        position = self._audio_offset + max(0.0, now - self._audio_start)
        if ref is not None and ref.duration > 0:
            position = min(position, float(ref.duration))
        return position

    def _listen_key(self, key: str, now: float) -> list[Action]:
        options = self._c.options
        ref = self._c.box.current()
        position = self._position(now)
        skip = options.skipms / 1000
        if key == options.forward_key:
            ahead = position + skip
            if ref is not None and ref.duration > 0 and ahead >= ref.duration:
                return self._c.menus.menu(now)  # past the end: the message is over
            return self._listen(now, ahead, first=False)
        if key == options.reverse_key:
            return self._listen(now, max(0.0, position - skip), first=False)
        if key == options.restart_key:
            return self._listen(now, 0.0, first=False)
        if key == options.pause_key:
            self._c.move(RetrieveState.PAUSED)
            self._paused_at = position
            self._c.engine.listen(self._paused_key)
            return []
        if key in options.stop_keys:
            return self._c.menus.command(key, now)
        return self._listen(now, position, first=False)

    def _paused_key(self, key: str, now: float) -> list[Action]:
        if key == self._c.options.pause_key:
            return self._listen(now, self._paused_at, first=False)
        if key in self._c.options.stop_keys:
            return self._c.menus.command(key, now)
        return []  # other keys do nothing while paused
