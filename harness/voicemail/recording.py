"""A deposit's recording streamed to disk while it is spoken, and recovered after a crash.

While a caller speaks, what has been heard is appended every second or so, as it settles, to
``<mailbox>/tmp/rec-<msg_id>.pcm`` (16-bit 8 kHz samples) and fsynced; ``rec-<msg_id>.json``,
written before the first sample, says which mailboxes and folder the message is for and holds
its information file. When the call stores the message, the journal is removed after the
message is in place; should the process die first (``kill -9``, a power cut), start-up turns
every journal into the message it would have become, so a crash loses at most the seconds not
yet flushed. A journal whose message already exists (the crash fell between the two steps) is
only removed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from harness.core.mailbox import MailboxId
from harness.media.wav import wav_bytes
from harness.voicemail.metadata import MessageInfo
from harness.voicemail.store import MailboxFullError, Spool, write_atomic

log = logging.getLogger(__name__)

Pcm = npt.NDArray[np.int16]
RATE = 8000
_PREFIX = "rec-"


@dataclass(frozen=True, slots=True)
class Recovered:
    """What start-up found in the spool: messages rebuilt from journals, files removed."""

    messages: tuple[tuple[MailboxId, str], ...] = ()  # (mailbox, msg_id)
    removed: tuple[Path, ...] = ()


class RecordingJournal:
    """One deposit's recording on its way to disk (blocking: call from a worker thread)."""

    def __init__(
        self,
        spool: Spool,
        mailboxes: tuple[MailboxId, ...],
        folder: str,
        info: MessageInfo,
    ) -> None:
        self.spool = spool
        self.msg_id = info.msg_id
        self.mailboxes = mailboxes
        staging = spool.mailbox_dir(mailboxes[0]) / "tmp"
        staging.mkdir(parents=True, exist_ok=True)
        self._staging = staging
        self.audio_path = staging / f"{_PREFIX}{info.msg_id}.pcm"
        self.header_path = staging / f"{_PREFIX}{info.msg_id}.json"
        self._write_header(folder, info)
        self._written = 0  # samples on disk
        self._closed = False
        #: Set when an append failed: nothing more is written, what is there stays readable.
        self.broken = False
        # A flush still running in its thread must not re-create the file after discard().
        self._lock = threading.Lock()

    def _write_header(self, folder: str, info: MessageInfo) -> None:
        header = {
            "mailboxes": [str(mailbox) for mailbox in self.mailboxes],
            "folder": folder,
            "info": info.to_text(),
        }
        write_atomic(self._staging, self.header_path, json.dumps(header).encode())

    def relabel(self, folder: str, info: MessageInfo) -> None:
        """The message is now for ``folder`` with ``info`` (the caller marked it Urgent, or
        not): what start-up recovers after a crash goes there. Atomic, like the first."""
        with self._lock:
            if not self._closed:
                self._write_header(folder, info)

    def flush(self, audio: Pcm) -> None:
        """Append the part of ``audio`` (everything recorded so far) not yet on disk; fsync."""
        self.append(audio[self._written :])

    def append(self, chunk: Pcm) -> None:
        """Append ``chunk``, the recording's next stretch, to the file; fsync."""
        with self._lock:
            if self._closed or not len(chunk):
                return
            with open(self.audio_path, "ab") as handle:
                handle.write(np.asarray(chunk, dtype="<i2").tobytes())
                handle.flush()
                os.fsync(handle.fileno())
            self._written += len(chunk)

    def read(self, samples: int) -> Pcm:
        """The first ``samples`` appended (OSError when they cannot all be read back)."""
        with self._lock, open(self.audio_path, "rb") as handle:
            raw = handle.read(samples * 2)
        if len(raw) < samples * 2:
            raise OSError(f"{self.audio_path}: {len(raw) // 2} of {samples} samples on disk")
        return np.frombuffer(raw, dtype="<i2").astype(np.int16)

    def discard(self) -> None:
        """The message is stored (or was thrown away): the journal goes."""
        with self._lock:
            self._closed = True
            self.audio_path.unlink(missing_ok=True)
            self.header_path.unlink(missing_ok=True)


def recover(spool: Spool, max_messages: dict[MailboxId, int] | None = None) -> Recovered:
    """Start-up: turn every recording journal into its message, then remove whatever else a
    crash left in the mailboxes' ``tmp/`` and close the gaps in their folders' numbering."""
    limits = max_messages or {}
    messages: list[tuple[MailboxId, str]] = []
    removed: list[Path] = []
    for mailbox in spool.mailboxes_on_disk():
        staging = spool.mailbox_dir(mailbox) / "tmp"
        for header in sorted(staging.glob(f"{_PREFIX}*.json")):
            messages.extend(_replay(spool, header, limits))
        removed.extend(spool.clean(mailbox))
    return Recovered(tuple(messages), tuple(removed))


def _replay(
    spool: Spool, header: Path, limits: dict[MailboxId, int]
) -> list[tuple[MailboxId, str]]:
    """Store the message of one journal in each of its mailboxes that lacks it."""
    try:
        described = json.loads(header.read_text())
        info = MessageInfo.from_text(described["info"], str(header))
        mailboxes = [MailboxId.parse(text) for text in described["mailboxes"]]
        folder = str(described["folder"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("%s: unreadable recording journal removed: %s", header, error)
        return []
    audio_path = header.with_suffix(".pcm")
    try:
        raw = audio_path.read_bytes()
    except FileNotFoundError:
        raw = b""
    audio = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2").astype(np.int16)
    if not audio.size:
        return []  # hung up (or killed) before a sample was saved: nothing to keep
    duration = int(len(audio) / RATE)
    recovered: list[tuple[MailboxId, str]] = []
    for mailbox in mailboxes:
        if spool.find(mailbox, info.msg_id) is not None:
            continue  # stored before the crash; only the journal was left
        mine = dataclasses.replace(info, context=mailbox.context, duration=duration)
        try:
            limit = limits.get(mailbox, 100)
            spool.save(mailbox, wav_bytes(audio), mine, folder=folder, max_messages=limit)
        except MailboxFullError as error:
            log.warning("recovered message for %s not stored: %s", mailbox, error)
            continue
        log.warning("%s: message %s recovered after a crash (%d s)", mailbox, info.msg_id, duration)
        recovered.append((mailbox, info.msg_id))
    return recovered
