"""A mailbox locked after repeated wrong PINs, counted over every call, not per call.

``maxlogins`` ends one call; parallel or successive calls each got fresh tries. With
``lockoutlogins=2`` the second failure, even in another call, locks the mailbox for
``lockoutsecs``: then the right PIN is refused exactly as a wrong one is. Each failure is one
log line naming the mailbox, never the digits.
"""

from __future__ import annotations

import logging

import pytest

from harness.core.mailbox import MailboxId
from harness.voicemail.lockout import LockoutPolicy, PinLockout
from tests.voicemail.integration.conftest import BedFactory

GENERAL = {"envelope": "no", "maxlogins": "1", "lockoutlogins": "2", "lockoutsecs": "60"}


async def test_failures_across_calls_lock_the_mailbox(
    make_bed: BedFactory, caplog: pytest.LogCaptureFixture
) -> None:
    bed = await make_bed(general=GENERAL)
    with caplog.at_level(logging.WARNING, logger="harness.voicemail"):
        for guess in ("1111", "2222"):
            call = await bed.login("2000", guess)
            assert await bed.hung_up_by_server(call), call.heard_prompts()
            await bed.server.wait_idle()
        call = await bed.login("2000", "4321")  # the right PIN, while locked
        assert await bed.hung_up_by_server(call), call.heard_prompts()
        assert call.heard_prompts() == ["vm-password", "vm-incorrect", "vm-goodbye"]
        await bed.server.wait_idle()
    refused = [r.getMessage() for r in caplog.records if "wrong PIN" in r.getMessage()]
    assert len(refused) == 3, refused
    assert all("2000@default" in line for line in refused)
    text = "\n".join(r.getMessage() for r in caplog.records)
    for digits in ("1111", "2222", "4321"):
        assert digits not in text
    assert any("2000@default locked for 60 s" in r.getMessage() for r in caplog.records)


def test_the_lock_is_cleared_by_time_and_a_success_clears_the_count() -> None:
    box = MailboxId("2000")
    lockout = PinLockout(LockoutPolicy(failures=3, seconds=60))
    assert not lockout.failed(box, 0.0)
    lockout.succeeded(box)
    assert not lockout.failed(box, 1.0)
    assert not lockout.failed(box, 2.0)
    assert lockout.failed(box, 3.0)
    assert lockout.locked(box, 62.9)
    assert not lockout.locked(box, 63.0)
    # Failures older than the window no longer count.
    assert not lockout.failed(box, 100.0)
    assert not lockout.failed(box, 200.0)
    assert not lockout.failed(box, 300.0)
    assert not lockout.locked(box, 300.0)
    assert not PinLockout(LockoutPolicy(failures=0)).failed(box, 0.0)
