"""What a crash leaves in the spool, and what start-up makes of it.

A crash (``kill -9``, a power cut) can leave a half-written temp file in a mailbox's ``tmp/``,
audio whose ``.txt`` was never written, a gap in a folder's numbering, and the journal of a
recording in progress. Start-up must turn the journal into the message the caller left, and
leave nothing else behind.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
from pathlib import Path

import numpy as np
import pytest

from harness.core.mailbox import MailboxId
from harness.media.signal import speech_like
from harness.media.wav import read_wav, wav_bytes
from harness.voicemail.deposit import Deposit
from harness.voicemail.metadata import MessageInfo
from harness.voicemail.recording import RecordingJournal, recover
from harness.voicemail.services import CallServices
from harness.voicemail.store import Spool

BOX = MailboxId("2000")


def _info(msg_id: str) -> MessageInfo:
    return MessageInfo(
        origmailbox="2000",
        context="default",
        exten="2000",
        rdnis="unknown",
        callerid="+15551230000",
        origtime=1_700_000_000,
        msg_id=msg_id,
        duration=0,
        callerchan="SIP/test",
        flag="",
    )


def _store(spool: Spool, count: int) -> None:
    for number in range(count):
        spool.save(BOX, wav_bytes(speech_like(0.2, str(number))), _info(f"1-{number:08x}"))


def test_start_up_removes_stale_temp_files_and_orphan_audio_and_closes_gaps(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path)
    _store(spool, 3)
    inbox = spool.folder(BOX)
    staging = spool.mailbox_dir(BOX) / "tmp"
    # What kill -9 during a write or a move leaves: a temp file, audio without a .txt, a gap.
    (staging / ".msg0003.wav.4242.1").write_bytes(b"RIFF" + bytes(320_000))
    (inbox / "msg0001.txt").unlink()
    (inbox / "msg0007.wav").write_bytes(b"RIFF half")

    recovered = recover(spool)

    assert list(staging.iterdir()) == []
    assert sorted(path.name for path in inbox.iterdir()) == [
        "msg0000.txt",
        "msg0000.wav",
        "msg0001.txt",
        "msg0001.wav",
    ]
    assert [m.msg_id for m in spool.messages(BOX)] == ["1-00000000", "1-00000002"]
    assert len(recovered.removed) == 3
    assert spool.counts(BOX).new == 2


def test_a_journal_left_by_a_crash_becomes_the_message(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    speech = speech_like(2.5, "journalled")
    journal = RecordingJournal(spool, (BOX,), "INBOX", _info("9-0000002a"))
    journal.flush(speech[:8000])
    journal.flush(speech[:20000])  # the process dies here: 2.5 s recorded, 2.5 s on disk

    recovered = recover(Spool(tmp_path))

    assert recovered.messages == ((BOX, "9-0000002a"),)
    (message,) = spool.messages(BOX)
    audio, _ = read_wav(message.audio)
    assert np.array_equal(audio, speech[:20000])
    assert message.info.duration == 2
    assert list((spool.mailbox_dir(BOX) / "tmp").iterdir()) == []


def test_a_journal_whose_message_was_stored_is_not_stored_twice(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    speech = speech_like(1.5, "stored")
    journal = RecordingJournal(spool, (BOX,), "INBOX", _info("9-0000002b"))
    journal.flush(speech)
    spool.save(BOX, wav_bytes(speech), _info("9-0000002b"))  # killed before the journal went

    recover(Spool(tmp_path))

    assert [m.msg_id for m in spool.messages(BOX)] == ["9-0000002b"]


def test_a_journal_with_no_audio_yet_leaves_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    RecordingJournal(spool, (BOX,), "INBOX", _info("9-0000002c"))
    recover(Spool(tmp_path))
    assert spool.messages(BOX) == []
    assert list((spool.mailbox_dir(BOX) / "tmp").iterdir()) == []


def test_a_full_disk_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path)
    _store(spool, 1)
    real_open = open

    def full_disk(path: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        handle = real_open(path, mode, *args, **kwargs)  # type: ignore[call-overload]
        if "w" in mode:
            handle.write = _no_space  # the first write fails, as on a full tmpfs
        return handle

    monkeypatch.setattr("builtins.open", full_disk)
    with caplog.at_level(logging.WARNING), pytest.raises(OSError, match="No space") as raised:
        spool.save(BOX, wav_bytes(speech_like(1.0, "x")), _info("1-00000009"))
    monkeypatch.undo()
    assert raised.value.errno == errno.ENOSPC
    inbox = spool.folder(BOX)
    assert sorted(p.name for p in inbox.iterdir()) == ["msg0000.txt", "msg0000.wav"]
    assert list((spool.mailbox_dir(BOX) / "tmp").iterdir()) == []


def _no_space(data: bytes) -> int:
    raise OSError(errno.ENOSPC, "No space left on device")


class _Host:
    """The part of the server a call's services use while journalling a deposit."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self._ids = iter(range(1, 100))

    def next_message_id(self, unix_time: float) -> str:
        return f"{int(unix_time)}-{next(self._ids):08x}"


