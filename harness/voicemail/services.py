"""The mailbox services one call's session uses: the spool, the notifier, the SIP leg.

:class:`CallServices` implements :class:`~harness.voicemail.session.MailboxServices` for one
call on top of :class:`CallHost`, the narrow part of the server a call may use.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from typing import Protocol

import numpy as np
import numpy.typing as npt

from harness.core.mailbox import MailboxId
from harness.media.wav import read_wav, wav_bytes
from harness.sip.dialog import Dialog
from harness.sip.transport import TransactionFailed
from harness.voicemail import pins
from harness.voicemail.conf.server_config import ServerConfig
from harness.voicemail.conf.voicemail_conf import MailboxConfig
from harness.voicemail.deposit import Deposit
from harness.voicemail.flows.callflow import MailboxView, MessageChange
from harness.voicemail.lockout import PinLockout
from harness.voicemail.metadata import MessageInfo
from harness.voicemail.recording import RecordingJournal
from harness.voicemail.store import FolderFullError, MailboxFullError, Spool

log = logging.getLogger(__name__)

Pcm = npt.NDArray[np.int16]
#: Asterisk's ``maxmsg`` when a mailbox sets none.
DEFAULT_MAXMSG = 100


class CallHost(Protocol):
    """What a call may ask of the server it runs on."""

    @property
    def spool(self) -> Spool:
        """The server's spool."""
        ...

    @property
    def config(self) -> ServerConfig:
        """The configuration now (a PIN change reloads it)."""
        ...

    def next_message_id(self, unix_time: float) -> str:
        """A new ``msg_id`` for a message recorded at ``unix_time``."""
        ...

    @property
    def lockout(self) -> PinLockout:
        """Failed logins per mailbox over every call."""
        ...

    def mailbox_changed(self, mailbox: MailboxId) -> None:
        """Tell peers, subscribers, lamps and ``externnotify`` the mailbox's new counts."""
        ...

    async def reload_config(self) -> None:
        """Read the configuration files again (after a PIN was written into them)."""
        ...

    async def hang_up(self, dialog: Dialog) -> None:
        """Send BYE on ``dialog``."""
        ...


