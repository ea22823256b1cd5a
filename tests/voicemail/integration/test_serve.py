"""``vmharness serve`` as an administrator runs it: a process that reads a configuration
directory, refuses a broken one with one line naming file and line, serves SIP, and stops
cleanly on SIGTERM without losing a message being recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from harness.core.mailbox import MailboxId
from harness.media.signal import speech_like
from harness.sim.phone import Call, Phone
from harness.sim.proxy import SimProxy
from harness.sip.builder import new_request
from harness.sip.transaction import Peer
from harness.sip.transport import SipTransport
from harness.sip.uri import URI
from harness.voicemail.store import Spool
from tests.voicemail.integration.restart import store_messages
from tests.voicemail.integration.status_client import get_status

VOICEMAIL_CONF = """\
[general]
format=wav
maxmsg=10

[default]
2000 => 4321,Alice
"""

SIP_CONF = """\
[general]
useragent=vmharness

[subscriber](!)
type=peer
host={host}
port={port}
insecure=port

[2000](subscriber)
defaultuser=2000
mailbox=2000@default
"""

#: sip.conf for a proxy at 127.0.0.1:5070.
STANDALONE_SIP_CONF = SIP_CONF.format(host="127.0.0.1", port=5070)

_LISTENING = re.compile(r"listening on (\S+):(\d+) ")
_STATUS = re.compile(r"status on http://(\S+):(\d+)/status")


def write_config(
    directory: Path,
    proxy: Peer = ("127.0.0.1", 5070),
    files: Mapping[str, str | None] | None = None,
) -> Path:
    """A good configuration in ``directory``; ``files`` (by name) replace, add or (None)
    remove some; ``proxy`` is the peers' ``host=``."""
    directory.mkdir(parents=True, exist_ok=True)
    texts: dict[str, str | None] = {
        "voicemail.conf": VOICEMAIL_CONF,
        "sip.conf": SIP_CONF.format(host=proxy[0], port=proxy[1]),
        **(files or {}),
    }
    for name, text in texts.items():
        if text is not None:
            (directory / name).write_text(text)
    return directory


def run_serve(config: Path, spool: Path) -> subprocess.CompletedProcess[str]:
    """``vmharness serve`` run to completion (it only completes on an error)."""
    command = [sys.executable, "-m", "harness.cli", "serve", "--config", str(config)]
    return subprocess.run(
        [*command, "--spool", str(spool), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@dataclass
class Served:
    """A running ``vmharness serve``."""

    process: asyncio.subprocess.Process
    address: Peer
    status: Peer | None
    log: Path

    async def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout)


Serve = Callable[..., Awaitable[Served]]


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Serve]:
    """Start ``vmharness serve --port 0 …`` and wait for the address it prints."""
    started: list[Served] = []

    async def start(config: Path, spool: Path, *options: str) -> Served:
        log = tmp_path / f"serve-{len(started)}.log"
        with log.open("wb") as errors:
            process = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "harness.cli", "serve"),
                *("--config", str(config), "--spool", str(spool), "--port", "0", *options),
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
            )
        served = Served(process, ("", 0), None, log)
        started.append(served)
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        found = _LISTENING.search(line)
        assert found is not None, (line, log.read_text())
        served.address = (found[1], int(found[2]))
        if "--status-port" in options:
            line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
            status = _STATUS.search(line)
            assert status is not None, line
            served.status = (status[1], int(status[2]))
        return served

    yield start
    for served in started:
        if served.process.returncode is None:
            served.process.kill()
            await served.process.wait()