async def test_an_urgent_deposit_to_two_mailboxes_is_recovered_urgent_in_both(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path)
    sales = MailboxId("2001")
    deposit = Deposit(
        mailbox=BOX,
        callerid="+15551230000",
        exten="2000",
        rdnis="unknown",
        reason=None,
        callerchan="SIP/test",
        started=1_700_000_000,
        mailboxes=(BOX, sales),
        urgent=True,
    )
    services = CallServices(_Host(spool), None, deposit)  # type: ignore[arg-type]
    speech = speech_like(1.5, "urgent")
    await services.recording_started()
    await services.recording_progress(speech)  # the process dies here

    recovered = recover(Spool(tmp_path))

    assert sorted(str(box) for box, _ in recovered.messages) == ["2000@default", "2001@default"]
    for mailbox in (BOX, sales):
        assert Spool(tmp_path).messages(mailbox, "INBOX") == []
        (message,) = Spool(tmp_path).messages(mailbox, "Urgent")
        assert message.info.flag == "Urgent"
        assert message.info.origmailbox == "2000"


async def test_a_deposit_marked_urgent_in_review_is_recovered_urgent(tmp_path: Path) -> None:
    services = CallServices(_Host(Spool(tmp_path)), None, _deposit())  # type: ignore[arg-type]
    await services.recording_started()
    await services.recording_progress(speech_like(1.0, "first"))
    await services.mark_urgent(True)  # the caller pressed 4 in the review menu
    await services.recording_started()  # then 3: recorded again
    await services.recording_progress(speech_like(1.5, "again"))  # the process dies here

    recovered = recover(Spool(tmp_path))

    assert [str(box) for box, _ in recovered.messages] == ["2000@default"]
    assert Spool(tmp_path).messages(BOX, "INBOX") == []
    (message,) = Spool(tmp_path).messages(BOX, "Urgent")
    assert message.info.flag == "Urgent"
    assert read_wav(message.audio)[0].size == 12_000


async def test_an_urgent_deposit_marked_back_in_review_is_recovered_to_inbox(
    tmp_path: Path,
) -> None:
    deposit = dataclasses.replace(_deposit(), urgent=True)
    services = CallServices(_Host(Spool(tmp_path)), None, deposit)  # type: ignore[arg-type]
    await services.recording_started()
    await services.recording_progress(speech_like(1.0, "urgent"))
    await services.mark_urgent(False)  # the process dies here

    recover(Spool(tmp_path))

    assert Spool(tmp_path).messages(BOX, "Urgent") == []
    (message,) = Spool(tmp_path).messages(BOX, "INBOX")
    assert message.info.flag == ""


def _deposit() -> Deposit:
    return Deposit(
        mailbox=BOX,
        callerid="+15551230000",
        exten="2000",
        rdnis="unknown",
        reason=None,
        callerchan="SIP/test",
        started=1_700_000_000,
    )


async def test_a_recording_on_disk_is_given_back_whole_for_storing(tmp_path: Path) -> None:
    services = CallServices(_Host(Spool(tmp_path)), None, _deposit())  # type: ignore[arg-type]
    first, second = speech_like(1.0, "first"), speech_like(1.0, "second")
    await services.recording_started()
    # Each stretch on disk is one the call no longer holds in memory.
    assert await services.recording_progress(first)
    assert await services.recording_progress(second)
    assert np.array_equal(await services.recorded(16000), np.concatenate((first, second)))


async def test_a_journal_that_fails_keeps_what_it_holds_and_refuses_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    services = CallServices(_Host(Spool(tmp_path)), None, _deposit())  # type: ignore[arg-type]
    first = speech_like(1.0, "first")
    await services.recording_started()
    assert await services.recording_progress(first)

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("harness.voicemail.recording.os.fsync", disk_full)
    with caplog.at_level(logging.ERROR):
        assert not await services.recording_progress(speech_like(1.0, "second"))
    assert "recording journal stopped: [Errno 28] No space left on device" in caplog.text
    monkeypatch.undo()
    # Later stretches stay with the call, though the disk may have room again.
    assert not await services.recording_progress(speech_like(1.0, "third"))
    assert np.array_equal(await services.recorded(8000), first)
