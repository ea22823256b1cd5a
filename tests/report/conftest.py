"""Shared data for the report tests: a synthetic run, and one real run of the CLI."""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.cli import main
from harness.report.trace import Trace, TraceStep, pair_echoes
from harness.sip.transport import WireMessage

DATA = Path(__file__).parent / "data"
#: A passing and a deliberately failing scenario (not under a directory named "scenarios", so
#: the suite does not collect them as its own scenario items).
RUN = DATA / "run"

PHONE = ("127.0.0.1", 40000)
PROXY = ("127.0.0.1", 5060)
VOICEMAIL = ("127.0.0.1", 5070)
EXTERNAL = ("127.0.0.1", 5999)
T0 = 1_700_000_000.0


def request(
    method: str, *, call_id: str = "c1", cseq: int = 1, body: bytes = b"", agent: str | None = None
) -> bytes:
    """A minimal valid SIP request."""
    lines = [
        f"{method} sip:2000@127.0.0.1 SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK-1",
        "From: <sip:1000@127.0.0.1>;tag=a",
        "To: <sip:2000@127.0.0.1>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
        "Max-Forwards: 70",
        *([f"User-Agent: {agent}"] if agent else []),
        f"Content-Length: {len(body)}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def response(
    status: int,
    reason: str,
    method: str,
    *,
    call_id: str = "c1",
    cseq: int = 1,
    server: str | None = None,
) -> bytes:
    """A minimal valid SIP response."""
    lines = [
        f"SIP/2.0 {status} {reason}",
        "Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK-1",
        "From: <sip:1000@127.0.0.1>;tag=a",
        "To: <sip:2000@127.0.0.1>;tag=b",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
        *([f"Server: {server}"] if server else []),
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def hop(
    data: bytes,
    sender: tuple[str, tuple[str, int]],
    receiver: tuple[str, tuple[str, int]],
    at: float,
    transport: str = "UDP",
) -> list[WireMessage]:
    """The two records of one message between two parties of the run: out, then in."""
    (a, a_addr), (b, b_addr) = sender, receiver
    return [
        WireMessage("out", data, a_addr, b_addr, transport, at, T0 + at, a),  # type: ignore[arg-type]
        WireMessage("in", data, b_addr, a_addr, transport, at + 1e-4, T0 + at + 1e-4, b),  # type: ignore[arg-type]
    ]


PHONE_PARTY = ("phone 2000", PHONE)
PROXY_PARTY = ("proxy", PROXY)
VOICEMAIL_PARTY = ("voicemail", VOICEMAIL)


def sample_wire() -> list[WireMessage]:
    """INVITE phone -> proxy -> voicemail, answered; then a NOTIFY the proxy rejects."""
    return [
        *hop(request("INVITE", agent="phone/1"), PHONE_PARTY, PROXY_PARTY, 0.10),
        *hop(response(100, "Trying", "INVITE"), PROXY_PARTY, PHONE_PARTY, 0.11),
        *hop(request("INVITE"), PROXY_PARTY, VOICEMAIL_PARTY, 0.12),
        *hop(
            response(200, "OK", "INVITE", server="Asterisk PBX 18.20.0"),
            VOICEMAIL_PARTY,
            PROXY_PARTY,
            0.13,
        ),
        *hop(response(200, "OK", "INVITE"), PROXY_PARTY, PHONE_PARTY, 0.14),
        *hop(request("NOTIFY", call_id="n1"), VOICEMAIL_PARTY, PROXY_PARTY, 1.50),
        *hop(
            response(404, "Not Found", "NOTIFY", call_id="n1"), PROXY_PARTY, VOICEMAIL_PARTY, 1.51
        ),
    ]


def sample_trace(**changes: object) -> Trace:
    """A failed run: step 1 passed (the call), step 2 failed (the NOTIFY), step 3 not run."""
    steps = (
        TraceStep(
            0,
            "deposit",
            "passed",
            "left 3.0 s",
            T0 + 0.05,
            T0 + 0.2,
            {"to": "2000@default", "from": "1000", "reason": "no-answer", "seconds": 3.0},
        ),
        TraceStep(
            1,
            "expect_notify",
            "failed",
            "phone 2000 saw no NOTIFY",
            T0 + 1.0,
            T0 + 2.0,
            {"phone": "2000", "waiting": True, "voice": "1/0", "within": 1.0},
        ),
        TraceStep(2, "expect_spool", "not run", "", T0 + 2.0, T0 + 2.0, {}),
    )
    values: dict[str, object] = {
        "scenario": "a call is recorded & the <lamp> lights",
        "path": "scenarios/deposit/sample.yaml",
        "status": "failed",
        "started": T0,
        "ended": T0 + 2.0,
        "steps": steps,
        "sip": pair_echoes(sample_wire()),
        "convention": "diversion",
    }
    values.update(changes)
    return Trace(**values)  # type: ignore[arg-type]


class Kit:
    """The builders above, for tests (pytest's importlib mode lets no test import conftest)."""

    T0 = T0
    PHONE, PROXY, VOICEMAIL, EXTERNAL = PHONE_PARTY, PROXY_PARTY, VOICEMAIL_PARTY, EXTERNAL
    request = staticmethod(request)
    response = staticmethod(response)
    hop = staticmethod(hop)
    sample_wire = staticmethod(sample_wire)
    sample_trace = staticmethod(sample_trace)


@pytest.fixture
def kit() -> type[Kit]:
    """Builders of SIP bytes, wire logs and a sample failed trace."""
    return Kit


@dataclass(frozen=True)
class CliRun:
    """One ``vmharness run --report --junit`` of the report test scenarios."""

    code: int
    report: Path
    junit: Path
    output: str


@pytest.fixture(scope="session")
def cli_run(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> CliRun:
    """Run the passing and the failing scenario once per test session.

    Under xdist the workers share one run: the first to take the lock runs it, the others
    wait and read its result (the scenarios run in real time, several seconds).
    """
    root = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        root = root.parent  # the directory all workers of this session share
    base = root / "report-cli-run"
    report, junit, result = base / "report", base / "junit.xml", base / "result.json"
    with (root / "report-cli-run.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not result.exists():
            output = io.StringIO()
            with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
                code = main(["run", str(RUN), "--report", str(report), "--junit", str(junit)])
            result.write_text(json.dumps({"code": code, "output": output.getvalue()}))
    saved = json.loads(result.read_text())
    return CliRun(saved["code"], report, junit, saved["output"])
