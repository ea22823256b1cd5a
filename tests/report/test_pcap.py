"""The pcap: tshark decodes every SIP message of a trace, once, with the trace's addresses."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path
from typing import Any

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.utils import rdpcap

from harness.report.pcap import MSS, build_packets, write_pcap
from harness.report.trace import Trace, pair_echoes
from harness.sip.transport import WireMessage


def _tcp_wire(kit: Any) -> list[WireMessage]:
    """A phone's REGISTER over TCP with a body longer than one segment, and its answer."""
    body = b"x" * (MSS * 2 + 100)
    register = kit.request("REGISTER", call_id="r1", body=body)
    ok = kit.response(200, "OK", "REGISTER", call_id="r1")
    ephemeral = ("127.0.0.1", 51000)
    return [
        WireMessage(
            "out", register, kit.PHONE[1], kit.PROXY[1], "TCP", 3.0, kit.T0 + 3.0, "phone 2000"
        ),
        WireMessage("in", register, kit.PROXY[1], ephemeral, "TCP", 3.1, kit.T0 + 3.1, "proxy"),
        WireMessage("out", ok, kit.PROXY[1], ephemeral, "TCP", 3.2, kit.T0 + 3.2, "proxy"),
        WireMessage("in", ok, kit.PHONE[1], kit.PROXY[1], "TCP", 3.3, kit.T0 + 3.3, "phone 2000"),
    ]


def _mixed(kit: Any) -> Trace:
    v6 = kit.request("OPTIONS", call_id="o1")
    wire = [
        *kit.sample_wire(),
        *_tcp_wire(kit),
        *kit.hop(v6, ("phone 3000", ("::1", 40002)), ("proxy", ("::1", 5060)), 4.0),
    ]
    trace: Trace = kit.sample_trace(sip=pair_echoes(wire))
    return trace


def _tshark_sip(tshark: str, pcap: Path) -> list[str]:
    result = subprocess.run(
        [
            tshark,
            "-n",
            "-r",
            str(pcap),
            "-Y",
            "sip",
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
            "-e",
            "ip.src",
            "-e",
            "ipv6.src",
            "-e",
            "sip.Method",
            "-e",
            "sip.Status-Code",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.splitlines()


def test_tshark_finds_every_sip_message_of_a_real_run(
    require_peer: Any, cli_run: Any, tmp_path: Path
) -> None:
    tshark = require_peer("tshark")
    for trace_file in sorted((cli_run.report / "traces").glob("*.json")):
        trace = Trace.load(trace_file)
        pcap = cli_run.report / "pcap" / f"{trace_file.stem}.pcap"
        lines = _tshark_sip(tshark, pcap)
        # Every REGISTER, NOTIFY and answer of the run: the capture is more than a handshake.
        assert len(lines) == len(trace.transmissions()) > 5, trace_file.name


def test_tshark_decodes_udp_tcp_and_ipv6(require_peer: Any, kit: Any, tmp_path: Path) -> None:
    tshark = require_peer("tshark")
    trace = _mixed(kit)
    pcap = write_pcap(trace, tmp_path / "mixed.pcap")
    lines = _tshark_sip(tshark, pcap)
    messages = trace.transmissions()
    assert len(lines) == len(messages) == 10
    methods = [line.split("\t")[3] or line.split("\t")[4] for line in lines]
    assert methods == [
        "INVITE",
        "100",
        "INVITE",
        "200",
        "200",
        "NOTIFY",
        "404",
        "REGISTER",
        "200",
        "OPTIONS",
    ]
    # Wireshark's times are the trace's wall times.
    assert abs(float(lines[0].split("\t")[0]) - messages[0].wall) < 1e-5
    assert lines[-1].split("\t")[2] == "::1"


def test_tcp_segments_carry_consecutive_sequence_numbers(kit: Any) -> None:
    packets = build_packets(kit.sample_trace(sip=pair_echoes(_tcp_wire(kit))))
    flags = [str(packet[TCP].flags) for packet in packets]
    assert flags == ["S", "SA", "A", "PA", "PA", "PA", "PA"]
    client = [p[TCP] for p in packets if p[TCP].sport == 51000]
    data = [segment for segment in client if len(segment.payload)]
    for before, after in itertools.pairwise(data):
        assert after.seq == before.seq + len(before.payload)
    assert client[0].seq + 1 == data[0].seq
    answer = packets[-1][TCP]
    assert (answer.sport, answer.dport) == (5060, 51000)
    assert answer.ack == data[-1].seq + len(data[-1].payload)


def test_udp_packets_use_the_trace_addresses_and_times(kit: Any, tmp_path: Path) -> None:
    trace = _mixed(kit)
    packets = rdpcap(str(write_pcap(trace, tmp_path / "x.pcap")))
    first = packets[0]
    assert (first[IP].src, first[UDP].sport, first[UDP].dport) == ("127.0.0.1", 40000, 5060)
    assert abs(float(first.time) - trace.transmissions()[0].wall) < 1e-5
    assert packets[-1].haslayer(IPv6)


def test_a_trace_without_sip_gives_an_empty_but_valid_pcap(kit: Any, tmp_path: Path) -> None:
    path = write_pcap(kit.sample_trace(sip=()), tmp_path / "empty.pcap")
    assert len(rdpcap(str(path))) == 0
