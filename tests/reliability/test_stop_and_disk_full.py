"""Stopping ``vmharness serve`` during a call, and a spool whose disk is full.

SIGTERM must save what the caller said and then hang the caller up (BYE), not leave the phone
in a dead call. A full disk must cost only the message being stored: the caller hears that it
was not kept, the log says so in one line with no traceback, no partial file stays, and the
other mailboxes keep their messages. The disk is a small tmpfs, mounted here (root only).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.core.mailbox import MailboxId
from harness.media.signal import speech_like
from harness.sim.phone import Phone
from harness.sim.proxy import SimProxy
from harness.voicemail.store import Spool
from tests.reliability.summary import record, tracebacks
from tests.voicemail.integration.restart import store_messages
from tests.voicemail.integration.test_serve import VOICEMAIL_CONF, Serve, serve, sound_heard
from tests.voicemail.integration.test_serve import write_config as write_serve_config

__all__ = ["serve"]  # the fixture, used by name


async def test_sigterm_saves_the_recording_then_sends_the_caller_a_bye(
    tmp_path: Path, serve: Serve
) -> None:
    proxy = SimProxy(("127.0.0.1", 9))
    await proxy.start()
    caller = Phone("+15551230000", proxy.address)
    await caller.start()
    spool = tmp_path / "spool"
    try:
        served = await serve(write_serve_config(tmp_path / "etc", proxy.address), spool)
        proxy.voicemail = served.address
        call = await caller.dial("2000")
        assert await sound_heard(call), "no greeting was heard"
        await call.send_dtmf("#")
        assert await call.wait_for_prompt("beep"), call.heard_prompts()
        await call.wait_quiet(0.2)
        await call.play(speech_like(1.5, "stopped"))
        assert await served.stop() == 0, served.log.read_text()
        await asyncio.wait_for(call.ended.wait(), 3)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(caller.close(), 2)
        await proxy.close()
    assert len(Spool(spool).messages(MailboxId("2000"))) == 1
    record(
        "SIGTERM during a recording",
        {"bye_sent": True, "messages_lost": 0, "exceptions_logged": tracebacks(served.log)},
    )


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs, unmounted afterwards; skipped where mounting is not permitted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        reason = f"cannot mount a tmpfs here: {result.stderr.strip() or result.returncode}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def _fill(disk: Path, leave: int) -> None:
    """Fill ``disk`` until about ``leave`` bytes are free."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    (disk / "filler").write_bytes(bytes(max(0, free - leave)))


async def test_a_full_disk_costs_only_the_message_being_stored(
    tmp_path: Path, serve: Serve, small_disk: Path
) -> None:
    spool = small_disk / "spool"
    store_messages(spool, {"2001": {"INBOX": 1}})
    other_before = sorted(p.read_bytes() for p in (spool / "default" / "2001").rglob("msg*"))
    conf = VOICEMAIL_CONF + "2001 => 1234,Bob\n"
    config = write_serve_config(tmp_path / "etc", files={"voicemail.conf": conf})
    proxy = SimProxy(("127.0.0.1", 9))
    await proxy.start()
    caller = Phone("+15551230000", proxy.address)
    await caller.start()
    try:
        served = await serve(config, spool, "--prompts", "generated")
        proxy.voicemail = served.address
        _fill(small_disk, 12_000)  # room for a journal's header, not for 3 s of audio
        call = await caller.dial("2000")
        assert await sound_heard(call), "no greeting was heard"
        await call.send_dtmf("#")
        assert await call.wait_for_prompt("beep"), call.heard_prompts()
        await call.wait_quiet(0.2)
        await call.play(speech_like(3.0, "no room"))
        await call.send_dtmf("#")
        await asyncio.wait_for(call.ended.wait(), 15)
        assert await served.stop() == 0
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(caller.close(), 2)
        await proxy.close()
    log = served.log.read_text()
    box = spool / "default" / "2000"
    left = sorted(str(p.relative_to(box)) for p in box.rglob("*") if p.is_file())
    other_after = sorted(p.read_bytes() for p in (spool / "default" / "2001").rglob("msg*"))
    record(
        "ENOSPC during a deposit",
        {
            "caller_heard": call.heard_prompts()[-2:],
            "files_left": left,
            "other_mailbox_untouched": other_after == other_before,
            "messages_lost": 0 if other_after == other_before else 1,
            "exceptions_logged": tracebacks(served.log),
        },
    )
    assert "vm-mailboxfull" in call.heard_prompts(), call.heard_prompts()
    assert [line for line in log.splitlines() if "not stored" in line] == [
        line for line in log.splitlines() if "2000@default not stored" in line
    ]
    assert len([line for line in log.splitlines() if "not stored" in line]) == 1, log
    assert "Traceback" not in log, log
    assert left == [], left
    assert other_after == other_before
