"""A message left while the owner is logged in: numbering stays contiguous, the lamp ends right."""

from __future__ import annotations

import asyncio

from harness.core.mailbox import MailboxId
from tests.voicemail.integration.conftest import Bed, BedFactory

BOX = MailboxId("2000")


async def _until_stored(bed: Bed, count: int, timeout: float = 10.0) -> bool:
    """White-box: wait until 2000's INBOX holds ``count`` messages."""
    deadline = bed.now() + timeout
    while bed.count("2000") != count:
        if bed.now() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_a_deposit_during_retrieval_is_renumbered_after_a_delete(
    make_bed: BedFactory,
) -> None:
    bed = await make_bed(general={"envelope": "no"})
    await bed.deposit("2000", 0.3, caller="550", signature="OLDER", skip_greeting=True)
    call = await bed.login("2000")
    await bed.hear(call, "vm-youhave")
    await call.send_dtmf("1")
    assert await bed.codes(call, "OLDER") == ["OLDER"]
    await call.send_dtmf("7")
    assert "vm-deleted" in await bed.hear(call, "vm-deleted")

    # While the owner sits in the menu, someone leaves a message: it takes the next number.
    since = bed.now()
    await bed.deposit(
        "2000", 0.3, caller="551", signature="NEWER", skip_greeting=True, settle=False
    )
    assert await _until_stored(bed, 2), bed.server.spool.numbers(BOX)
    assert bed.server.spool.numbers(BOX) == [0, 1]
    lit = await bed.lamp("2000", True, (2, 0), since=since)
    assert lit.status == "met", lit.detail

    since = bed.now()
    await call.send_dtmf("#")
    await bed.finish(call)
    # The deleted message is gone and the newer one, never played, is msg0000 of INBOX.
    (left,) = bed.server.spool.messages(BOX)
    assert left.name == "msg0000"
    assert left.info.callerid == "551", left.info.callerid
    assert bed.count("2000", "Old") == 0
    check = await bed.lamp("2000", True, (1, 0), since=since)
    assert check.status == "met", check.detail

    # The owner hears the newer message as the first one.
    again = await bed.login("2000")
    intro = await bed.hear(again, "vm-onefor")
    assert intro[1:5] == ["vm-youhave", "digits/1", "vm-INBOX", "vm-message"], intro
    await again.send_dtmf("1")
    assert await bed.codes(again, "NEWER") == ["NEWER"]
    await again.hangup()
