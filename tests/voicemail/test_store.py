"""The spool: Asterisk's layout and numbering, atomic saves, counts for the lamp."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from harness.core.mailbox import MailboxId
from harness.core.mwi import MailboxCounts
from harness.voicemail.metadata import MessageInfo
from harness.voicemail.store import FOLDERS, MailboxFullError, Spool

ALICE = MailboxId("2000")
AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt "


def info(number: int = 0, box: str = "2000", context: str = "default") -> MessageInfo:
    return MessageInfo(
        origmailbox=box,
        context=context,
        exten=box,
        rdnis="unknown",
        callerid=f'"Caller {number}" <555{number:04d}>',
        origtime=1767625445 + number,
        msg_id=f"{1767625445 + number}-{number:08x}",
        duration=3 + number,
    )


def files(directory: Path) -> list[str]:
    return sorted(entry.name for entry in directory.iterdir()) if directory.exists() else []


def delete(spool: Spool, mailbox: MailboxId, number: int, folder: str = "INBOX") -> None:
    for path in spool.folder(mailbox, folder).glob(f"msg{number:04d}.*"):
        path.unlink()


def test_save_writes_audio_and_information_in_asterisks_layout(tmp_path: Path) -> None:
    spool = Spool(tmp_path)

    stored = spool.save(ALICE, AUDIO, info())

    inbox = tmp_path / "default" / "2000" / "INBOX"
    assert files(inbox) == ["msg0000.txt", "msg0000.wav"]
    assert (inbox / "msg0000.wav").read_bytes() == AUDIO
    assert (inbox / "msg0000.txt").read_text() == info().to_text()
    assert files(tmp_path / "default" / "2000" / "tmp") == []  # nothing left behind
    assert (stored.mailbox, stored.folder, stored.number, stored.name) == (
        ALICE,
        "INBOX",
        0,
        "msg0000",
    )
    assert stored.audio == inbox / "msg0000.wav"
    assert stored.info == info()


def test_messages_are_numbered_from_0000(tmp_path: Path) -> None:
    spool = Spool(tmp_path)

    numbers = [spool.save(ALICE, AUDIO, info(n)).number for n in range(3)]

    assert numbers == [0, 1, 2]
    assert files(spool.folder(ALICE)) == [
        "msg0000.txt",
        "msg0000.wav",
        "msg0001.txt",
        "msg0001.wav",
        "msg0002.txt",
        "msg0002.wav",
    ]


def test_after_a_deletion_the_next_number_follows_the_highest(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for n in range(3):
        spool.save(ALICE, AUDIO, info(n))

    delete(spool, ALICE, 0)
    after_first = spool.save(ALICE, AUDIO, info(3))
    delete(spool, ALICE, 3)
    delete(spool, ALICE, 2)
    after_last = spool.save(ALICE, AUDIO, info(4))

    # As app_voicemail's last_message_index: gaps are not reused, the highest number counts.
    assert after_first.number == 3
    assert after_last.number == 2
    assert spool.numbers(ALICE) == [1, 2]


def test_only_txt_files_make_a_message(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    inbox = spool.folder(ALICE)
    inbox.mkdir(parents=True)
    for name in ("msg0005.wav", "msg12.txt", "msg00001.txt", "greet.txt", "msg0003.txt~"):
        (inbox / name).write_bytes(b"")
    (inbox / "msg\u0661\u0662\u0663\u0664.txt").write_bytes(b"")  # Arabic-Indic digits

    assert spool.numbers(ALICE) == []
    assert spool.save(ALICE, AUDIO, info()).number == 0


def test_counts_inbox_old_and_urgent(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for n in range(3):
        spool.save(ALICE, AUDIO, info(n))
    spool.save(ALICE, AUDIO, info(3), folder="Old")
    spool.save(ALICE, AUDIO, info(4), folder="Urgent")
    spool.save(ALICE, AUDIO, info(5), folder="Work")  # saved elsewhere: not for the lamp

    assert spool.counts(ALICE) == MailboxCounts(new=3, old=1, urgent=1)
    assert spool.count(ALICE, "Work") == 1
    assert spool.counts(MailboxId("2001")) == MailboxCounts()


def test_folders_number_independently(tmp_path: Path) -> None:
    spool = Spool(tmp_path)

    spool.save(ALICE, AUDIO, info(0))
    spool.save(ALICE, AUDIO, info(1))
    old = spool.save(ALICE, AUDIO, info(2), folder="Old")

    assert old.number == 0
    assert old.audio == tmp_path / "default" / "2000" / "Old" / "msg0000.wav"


def test_contexts_are_separate_mailboxes(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    sales = MailboxId("2000", "sales")

    spool.save(ALICE, AUDIO, info(0))
    stored = spool.save(sales, AUDIO, info(1, context="sales"))

    assert stored.number == 0
    assert stored.audio == tmp_path / "sales" / "2000" / "INBOX" / "msg0000.wav"
    assert spool.counts(ALICE).new == 1
    assert spool.counts(sales).new == 1


def test_full_folder_raises_and_writes_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for n in range(2):
        spool.save(ALICE, AUDIO, info(n), max_messages=2)

    with pytest.raises(MailboxFullError, match=r"2000@default INBOX holds 2 of 2 messages"):
        spool.save(ALICE, AUDIO, info(2), max_messages=2)

    assert spool.numbers(ALICE) == [0, 1]
    assert not list(spool.folder(ALICE).glob("msg0002.*"))
    assert files(tmp_path / "default" / "2000" / "tmp") == []


def test_maxmsg_zero_is_a_greetings_only_box(tmp_path: Path) -> None:
    spool = Spool(tmp_path)

    with pytest.raises(MailboxFullError):
        spool.save(ALICE, AUDIO, info(), max_messages=0)
    assert spool.numbers(ALICE) == []


def test_full_folder_counts_messages_not_numbers(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for n in range(3):
        spool.save(ALICE, AUDIO, info(n), max_messages=3)
    delete(spool, ALICE, 0)

    stored = spool.save(ALICE, AUDIO, info(3), max_messages=3)

    assert stored.number == 3


def test_no_number_past_msg9998(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    inbox = spool.folder(ALICE)
    inbox.mkdir(parents=True)
    (inbox / "msg9998.txt").write_text(info().to_text())

    with pytest.raises(MailboxFullError, match="no free message number"):
        spool.save(ALICE, AUDIO, info(1), max_messages=100_000)
    assert spool.numbers(ALICE) == [9998]


def test_messages_read_back_in_number_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path, audio_format="gsm")
    saved = [spool.save(ALICE, AUDIO, info(n)) for n in range(3)]
    delete(spool, ALICE, 1)

    messages = spool.messages(ALICE)

    assert [message.number for message in messages] == [0, 2]
    assert [message.info for message in messages] == [info(0), info(2)]
    assert [message.audio for message in messages] == [saved[0].audio, saved[2].audio]
    assert saved[0].audio.name == "msg0000.gsm"
    assert spool.messages(ALICE, "Old") == []


def test_a_broken_information_file_is_named(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.save(ALICE, AUDIO, info())
    broken = spool.folder(ALICE) / "msg0000.txt"
    broken.write_text("[message]\norigmailbox=2000\n")

    with pytest.raises(ValueError, match=r"INBOX/msg0000\.txt: missing context"):
        spool.messages(ALICE)


@pytest.mark.parametrize("folder", ["Inbox", "inbox", "New", "tmp", "../INBOX", ""])
def test_unknown_folder_is_an_error_listing_the_known_ones(tmp_path: Path, folder: str) -> None:
    spool = Spool(tmp_path)

    for call in (
        lambda: spool.folder(ALICE, folder),
        lambda: spool.count(ALICE, folder),
        lambda: spool.messages(ALICE, folder),
        lambda: spool.save(ALICE, AUDIO, info(), folder=folder),
    ):
        with pytest.raises(ValueError, match=r"unknown folder .*known: INBOX, Old, Work") as error:
            call()
        assert repr(folder) in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_every_asterisk_folder_is_known(tmp_path: Path) -> None:
    spool = Spool(tmp_path)

    assert FOLDERS == (
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
    for folder in FOLDERS:
        assert spool.folder(ALICE, folder) == tmp_path / "default" / "2000" / folder


@pytest.mark.parametrize("mailbox", [MailboxId(".."), MailboxId("2000", ".."), MailboxId(".")])
def test_a_mailbox_named_like_a_parent_directory_cannot_leave_the_spool(
    tmp_path: Path, mailbox: MailboxId
) -> None:
    spool = Spool(tmp_path / "spool")

    with pytest.raises(ValueError, match="not a directory name"):
        spool.save(mailbox, AUDIO, info())
    assert not (tmp_path / "INBOX").exists()
    assert not (tmp_path / "spool" / "INBOX").exists()


def test_a_failed_write_leaves_no_partial_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path)
    spool.save(ALICE, AUDIO, info(0))
    real_replace = os.replace

    def disk_full(source: str | Path, target: str | Path) -> None:
        if str(target).endswith(".txt"):
            raise OSError(28, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space left"):
        spool.save(ALICE, AUDIO, info(1))
    monkeypatch.undo()

    assert files(spool.folder(ALICE)) == ["msg0000.txt", "msg0000.wav"]
    assert files(tmp_path / "default" / "2000" / "tmp") == []
    assert spool.save(ALICE, AUDIO, info(1)).number == 1


def test_concurrent_saves_take_distinct_contiguous_numbers(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    threads_count, per_thread = 8, 5
    start = threading.Barrier(threads_count)
    numbers: list[int] = []
    errors: list[BaseException] = []
    guard = threading.Lock()

    def depositor(index: int) -> None:
        try:
            start.wait()
            for n in range(per_thread):
                stored = spool.save(ALICE, AUDIO, info(index * per_thread + n), max_messages=1000)
                with guard:
                    numbers.append(stored.number)
        except BaseException as error:
            with guard:
                errors.append(error)

    threads = [threading.Thread(target=depositor, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    total = threads_count * per_thread
    assert errors == []
    assert sorted(numbers) == list(range(total))
    assert spool.numbers(ALICE) == list(range(total))
    # Every message's information is its own: no file was overwritten by another thread.
    callers = {message.info.callerid for message in spool.messages(ALICE)}
    assert len(callers) == total
    assert files(tmp_path / "default" / "2000" / "tmp") == []


def test_concurrent_saves_stop_exactly_at_maxmsg(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    start = threading.Barrier(6)
    outcomes: list[str] = []
    guard = threading.Lock()

    def depositor(index: int) -> None:
        start.wait()
        try:
            spool.save(ALICE, AUDIO, info(index), max_messages=4)
            outcome = "stored"
        except MailboxFullError:
            outcome = "full"
        with guard:
            outcomes.append(outcome)

    threads = [threading.Thread(target=depositor, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["full", "full", "stored", "stored", "stored", "stored"]
    assert spool.numbers(ALICE) == [0, 1, 2, 3]
