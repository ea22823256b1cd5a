"""The voicemail spool on disk, in Asterisk's layout.

``<root>/<context>/<box>/<Folder>/msgNNNN.wav`` plus ``msgNNNN.txt``; greetings as
``<root>/<context>/<box>/<kind>.wav``. A message exists once its ``.txt`` does: new files are
written to the mailbox's ``tmp/`` directory, fsynced and renamed into place, the ``.txt`` last, so
a crash never leaves a half-written message behind.

Moving a message (to another folder, or down to close a gap) links or copies its audio to the new
number first and then renames the ``.txt`` there in one step, so at every moment the message is
complete at exactly one number; what a crash can leave is audio without a ``.txt``, which is not a
message and is cleared when its number is next used. Every change takes one lock, so deposits,
moves and renumbering in this process never interleave.

A message is addressed by its ``msg_id``. Two messages of one mailbox with the same ``msg_id``
(Asterisk forwards a message with its id, so forwarding it twice to one box does that) are told
apart by a suffix on the later ones, in folder order: ``<id>-2``, ``<id>-3``. A ``.txt`` without a
``msg_id`` (written by hand, or by Asterisk before version 11) gets ``<origtime>-x<8 hex>``, the hex
from a hash of the file: it survives renumbering and moves, since neither rewrites the file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.core.mailbox import MailboxId
from harness.core.mwi import MailboxCounts
from harness.voicemail.flows.callflow import MailboxView, MessageChange, MessageRef
from harness.voicemail.metadata import MessageInfo

log = logging.getLogger(__name__)

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
#: The folders app_voicemail's open_mailbox() creates at every login (Old, INBOX, then Urgent).
LOGIN_FOLDERS: tuple[str, ...] = ("Old", "INBOX", "Urgent")
#: Greeting kinds, each stored as ``<kind>.<format>`` in the mailbox directory.
GREETINGS: tuple[str, ...] = ("unavail", "busy", "temp", "greet")
MAX_MESSAGES = 9999
# [0-9], not \d: \d also matches other scripts' digits, which Asterisk never writes.
_MESSAGE_RE = re.compile(r"msg([0-9]{4})\.txt\Z")
_MSG_ID_LINE = re.compile(r"^[ \t]*msg_id[ \t]*=", re.MULTILINE)


class MailboxFullError(Exception):
    """The folder already holds ``maxmsg`` messages."""


class UnknownMessageError(LookupError):
    """No message with that ``msg_id`` in the folder named."""


@dataclass(frozen=True, slots=True)
class ChangeReport:
    """What :meth:`Spool.apply_changes` did with each change, in the order given.

    ``unknown``: no message had the ``msg_id`` (already deleted, say); ``full``: the target
    folder held ``maxmsg`` messages, so the message stayed where it was.
    """

    applied: tuple[MessageChange, ...] = ()
    unknown: tuple[MessageChange, ...] = ()
    full: tuple[MessageChange, ...] = ()


class FolderFullError(MailboxFullError):
    """Some moves did not fit their target folder (Asterisk says ``vm-mailboxfull``).

    Raised after everything else was applied and the folders renumbered; ``report`` says which.
    """

    def __init__(self, mailbox: MailboxId, report: ChangeReport, limit: int) -> None:
        moves = ", ".join(f"{change.msg_id} to {change.folder}" for change in report.full)
        super().__init__(f"{mailbox}: folder full ({limit} messages), not moved: {moves}")
        self.report = report


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message in a folder: its number, files and information.

    ``msg_id`` is the id it is addressed by (see the module notes): ``info.msg_id`` unless that
    is empty or shared with an earlier message of the mailbox.
    """

    mailbox: MailboxId
    folder: str
    number: int
    audio: Path
    info: MessageInfo
    msg_id: str = ""

    def __post_init__(self) -> None:
        if not self.msg_id:
            object.__setattr__(self, "msg_id", self.info.msg_id)

    @property
    def name(self) -> str:
        """``msgNNNN``."""
        return f"msg{self.number:04d}"

    @property
    def text(self) -> Path:
        """The ``msgNNNN.txt`` information file."""
        return self.audio.with_name(f"{self.name}.txt")


