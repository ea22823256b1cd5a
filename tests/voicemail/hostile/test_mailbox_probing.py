"""A stranger's INVITEs cannot tell a mailbox that exists from one that does not.

With sip.conf's ``alwaysauthreject=yes`` (chan_sip's default, and the server's), a deposit for
a mailbox the configuration lacks is answered as any other: 200 with SDP, the default
"unavailable" greeting with the number spoken, the beep, the thank-you, and nothing stored.
Only a configured peer (the proxy, which must route around a wrong number) is told 404.
The probes measure both answers' codes and INVITE→final response times; the figures go to
``reports/reliability.json``.
"""

from __future__ import annotations

import socket
import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.summary import record
from tests.voicemail.hostile.server_thread import ServerThread

SDP = (
    "v=0\r\no=- 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
    "m=audio {rtp} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
)
#: 127.0.0.1 is the proxy (a configured peer); 127.0.0.2 is anyone else on the network.
PROXY_PEER = (
    "[general]\nuseragent=vmharness-test\n\n[proxy]\ntype=peer\nhost=127.0.0.1\ninsecure=port\n"
)
STRANGER = "127.0.0.2"
PROBES = 50


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with ServerThread(tmp_path_factory.mktemp("probing"), sip_conf=PROXY_PEER) as running:
        yield running


def _message(method: str, user: str, port: int, host: str, call_id: str, **fields: str) -> str:
    body = fields.get("body", "")
    content = "Content-Type: application/sdp\r\n" if body else ""
    to_tag = f";tag={fields['to_tag']}" if "to_tag" in fields else ""
    return (
        f"{method} sip:{user}@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport\r\n"
        f"From: <sip:+15551230000@{host}>;tag=probe\r\nTo: <sip:{user}@127.0.0.1>{to_tag}\r\n"
        f"Call-ID: {call_id}\r\nCSeq: {fields.get('cseq', '1')} {method}\r\n"
        f"Contact: <sip:caller@{host}:{port}>\r\n{content}"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    )


def probe(server: ServerThread, user: str, host: str) -> tuple[bytes, float, bytes]:
    """INVITE ``user`` from ``host``; (final status line, seconds to it, the whole answer).
    An answered call is ACKed and hung up at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        sock.settimeout(3.0)
        port = sock.getsockname()[1]
        call_id = uuid.uuid4().hex
        body = SDP.format(host=host, rtp=port + 2)
        invite = _message("INVITE", user, port, host, call_id, body=body)
        started = time.perf_counter()
        sock.sendto(invite.encode(), server.address)
        answer = b""
        for _ in range(20):
            answer = sock.recv(65536)
            if not answer.startswith(b"SIP/2.0 1"):
                break
        elapsed = time.perf_counter() - started
        status = answer.split(b"\r\n", 1)[0]
        if status.startswith(b"SIP/2.0 200"):
            to_tag = answer.split(b"\r\nTo: ", 1)[1].split(b"tag=", 1)[1].split(b"\r\n")[0]
            tag = to_tag.split(b";")[0].decode()
            for method, cseq in (("ACK", "1"), ("BYE", "2")):
                text = _message(method, user, port, host, call_id, to_tag=tag, cseq=cseq)
                sock.sendto(text.encode(), server.address)
            while not sock.recv(65536).startswith(b"SIP/2.0 200"):
                pass  # the BYE's answer
        return status, elapsed, answer


def _answer_shape(answer: bytes) -> list[bytes]:
    """The header names of an answer, in order: what differs between two calls by nature
    (tags, Call-ID, ports) left out."""
    head = answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    return [head[0]] + [line.split(b":", 1)[0] for line in head[1:]]


def test_a_stranger_gets_the_same_answer_for_a_mailbox_that_does_not_exist(
    server: ServerThread,
) -> None:
    existing, _, existing_answer = probe(server, "1000", STRANGER)
    missing, _, missing_answer = probe(server, "1001", STRANGER)
    assert existing.startswith(b"SIP/2.0 200"), existing
    assert missing == existing
    assert _answer_shape(missing_answer) == _answer_shape(existing_answer)
    assert server.records.failures() == []


def test_the_proxy_is_told_404_for_a_mailbox_that_does_not_exist(server: ServerThread) -> None:
    status, _, _ = probe(server, "1001", "127.0.0.1")
    assert status.startswith(b"SIP/2.0 404"), status


def test_a_deposit_for_a_mailbox_that_does_not_exist_plays_alike_and_stores_nothing(
    server: ServerThread,
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((STRANGER, 0))
        sock.settimeout(3.0)
        port = sock.getsockname()[1]
        call_id = uuid.uuid4().hex
        body = SDP.format(host=STRANGER, rtp=port)
        sock.sendto(
            _message("INVITE", "1001", port, STRANGER, call_id, body=body).encode(), server.address
        )
        assert b"SIP/2.0 200" in _final(sock)
        received = 0
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and received < 20:
            if len(sock.recv(65536)) == 172:  # 12-byte RTP header + 160 bytes of PCMU
                received += 1
        assert received == 20  # the greeting is being played, as for any mailbox
    spool = server.spool
    assert not (spool / "default" / "1001").exists()


def test_with_alwaysauthreject_off_a_stranger_is_told_404(tmp_path: Path) -> None:
    honest = PROXY_PEER.replace("[general]\n", "[general]\nalwaysauthreject=no\n")
    with ServerThread(tmp_path, sip_conf=honest) as running:
        status, _, _ = probe(running, "1001", STRANGER)
    assert status.startswith(b"SIP/2.0 404"), status


def _final(sock: socket.socket) -> bytes:
    answer = sock.recv(65536)
    while answer.startswith(b"SIP/2.0 1"):
        answer = sock.recv(65536)
    return answer


def test_probe_timing_does_not_tell_the_mailboxes_apart(server: ServerThread) -> None:
    timings: dict[str, list[float]] = {"1000": [], "1001": []}
    statuses: dict[str, set[bytes]] = {"1000": set(), "1001": set()}
    for _ in range(PROBES):
        for user, times in timings.items():
            status, elapsed, _ = probe(server, user, STRANGER)
            times.append(elapsed)
            statuses[user].add(status)
    assert statuses["1000"] == statuses["1001"] == {b"SIP/2.0 200 OK"}
    figures = {}
    for user, times in timings.items():
        ordered = sorted(times)
        figures[user] = {
            "median_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2),
        }
    print(f"INVITE to final response over {PROBES} probes each: {figures}")
    record(
        "INVITE probes of an existing (1000) and a missing (1001) mailbox",
        {
            "probes_each": PROBES,
            "statuses": {
                user: sorted(s.decode() for s in found) for user, found in statuses.items()
            },
            "timing": figures,
            "messages_lost": 0,
            "exceptions_logged": len(server.records.failures()),
        },
    )
    assert server.records.failures() == []
