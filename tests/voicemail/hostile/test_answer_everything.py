"""Mutated requests over UDP and TCP: each answered, or dropped by rule, and never a traceback.

Hypothesis takes valid requests of every method the server meets and breaks one header at a
time (a new value of random text, a cut, garbage inserted, the header removed, doubled or
emptied). The rule: a request that still has a Via, a Call-ID and a CSeq line is answered
(its answer can be addressed); one without them, and any ACK, is dropped with a log line.
Over TCP a Content-Length that promises more than was sent leaves the message incomplete, so
nothing is answered either. Afterwards the server still takes a call.

``VMHARNESS_FUZZ_EXAMPLES`` raises the number of examples (``make soak``).
"""

from __future__ import annotations

import os
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.voicemail.limits import MAX_BODY
from tests.voicemail.hostile.server_thread import (
    SIP_CONF,
    ServerThread,
    tcp_exchange,
    udp_exchange,
)

EXAMPLES = int(os.environ.get("VMHARNESS_FUZZ_EXAMPLES", "150"))
SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
)
METHODS = ("INVITE", "OPTIONS", "REGISTER", "SUBSCRIBE", "BYE", "INFO", "CANCEL", "ACK", "NOTIFY")
ADDRESSING = ("via", "call-id", "cseq")
# Header values: printable text with the characters parsers trip on, never a line break.
VALUE_TEXT = st.text(
    alphabet=st.characters(
        exclude_categories=["Cs"],
        exclude_characters="\r\n",
        max_codepoint=0x2FF,
    ),
    max_size=60,
)


@dataclass(frozen=True)
class Mutated:
    """A request template (``{port}`` is the sender's) with one header broken."""

    method: str
    headers: tuple[tuple[str, str], ...]
    body: str

    def build(self, port: int) -> bytes:
        lines = [f"{self.method} sip:9999@127.0.0.1 SIP/2.0"]
        lines += [f"{name}: {value.replace('{port}', str(port))}" for name, value in self.headers]
        return ("\r\n".join(lines) + "\r\n\r\n" + self.body).encode("utf-8", "surrogatepass")

    @property
    def addressable(self) -> bool:
        names = {name.lower() for name, _ in self.headers}
        return self.method != "ACK" and all(name in names for name in ADDRESSING)

    def complete_over_tcp(self) -> bool:
        """False when a Content-Length promises more body than the message carries.

        Content-Lengths that disagree frame nothing, and one beyond the largest body taken is
        refused before its body: the server answers those at once (400, 413)."""
        sent = len(self.body.encode("utf-8", "surrogatepass"))
        lengths = set()
        for name, value in self.headers:
            match = re.fullmatch(r"[ \t]*([0-9]+)[ \t]*", value)
            if name.lower() == "content-length" and match:
                lengths.add(int(match.group(1)))
        too_large = any(length > MAX_BODY for length in lengths)
        return len(lengths) > 1 or too_large or all(length <= sent for length in lengths)


def valid_headers(method: str) -> tuple[list[tuple[str, str]], str]:
    call_id = uuid.uuid4().hex
    body = SDP if method == "INVITE" else ""
    headers = [
        ("Via", f"SIP/2.0/UDP 127.0.0.1:{{port}};branch=z9hG4bK{call_id[:12]};rport"),
        ("Max-Forwards", "70"),
        ("From", "<sip:+15551230000@127.0.0.1>;tag=f1"),
        ("To", "<sip:9999@127.0.0.1>" + (";tag=t1" if method in ("BYE", "INFO") else "")),
        ("Call-ID", call_id),
        ("CSeq", f"1 {method}"),
        ("Contact", "<sip:+15551230000@127.0.0.1:{port}>"),
    ]
    if method in ("SUBSCRIBE", "NOTIFY"):
        headers.append(("Event", "message-summary"))
    if body:
        headers.append(("Content-Type", "application/sdp"))
    headers.append(("Content-Length", str(len(body))))
    return headers, body