@dataclass(frozen=True, slots=True)
class _Scan:
    """A mailbox's messages in folder and number order, and the ``.txt`` files unreadable."""

    messages: tuple[StoredMessage, ...]
    broken: tuple[tuple[str, ValueError], ...]  # (folder, error naming the file)


class Spool:
    """A voicemail spool rooted at ``root`` (Asterisk's ``/var/spool/asterisk/voicemail``).

    Blocking (fsync): call the writing methods from a worker thread on a busy server.
    """

    def __init__(self, root: Path, audio_format: str = "wav") -> None:
        self.root = root
        self.audio_format = audio_format
        # One lock per mailbox, so a deposit's fsync holds up only calls to the same mailbox.
        # Reentrant: the public readers take it too, and the writers call them.
        self._locks: dict[MailboxId, threading.RLock] = {}
        self._locks_guard = threading.Lock()
        # Messages per folder of each mailbox asked about: read from disk once, then kept by
        # every change made through this spool, so the lamp never waits on a directory scan.
        self._tallies: dict[MailboxId, dict[str, int]] = {}

    # -- locking ----------------------------------------------------------------------------

    def _lock_of(self, mailbox: MailboxId) -> threading.RLock:
        lock = self._locks.get(mailbox)
        if lock is None:
            with self._locks_guard:
                lock = self._locks.setdefault(mailbox, threading.RLock())
        return lock

    @contextlib.contextmanager
    def _locked(self, *mailboxes: MailboxId) -> Iterator[None]:
        """Hold the locks of ``mailboxes``, always taken in one order so two never deadlock."""
        with contextlib.ExitStack() as stack:
            for mailbox in sorted(set(mailboxes), key=str):
                stack.enter_context(self._lock_of(mailbox))
            yield

    # -- layout -----------------------------------------------------------------------------

    def folder(self, mailbox: MailboxId, folder: str = "INBOX") -> Path:
        """The directory of ``folder`` in ``mailbox``."""
        if folder not in FOLDERS:
            raise ValueError(f"unknown folder {folder!r} (known: {', '.join(FOLDERS)})")
        return self.mailbox_dir(mailbox) / folder

    def mailbox_dir(self, mailbox: MailboxId) -> Path:
        """``<root>/<context>/<box>``: folders, greetings and ``secret.conf`` live there."""
        # MailboxId allows '.', so '.' and '..' are valid names that would leave the spool.
        for part in (mailbox.context, mailbox.box):
            if part in (".", ".."):
                raise ValueError(
                    f"mailbox {mailbox} cannot be stored: {part!r} is not a directory name"
                )
        return self.root / mailbox.context / mailbox.box

    def open_folders(self, mailbox: MailboxId, folders: Iterable[str] = LOGIN_FOLDERS) -> None:
        """Create ``mailbox``'s ``folders`` where missing, as Asterisk does when its owner logs
        in: a tool reading the spool then finds ``Old/`` and ``Urgent/`` even when empty."""
        for folder in folders:
            self.folder(mailbox, folder).mkdir(parents=True, exist_ok=True)

    def _staging(self, mailbox: MailboxId) -> Path:
        staging = self.mailbox_dir(mailbox) / "tmp"
        staging.mkdir(parents=True, exist_ok=True)
        return staging

    # -- reading ----------------------------------------------------------------------------

    def numbers(self, mailbox: MailboxId, folder: str = "INBOX") -> list[int]:
        """Message numbers present in a folder, ascending."""
        directory = self.folder(mailbox, folder)
        with self._locked(mailbox):
            return _numbers(directory)

    def count(self, mailbox: MailboxId, folder: str = "INBOX") -> int:
        """How many messages a folder holds."""
        return len(self.numbers(mailbox, folder))

    def counts(self, mailbox: MailboxId) -> MailboxCounts:
        """New (INBOX), old and urgent counts for the lamp.

        Read from disk the first time a mailbox is asked about (or by :meth:`load_counts`),
        then kept up to date by every deposit, copy, move and deletion made through this spool.
        """
        with self._locked(mailbox):
            tally = self._tally(mailbox)
            return MailboxCounts(new=tally["INBOX"], old=tally["Old"], urgent=tally["Urgent"])

    def load_counts(self, mailboxes: Iterable[MailboxId]) -> None:
        """Read the counts of ``mailboxes`` from disk now (at start-up, off the event loop)."""
        for mailbox in mailboxes:
            with self._locked(mailbox):
                self._tally(mailbox)

    def _tally(self, mailbox: MailboxId) -> dict[str, int]:
        tally = self._tallies.get(mailbox)
        if tally is None:
            tally = {folder: len(_numbers(self.folder(mailbox, folder))) for folder in FOLDERS}
            self._tallies[mailbox] = tally
        return tally

    def _counted(self, mailbox: MailboxId, folder: str, change: int) -> None:
        """A message came into (``+1``) or left (``-1``) a folder; a mailbox never asked about
        is left to be read from disk when it is."""
        tally = self._tallies.get(mailbox)
        if tally is not None:
            tally[folder] += change

    def messages(self, mailbox: MailboxId, folder: str = "INBOX") -> list[StoredMessage]:
        """Every message in a folder with its information, in number order.

        Raises ValueError naming the file when one of the folder's ``.txt`` cannot be read.
        """
        self.folder(mailbox, folder)
        scan = self._scan(mailbox)
        for broken_folder, error in scan.broken:
            if broken_folder == folder:
                raise error
        return [message for message in scan.messages if message.folder == folder]

    def find(self, mailbox: MailboxId, msg_id: str) -> StoredMessage | None:
        """The message addressed by ``msg_id`` in any folder of ``mailbox``, or None."""
        return next((m for m in self._scan(mailbox).messages if m.msg_id == msg_id), None)

    def view(self, mailbox: MailboxId, pin: str | None, pin_changeable: bool) -> MailboxView:
        """The mailbox as the retrieval menu sees it: its messages by folder, its greetings.

        A message whose ``.txt`` cannot be read is left out (and logged) rather than locking
        its owner out of every other message.
        """
        with self._locked(mailbox):
            scan = self._scan(mailbox)
            greetings = self.greetings(mailbox)
        for folder, error in scan.broken:
            log.warning("%s %s: message left out: %s", mailbox, folder, error)
        folders = []
        for folder in FOLDERS:
            refs = tuple(
                MessageRef(
                    msg_id=message.msg_id,
                    folder=folder,
                    callerid=message.info.callerid,
                    origtime=message.info.origtime,
                    duration=message.info.duration,
                    urgent=message.info.flag == "Urgent" or folder == "Urgent",
                )
                for message in scan.messages
                if message.folder == folder
            )
            if refs:
                folders.append((folder, refs))
        return MailboxView(mailbox, pin, pin_changeable, tuple(folders), greetings)

    def summary(self, mailbox: MailboxId, pin: str | None, pin_changeable: bool) -> MailboxView:
        """What a deposit needs of the mailbox: its greetings and how many messages each
        folder holds (as :meth:`counts` keeps them), no message's information read."""
        with self._locked(mailbox):
            counts = tuple(self._tally(mailbox).items())
            greetings = self.greetings(mailbox)
        return MailboxView(mailbox, pin, pin_changeable, (), greetings, counts=counts)

    def _scan(self, mailbox: MailboxId) -> _Scan:
        messages: list[StoredMessage] = []
        broken: list[tuple[str, ValueError]] = []
        seen: dict[str, int] = {}
        with self._locked(mailbox):
            for folder in FOLDERS:
                directory = self.folder(mailbox, folder)
                for number in _numbers(directory):
                    text_path = directory / f"msg{number:04d}.txt"
                    try:
                        raw = text_path.read_bytes()
                        info = _read_info(raw, str(text_path))
                    except FileNotFoundError:
                        continue  # deleted by hand since the directory was listed
                    except ValueError as error:
                        broken.append((folder, error))
                        continue
                    base = info.msg_id or f"{info.origtime}-x{hashlib.sha1(raw).hexdigest()[:8]}"
                    seen[base] = seen.get(base, 0) + 1
                    msg_id = base if seen[base] == 1 else f"{base}-{seen[base]}"
                    audio = directory / f"msg{number:04d}.{self.audio_format}"
                    messages.append(StoredMessage(mailbox, folder, number, audio, info, msg_id))
        return _Scan(tuple(messages), tuple(broken))

    # -- deposits ---------------------------------------------------------------------------

    def save(
        self,
        mailbox: MailboxId,
        audio: bytes,
        info: MessageInfo,
        *,
        folder: str = "INBOX",
        max_messages: int = 100,
    ) -> StoredMessage:
        """Store one message atomically under the next number.

        Raises MailboxFullError when the folder holds ``max_messages``.
        """
        directory = self.folder(mailbox, folder)
        directory.mkdir(parents=True, exist_ok=True)
        limit = min(max_messages, MAX_MESSAGES)
        # Numbering and renames happen under one lock so two hang-ups never take one number.
        with self._locked(mailbox):
            number = _next_number(mailbox, folder, _numbers(directory), limit)
            stored = self._write_message(mailbox, folder, number, {"": audio}, info)
            self._counted(mailbox, folder, +1)
            return stored

    def copy(
        self,
        mailbox: MailboxId,
        folder: str,
        msg_id: str,
        to: MailboxId,
        *,
        max_messages: int = 100,
    ) -> StoredMessage:
        """Forward a message: a copy of its audio and information into ``to``'s INBOX.

        As Asterisk's copy_message the copy keeps ``origmailbox``, ``callerid``, ``origtime``,
        ``flag`` and the ``msg_id``; ``context`` becomes ``to``'s. Should ``to`` already hold a
        message with that id (the same message forwarded twice), the copy's is ``<id>-2`` (or
        the next free suffix), so that both stay addressable.

        Raises UnknownMessageError when the message is not in ``folder``, MailboxFullError when
        ``to``'s INBOX holds ``max_messages``.
        """
        self.folder(mailbox, folder)
        directory = self.folder(to, "INBOX")
        limit = min(max_messages, MAX_MESSAGES)
        with self._locked(mailbox, to):
            source = next(
                (
                    message
                    for message in self._scan(mailbox).messages
                    if message.folder == folder and message.msg_id == msg_id
                ),
                None,
            )
            if source is None:
                raise UnknownMessageError(f"{mailbox} {folder} has no message {msg_id!r}")
            taken = {message.msg_id for message in self._scan(to).messages}
            new_id, suffix = source.msg_id, 1
            while new_id in taken:
                suffix += 1
                new_id = f"{source.msg_id}-{suffix}"
            info = dataclasses.replace(source.info, context=to.context, msg_id=new_id)
            audio = {
                path.name[len(source.name) :]: path.read_bytes()
                for path in _message_files(source.audio.parent, source.number)
                if path != source.text
            }
            directory.mkdir(parents=True, exist_ok=True)
            number = _next_number(to, "INBOX", _numbers(directory), limit)
            copied = self._write_message(to, "INBOX", number, audio, info)
            self._counted(to, "INBOX", +1)
            return copied

    def _write_message(
        self,
        mailbox: MailboxId,
        folder: str,
        number: int,
        audio: dict[str, bytes],
        info: MessageInfo,
    ) -> StoredMessage:
        """Write audio files (by suffix; ``""`` for this spool's format) then the ``.txt``."""
        directory = self.folder(mailbox, folder)
        staging = self._staging(mailbox)
        stem = f"msg{number:04d}"
        _clear_leftovers(directory, number)
        written: list[Path] = []
        try:
            for suffix, data in audio.items():
                path = directory / f"{stem}{suffix or '.' + self.audio_format}"
                written.append(path)
                write_atomic(staging, path, data)
            write_atomic(staging, directory / f"{stem}.txt", info.to_text().encode())
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        audio_path = directory / f"{stem}.{self.audio_format}"
        return StoredMessage(mailbox, folder, number, audio_path, info)

    # -- the retrieval menu's changes -------------------------------------------------------

    def apply_changes(
        self, mailbox: MailboxId, changes: Iterable[MessageChange], *, max_messages: int = 100
    ) -> ChangeReport:
        """Move (``folder`` set) or delete (``folder`` None) messages by ``msg_id``, in order,
        then renumber every folder so its numbers run from 0000 in their old order.

        A moved message takes the next number of its target folder; a move into a folder that
        holds ``max_messages`` is not made (as Asterisk's save_to_folder) and, once the rest is
        applied, raises FolderFullError carrying the report. An unknown ``msg_id`` is reported,
        not an error. A message deposited meanwhile waits for the lock and lands after the others.
        """
        changes = tuple(changes)
        for change in changes:
            if change.folder is not None:
                self.folder(mailbox, change.folder)
        limit = min(max_messages, MAX_MESSAGES)
        applied: list[MessageChange] = []
        unknown: list[MessageChange] = []
        full: list[MessageChange] = []
        with self._locked(mailbox):
            where = {message.msg_id: message for message in self._scan(mailbox).messages}
            for change in changes:
                message = where.get(change.msg_id)
                if message is None:
                    unknown.append(change)
                elif change.folder is None:
                    _delete(message)
                    self._counted(mailbox, message.folder, -1)
                    del where[change.msg_id]
                    applied.append(change)
                elif change.folder == message.folder:
                    applied.append(change)
                else:
                    directory = self.folder(mailbox, change.folder)
                    directory.mkdir(parents=True, exist_ok=True)
                    try:
                        number = _next_number(mailbox, change.folder, _numbers(directory), limit)
                    except MailboxFullError:
                        full.append(change)
                        continue
                    where[change.msg_id] = self._move(message, change.folder, number)
                    self._counted(mailbox, message.folder, -1)
                    self._counted(mailbox, change.folder, +1)
                    applied.append(change)
            # Every folder, not only those touched: a run cut short by a crash left gaps that
            # the next one closes (Asterisk closes them whenever a folder is opened).
            for folder in FOLDERS:
                self._renumber(mailbox, folder)
        report = ChangeReport(tuple(applied), tuple(unknown), tuple(full))
        if full:
            raise FolderFullError(mailbox, report, limit)
        return report

    def renumber(self, mailbox: MailboxId, folder: str = "INBOX") -> None:
        """Close the gaps in a folder's numbers, keeping the messages' order."""
        self.folder(mailbox, folder)
        with self._locked(mailbox):
            self._renumber(mailbox, folder)

    def _renumber(self, mailbox: MailboxId, folder: str) -> None:
        directory = self.folder(mailbox, folder)
        numbers = _numbers(directory)
        if numbers == list(range(len(numbers))):
            return
        staging = self._staging(mailbox)
        # Lowest first into the lowest free number: every number below is already taken by a
        # message that was below it, so the order holds and no move lands on a message.
        for wanted, number in enumerate(numbers):
            if number != wanted:
                _relocate(directory, number, directory, wanted, staging)

    def _move(self, message: StoredMessage, folder: str, number: int) -> StoredMessage:
        directory = self.folder(message.mailbox, folder)
        _relocate(
            message.audio.parent,
            message.number,
            directory,
            number,
            self._staging(message.mailbox),
        )
        audio = directory / f"msg{number:04d}.{self.audio_format}"
        return dataclasses.replace(message, folder=folder, number=number, audio=audio)

    # -- start-up ---------------------------------------------------------------------------

    def mailboxes_on_disk(self) -> list[MailboxId]:
        """Every ``<context>/<box>`` directory of the spool, as a mailbox."""
        found: list[MailboxId] = []
        if not self.root.is_dir():
            return found
        for context in sorted(entry for entry in self.root.iterdir() if entry.is_dir()):
            for box in sorted(entry for entry in context.iterdir() if entry.is_dir()):
                try:
                    found.append(MailboxId(box.name, context.name))
                except ValueError:
                    continue  # not a mailbox directory (an admin's backup, say)
        return found

    def clean(self, mailbox: MailboxId) -> list[Path]:
        """What a crash left in ``mailbox``, removed (as Asterisk's start-up checks would):
        every file of its ``tmp/``, audio with no ``.txt``; then every folder renumbered from
        0000 in order. Returns the files removed."""
        removed: list[Path] = []
        with self._locked(mailbox):
            staging = self.mailbox_dir(mailbox) / "tmp"
            if staging.is_dir():
                for entry in sorted(staging.iterdir()):
                    if entry.is_file() or entry.is_symlink():
                        entry.unlink()
                        removed.append(entry)
            for folder in FOLDERS:
                directory = self.folder(mailbox, folder)
                texts = set(_numbers(directory))
                for path in _audio_files(directory):
                    number = int(path.name[3:7])
                    if number not in texts:
                        path.unlink()
                        removed.append(path)
                self._renumber(mailbox, folder)
            self._tallies.pop(mailbox, None)
        for path in removed:
            log.warning("%s: removed %s, left by an interrupted write", mailbox, path)
        return removed

    # -- greetings --------------------------------------------------------------------------

    def greeting_path(self, mailbox: MailboxId, kind: str) -> Path | None:
        """The recorded greeting ``kind`` (unavail, busy, temp, greet), or None if there is none."""
        path = self._greeting_file(mailbox, kind)
        return path if path.is_file() else None

    def greetings(self, mailbox: MailboxId) -> frozenset[str]:
        """The greeting kinds the mailbox has recorded."""
        # Every deposit asks: one listing of the mailbox instead of a stat per kind.
        kinds = {f"{kind}.{self.audio_format}": kind for kind in GREETINGS}
        try:
            with os.scandir(self.mailbox_dir(mailbox)) as entries:
                recorded = [
                    entry.name for entry in entries if entry.name in kinds and entry.is_file()
                ]
                return frozenset(kinds[name] for name in recorded)
        except (FileNotFoundError, NotADirectoryError):
            return frozenset()

    def save_greeting(self, mailbox: MailboxId, kind: str, audio: bytes) -> Path:
        """Store (or replace) greeting ``kind`` atomically; returns its path."""
        path = self._greeting_file(mailbox, kind)
        with self._locked(mailbox):
            write_atomic(self._staging(mailbox), path, audio)
        return path

    def remove_greeting(self, mailbox: MailboxId, kind: str) -> bool:
        """Remove greeting ``kind``; False when there was none."""
        path = self._greeting_file(mailbox, kind)
        with self._locked(mailbox):
            try:
                path.unlink()
            except FileNotFoundError:
                return False
            _fsync_dir(path.parent)
        return True

    def _greeting_file(self, mailbox: MailboxId, kind: str) -> Path:
        if kind not in GREETINGS:
            raise ValueError(f"unknown greeting {kind!r} (known: {', '.join(GREETINGS)})")
        return self.mailbox_dir(mailbox) / f"{kind}.{self.audio_format}"