async def sound_heard(call: Call, timeout: float = 10.0) -> bool:
    """Wait until the server sends sound (its greeting starts)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        heard = call.heard()
        if heard.size and int(np.abs(heard.astype(np.int32)).max()) > 1000:
            return True
        await asyncio.sleep(0.02)
    return False


BROKEN: dict[str, tuple[dict[str, str | None], str]] = {
    "a malformed line": (
        {"voicemail.conf": VOICEMAIL_CONF.replace("maxmsg=10", "maxmsg 10")},
        "voicemail.conf:3",
    ),
    "a bad number": (
        {"voicemail.conf": VOICEMAIL_CONF.replace("maxmsg=10", "maxmsg=lots")},
        "voicemail.conf:3",
    ),
    "a bad yes/no": (
        {"voicemail.conf": VOICEMAIL_CONF.replace("maxmsg=10", "moveheard=perhaps")},
        "voicemail.conf:3",
    ),
    "an unclosed section": (
        {"voicemail.conf": VOICEMAIL_CONF.replace("[default]", "[default")},
        "voicemail.conf:5",
    ),
    "a missing include": (
        {"voicemail.conf": VOICEMAIL_CONF + '#include "boxes.conf"\n'},
        "voicemail.conf:7",
    ),
    "a bad line in an included file": (
        {
            "voicemail.conf": VOICEMAIL_CONF + '#include "boxes.conf"\n',
            "boxes.conf": "2001 => 1234,Bob\nnonsense\n",
        },
        "boxes.conf:2",
    ),
    "an undefined sip.conf template": (
        {"sip.conf": STANDALONE_SIP_CONF.replace("(subscriber)", "(subscribr)")},
        "sip.conf:10",
    ),
    "a bad mailbox= in sip.conf": (
        {"sip.conf": STANDALONE_SIP_CONF.replace("mailbox=2000@default", "mailbox=@default")},
        "sip.conf:12",
    ),
    "a bad dtmfmode in sip.conf": (
        {"sip.conf": STANDALONE_SIP_CONF + "dtmfmode=carrierpigeon\n"},
        "sip.conf:13",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_configuration_is_one_line_naming_file_and_line(tmp_path: Path, case: str) -> None:
    files, where = BROKEN[case]
    config = write_config(tmp_path / "etc", files=files)
    result = run_serve(config, tmp_path / "spool")
    assert result.returncode == 2, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"vmharness serve: {where}: "), lines[0]
    assert result.stdout == ""


def test_a_missing_voicemail_conf_is_named(tmp_path: Path) -> None:
    config = write_config(tmp_path / "etc", files={"voicemail.conf": None})
    result = run_serve(config, tmp_path / "spool")
    assert result.returncode == 2, result
    assert result.stderr.splitlines() == [
        f"vmharness serve: voicemail.conf: not found in {config}; the server needs it"
    ]


async def test_a_good_configuration_serves_and_sigterm_stops_it(
    tmp_path: Path, serve: Serve
) -> None:
    served = await serve(write_config(tmp_path / "etc"), tmp_path / "spool")
    client = SipTransport(party="client")
    await client.start()
    try:
        target = URI(scheme="sip", host=served.address[0], port=served.address[1])
        options = new_request(
            "OPTIONS",
            target,
            from_address=f"<sip:probe@{client.host}:{client.port}>",
            to_address=f"<{target}>",
            local=client.local,
        )
        response = await asyncio.wait_for(client.request(options, served.address), 10)
    finally:
        await client.close()
    assert response.status == 200
    assert await served.stop() == 0, served.log.read_text()


async def test_a_message_being_recorded_at_sigterm_is_saved(tmp_path: Path, serve: Serve) -> None:
    proxy = SimProxy(("127.0.0.1", 9))
    await proxy.start()
    caller = Phone("+15551230000", proxy.address)
    await caller.start()
    try:
        spool = tmp_path / "spool"
        served = await serve(write_config(tmp_path / "etc", proxy.address), spool)
        proxy.voicemail = served.address
        call = await caller.dial("2000")
        assert await sound_heard(call), "no greeting was heard"
        await call.send_dtmf("#")  # skips the greeting and the instructions
        assert await call.wait_for_prompt("beep"), call.heard_prompts()
        await call.wait_quiet(0.2)
        await call.play(speech_like(1.5, "interrupted"))
        # Still recording (no BYE sent) when the administrator stops the server.
        assert await served.stop() == 0, served.log.read_text()
    finally:
        with contextlib.suppress(Exception):
            await caller.close()
        await proxy.close()
    messages = Spool(spool).messages(MailboxId("2000"))
    assert len(messages) == 1, served.log.read_text()
    assert messages[0].info.duration >= 1, messages[0].info
    assert messages[0].audio.exists()


async def test_status_port_serves_the_mailbox_counts(tmp_path: Path, serve: Serve) -> None:
    spool = tmp_path / "spool"
    store_messages(spool, {"2000": {"INBOX": 2, "Urgent": 1}})
    served = await serve(write_config(tmp_path / "etc"), spool, "--status-port", "0")
    assert served.status is not None
    status, body = await get_status(served.status)
    assert status == 200
    assert body["mailboxes"] == {"2000@default": {"new": 2, "old": 0, "urgent": 1}}
    assert body["calls"] == []
    assert await served.stop() == 0, served.log.read_text()
