"""SIPVicious ``svwar`` cannot tell which mailboxes exist.

svwar enumerates extensions the way scanners on the Internet do: it sends REGISTER (or OPTIONS,
or INVITE) for each number of a range and reports the numbers whose answer differs from a
made-up one's. Against the server every number of the range, mailbox 2000 among them, must be
answered alike, so svwar finds nothing. The scan comes from an address no peer entry names, as
a scanner's does; a deposit there for a mailbox that does not exist is taken as any other.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from harness.peers.kamailio import free_port
from tests.conftest import RequirePeer
from tests.reliability.summary import record, tracebacks
from tests.voicemail.integration.test_serve import Serve, serve, write_config

__all__ = ["serve"]  # the fixture, used by name

#: The scanner is a stranger on the network: not the proxy at the peers' host= (127.0.0.1).
SCANNER = "127.0.0.2"


@pytest.mark.parametrize("method", ["REGISTER", "OPTIONS", "INVITE"])
async def test_svwar_finds_no_mailbox(
    tmp_path: Path, serve: Serve, require_peer: RequirePeer, method: str
) -> None:
    svwar = require_peer("svwar")
    served = await serve(write_config(tmp_path / "etc"), tmp_path / "spool")
    host, port = served.address
    started = time.monotonic()
    scan = await asyncio.create_subprocess_exec(
        *(str(svwar), "-m", method, "-e", "1990-2010", "-p", str(port)),
        *("-P", str(free_port(SCANNER)), "-b", SCANNER, "--maximumtime", "5", host),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )
    output, _ = await asyncio.wait_for(scan.communicate(), 60)
    text = output.decode(errors="replace")
    assert await served.stop() == 0
    found = [line for line in text.splitlines() if "| 2000 " in line or "|2000|" in line]
    record(
        f"svwar {method} scan of 1990-2010",
        {
            "seconds": round(time.monotonic() - started, 1),
            "mailboxes_revealed": len(found),
            "svwar_says_found_nothing": "found nothing" in text,
            "messages_lost": 0,
            "exceptions_logged": tracebacks(served.log),
        },
    )
    assert "found nothing" in text, text[-2000:]
    assert found == [], text[-2000:]
    assert tracebacks(served.log) == 0
