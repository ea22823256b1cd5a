"""The spool: Asterisk's layout and numbering, atomic saves, counts for the lamp."""

from __future__ import annotations

import os
import re
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from harness.core.mailbox import MailboxId
from harness.core.mwi import MailboxCounts
from harness.voicemail.flows.callflow import MailboxView, MessageChange, MessageRef
from harness.voicemail.metadata import MessageInfo
from harness.voicemail.store import (
    FOLDERS,
    FolderFullError,
    MailboxFullError,
    Spool,
    StoredMessage,
    UnknownMessageError,
)

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


# -- finding, changing and renumbering messages ---------------------------------------------


def voice(message_id: str) -> bytes:
    """Audio that says which message it belongs to."""
    return AUDIO + message_id.encode()


def deposit(spool: Spool, n: int, folder: str = "INBOX", mailbox: MailboxId = ALICE) -> str:
    message = info(n, mailbox.box, mailbox.context)
    spool.save(mailbox, voice(message.msg_id), message, folder=folder, max_messages=1000)
    return message.msg_id


def contents(
    spool: Spool, mailbox: MailboxId = ALICE, *, leftovers: bool = False
) -> dict[str, list[str]]:
    """Each non-empty folder's msg_ids in number order, checking the files on the way:
    numbers run from 0000, every .txt has its own audio next to it, nothing else is there
    (with ``leftovers``: but audio at numbers no message has, as a crash can leave)."""
    found: dict[str, list[str]] = {}
    for folder in FOLDERS:
        numbers = spool.numbers(mailbox, folder)
        assert numbers == list(range(len(numbers))), f"{folder} has gaps: {numbers}"
        messages = spool.messages(mailbox, folder)
        for message in messages:
            assert message.audio.read_bytes() == voice(message.info.msg_id), message.name
        names = {f"msg{n:04d}.{ext}" for n in numbers for ext in ("txt", "wav")}
        present = set(files(spool.folder(mailbox, folder)))
        if leftovers:
            present = {name for name in present if int(name[3:7]) in numbers}
        assert present == names, folder
        if messages:
            found[folder] = [message.msg_id for message in messages]
    return found


def ids(*numbers: int) -> list[str]:
    return [info(n).msg_id for n in numbers]


