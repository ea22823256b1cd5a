"""A deposit passes only when its message was stored with its audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.core.mailbox import MailboxId
from harness.media.signal import speech_like
from harness.media.signature import message_signature
from harness.media.wav import write_wav
from harness.scenario.step import StepFailed
from harness.scenario.stored import check_stored

BOX = MailboxId("2000")


class _Spool:
    """A spool whose newest INBOX message is ``audio`` (None: an empty INBOX)."""

    def __init__(self, audio: Path | None) -> None:
        self.audio = audio

    def count(self, mailbox: MailboxId, folder: str = "INBOX") -> int:
        return 0 if self.audio is None else 1

    def newest_callerid(self, mailbox: MailboxId, folder: str = "INBOX") -> str | None:
        return None

    def newest_audio(self, mailbox: MailboxId, folder: str = "INBOX") -> Path | None:
        return self.audio


def _message(tmp_path: Path, pcm: np.ndarray) -> Path:
    path = tmp_path / "msg0000.wav"
    write_wav(path, pcm.astype(np.int16), 8000)
    return path


async def test_an_empty_message_fails_the_deposit_saying_how_long_it_is(tmp_path: Path) -> None:
    empty = _message(tmp_path, np.zeros(0, dtype=np.int16))
    assert empty.stat().st_size == 44
    with pytest.raises(StepFailed) as failed:
        await check_stored(_Spool(empty), BOX, 0, 3.0, None)
    assert str(failed.value) == (
        "the message stored in 2000@default (msg0000.wav, 44 bytes) lasts 0.00 s; the caller "
        "spoke 3.00 s after the beep (±0.5 s allowed)"
    )


async def test_a_message_without_the_callers_signature_fails(tmp_path: Path) -> None:
    other = _message(tmp_path, speech_like(3.0, "someone else"))
    with pytest.raises(StepFailed, match="does not carry the caller's signature 'C3'"):
        await check_stored(_Spool(other), BOX, 0, 3.0, "C3")


async def test_a_message_as_long_as_said_and_signed_passes(tmp_path: Path) -> None:
    said = np.concatenate((message_signature("C3"), speech_like(2.0, "caller")))
    # A quarter second short: within the tolerance.
    stored = _message(tmp_path, said[: said.size - 2000])
    detail = await check_stored(_Spool(stored), BOX, 0, said.size / 8000, "C3")
    assert detail == f"stored {(said.size - 2000) / 8000:.1f} s"


async def test_no_message_at_all_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("harness.scenario.stored.STORE_WAIT", 0.1)
    with pytest.raises(StepFailed, match="no message was stored in 2000@default INBOX"):
        await check_stored(_Spool(None), BOX, 0, 3.0, None)
