"""Checking deposits by listening to them, where the target's spool cannot be read.

A deposit against a server whose spool the harness cannot read is given a message signature
(the step's own, else ``LB<step>``) and remembered. When the scenario's steps are done, the
mailbox's owner calls in, logs in with the scenario's PIN and listens to the messages one by
one (``1``, then ``6`` for the next) until every remembered signature was heard. Each message
must carry its signature and last as long as the caller spoke (±0.5 s), measured from the
signature to the last sound before the prompt that follows it.

Listening moves messages to Old and turns the lamp off, so it waits for the end of the
scenario; a deposit whose mailbox a later ``retrieve`` step entered is not listened to (that
step may have moved or deleted it), and neither is one whose mailbox has no phone to call
from. Nothing here runs against a target whose spool is read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from harness.core.mailbox import MailboxId
from harness.media.recognition import Listener, installed_index
from harness.media.signature import RATE, FrameKind, decode_frames, find_message_codes
from harness.report.records import StepOutcome
from harness.scenario.step import StepFailed, StepSkipped
from harness.scenario.stored import TOLERANCE
from harness.sim.phone import MENU_QUIET, Call, CallFailed
from harness.sip.transport import TransactionFailed

if TYPE_CHECKING:
    from harness.scenario.testbed import Testbed

#: The kind of the step outcome the check is reported as.
LISTEN_BACK = "listen_back"
#: Longest the menu may speak before it waits for a key (a retrieve step's wait).
_MENU_TIMEOUT = 15.0
#: Longest a message and the menu after it may take before the next key.
_MESSAGE_TIMEOUT = 60.0
#: Messages listened to at most in one call.
_MAX_MESSAGES = 12
#: 20 ms blocks; a block louder than this (RMS) is sound, not line noise.
_BLOCK = RATE // 50
_LOUD = 300.0


@dataclass(frozen=True, slots=True)
class Deposited:
    """A message left that only listening can check: where, its signature, how long."""

    mailbox: MailboxId
    code: str
    spoken: float
    #: Whether a later ``retrieve`` step entered the mailbox (and may have moved the message).
    entered: bool = False


def signature_for(index: int) -> str:
    """The signature given to step ``index``'s message when the step names none."""
    return f"LB{index + 1}"


async def listen_back_outcome(bed: Testbed, index: int) -> StepOutcome:
    """The check of the scenario's unchecked deposits, as the outcome of a step ``index``."""
    begun = bed.clock.date(bed.now())
    finding = None
    try:
        detail, status = await listen_back(bed, bed.deposited), "passed"
    except StepSkipped as skip:
        detail, status = str(skip), "skipped"
    except StepFailed as failure:
        detail, status, finding = str(failure), "failed", failure.finding
    ended = bed.clock.date(bed.now())
    return StepOutcome(index, LISTEN_BACK, status, detail, begun, ended, finding)


async def listen_back(bed: Testbed, deposits: Sequence[Deposited]) -> str:
    """Listen to ``deposits`` through retrieval; StepFailed for a message missing or of the
    wrong length, StepSkipped when none could be listened to."""
    checked: list[str] = []
    unchecked: list[str] = []
    for mailbox in dict.fromkeys(d.mailbox for d in deposits):
        mine = [d for d in deposits if d.mailbox == mailbox]
        why = _why_not(bed, mailbox, any(d.entered for d in mine))
        if why is not None:
            unchecked.append(f"{mailbox}: {why}")
            continue
        audio = await _listen(bed, mailbox, [d.code for d in mine])
        checked += [check_heard(audio, deposit) for deposit in mine]
    if not checked:
        raise StepSkipped("no message was listened to: " + "; ".join(unchecked))
    return "; ".join(checked + [f"not listened to, {note}" for note in unchecked])


def _why_not(bed: Testbed, mailbox: MailboxId, entered: bool) -> str | None:
    if entered:
        return "a retrieve step entered the mailbox after the deposit"
    if bed.phone_for(mailbox) is None:
        return "no phone of the mailbox to call in from"
    try:
        bed.scenario.mailbox(mailbox)
    except KeyError:
        return "the PIN of the mailbox is unknown"
    return None


