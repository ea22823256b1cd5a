"""The records of a run that reports render: steps and their outcome, RTP streams, SMDI frames,
latency samples, and the clock that dates them.

The scenario runtime builds these (it knows the run; reports know only records), so this module
sits below both and imports neither. The runtime stamps everything with its event loop's
monotonic clock and takes one :class:`ClockAnchor` per run: the anchor turns a loop time into
a date, once, where an outcome is made.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.media.session import RtpSession
from harness.sip.transaction import Peer
from harness.sip.transport import WireMessage

Direction = Literal["in", "out"]


@dataclass(frozen=True, slots=True)
class ClockAnchor:
    """One reading of the loop clock and the wall clock at the same moment of a run."""

    loop: float
    wall: float

    @classmethod
    def now(cls) -> ClockAnchor:
        """The running loop's time and the date, read together."""
        return cls(asyncio.get_running_loop().time(), time.time())

    @classmethod
    def of_wire(cls, wire: Sequence[WireMessage]) -> ClockAnchor:
        """The anchor a wire log carries: its first message's two stamps (the identity for an
        empty log)."""
        if not wire:
            return cls(0.0, 0.0)
        return cls(wire[0].monotonic, wire[0].wall)

    def date(self, loop_time: float) -> float:
        """The wall-clock date (seconds since the epoch) of loop time ``loop_time``."""
        return self.wall + (loop_time - self.loop)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A transport address."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    """An RFC 4733 digit received on a stream, with the RTP timestamp of its event."""

    digit: str
    timestamp: int


@dataclass(frozen=True, slots=True)
class RtpStream:
    """Reception statistics of one RTP stream, as the receiving party counted them."""

    party: str
    call_id: str
    local: Endpoint | None
    remote: Endpoint | None
    ssrc: int | None
    payload_types: tuple[int, ...]
    packets_sent: int
    received: int
    duplicates: int
    lost: int
    out_of_order: int
    #: RFC 3550 interarrival jitter, in seconds.
    jitter: float
    other_ssrc: int
    malformed: int
    dtmf: tuple[DtmfDigit, ...] = ()


@dataclass(frozen=True, slots=True)
class SmdiFrame:
    """One SMDI message (or run of noise) on a serial link, dated."""

    party: str
    kind: str
    direction: Direction
    data: bytes
    wall: float


@dataclass(frozen=True, slots=True)
class LatencySample:
    """One measured latency of a load run: when it began (a date) and how long, in seconds."""

    time: float
    latency: float


#: How the detail of a step that failed as its scenario expected begins: that scenario counts
#: as skipped (see :mod:`harness.scenario.expected`).
EXPECTED_FAILURE = "expected failure"


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What one step did: ``passed``, ``failed``, ``skipped`` or ``not run``, and when (dates)."""

    index: int
    kind: str
    status: str
    detail: str
    started: float
    ended: float
    #: The named proxy mistake a failure proves (see :mod:`harness.report.findings`), if any.
    finding: str | None = None


@dataclass(frozen=True, slots=True)
class ScenarioSummary:
    """The scenario as its file wrote it, for a report: description, tags, the proxy's quirks
    and each step's fields (names as in YAML)."""

    description: str = ""
    tags: tuple[str, ...] = ()
    quirks: tuple[str, ...] = ()
    steps: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class ScenarioOutcome:
    """The result of one scenario run. Times are dates; the wire log keeps its loop-clock
    stamps, which ``clock`` dates."""

    name: str
    path: Path | None
    steps: tuple[StepOutcome, ...]
    wire: tuple[WireMessage, ...]
    started: float
    ended: float
    #: The voicemail server: ``embedded`` or ``sip:HOST:PORT``.
    target: str = "embedded"
    convention: str = "x-voicemail"
    #: What crossed the SMDI line, as the simulated PBX saw it.
    smdi: tuple[SmdiFrame, ...] = ()
    #: The proxy: ``simulator``, ``kamailio`` or ``sip:HOST:PORT``.
    proxy: str = "simulator"
    #: The simulated proxy's profile name and quirks.
    profile: str | None = None
    quirks: tuple[str, ...] = ()
    #: Parties the harness does not run, by address (``proxy``, ``voicemail``).
    parties: tuple[tuple[Peer, str], ...] = ()
    #: Reception statistics of every RTP stream of the run, taken as each call ended.
    rtp: tuple[RtpStream, ...] = ()
    #: How long each iteration of the run's ``repeat`` steps took.
    latency: tuple[LatencySample, ...] = ()
    #: The run's anchor, dating the wire log (None: the log's own first stamps).
    clock: ClockAnchor | None = None
    #: The scenario as written, when known.
    summary: ScenarioSummary = field(default_factory=ScenarioSummary)

    @property
    def findings(self) -> tuple[str, ...]:
        """The named proxy mistakes the run's failed steps prove, in order, each once."""
        named = (step.finding for step in self.steps if step.finding is not None)
        return tuple(dict.fromkeys(named))

    @property
    def status(self) -> str:
        """``failed`` if a step failed, ``skipped`` if every step that ran was skipped or one
        failed as the scenario expected, else ``passed``."""
        statuses = {step.status for step in self.steps}
        if "failed" in statuses:
            return "failed"
        if statuses and statuses <= {"skipped", "not run"}:
            return "skipped"
        if any(step.detail.startswith(EXPECTED_FAILURE) for step in self.steps):
            return "skipped"
        return "passed"

    @property
    def failure(self) -> StepOutcome | None:
        """The step that failed, if one did."""
        return next((step for step in self.steps if step.status == "failed"), None)


def rtp_stream(party: str, session: RtpSession, call_id: str = "") -> RtpStream:
    """A snapshot of ``session``'s reception statistics (before or after it is closed)."""
    try:
        local: Endpoint | None = Endpoint(*session.local_address)
    except RuntimeError:  # closed: the socket's address is gone
        local = None
    stats = session.receiver.stats
    return RtpStream(
        party=party,
        call_id=call_id,
        local=local,
        remote=Endpoint(*session.remote) if session.remote is not None else None,
        ssrc=stats.ssrc,
        payload_types=tuple(sorted(session.receiver.payload_types())),
        packets_sent=session.packets_sent,
        received=stats.received,
        duplicates=stats.duplicates,
        lost=stats.lost,
        out_of_order=stats.out_of_order,
        jitter=stats.jitter,
        other_ssrc=stats.other_ssrc,
        malformed=session.malformed,
        dtmf=tuple(DtmfDigit(digit.digit, digit.timestamp) for digit in session.dtmf.digits),
    )


def echo_pairs(wire: Sequence[WireMessage]) -> dict[int, int]:
    """For each ``in`` record of a message a party of the run sent, the index of its ``out``
    record.

    A received message is the echo of the earliest unpaired ``out`` record of another party
    with the same bytes and transport, addressed to the receiver (for TCP, to its host: a
    client's records name its listening port, not the connection's).
    """
    unpaired: dict[bytes, deque[int]] = defaultdict(deque)
    echo_of: dict[int, int] = {}
    for index, message in enumerate(wire):
        if message.direction == "out":
            unpaired[message.data].append(index)
            continue
        candidates = unpaired.get(message.data)
        if not candidates:
            continue
        for candidate in candidates:
            sent = wire[candidate]
            if sent.party == message.party or sent.transport != message.transport:
                continue
            if sent.remote == message.local or (
                message.transport == "TCP" and sent.remote[0] == message.local[0]
            ):
                echo_of[index] = candidate
                candidates.remove(candidate)
                break
    return echo_of