@st.composite
def mutated_requests(draw: st.DrawFn) -> Mutated:
    method = draw(st.sampled_from(METHODS))
    headers, body = valid_headers(method)
    index = draw(st.integers(0, len(headers) - 1))
    name, value = headers[index]
    kind = draw(st.sampled_from(("replace", "cut", "insert", "remove", "double", "empty")))
    if kind == "replace":
        headers[index] = (name, draw(VALUE_TEXT))
    elif kind == "cut":
        headers[index] = (name, value[: draw(st.integers(0, len(value)))])
    elif kind == "insert":
        at = draw(st.integers(0, len(value)))
        headers[index] = (name, value[:at] + draw(VALUE_TEXT) + value[at:])
    elif kind == "remove":
        del headers[index]
    elif kind == "double":
        headers.insert(index, (name, draw(st.sampled_from((value, draw(VALUE_TEXT))))))
    else:
        headers[index] = (name, "")
    return Mutated(method, tuple(headers), body)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    # Mailbox 9999 does not exist: with alwaysauthreject off, thousands of INVITEs for it are
    # answered 404 at once instead of each holding a decoy call (test_mailbox_probing).
    honest = SIP_CONF + "alwaysauthreject=no\n"
    with ServerThread(tmp_path_factory.mktemp("hostile"), sip_conf=honest) as running:
        yield running


OUTCOMES: Counter[str] = Counter()
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def check(request: Mutated, answer: bytes, expected: bool, transport: str) -> None:
    OUTCOMES[f"{transport} {'answered' if answer else 'dropped'}"] += 1
    shown = request.build(0)[:600]
    if expected:
        assert answer.startswith(b"SIP/2.0 "), f"no answer over {transport} to:\n{shown!r}"
        first = answer.split(b"\r\n", 1)[0]
        # The reason phrase names the fault in printable text: no control bytes echoed back.
        assert re.fullmatch(rb"SIP/2\.0 [1-6][0-9][0-9] [^\x00-\x1f\x7f]*", first), first
    else:
        assert answer == b"", f"answered {answer[:80]!r} over {transport} to:\n{shown!r}"


@FUZZ
@given(request=mutated_requests())
def test_every_mutated_request_over_udp_is_answered_or_dropped_by_rule(
    server: ServerThread, request: Mutated
) -> None:
    expected = request.addressable
    answer = udp_exchange(server.address, request.build, 2.0 if expected else 0.15)
    check(request, answer, expected, "UDP")
    assert server.records.failures() == []


@FUZZ
@given(request=mutated_requests())
def test_every_mutated_request_over_tcp_is_answered_or_dropped_by_rule(
    server: ServerThread, request: Mutated
) -> None:
    expected = request.addressable and request.complete_over_tcp()
    answer = tcp_exchange(server.address, request.build, 2.0 if expected else 0.15)
    check(request, answer, expected, "TCP")
    assert server.records.failures() == []


def test_an_invite_without_contact_is_answered_400(tmp_path: Path) -> None:
    headers, body = valid_headers("INVITE")
    headers = [(n, v.replace("9999", "1000")) for n, v in headers if n != "Contact"]
    invite = Mutated("INVITE", tuple(headers), body)
    with ServerThread(tmp_path) as server:

        def build(port: int) -> bytes:
            return invite.build(port).replace(b"sip:9999@", b"sip:1000@", 1)

        answer = udp_exchange(server.address, build, 2.0)
        if answer.startswith(b"SIP/2.0 100 "):
            answer = udp_exchange(server.address, build, 2.0)
        assert answer.startswith(b"SIP/2.0 400 "), answer[:80]
        assert b"Contact" in answer.split(b"\r\n", 1)[0]
        assert server.records.failures() == []


def test_the_server_takes_a_call_after_the_fuzzing(server: ServerThread) -> None:
    headers, body = valid_headers("INVITE")
    headers = [(n, v.replace("9999", "1000")) for n, v in headers]
    invite = Mutated("INVITE", tuple(headers), body)

    def build(port: int) -> bytes:
        return invite.build(port).replace(b"sip:9999@", b"sip:1000@", 1)

    answer = udp_exchange(server.address, build, 2.0)
    assert answer.startswith(b"SIP/2.0 100 ") or answer.startswith(b"SIP/2.0 200 "), answer[:80]
    assert server.call(lambda: len(server.server._calls) if server.server else 0) == 1
    print("fuzz outcomes:", dict(OUTCOMES))
    assert server.records.failures() == []