def test_find_looks_in_every_folder(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    deposit(spool, 0)
    work = deposit(spool, 1, "Work")

    found = spool.find(ALICE, work)

    assert found is not None
    assert (found.folder, found.number, found.msg_id) == ("Work", 0, work)
    assert found.audio.read_bytes() == voice(work)
    assert spool.find(ALICE, "1767625445-ffffffff") is None
    assert spool.find(MailboxId("2001"), work) is None


@pytest.mark.parametrize(
    ("deleted", "left"),
    [
        ([0], [1, 2, 3]),
        ([1], [0, 2, 3]),
        ([3], [0, 1, 2]),
        ([0, 2], [1, 3]),
        ([0, 1, 2, 3], []),
    ],
    ids=["first", "middle", "last", "two", "all"],
)
def test_deleting_closes_the_gaps_in_order(
    tmp_path: Path, deleted: list[int], left: list[int]
) -> None:
    spool = Spool(tmp_path)
    for n in range(4):
        deposit(spool, n)

    report = spool.apply_changes(ALICE, [MessageChange(i, None) for i in ids(*deleted)])

    assert contents(spool) == ({"INBOX": ids(*left)} if left else {})
    assert len(report.applied) == len(deleted)
    assert report.unknown == report.full == ()
    assert files(tmp_path / "default" / "2000" / "tmp") == []


def test_a_move_lands_after_the_target_folders_messages(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for n in range(3):
        deposit(spool, n)
    for n in (10, 11):
        deposit(spool, n, "Old")

    spool.apply_changes(ALICE, [MessageChange(ids(1)[0], "Old")])

    assert contents(spool) == {"INBOX": ids(0, 2), "Old": ids(10, 11, 1)}


def test_moves_and_deletions_in_one_call(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for n in range(5):
        deposit(spool, n)
    deposit(spool, 10, "Old")
    deposit(spool, 11, "Old")
    first, second, third, fourth, fifth = ids(0, 1, 2, 3, 4)

    report = spool.apply_changes(
        ALICE,
        [
            MessageChange(first, "Old"),
            MessageChange(second, None),
            MessageChange(third, "Work"),
            MessageChange(ids(10)[0], None),
            MessageChange(fifth, "Old"),
        ],
    )

    assert contents(spool) == {
        "INBOX": [fourth],
        "Old": [*ids(11), first, fifth],
        "Work": [third],
    }
    assert len(report.applied) == 5


def test_changes_apply_in_order_to_the_same_message(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for n in range(2):
        deposit(spool, n)
    first = ids(0)[0]

    spool.apply_changes(ALICE, [MessageChange(first, "Work"), MessageChange(first, "Family")])
    assert contents(spool) == {"INBOX": ids(1), "Family": [first]}

    spool.apply_changes(ALICE, [MessageChange(first, "Family"), MessageChange(first, None)])
    assert contents(spool) == {"INBOX": ids(1)}


def test_unknown_ids_are_reported_and_the_rest_applied(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for n in range(3):
        deposit(spool, n)
    gone = MessageChange("1767625445-deadbeef", None)
    also_gone = MessageChange("nonsense", "Old")

    report = spool.apply_changes(
        ALICE, [gone, MessageChange(ids(0)[0], None), also_gone, MessageChange(ids(2)[0], "Old")]
    )

    assert report.unknown == (gone, also_gone)
    assert report.applied == (MessageChange(ids(0)[0], None), MessageChange(ids(2)[0], "Old"))
    assert contents(spool) == {"INBOX": ids(1), "Old": ids(2)}


def test_an_unknown_folder_changes_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for n in range(2):
        deposit(spool, n)

    with pytest.raises(ValueError, match="unknown folder 'Saved'"):
        spool.apply_changes(
            ALICE, [MessageChange(ids(0)[0], None), MessageChange(ids(1)[0], "Saved")]
        )

    assert contents(spool) == {"INBOX": ids(0, 1)}


def test_a_move_into_a_full_folder_is_refused_and_the_rest_applied(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for n in range(4):
        deposit(spool, n)
    for n in (10, 11):
        deposit(spool, n, "Old")
    refused = MessageChange(ids(1)[0], "Old")

    with pytest.raises(FolderFullError, match=r"2000@default: folder full \(2 messages\)") as error:
        spool.apply_changes(
            ALICE,
            [MessageChange(ids(0)[0], None), refused, MessageChange(ids(2)[0], "Work")],
            max_messages=2,
        )

    assert error.value.report.full == (refused,)
    assert error.value.report.applied == (
        MessageChange(ids(0)[0], None),
        MessageChange(ids(2)[0], "Work"),
    )
    assert isinstance(error.value, MailboxFullError)
    assert contents(spool) == {"INBOX": ids(1, 3), "Old": ids(10, 11), "Work": ids(2)}


def test_a_message_kept_in_its_folder_is_not_moved(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for n in range(2):
        deposit(spool, n)

    report = spool.apply_changes(ALICE, [MessageChange(ids(0)[0], "INBOX")], max_messages=2)

    assert report.applied == (MessageChange(ids(0)[0], "INBOX"),)
    assert contents(spool) == {"INBOX": ids(0, 1)}


def test_every_audio_format_moves_with_its_message(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for n in range(3):
        deposit(spool, n)
    inbox = spool.folder(ALICE)
    (inbox / "msg0002.gsm").write_bytes(b"gsm of 2")
    (inbox / "msg0002.WAV").write_bytes(b"wav49 of 2")

    spool.apply_changes(ALICE, [MessageChange(ids(0)[0], None), MessageChange(ids(1)[0], "Old")])

    assert files(inbox) == ["msg0000.WAV", "msg0000.gsm", "msg0000.txt", "msg0000.wav"]
    assert (inbox / "msg0000.gsm").read_bytes() == b"gsm of 2"
    assert (inbox / "msg0000.WAV").read_bytes() == b"wav49 of 2"
    assert (inbox / "msg0000.wav").read_bytes() == voice(ids(2)[0])


def test_audio_left_without_its_text_does_not_stick_to_a_new_message(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for n in range(2):
        deposit(spool, n)
    inbox, old = spool.folder(ALICE), spool.folder(ALICE, "Old")
    (inbox / "msg0001.txt").unlink()  # msg0001 deleted by a crash halfway: its audio is left
    (inbox / "msg0001.ulaw").write_bytes(b"left over")
    old.mkdir()
    (old / "msg0000.gsm").write_bytes(b"from an interrupted move")

    deposit(spool, 2)
    spool.apply_changes(ALICE, [MessageChange(ids(0)[0], "Old")])

    assert contents(spool) == {"INBOX": ids(2), "Old": ids(0)}


def test_renumbering_works_without_hard_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path)
    for n in range(3):
        deposit(spool, n)

    def no_links(source: object, target: object) -> None:
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    spool.apply_changes(ALICE, [MessageChange(ids(0)[0], None), MessageChange(ids(1)[0], "Old")])

    assert contents(spool) == {"INBOX": ids(2), "Old": ids(1)}


class Crash(BaseException):
    """The process dies here."""


CRASH_CHANGES = [
    MessageChange(info(0).msg_id, None),
    MessageChange(info(2).msg_id, "Old"),
    MessageChange(info(3).msg_id, None),
]


def crash_spool(root: Path) -> Spool:
    spool = Spool(root)
    for n in range(5):
        deposit(spool, n)
    deposit(spool, 10, "Old")
    return spool


def test_a_crash_at_any_step_loses_nothing_and_the_next_run_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    operations = ("link", "rename", "replace", "unlink")
    real = {name: getattr(os, name) for name in operations}
    steps = [0]
    crash_at = [-1]

    def counted(name: str) -> object:
        def operation(*args: object, **kwargs: object) -> object:
            steps[0] += 1
            if steps[0] == crash_at[0]:
                raise Crash(name)
            return real[name](*args, **kwargs)

        return operation

    for name in operations:
        monkeypatch.setattr(os, name, counted(name))
    # Durability is not what this test is about, and forty spools would fsync for seconds.
    monkeypatch.setattr(os, "fsync", lambda descriptor: None)
    dry = crash_spool(tmp_path / "dry")
    steps[0] = 0
    dry.apply_changes(ALICE, CRASH_CHANGES)
    total = steps[0]
    expected = {"INBOX": ids(1, 4), "Old": ids(10, 2)}
    kept = set(ids(1, 2, 4, 10))
    assert total > 10

    for crash in range(1, total + 1):
        spool = crash_spool(tmp_path / str(crash))
        steps[0], crash_at[0] = 0, crash
        with pytest.raises(Crash):
            spool.apply_changes(ALICE, CRASH_CHANGES)
        crash_at[0] = -1

        # Every message there is whole (its own audio next to its .txt) and there once.
        present = [m for folder in FOLDERS for m in spool.messages(ALICE, folder)]
        for message in present:
            assert message.audio.read_bytes() == voice(message.info.msg_id), (crash, message)
        names = [message.info.msg_id for message in present]
        assert len(names) == len(set(names)), (crash, names)
        assert kept <= set(names) <= kept | set(ids(0, 3)), (crash, names)

        spool.apply_changes(ALICE, CRASH_CHANGES)
        assert contents(spool, leftovers=True) == expected, crash


def test_a_deposit_during_the_changes_waits_and_lands_after_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path)
    for n in range(4):
        deposit(spool, n)
    real_rename = os.rename
    stored: list[StoredMessage] = []
    depositor = threading.Thread(
        target=lambda: stored.append(
            spool.save(ALICE, voice(info(9).msg_id), info(9), max_messages=1000)
        )
    )
    finished_early: list[bool] = []

    def rename_and_let_a_caller_hang_up(source: str | Path, target: str | Path) -> None:
        if not depositor.is_alive() and not finished_early:
            depositor.start()
            depositor.join(timeout=0.1)  # it must still be waiting for the lock
            finished_early.append(not depositor.is_alive())
        real_rename(source, target)

    monkeypatch.setattr(os, "rename", rename_and_let_a_caller_hang_up)
    spool.apply_changes(ALICE, [MessageChange(ids(0)[0], None), MessageChange(ids(2)[0], "Old")])
    depositor.join()

    assert finished_early == [False]
    assert contents(spool) == {"INBOX": ids(1, 3, 9), "Old": ids(2)}
    assert stored[0].number == 2


def test_deposits_and_changes_from_many_threads_keep_the_folders_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "fsync", lambda descriptor: None)  # the lock is under test here
    spool = Spool(tmp_path)
    for n in range(10):
        deposit(spool, n)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def depositor(first: int) -> None:
        try:
            start.wait()
            for n in range(first, first + 5):
                deposit(spool, n)
        except BaseException as error:
            errors.append(error)

    def reader() -> None:
        try:
            start.wait()
            for n in range(10):
                changes = [MessageChange(ids(n)[0], None if n % 2 else "Old")]
                spool.apply_changes(ALICE, changes, max_messages=1000)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=depositor, args=(100 + 10 * i,)) for i in range(3)]
    threads.append(threading.Thread(target=reader))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    found = contents(spool)
    assert sorted(found["INBOX"]) == sorted(
        ids(*range(100, 105), *range(110, 115), *range(120, 125))
    )
    assert found["Old"] == ids(*range(0, 10, 2))


# -- forwarding --------------------------------------------------------------------------------

BOB = MailboxId("3000", "sales")


def test_a_copy_lands_in_the_targets_inbox_with_its_context(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    deposit(spool, 0)
    old = deposit(spool, 1, "Old")
    deposit(spool, 5, mailbox=BOB)

    copied = spool.copy(ALICE, "Old", old, BOB)

    assert (copied.mailbox, copied.folder, copied.number, copied.msg_id) == (BOB, "INBOX", 1, old)
    assert copied.info == replace(info(1), context="sales")
    assert copied.info.origmailbox == "2000"
    stored = spool.messages(BOB)[1]
    assert stored.info == copied.info
    assert stored.audio.read_bytes() == voice(old)
    assert contents(spool) == {"INBOX": ids(0), "Old": [old]}  # the original stays


def test_a_message_forwarded_twice_to_one_box_stays_addressable(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    message = deposit(spool, 0)

    first = spool.copy(ALICE, "INBOX", message, BOB)
    second = spool.copy(ALICE, "INBOX", message, BOB)
    to_itself = spool.copy(ALICE, "INBOX", message, ALICE)

    assert (first.msg_id, second.msg_id) == (message, f"{message}-2")
    assert to_itself.msg_id == f"{message}-2"
    assert [m.msg_id for m in spool.messages(BOB)] == [message, f"{message}-2"]
    assert spool.find(BOB, f"{message}-2") == second


def test_a_copy_takes_every_audio_format(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    message = deposit(spool, 0)
    (spool.folder(ALICE) / "msg0000.gsm").write_bytes(b"gsm")

    spool.copy(ALICE, "INBOX", message, BOB)

    assert files(spool.folder(BOB)) == ["msg0000.gsm", "msg0000.txt", "msg0000.wav"]
    assert (spool.folder(BOB) / "msg0000.gsm").read_bytes() == b"gsm"


def test_a_copy_to_a_full_mailbox_writes_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    message = deposit(spool, 0)
    for n in (5, 6):
        deposit(spool, n, mailbox=BOB)

    with pytest.raises(MailboxFullError, match=r"3000@sales INBOX holds 2 of 2 messages"):
        spool.copy(ALICE, "INBOX", message, BOB, max_messages=2)

    assert spool.numbers(BOB) == [0, 1]
    assert files(tmp_path / "sales" / "3000" / "tmp") == []


@pytest.mark.parametrize(
    ("folder", "msg_id"), [("Old", info(0).msg_id), ("INBOX", "1767625445-00000bad")]
)
def test_copying_a_message_not_there_is_an_error(tmp_path: Path, folder: str, msg_id: str) -> None:
    spool = Spool(tmp_path)
    deposit(spool, 0)

    with pytest.raises(UnknownMessageError, match=rf"2000@default {folder} has no message"):
        spool.copy(ALICE, folder, msg_id, BOB)
    assert not spool.folder(BOB).exists()


# -- greetings ---------------------------------------------------------------------------------


def test_greetings_are_stored_replaced_and_removed(tmp_path: Path) -> None:
    spool = Spool(tmp_path, audio_format="gsm")
    assert spool.greetings(ALICE) == frozenset()
    assert spool.greeting_path(ALICE, "unavail") is None

    spool.save_greeting(ALICE, "unavail", b"first")
    path = spool.save_greeting(ALICE, "unavail", b"second")
    spool.save_greeting(ALICE, "temp", b"away")

    assert path == tmp_path / "default" / "2000" / "unavail.gsm"
    assert spool.greeting_path(ALICE, "unavail") == path
    assert path.read_bytes() == b"second"
    assert spool.greetings(ALICE) == frozenset({"unavail", "temp"})
    assert files(tmp_path / "default" / "2000" / "tmp") == []

    assert spool.remove_greeting(ALICE, "temp") is True
    assert spool.remove_greeting(ALICE, "temp") is False
    assert spool.greetings(ALICE) == frozenset({"unavail"})
    assert spool.greeting_path(ALICE, "temp") is None


def test_greetings_are_the_four_asterisk_kinds(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for kind in ("unavail", "busy", "temp", "greet"):
        spool.save_greeting(ALICE, kind, kind.encode())

    assert files(tmp_path / "default" / "2000") == [
        "busy.wav",
        "greet.wav",
        "temp.wav",
        "tmp",
        "unavail.wav",
    ]
    for call in (
        lambda: spool.save_greeting(ALICE, "name", b""),
        lambda: spool.greeting_path(ALICE, "../INBOX/msg0000"),
        lambda: spool.remove_greeting(ALICE, "Unavail"),
    ):
        with pytest.raises(ValueError, match=r"unknown greeting .* \(known: unavail, busy"):
            call()


# -- the view the retrieval menu loads ---------------------------------------------------------


def test_the_view_lists_non_empty_folders_in_asterisk_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    deposit(spool, 3, "Work")
    deposit(spool, 0)
    deposit(spool, 1)
    urgent_in_inbox = replace(info(2), flag="Urgent")
    spool.save(ALICE, AUDIO, urgent_in_inbox)
    deposit(spool, 4, "Urgent")
    deposit(spool, 5, "Old")
    spool.save_greeting(ALICE, "busy", b"busy")

    view = spool.view(ALICE, "4242", pin_changeable=False)

    assert (view.mailbox, view.pin, view.pin_changeable) == (ALICE, "4242", False)
    assert [name for name, _ in view.folders] == ["INBOX", "Old", "Work", "Urgent"]
    assert view.messages("INBOX") == (
        MessageRef(info(0).msg_id, "INBOX", '"Caller 0" <5550000>', 1767625445, 3),
        MessageRef(info(1).msg_id, "INBOX", '"Caller 1" <5550001>', 1767625446, 4),
        MessageRef(info(2).msg_id, "INBOX", '"Caller 2" <5550002>', 1767625447, 5, urgent=True),
    )
    assert view.messages("Urgent") == (
        MessageRef(info(4).msg_id, "Urgent", '"Caller 4" <5550004>', 1767625449, 7, urgent=True),
    )
    assert view.messages("Family") == ()
    assert view.greetings == frozenset({"busy"})


def test_an_empty_mailbox_has_an_empty_view(tmp_path: Path) -> None:
    view = Spool(tmp_path).view(ALICE, None, pin_changeable=True)

    assert view == MailboxView(ALICE, None, True, (), frozenset())


def test_an_unreadable_message_is_left_out_of_the_view(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path)
    for n in range(3):
        deposit(spool, n)
    (spool.folder(ALICE) / "msg0001.txt").write_text("[message]\norigmailbox=2000\n")

    view = spool.view(ALICE, None, pin_changeable=True)

    assert [ref.msg_id for ref in view.messages("INBOX")] == ids(0, 2)
    assert "INBOX/msg0001.txt: missing context" in caplog.text


def test_a_deposit_sees_the_counts_and_greetings_without_reading_any_message(
    tmp_path: Path,
) -> None:
    # A full mailbox holds up to 9,999 messages: a deposit must not read each one's .txt.
    spool = Spool(tmp_path)
    for n in range(3):
        deposit(spool, n)
    deposit(spool, 3, "Old")
    spool.save_greeting(ALICE, "unavail", b"unavail")
    # Unreadable: the retrieval menu's view leaves it out, the count of the folder does not.
    (spool.folder(ALICE) / "msg0001.txt").write_text("[message]\norigmailbox=2000\n")

    summary = spool.summary(ALICE, "4242", pin_changeable=True)

    assert (summary.count("INBOX"), summary.count("Old"), summary.count("Urgent")) == (3, 1, 0)
    assert summary.greetings == frozenset({"unavail"})
    assert summary.folders == ()


OLD_ASTERISK_TEXT = (
    ";\n; Message Information file\n;\n[message]\norigmailbox=2000\ncontext=default\n"
    "macrocontext=\nexten=2000\nrdnis=unknown\npriority=2\ncallerchan=SIP/100-0001\n"
    'callerid="M\xfcller" <100>\norigdate=Mon Jan  5 03:04:05 PM UTC 2026\n'
    "origtime=1767625445\ncategory=\nduration=7\n"
)


def old_asterisk_message(spool: Spool, number: int, folder: str = "INBOX") -> None:
    directory = spool.folder(ALICE, folder)
    directory.mkdir(parents=True, exist_ok=True)
    text = OLD_ASTERISK_TEXT.replace("duration=7", f"duration={number}")
    (directory / f"msg{number:04d}.txt").write_bytes(text.encode("latin-1"))
    (directory / f"msg{number:04d}.wav").write_bytes(b"old audio %d" % number)


def test_a_message_without_a_msg_id_gets_a_stable_one(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    deposit(spool, 0)
    old_asterisk_message(spool, 1)
    old_asterisk_message(spool, 2)

    first = spool.view(ALICE, None, pin_changeable=True).messages("INBOX")
    spool.apply_changes(ALICE, [MessageChange(ids(0)[0], None)])
    after = spool.view(ALICE, None, pin_changeable=True).messages("INBOX")

    derived = [ref.msg_id for ref in first[1:]]
    assert all(re.fullmatch(r"1767625445-x[0-9a-f]{8}", msg_id) for msg_id in derived)
    assert derived[0] != derived[1]
    assert after == first[1:]  # renumbered, yet the same ids
    assert after[0].callerid == '"M\xfcller" <100>'
    assert after[0].duration == 1

    spool.apply_changes(ALICE, [MessageChange(derived[1], "Old")])
    moved = spool.find(ALICE, derived[1])
    assert moved is not None
    assert (moved.folder, moved.number, moved.info.msg_id) == ("Old", 0, "")
    assert moved.audio.read_bytes() == b"old audio 2"


def test_messages_sharing_a_msg_id_are_told_apart_in_folder_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.save(ALICE, b"in old", info(0), folder="Old")
    spool.save(ALICE, b"in inbox", info(0))
    spool.save(ALICE, b"second in inbox", info(0))

    view = spool.view(ALICE, None, pin_changeable=True)

    message = info(0).msg_id
    assert [ref.msg_id for ref in view.messages("INBOX")] == [message, f"{message}-2"]
    assert [ref.msg_id for ref in view.messages("Old")] == [f"{message}-3"]
    spool.apply_changes(ALICE, [MessageChange(f"{message}-2", None)])
    assert [m.audio.read_bytes() for m in spool.messages(ALICE)] == [b"in inbox"]


def test_counts_are_read_once_then_kept_by_every_change(tmp_path: Path) -> None:
    Spool(tmp_path).save(ALICE, AUDIO, info(0))  # on disk before this spool starts
    spool = Spool(tmp_path)
    spool.load_counts([ALICE])
    assert spool.counts(ALICE) == MailboxCounts(new=1)
    first = spool.save(ALICE, AUDIO, info(1))
    spool.save(ALICE, AUDIO, info(2), folder="Urgent")
    assert spool.counts(ALICE) == MailboxCounts(new=2, urgent=1)
    spool.apply_changes(ALICE, [MessageChange(first.msg_id, "Old")])
    assert spool.counts(ALICE) == MailboxCounts(new=1, old=1, urgent=1)
    spool.apply_changes(ALICE, [MessageChange(first.msg_id, None)])
    assert spool.counts(ALICE) == MailboxCounts(new=1, urgent=1)
    spool.copy(ALICE, "Urgent", info(2).msg_id, MailboxId("2001"))
    assert spool.counts(MailboxId("2001")) == MailboxCounts(new=1)
    # Kept, not rescanned: a file written behind the spool's back is not seen until restart.
    Spool(tmp_path).save(ALICE, AUDIO, info(3))
    assert spool.counts(ALICE) == MailboxCounts(new=1, urgent=1)
    assert Spool(tmp_path).counts(ALICE) == MailboxCounts(new=2, urgent=1)


def test_a_refused_move_leaves_the_counts_alone(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    kept = spool.save(ALICE, AUDIO, info(0))
    spool.save(ALICE, AUDIO, info(1), folder="Old")
    assert spool.counts(ALICE) == MailboxCounts(new=1, old=1)
    with pytest.raises(FolderFullError):
        spool.apply_changes(ALICE, [MessageChange(kept.msg_id, "Old")], max_messages=1)
    assert spool.counts(ALICE) == MailboxCounts(new=1, old=1)


def test_a_slow_write_holds_up_only_its_own_mailbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deposit stuck in fsync (a slow disk) keeps others from its mailbox, not the spool."""
    spool = Spool(tmp_path)
    bob = MailboxId("2001")
    stuck, release = threading.Event(), threading.Event()
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        if "2001" in os.readlink(f"/proc/self/fd/{fd}") and not release.is_set():
            stuck.set()
            release.wait(5)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    slow = threading.Thread(target=spool.save, args=(bob, AUDIO, info(1, "2001")))
    slow.start()
    try:
        assert stuck.wait(10)
        stored = spool.save(ALICE, AUDIO, info(2))
        assert spool.counts(ALICE) == MailboxCounts(new=1, old=0, urgent=0)
        assert slow.is_alive()  # Alice's deposit and count did not wait for Bob's disk
    finally:
        release.set()
        slow.join(10)
    assert stored.number == 0
    assert spool.counts(bob).new == 1
