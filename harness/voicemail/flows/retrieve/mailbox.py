"""The mailbox as one retrieval session has rearranged it: open folder, marks, moves.

Changes are worked out on the :class:`MailboxView` snapshot taken at login and name messages
by ``msg_id``, so messages deposited meanwhile are never touched. As in Asterisk, leaving a
folder settles it: deleted messages go, saved ones move to their folder and heard INBOX/Urgent
ones to Old (``moveheard``).
"""

from __future__ import annotations

from harness.voicemail.flows.callflow import (
    Action,
    ApplyChanges,
    MailboxChanged,
    MailboxView,
    MessageChange,
    MessageRef,
)
from harness.voicemail.flows.retrieve.options import INBOX, OLD, URGENT


class SessionMailbox:
    """The logged-in mailbox: the snapshot, the open folder and what the caller did to it."""

    def __init__(self, view: MailboxView, *, moveheard: bool) -> None:
        self.view = view
        self._moveheard = moveheard
        self._refs = {ref.msg_id: ref for _, refs in view.folders for ref in refs}
        self._folders = {name: [ref.msg_id for ref in refs] for name, refs in view.folders}
        #: The greetings recorded, as the options menu changes them.
        self.greetings = set(view.greetings)
        #: The open folder, its messages in order, and the current one.
        self.folder = URGENT
        self.ids: list[str] = []
        self.cur = 0
        #: True until a message of the open folder was played.
        self.starting = True
        self.deleted: set[str] = set()
        self.heard: set[str] = set()
        self.saved: dict[str, str] = {}
        self._settled = False

    def open(self, folder: str) -> None:
        """Open ``folder`` at its first message."""
        self.folder = folder
        self.ids = list(self._folders.get(folder, ()))
        self.cur = 0
        self.starting = True
        self.deleted, self.heard, self.saved = set(), set(), {}

    def close(self) -> None:
        """Settle the open folder as ``close_mailbox()`` does."""
        keep: list[str] = []
        for msg_id in self.ids:
            if msg_id in self.deleted:
                continue
            target = self.saved.get(msg_id)
            if (
                target is None
                and msg_id in self.heard
                and self._moveheard
                and self.folder in (INBOX, URGENT)
            ):
                target = OLD
            if target is None or target == self.folder:
                keep.append(msg_id)
            else:
                self._folders.setdefault(target, []).append(msg_id)
        self._folders[self.folder] = keep
        self.ids = []

    def reopen(self, folder: str) -> None:
        """Settle the open folder, then open ``folder``."""
        self.close()
        self.open(folder)

    def settle(self) -> list[Action]:
        """The session's changes in one ApplyChanges, then MWI for the mailbox."""
        mailbox = self.view.mailbox
        return [ApplyChanges(mailbox, self._changes()), MailboxChanged(mailbox)]

    def _changes(self) -> tuple[MessageChange, ...]:
        if not self._settled:
            self.close()
            self._settled = True
        now_in = {msg_id: folder for folder, ids in self._folders.items() for msg_id in ids}
        changes = []
        for msg_id, ref in self._refs.items():
            folder = now_in.get(msg_id)
            if folder != ref.folder:
                changes.append(MessageChange(msg_id, folder))
        return tuple(changes)

    def count(self, folder: str) -> int:
        """Messages in ``folder`` now (the open one without those marked deleted)."""
        if folder == self.folder:
            return sum(1 for msg_id in self.ids if msg_id not in self.deleted)
        return len(self._folders.get(folder, ()))

    @property
    def last(self) -> int:
        """The index of the open folder's last message (-1 when empty)."""
        return len(self.ids) - 1

    def current(self) -> MessageRef | None:
        """The current message, or None."""
        if 0 <= self.cur < len(self.ids):
            return self._refs[self.ids[self.cur]]
        return None

    def marked(self, msg_id: str) -> bool:
        """Whether ``msg_id`` is marked deleted (a saved message is: its copy moves)."""
        return msg_id in self.deleted or msg_id in self.saved