async def _listen(bed: Testbed, mailbox: MailboxId, codes: Sequence[str]) -> npt.NDArray[np.int16]:
    """What the owner of ``mailbox`` heard, logging in and going from message to message
    until every one of ``codes`` was heard."""
    phone = bed.phone_for(mailbox)
    assert phone is not None
    pin = bed.scenario.mailbox(mailbox).pin
    dtmf = bed.scenario.phone(phone.user).dtmf
    try:
        call = await phone.dial(bed.plan.access_code)
    except (CallFailed, TransactionFailed):
        raise StepFailed(
            f"phone {phone.user} could not call voicemail to listen to its messages"
        ) from None
    try:
        await call.wait_quiet(MENU_QUIET, timeout=_MENU_TIMEOUT)
        # A key cuts the menu short: 1 as soon as the server speaks after the PIN.
        said = len(call.heard_prompts())
        await call.send_dtmf(pin + "#", dtmf)
        await _until(call, lambda: len(call.heard_prompts()) > said, _MENU_TIMEOUT)
        key = "1"
        for _ in range(_MAX_MESSAGES):
            await call.send_dtmf(key, dtmf)
            await _until(call, _MessageOver(call), _MESSAGE_TIMEOUT)
            if call.ended.is_set() or set(codes) <= set(find_message_codes(call.heard())):
                break
            key = "6"
    finally:
        await bed.hang_up(call)
    return _heard(call)


class _MessageOver:
    """Whether the message played since it was made has ended: its signature was heard, then
    a prompt (the menu after it)."""

    def __init__(self, call: Call) -> None:
        self._call = call
        self._codes = len(find_message_codes(call.heard()))
        self._prompts: int | None = None

    def __call__(self) -> bool:
        call = self._call
        if self._prompts is None:
            if len(find_message_codes(call.heard())) > self._codes:
                self._prompts = len(call.heard_prompts())
            return False
        return len(call.heard_prompts()) > self._prompts


async def _until(call: Call, done: Callable[[], bool], timeout: float) -> None:
    """Wait until ``done()`` or the call ended, at most ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done() and not call.ended.is_set() and loop.time() < deadline:
        await asyncio.sleep(0.2)


def _heard(call: Call) -> npt.NDArray[np.int16]:
    return np.asarray(call.heard(), dtype=np.int16)


def check_heard(audio: npt.NDArray[np.int16], deposit: Deposited) -> str:
    """The message ``deposit`` left, as heard in ``audio``: StepFailed unless it is there and
    lasts as long as the caller spoke."""
    frames = decode_frames(audio)
    start = next(
        (
            f.start_sample
            for f in frames
            if f.kind is FrameKind.MESSAGE and f.payload == deposit.code.encode()
        ),
        None,
    )
    if start is None:
        raise StepFailed(
            f"listening to {deposit.mailbox}'s messages, its owner never heard the message "
            f"signed {deposit.code!r}: the message is missing or its audio is not what the "
            "caller said"
        )
    seconds = _length(audio, start)
    if abs(seconds - deposit.spoken) > TOLERANCE:
        raise StepFailed(
            f"the message signed {deposit.code!r} in {deposit.mailbox} plays for {seconds:.2f} s "
            f"when listened to; the caller spoke {deposit.spoken:.2f} s after the beep "
            f"(±{TOLERANCE:g} s allowed)"
        )
    return f"{deposit.mailbox} plays {deposit.code} for {seconds:.1f} s"


def _length(audio: npt.NDArray[np.int16], start: int) -> float:
    """Seconds from ``start`` to the last sound before the next prompt (or the end)."""
    after = start + RATE // 2
    prompts = [
        round(h.start * RATE)
        for h in Listener(installed_index()).hear(audio, final=True)
        if h.start * RATE > after
    ]
    prompts += [
        f.start_sample
        for f in decode_frames(audio)
        if f.kind is FrameKind.PROMPT and f.start_sample > after
    ]
    end = min(prompts, default=audio.size)
    blocks = audio[start:end].astype(np.float64)
    count = blocks.size // _BLOCK
    rms = np.sqrt((blocks[: count * _BLOCK].reshape(count, _BLOCK) ** 2).mean(axis=1))
    loud = np.flatnonzero(rms >= _LOUD)
    last = (int(loud[-1]) + 1) * _BLOCK if loud.size else 0
    return last / RATE
