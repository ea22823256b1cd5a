"""White-box spool step: ``expect_spool`` reads the voicemail server's spool, when the target
has one the harness can read, and is skipped otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from harness.scenario.fields import Folder, MailboxRef, Seconds
from harness.scenario.registry import STEPS, MailboxUse, Reference, StepKind
from harness.scenario.step import Step, StepFailed, StepSkipped

if TYPE_CHECKING:
    from harness.scenario.testbed import Testbed

#: Seconds between two looks at the spool while the folder has not the count yet.
_POLL = 0.05


class ExpectSpoolStep(Step):
    """White-box: the spool folder of the mailbox must hold ``count`` messages.

    A server files a message as its call ends: the embedded one is waited for until no call
    is in progress, then the folder is looked at until it holds ``count`` or ``within``
    seconds pass.
    """

    kind: ClassVar[str] = "expect_spool"
    mailbox: MailboxRef
    folder: Folder = "INBOX"
    count: int = Field(ge=0)
    #: The ``callerid=`` the newest message of the folder must carry; None leaves it unchecked.
    callerid: str | None = None
    within: Seconds = 5.0


async def run_expect_spool(step: ExpectSpoolStep, bed: Testbed) -> str:
    """Wait until the folder holds the count (after the server's calls end), then check the
    newest message's caller."""
    spool = bed.target.spool_reader
    if spool is None:
        raise StepSkipped(
            "white-box: the spool of the external voicemail server cannot be read "
            "(give --target-spool DIR)"
        )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + step.within
    await bed.target.wait_idle(step.within)
    found = spool.count(step.mailbox, step.folder)
    while found != step.count and loop.time() < deadline:
        await asyncio.sleep(_POLL)
        found = spool.count(step.mailbox, step.folder)
    if found != step.count:
        raise StepFailed(
            f"{step.mailbox} {step.folder} holds {found} message(s); expected {step.count}"
        )
    if step.callerid is None:
        return f"{step.mailbox} {step.folder} holds {found}"
    newest = spool.newest_callerid(step.mailbox, step.folder)
    if newest != step.callerid:
        raise StepFailed(
            f"the newest message in {step.mailbox} {step.folder} has callerid={newest}; "
            f"expected callerid={step.callerid}"
        )
    return f"{step.mailbox} {step.folder} holds {found}, the newest from {newest}"


def _mailbox(step: ExpectSpoolStep) -> Sequence[Reference]:
    return (MailboxUse("mailbox", step.mailbox),)


STEPS.register(StepKind("expect_spool", ExpectSpoolStep, run_expect_spool, references=_mailbox))