def write_atomic(staging: Path, target: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace ``target`` by ``data`` in one step: written and fsynced in ``staging`` (on the
    same file system), renamed over ``target``, the directory fsynced. ``mode``: permissions."""
    temporary = staging / f".{target.name}.{os.getpid()}.{threading.get_ident()}"
    try:
        with open(temporary, "wb") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        # A failed write (disk full, say) must not leave its half in tmp/.
        temporary.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _read_info(raw: bytes, source: str) -> MessageInfo:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        # Asterisk writes caller names as they came, often Latin-1; every byte decodes.
        text = raw.decode("latin-1")
    if not _MSG_ID_LINE.search(text):
        # Written before Asterisk 11 or by hand: addressed by a derived id instead.
        text += "\nmsg_id=\n"
    return MessageInfo.from_text(text, source)


def _numbers(directory: Path) -> list[int]:
    if not directory.is_dir():
        return []
    found = (_MESSAGE_RE.match(entry.name) for entry in os.scandir(directory))
    return sorted(int(match.group(1)) for match in found if match)


def _next_number(mailbox: MailboxId, folder: str, numbers: list[int], limit: int) -> int:
    """The number after the highest (gaps are not reused, as app_voicemail's last_message_index)."""
    if len(numbers) >= limit:
        raise MailboxFullError(f"{mailbox} {folder} holds {len(numbers)} of {limit} messages")
    number = numbers[-1] + 1 if numbers else 0
    if number > MAX_MESSAGES - 1:
        raise MailboxFullError(f"{mailbox} {folder} has no free message number")
    return number


def _message_files(directory: Path, number: int) -> list[Path]:
    """``msgNNNN.*``: the ``.txt`` and the audio in every format recorded."""
    prefix = f"msg{number:04d}."
    if not directory.is_dir():
        return []
    return sorted(directory / e.name for e in os.scandir(directory) if e.name.startswith(prefix))


_AUDIO_RE = re.compile(r"msg[0-9]{4}\.(?!txt\Z)[^.]+\Z")


def _audio_files(directory: Path) -> list[Path]:
    """Every ``msgNNNN.<format>`` of a folder (not the ``.txt``)."""
    if not directory.is_dir():
        return []
    return sorted(directory / e.name for e in os.scandir(directory) if _AUDIO_RE.match(e.name))


def _clear_leftovers(directory: Path, number: int) -> None:
    """Remove audio left at a free number by an interrupted write or move."""
    text = directory / f"msg{number:04d}.txt"
    for path in _message_files(directory, number):
        if path == text:
            raise FileExistsError(f"{text}: a message already has this number")
        path.unlink()


def _relocate(source: Path, number: int, target: Path, new_number: int, staging: Path) -> None:
    """Move message ``number`` of ``source`` to ``new_number`` of ``target``: audio linked (or
    copied) first, then the ``.txt`` renamed, then the old audio removed."""
    stem, new_stem = f"msg{number:04d}", f"msg{new_number:04d}"
    _clear_leftovers(target, new_number)
    text = source / f"{stem}.txt"
    audio = [path for path in _message_files(source, number) if path != text]
    for path in audio:
        _link(path, target / f"{new_stem}{path.name[len(stem) :]}", staging)
    _fsync_dir(target)
    # The one step that moves the message: before it, it is complete at the old number; after
    # it, at the new one.
    os.rename(text, target / f"{new_stem}.txt")
    _fsync_dir(target)
    if source != target:
        _fsync_dir(source)
    for path in audio:
        path.unlink(missing_ok=True)


def _link(source: Path, target: Path, staging: Path) -> None:
    temporary = staging / f".{target.name}.{os.getpid()}.{threading.get_ident()}"
    temporary.unlink(missing_ok=True)
    try:
        os.link(source, temporary)
    except OSError:
        # No hard links on this file system: a copy does as well, only slower.
        write_atomic(staging, target, source.read_bytes())
        return
    try:
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _delete(message: StoredMessage) -> None:
    """The ``.txt`` first: from then on the message is gone, whatever happens to its audio."""
    directory = message.audio.parent
    message.text.unlink()
    _fsync_dir(directory)
    for path in _message_files(directory, message.number):
        path.unlink(missing_ok=True)
