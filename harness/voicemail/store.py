"""The voicemail spool on disk, in Asterisk's layout.

``<root>/<context>/<box>/<Folder>/msgNNNN.wav`` plus ``msgNNNN.txt``. Every file is written to the
mailbox's ``tmp/`` directory, fsynced, and renamed into place, the ``.txt`` last: a message exists
once its ``.txt`` does, so a crash never leaves a half-written message behind.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from harness.core.mailbox import MailboxId
from harness.core.mwi import MailboxCounts
from harness.voicemail.metadata import MessageInfo

#: Folder names by Asterisk's folder index.
FOLDERS: tuple[str, ...] = (
    "INBOX",
    "Old",
    "Work",
    "Family",
    "Friends",
    "Cust1",
    "Cust2",
    "Cust3",
    "Cust4",
    "Cust5",
    "Deleted",
    "Urgent",
)
MAX_MESSAGES = 9999
# [0-9], not \d: \d also matches other scripts' digits, which Asterisk never writes.
_MESSAGE_RE = re.compile(r"msg([0-9]{4})\.txt\Z")


class MailboxFullError(Exception):
    """The folder already holds ``maxmsg`` messages."""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message in a folder: its number, files and information."""

    mailbox: MailboxId
    folder: str
    number: int
    audio: Path
    info: MessageInfo

    @property
    def name(self) -> str:
        """``msgNNNN``."""
        return f"msg{self.number:04d}"


class Spool:
    """A voicemail spool rooted at ``root`` (Asterisk's ``/var/spool/asterisk/voicemail``)."""

    def __init__(self, root: Path, audio_format: str = "wav") -> None:
        self.root = root
        self.audio_format = audio_format
        self._lock = threading.Lock()

    def folder(self, mailbox: MailboxId, folder: str = "INBOX") -> Path:
        """The directory of ``folder`` in ``mailbox``."""
        if folder not in FOLDERS:
            raise ValueError(f"unknown folder {folder!r} (known: {', '.join(FOLDERS)})")
        return self._mailbox_dir(mailbox) / folder

    def _mailbox_dir(self, mailbox: MailboxId) -> Path:
        # MailboxId allows '.', so '.' and '..' are valid names that would leave the spool.
        for part in (mailbox.context, mailbox.box):
            if part in (".", ".."):
                raise ValueError(
                    f"mailbox {mailbox} cannot be stored: {part!r} is not a directory name"
                )
        return self.root / mailbox.context / mailbox.box

    def numbers(self, mailbox: MailboxId, folder: str = "INBOX") -> list[int]:
        """Message numbers present in a folder, ascending."""
        directory = self.folder(mailbox, folder)
        if not directory.is_dir():
            return []
        found = (_MESSAGE_RE.match(entry.name) for entry in os.scandir(directory))
        return sorted(int(match.group(1)) for match in found if match)

    def count(self, mailbox: MailboxId, folder: str = "INBOX") -> int:
        """How many messages a folder holds."""
        return len(self.numbers(mailbox, folder))

    def counts(self, mailbox: MailboxId) -> MailboxCounts:
        """New (INBOX), old and urgent counts for the lamp."""
        return MailboxCounts(
            new=self.count(mailbox, "INBOX"),
            old=self.count(mailbox, "Old"),
            urgent=self.count(mailbox, "Urgent"),
        )

    def messages(self, mailbox: MailboxId, folder: str = "INBOX") -> list[StoredMessage]:
        """Every message in a folder with its information, in number order."""
        directory = self.folder(mailbox, folder)
        out = []
        for number in self.numbers(mailbox, folder):
            text_path = directory / f"msg{number:04d}.txt"
            info = MessageInfo.from_text(text_path.read_text(), str(text_path))
            audio = directory / f"msg{number:04d}.{self.audio_format}"
            out.append(StoredMessage(mailbox, folder, number, audio, info))
        return out

    def save(
        self,
        mailbox: MailboxId,
        audio: bytes,
        info: MessageInfo,
        *,
        folder: str = "INBOX",
        max_messages: int = 100,
    ) -> StoredMessage:
        """Store one message atomically under the next number; raise MailboxFullError at the limit.

        Blocking (fsync): call it from a worker thread on a busy server.
        """
        directory = self.folder(mailbox, folder)
        staging = self._mailbox_dir(mailbox) / "tmp"
        directory.mkdir(parents=True, exist_ok=True)
        staging.mkdir(parents=True, exist_ok=True)
        limit = min(max_messages, MAX_MESSAGES)
        # Numbering and renames happen under one lock so two hang-ups never take one number.
        with self._lock:
            numbers = self.numbers(mailbox, folder)
            if len(numbers) >= limit:
                raise MailboxFullError(
                    f"{mailbox} {folder} holds {len(numbers)} of {limit} messages"
                )
            number = numbers[-1] + 1 if numbers else 0
            if number > MAX_MESSAGES - 1:
                raise MailboxFullError(f"{mailbox} {folder} has no free message number")
            stem = f"msg{number:04d}"
            audio_path = directory / f"{stem}.{self.audio_format}"
            text = info.to_text().encode()
            _write_atomic(staging, audio_path, audio)
            try:
                _write_atomic(staging, directory / f"{stem}.txt", text)
            except BaseException:
                audio_path.unlink(missing_ok=True)
                raise
        return StoredMessage(mailbox, folder, number, audio_path, info)


def _write_atomic(staging: Path, target: Path, data: bytes) -> None:
    temporary = staging / f".{target.name}.{os.getpid()}.{threading.get_ident()}"
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        # A failed write (disk full, say) must not leave its half in tmp/.
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
