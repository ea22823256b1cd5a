"""Whether a deposit's message was stored with its audio: length and signature, from the spool.

A deposit that the server answered and recorded can still store nothing: a server that
started recording before the caller spoke, or cut it short, writes an empty message, and a
check of counts alone would pass. When the target's spool can be read, the newest message of
the mailbox must last as long as what the caller said after the beep (give or take
:data:`TOLERANCE`) and carry the caller's signature.
"""

from __future__ import annotations

import asyncio
from typing import Final

from harness.core.mailbox import MailboxId
from harness.media.signature import RATE, find_message_codes
from harness.media.wav import WavError, read_wav
from harness.scenario.step import StepFailed
from harness.targets import SpoolReader

#: How far the stored message's length may be from what the caller said, in seconds.
TOLERANCE: Final = 0.5
#: How long the server may take to write the message after the call ends.
STORE_WAIT: Final = 3.0


async def check_stored(
    spool: SpoolReader,
    mailbox: MailboxId,
    before: int,
    spoken: float,
    signature: str | None,
) -> str:
    """StepFailed unless a new message of about ``spoken`` seconds, carrying ``signature``
    when given, reached ``mailbox``'s INBOX (which held ``before``); what was stored."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STORE_WAIT
    while spool.count(mailbox) <= before and loop.time() < deadline:
        await asyncio.sleep(0.05)
    if spool.count(mailbox) <= before:
        raise StepFailed(
            f"no message was stored in {mailbox} INBOX within {STORE_WAIT:g} s of the call; "
            f"the caller spoke {spoken:.1f} s after the beep"
        )
    path = spool.newest_audio(mailbox)
    if path is None or path.suffix.lower() != ".wav":
        return "stored (its audio is not WAV and was not checked)"
    try:
        audio, _ = read_wav(path)
    except WavError as error:
        raise StepFailed(f"the message stored in {mailbox} cannot be read: {error}") from None
    seconds = audio.size / RATE
    if abs(seconds - spoken) > TOLERANCE:
        raise StepFailed(
            f"the message stored in {mailbox} ({path.name}, {path.stat().st_size} bytes) lasts "
            f"{seconds:.2f} s; the caller spoke {spoken:.2f} s after the beep "
            f"(±{TOLERANCE:g} s allowed)"
        )
    if signature is not None and signature not in find_message_codes(audio):
        raise StepFailed(
            f"the message stored in {mailbox} ({path.name}, {seconds:.2f} s) does not carry the "
            f"caller's signature {signature!r}: its audio is not what the caller said"
        )
    return f"stored {seconds:.1f} s"
