"""SIPp, a third-party SIP stack, deposits into the embedded voicemail server."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

from harness.core.mailbox import MailboxId
from harness.media.wav import read_wav
from harness.targets import EmbeddedTarget, MailboxEntry, PeerEntry

FIXTURES = Path(__file__).parents[2] / "fixtures" / "sipp"
SCENARIO = FIXTURES / "deposit-x-voicemail.xml"
REPLAYED_TWICE = FIXTURES / "deposit-replayed-twice.xml"
AUDIO = Path("/usr/share/sip-tester/g711a.pcap")


async def _deposit_with_sipp(sipp: str, scenario: Path, tmp_path: Path) -> list[tuple[float, str]]:
    """Run one SIPp deposit for box 2000 into an embedded server; the seconds and caller ID
    of each message the mailbox then holds."""
    shutil.copy(AUDIO, tmp_path / "deposit.pcap")
    box = MailboxId("2000", "default")
    target = EmbeddedTarget([MailboxEntry(box, "4321")], [PeerEntry("2000", box)])
    host, port = await target.start(("127.0.0.1", 9))
    try:
        process = await asyncio.create_subprocess_exec(
            sipp,
            "-sf", str(scenario),
            "-set", "box", box.box,
            "-set", "context", box.context,
            "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", "0",
            "-m", "1", "-timeout", "40s", "-timeout_error", "-nostdin",
            f"{host}:{port}",
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, output.decode(errors="replace")[-2000:]
        assert target.server is not None
        await target.server.wait_idle()
        return [
            (len(read_wav(message.audio)[0]) / 8000, message.info.callerid)
            for message in target.server.spool.messages(box)
        ]
    finally:
        await target.close()


async def test_sipp_caller_leaves_a_message(
    require_peer: Callable[[str], str], tmp_path: Path
) -> None:
    messages = await _deposit_with_sipp(require_peer("sipp"), SCENARIO, tmp_path)
    assert len(messages) == 1
    seconds, callerid = messages[0]
    # g711a.pcap carries 7.05 s of speech.
    assert abs(seconds - 7.05) < 0.2
    assert callerid == '"SIPp caller" <5551234>'


async def test_audio_that_restarts_its_rtp_numbering_is_all_kept(
    require_peer: Callable[[str], str], tmp_path: Path
) -> None:
    """SIPp replays the pcap twice under one SSRC, sequence and timestamps starting over: the
    replay is the caller still speaking, not duplicates of what was already heard."""
    messages = await _deposit_with_sipp(require_peer("sipp"), REPLAYED_TWICE, tmp_path)
    assert len(messages) == 1
    seconds, _ = messages[0]
    assert abs(seconds - 2 * 7.05) < 0.3, f"{seconds:.2f} s stored"
