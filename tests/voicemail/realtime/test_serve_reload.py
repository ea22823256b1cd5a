"""``vmharness serve`` fed from SQLite, reloaded as an administrator does: ``kill -HUP`` and
``vmharness reload``."""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from harness.voicemail.realtime.schema import VOICEMAIL_TABLE
from tests.voicemail.integration.status_client import get_status

_STATUS = re.compile(r"status on http://(\S+):(\d+)/status")


def insert(database: Path, box: str, pin: str) -> None:
    with sqlite3.connect(database) as db:
        db.execute("INSERT INTO voicemail (mailbox, password) VALUES (?, ?)", (box, pin))


def reload_command(port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "reload", "--status-port", str(port)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


async def test_sighup_and_vmharness_reload_read_the_database_again(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    database = etc / "realtime.sqlite3"
    with sqlite3.connect(database) as db:
        db.execute(VOICEMAIL_TABLE.format(table="voicemail"))
    insert(database, "2000", "1234")
    (etc / "extconfig.conf").write_text(
        "[settings]\nvoicemail.conf => sqlite3,realtime.sqlite3,voicemail\n"
    )
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "harness.cli", "serve", "--config", str(etc)),
        *("--spool", str(tmp_path / "spool"), "--port", "0", "--status-port", "0"),
        "--no-sip-conf",  # mailboxes only: no peers to send MWI to
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        await asyncio.wait_for(process.stdout.readline(), 30)
        found = _STATUS.search((await asyncio.wait_for(process.stdout.readline(), 10)).decode())
        assert found is not None
        status = (found[1], int(found[2]))
        insert(database, "2001", "5555")
        process.send_signal(signal.SIGHUP)
        for _ in range(100):
            _, body = await get_status(status)
            if "2001@default" in body["mailboxes"]:
                break
            await asyncio.sleep(0.05)
        assert sorted(body["mailboxes"]) == ["2000@default", "2001@default"]

        insert(database, "2002", "7777")
        done = await asyncio.to_thread(reload_command, status[1])
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "reloaded: 3 mailboxes (+1 -0), 0 peers (+0 -0)"

        with sqlite3.connect(database) as db:
            db.execute("UPDATE voicemail SET maxmsg = -1 WHERE mailbox = '2002'")
        done = await asyncio.to_thread(reload_command, status[1])
        assert done.returncode == 1
        assert done.stdout.startswith(
            "reload failed, the running configuration stays: sqlite3:realtime.sqlite3/voicemail:3:"
        )
        _, body = await get_status(status)
        assert len(body["mailboxes"]) == 3
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 15)
