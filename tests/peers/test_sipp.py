"""SIPp, a third-party SIP stack, deposits into the embedded voicemail server."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

from harness.core.mailbox import MailboxId
from harness.media.wav import read_wav
from harness.targets import EmbeddedTarget, MailboxEntry, PeerEntry

SCENARIO = Path(__file__).parents[2] / "fixtures" / "sipp" / "deposit-x-voicemail.xml"
AUDIO = Path("/usr/share/sip-tester/g711a.pcap")


async def test_sipp_caller_leaves_a_message(
    require_peer: Callable[[str], str], tmp_path: Path
) -> None:
    sipp = require_peer("sipp")
    shutil.copy(AUDIO, tmp_path / "deposit.pcap")
    box = MailboxId("2000", "default")
    target = EmbeddedTarget([MailboxEntry(box, "4321")], [PeerEntry("2000", box)])
    host, port = await target.start(("127.0.0.1", 9))
    try:
        process = await asyncio.create_subprocess_exec(
            sipp,
            "-sf", str(SCENARIO),
            "-set", "box", box.box,
            "-set", "context", box.context,
            "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", "0",
            "-m", "1", "-timeout", "30s", "-timeout_error", "-nostdin",
            f"{host}:{port}",
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, output.decode(errors="replace")[-2000:]
        assert target.server is not None
        await target.server.wait_idle()
        messages = target.server.spool.messages(box)
        assert len(messages) == 1
        audio, _ = read_wav(messages[0].audio)
        # g711a.pcap carries 7.05 s of speech.
        assert abs(len(audio) / 8000 - 7.05) < 0.2
        assert messages[0].info.callerid == '"SIPp caller" <5551234>'
    finally:
        await target.close()
