"""The pcaps SIPp replays and the way SIPp runs are reported, without SIPp itself."""

from __future__ import annotations

import contextlib
import socket
import stat
import sys
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap

from harness.media import g711
from harness.media.dtmf import TelephoneEvent
from harness.media.rtp import RtpPacket
from harness.media.signature import find_message_codes
from harness.peers.signed_speech import signed_speech
from harness.peers.sipp import KeyPress, Sipp, free_media_ports, write_rtp_pcap

RATE = 8000


def _read(path: Path) -> list[tuple[float, RtpPacket]]:
    frames = rdpcap(str(path))
    assert all(Ether in f and IP in f and UDP in f for f in frames)
    return [(float(f.time), RtpPacket.decode(bytes(f[UDP].payload))) for f in frames]


@pytest.mark.parametrize(("codec", "payload_type"), [("PCMA", 8), ("PCMU", 0)])
def test_the_pcap_carries_the_audio_in_20_ms_packets(
    tmp_path: Path, codec: Literal["PCMU", "PCMA"], payload_type: int
) -> None:
    audio = np.concatenate((np.zeros(RATE // 2, np.int16), signed_speech("PCAP1")))
    packets = _read(write_rtp_pcap(tmp_path / "a.pcap", audio, codec=codec))
    assert {p.payload_type for _, p in packets} == {payload_type}
    times = np.array([t for t, _ in packets])
    assert np.allclose(np.diff(times), 0.02)
    assert [p.sequence for _, p in packets] == [
        (packets[0][1].sequence + i) % 65536 for i in range(len(packets))
    ]
    decoded = np.concatenate([g711.decode(p.payload, codec) for _, p in packets])
    assert decoded.size == audio.size
    assert find_message_codes(decoded) == ["PCAP1"]


def test_a_key_press_replaces_the_audio_it_overlaps(tmp_path: Path) -> None:
    audio = np.full(RATE, 1000, np.int16)
    packets = _read(write_rtp_pcap(tmp_path / "k.pcap", audio, keys=[KeyPress(0.5, "#")]))
    events = [(t, p) for t, p in packets if p.payload_type == 101]
    speech = [(t, p) for t, p in packets if p.payload_type == 8]
    decoded = [TelephoneEvent.decode(p.payload) for _, p in events]
    assert {e.digit for e in decoded} == {"#"}
    assert events[0][1].marker
    assert [e.end for e in decoded][-3:] == [True, True, True]
    assert decoded[-1].duration == 800
    assert events[0][0] == pytest.approx(0.5)
    # 100 ms of audio made way for the key; the clock runs on across it.
    assert len(speech) == RATE // 160 - 5
    [after] = [p for t, p in speech if t == pytest.approx(0.6)]
    assert after.timestamp - events[0][1].timestamp == 800


@pytest.mark.parametrize(
    ("keys", "codec", "message"),
    [
        ([KeyPress(2.0, "1")], "PCMA", "key press '1' at 2 s lies outside the 1 s of audio"),
        ([], "G729", "codec 'G729' cannot go into an RTP pcap"),
    ],
)
def test_bad_pcap_requests_say_what_is_wrong(
    tmp_path: Path, keys: list[KeyPress], codec: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        write_rtp_pcap(tmp_path / "x.pcap", np.zeros(RATE, np.int16), codec=codec, keys=keys)


@pytest.mark.parametrize(
    ("digit", "duration_ms", "message"),
    [
        ("#", 90, "key press '#' lasts 90 ms: a multiple of 20 ms is needed"),
        ("x", 100, "'x' is not a DTMF digit"),
    ],
)
def test_a_key_press_that_cannot_be_sent_is_refused(
    digit: str, duration_ms: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        KeyPress(0.0, digit, duration_ms)


def _fake_sipp(tmp_path: Path, body: str) -> Path:
    """A stand-in for the sipp binary: writes a -trace_stat CSV, then runs ``body``."""
    script = tmp_path / "sipp"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys, time\n"
        "args = sys.argv\n"
        "stats = args[args.index('-stf') + 1]\n"
        "open(stats, 'w').write('StartTime;SuccessfulCall(C);FailedCall(C);\\n'\n"
        "                       't0;0;0;\\nt1;3;1;\\n')\n"
        "print('scenario ran')\n"
        f"{body}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


async def test_a_run_reports_exit_code_and_last_counters(tmp_path: Path) -> None:
    scenario = tmp_path / "s.xml"
    scenario.write_text("<scenario/>")
    binary = _fake_sipp(tmp_path, "sys.exit(1)")
    async with Sipp(scenario, ("127.0.0.1", 5060), binary=binary, variables={"user": "2000"}) as s:
        assert s.command()[-4:-1] == ["-set", "user", "2000"]
        result = await s.wait()
    assert result.returncode == 1
    assert (result.successful_calls, result.failed_calls) == (3, 1)
    assert not result.killed
    assert "scenario ran" in result.output
    assert "exit code 1" in result.describe()
    with pytest.raises(KeyError, match="no counter 'Retransmissions'"):
        result.counter("Retransmissions")


async def test_a_run_that_overstays_is_killed_by_pid(tmp_path: Path) -> None:
    scenario = tmp_path / "s.xml"
    scenario.write_text("<scenario/>")
    binary = _fake_sipp(tmp_path, "time.sleep(60)")
    async with Sipp(scenario, ("127.0.0.1", 5060), binary=binary, timeout=0.3) as s:
        result = await s.wait(grace=0.2)
        assert s.pid is None
    assert result.killed
    assert result.returncode < 0
    assert "killed at the timeout" in result.describe()


def test_media_ports_leave_room_for_the_video_port_sipp_also_binds() -> None:
    base = free_media_ports()
    with contextlib.ExitStack() as held:
        for port in range(base, base + 4):
            udp = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            udp.bind(("127.0.0.1", port))
        assert base < 32768, "drawn from the ephemeral range"