class CallServices:
    """The mailbox services of one call (``deposit`` set for a caller leaving a message)."""

    def __init__(
        self, host: CallHost, dialog: Dialog, deposit: Deposit | None, caller: str = ""
    ) -> None:
        self._host = host
        self._caller = caller
        self._dialog = dialog
        self._deposit = deposit
        self._journal: RecordingJournal | None = None
        # Whether the message being left is Urgent: as the call asked, until the caller says.
        self._urgent = deposit is not None and deposit.urgent

    def _config(self, mailbox: MailboxId) -> MailboxConfig | None:
        return self._host.config.mailbox(mailbox)

    def _maxmsg(self, mailbox: MailboxId) -> int:
        config = self._config(mailbox)
        return config.effective("maxmsg") if config is not None else DEFAULT_MAXMSG

    def load(self, mailbox: MailboxId, contents: bool = True) -> MailboxView | None:
        """The mailbox's configuration and contents (without ``contents``, the counts of its
        folders instead of their messages), or None when it does not exist."""
        config = self._config(mailbox)
        if config is None:
            return None
        spool = self._host.spool
        written = pins.stored_pin(config, spool.mailbox_dir(mailbox))
        pin = written.lstrip("-") or None
        changeable = not written.startswith("-")
        if contents:
            view = spool.view(mailbox, pin, changeable)
        else:
            view = spool.summary(mailbox, pin, changeable)
        return dataclasses.replace(view, locked=self._host.lockout.locked(mailbox, _clock()))

    def login_failed(self, mailbox: MailboxId) -> None:
        """Count the failure for the mailbox, log it (never the digits), lock if it is due."""
        lockout = self._host.lockout
        log.warning("login to %s refused: wrong PIN (caller %s)", mailbox, self._caller or "?")
        if lockout.failed(mailbox, _clock()):
            policy = lockout.policy
            count, seconds = policy.failures, policy.seconds
            log.warning("%s locked for %g s after %d failed logins", mailbox, seconds, count)

    def login_succeeded(self, mailbox: MailboxId) -> None:
        """A correct PIN clears the mailbox's failures and creates its login folders."""
        self._host.lockout.succeeded(mailbox)
        try:
            self._host.spool.open_folders(mailbox)
        except OSError as error:
            # As app_voicemail: a folder it cannot create is logged, the login goes on.
            log.warning("%s: cannot create its folders: %s", mailbox, error)

    def greeting(self, mailbox: MailboxId, kind: str) -> Pcm | None:
        """A recorded greeting's audio, if the mailbox has one."""
        path = self._host.spool.greeting_path(mailbox, kind)
        return None if path is None else read_wav(path)[0]

    def message(self, mailbox: MailboxId, folder: str, msg_id: str) -> Pcm | None:
        """A stored message's audio."""
        stored = self._host.spool.find(mailbox, msg_id)
        return None if stored is None else read_wav(stored.audio)[0]

    async def store(
        self, mailboxes: tuple[MailboxId, ...], audio: Pcm, urgent: bool
    ) -> tuple[tuple[MailboxId, ...], tuple[MailboxId, ...]]:
        """Store the recording in each mailbox; (stored, full)."""
        deposit = self._deposit
        if deposit is None:
            return (), mailboxes
        duration = len(audio) / 8000
        data = wav_bytes(audio)
        folder = "Urgent" if urgent else "INBOX"
        stored: list[MailboxId] = []
        full: list[MailboxId] = []
        journal = self._journal
        for mailbox in mailboxes:
            # The journal's own id, so a start-up after a crash knows the message is stored.
            if journal is not None and mailbox in journal.mailboxes:
                msg_id = journal.msg_id
            else:
                msg_id = self._host.next_message_id(deposit.started)
            info = _for_mailbox(deposit.info(duration, msg_id, urgent=urgent), mailbox)
            try:
                await asyncio.to_thread(
                    self._host.spool.save,
                    mailbox,
                    data,
                    info,
                    folder=folder,
                    max_messages=self._maxmsg(mailbox),
                )
                stored.append(mailbox)
            except MailboxFullError as error:
                log.warning("message for %s not stored: %s", mailbox, error)
                full.append(mailbox)
            except OSError as error:
                # Disk full, say: the spool removed what it had written; the caller hears
                # that the message was not kept, as for a full mailbox.
                log.error("message for %s not stored: %s", mailbox, error.strerror or error)
                full.append(mailbox)
        await self.recording_done()
        return tuple(stored), tuple(full)

    async def recording_started(self) -> None:
        """A deposit's recording begins: open its journal (see :mod:`recording`)."""
        deposit = self._deposit
        if deposit is None:
            return  # a greeting: the mailbox owner is on the line to record it again
        await self.recording_done()
        msg_id = self._host.next_message_id(deposit.started)
        info = deposit.info(0, msg_id, urgent=self._urgent)
        folder = "Urgent" if self._urgent else "INBOX"
        try:
            self._journal = await asyncio.to_thread(
                RecordingJournal, self._host.spool, deposit.recipients, folder, info
            )
        except OSError as error:
            log.error("%s: recording not journalled: %s", deposit.mailbox, error)

    async def mark_urgent(self, urgent: bool) -> None:
        """The message being left is now Urgent, or no longer is: its journal says so, so that
        a crash before it is stored recovers it into that folder."""
        self._urgent = urgent
        journal, deposit = self._journal, self._deposit
        if journal is None or journal.broken or deposit is None:
            return
        info = deposit.info(0, journal.msg_id, urgent=urgent)
        try:
            await asyncio.to_thread(journal.relabel, "Urgent" if urgent else "INBOX", info)
        except OSError as error:
            # The message is still stored where the caller chose; only a crash would miss it.
            log.error("%s: recording journal not relabelled: %s", journal.mailboxes[0], error)

    async def recording_progress(self, audio: Pcm) -> bool:
        """The recording's next stretch goes to the journal, fsynced; True once it is there."""
        journal = self._journal
        if journal is None or journal.broken:
            return False
        try:
            await asyncio.to_thread(journal.append, audio)
        except OSError as error:
            # The call keeps the rest in memory; what is on disk stays readable, but a crash
            # from now on would lose the recording.
            log.error("%s: recording journal stopped: %s", journal.mailboxes[0], error)
            journal.broken = True
            return False
        return True

    async def recorded(self, samples: int) -> Pcm:
        """The first ``samples`` of the recording, read back from its journal (silence where
        the disk fails to give them back, so the rest is still kept, in its place)."""
        journal = self._journal
        try:
            if journal is None:
                raise OSError("no journal holds the recording")
            return await asyncio.to_thread(journal.read, samples)
        except OSError as error:
            log.error("recording: %d s lost, unreadable on disk: %s", samples // 8000, error)
            return np.zeros(samples, dtype=np.int16)

    async def recording_done(self) -> None:
        """The recording is stored or thrown away: its journal goes."""
        journal, self._journal = self._journal, None
        if journal is not None:
            await asyncio.to_thread(journal.discard)

    async def store_greeting(self, mailbox: MailboxId, kind: str, audio: Pcm) -> None:
        """Store a greeting."""
        await asyncio.to_thread(self._host.spool.save_greeting, mailbox, kind, wav_bytes(audio))

    async def remove_greeting(self, mailbox: MailboxId, kind: str) -> None:
        """Remove a greeting."""
        await asyncio.to_thread(self._host.spool.remove_greeting, mailbox, kind)

    async def apply_changes(self, mailbox: MailboxId, changes: tuple[MessageChange, ...]) -> None:
        """Move and delete messages, then renumber."""
        try:
            await asyncio.to_thread(
                self._host.spool.apply_changes,
                mailbox,
                changes,
                max_messages=self._maxmsg(mailbox),
            )
        except FolderFullError as error:
            log.warning("%s: some messages were not moved: %s", mailbox, error)

    async def copy_message(
        self, mailbox: MailboxId, folder: str, msg_id: str, to: tuple[MailboxId, ...]
    ) -> None:
        """Forward a copy of a message to other mailboxes."""
        for target in to:
            try:
                await asyncio.to_thread(
                    self._host.spool.copy,
                    mailbox,
                    folder,
                    msg_id,
                    target,
                    max_messages=self._maxmsg(target),
                )
            except MailboxFullError as error:
                log.warning("forward to %s not stored: %s", target, error)
                continue
            self._host.mailbox_changed(target)

    async def change_pin(self, mailbox: MailboxId, pin: str) -> None:
        """Set a mailbox's PIN where ``passwordlocation`` says, then reload the files."""
        config = self._config(mailbox)
        if config is None:
            return
        try:
            await asyncio.to_thread(
                pins.change_pin,
                config,
                pin,
                self._host.spool.mailbox_dir(mailbox),
                config.effective("passwordlocation"),
                config_dir=self._host.config.directory,
                extconfig=self._host.config.extconfig,
            )
        except pins.PinChangeError as error:
            log.warning("PIN of %s not changed: %s", mailbox, error)
            return
        # The new PIN is in the files; read them again so the next login sees it.
        await self._host.reload_config()

    def mailbox_changed(self, mailbox: MailboxId) -> None:
        """Send MWI for the mailbox's new counts."""
        self._host.mailbox_changed(mailbox)

    async def hang_up(self) -> None:
        """End the call from our side (BYE)."""
        with contextlib.suppress(TransactionFailed):
            await self._host.hang_up(self._dialog)


def _clock() -> float:
    # Monotonic: a lock must not end early because the wall clock was set back.
    return time.monotonic()


def _for_mailbox(info: MessageInfo, mailbox: MailboxId) -> MessageInfo:
    """The message information as filed in ``mailbox`` (its own context)."""
    return dataclasses.replace(info, context=mailbox.context)
