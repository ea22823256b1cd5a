"""A pcap of a scenario run, built from its trace, for Wireshark and tshark.

Each SIP message appears once (see :meth:`Trace.transmissions`), framed with scapy as
Ethernet/IP/UDP or Ethernet/IP/TCP between the addresses it travelled between, stamped with the
wall time it was sent. TCP has no capture of its own here, so each connection gets a
synthesized handshake and segments with consistent sequence and acknowledgement numbers, which
is what Wireshark needs to reassemble SIP over TCP.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import PcapWriter

from harness.report.records import Endpoint
from harness.report.trace import Trace, Transmission

#: Largest TCP payload per segment (an Ethernet MSS), so long messages span segments as on a LAN.
MSS = 1460
#: A UDP datagram larger than this cannot be framed in one IPv4 packet.
_MAX_UDP_PAYLOAD = 65507


@dataclass(slots=True)
class _Connection:
    """Sequence state of one synthesized TCP connection, keyed by its client end."""

    client: Endpoint
    next_seq: dict[Endpoint, int]


def write_pcap(trace: Trace, path: Path) -> Path:
    """Write the SIP messages of ``trace`` to a pcap file at ``path``; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pcap_bytes(trace))
    return path


def pcap_bytes(trace: Trace) -> bytes:
    """The pcap file of ``trace`` (Ethernet link type, microsecond timestamps)."""
    buffer = io.BytesIO()
    writer = PcapWriter(buffer, linktype=1, sync=True)
    packets = build_packets(trace)
    if packets:
        writer.write(packets)
    else:
        writer.write_header(None)
    writer.flush()
    return buffer.getvalue()


def build_packets(trace: Trace) -> list[Any]:
    """The scapy packets for ``trace``, in time order, each with its ``time`` set."""
    connections: dict[frozenset[Endpoint], _Connection] = {}
    packets: list[Any] = []
    for item in trace.transmissions():
        if item.transport.upper() == "TCP":
            packets.extend(_tcp_packets(item, connections))
        else:
            packets.append(_stamped(_ip(item.source, item.destination) / _udp(item), item.wall))
    return packets


def _udp(item: Transmission) -> Any:

    data = item.data[:_MAX_UDP_PAYLOAD]
    return UDP(sport=item.source.port, dport=item.destination.port) / Raw(data)


def _tcp_packets(
    item: Transmission, connections: dict[frozenset[Endpoint], _Connection]
) -> list[Any]:

    src, dst = item.source, item.destination
    key = frozenset((src, dst))
    packets: list[Any] = []
    connection = connections.get(key)
    if connection is None:
        # The first sender opened the connection: a handshake just before its first segment.
        connection = _Connection(src, {src: _isn(src, dst), dst: _isn(dst, src)})
        connections[key] = connection
        client_seq, server_seq = connection.next_seq[src], connection.next_seq[dst]
        for flags, a, b, seq, ack in (
            ("S", src, dst, client_seq, 0),
            ("SA", dst, src, server_seq, client_seq + 1),
            ("A", src, dst, client_seq + 1, server_seq + 1),
        ):
            segment = TCP(sport=a.port, dport=b.port, flags=flags, seq=seq, ack=ack, window=65535)
            packets.append(_stamped(_ip(a, b) / segment, item.wall))
        connection.next_seq[src] += 1
        connection.next_seq[dst] += 1
    for start in range(0, max(len(item.data), 1), MSS):
        chunk = item.data[start : start + MSS]
        segment = TCP(
            sport=src.port,
            dport=dst.port,
            flags="PA",
            seq=connection.next_seq[src],
            ack=connection.next_seq[dst],
            window=65535,
        )
        connection.next_seq[src] = (connection.next_seq[src] + len(chunk)) % 2**32
        packets.append(_stamped(_ip(src, dst) / segment / Raw(chunk), item.wall))
    return packets


def _isn(a: Endpoint, b: Endpoint) -> int:
    """A stable initial sequence number per direction, so one trace always gives one pcap."""
    digest = hashlib.sha256(f"{a}>{b}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _ip(src: Endpoint, dst: Endpoint) -> Any:

    source, destination = _address(src.host), _address(dst.host)
    if source.version != destination.version:
        source, destination = _as_v6(source), _as_v6(destination)
    if source.version == 6:
        return Ether(src=_mac(src), dst=_mac(dst), type=0x86DD) / IPv6(
            src=str(source), dst=str(destination)
        )
    return Ether(src=_mac(src), dst=_mac(dst), type=0x0800) / IP(
        src=str(source), dst=str(destination)
    )


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The host as an IP address; a name gets a stable stand-in from TEST-NET-1 (RFC 5737)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        digest = hashlib.sha256(host.encode()).digest()
        return ipaddress.IPv4Address(f"192.0.2.{1 + digest[0] % 254}")


def _as_v6(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv6Address:
    if isinstance(address, ipaddress.IPv6Address):
        return address
    return ipaddress.IPv6Address(f"::ffff:{address}")


def _mac(endpoint: Endpoint) -> str:
    """A locally administered MAC per host, so Wireshark's conversations group by host."""
    digest = hashlib.sha256(endpoint.host.encode()).digest()
    return "02:" + ":".join(f"{byte:02x}" for byte in digest[:5])


def _stamped(packet: Any, wall: float) -> Any:
    packet.time = wall
    return packet
