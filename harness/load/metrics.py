"""What a load run measured, mergeable across agents, and the JSON it is reported as.

Every agent returns a :class:`Tally` of plain numbers and latency samples (milliseconds); tallies
add up (:meth:`Tally.merge`), so one report covers every agent. :func:`percentiles` summarises a
sample list as p50/p95/p99/max.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


def percentiles(samples: list[float]) -> dict[str, float | None]:
    """p50, p95, p99 and max of ``samples`` (nearest rank), rounded to 0.1; None when empty."""
    if not samples:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(samples)

    def rank(share: float) -> float:
        index = max(math.ceil(share * len(ordered)) - 1, 0)
        return round(ordered[index], 1)

    return {"p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "max": round(ordered[-1], 1)}


@dataclass
class Tally:
    """Counts and samples of one agent (or of all, merged)."""

    attempted: int = 0
    succeeded: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    setup_ms: list[float] = field(default_factory=list)
    notify_ms: list[float] = field(default_factory=list)
    rtp_expected: int = 0
    rtp_received: int = 0
    cpu_seconds: float = 0.0
    #: Seconds from the first call started to the last one started.
    span: float = 0.0
    started: int = 0
    #: Calls started per second (agents' rates add up).
    achieved: float = 0.0
    #: Calls that succeeded, by kind (deposit, retrieval).
    kinds: Counter[str] = field(default_factory=Counter)

    def fail(self, cause: str) -> None:
        """Count one call failed for ``cause``."""
        self.failed[cause] += 1

    def merge(self, other: Tally) -> None:
        """Add ``other``'s counts and samples to these (agents run side by side: spans overlap)."""
        self.attempted += other.attempted
        self.succeeded += other.succeeded
        self.failed.update(other.failed)
        self.setup_ms += other.setup_ms
        self.notify_ms += other.notify_ms
        self.rtp_expected += other.rtp_expected
        self.rtp_received += other.rtp_received
        self.cpu_seconds += other.cpu_seconds
        self.span = max(self.span, other.span)
        self.started += other.started
        self.achieved += other.achieved
        self.kinds.update(other.kinds)

    @property
    def rtp_loss(self) -> float:
        """Share of the server's packets that did not arrive (sequence gaps)."""
        if self.rtp_expected <= 0:
            return 0.0
        return max(self.rtp_expected - self.rtp_received, 0) / self.rtp_expected

    def measure_rate(self) -> None:
        """Set :attr:`achieved` from the calls started and the span of their starts."""
        if self.started <= 1 or self.span <= 0:
            self.achieved = float(self.started)
        else:
            self.achieved = (self.started - 1) / self.span

    def to_wire(self) -> dict[str, Any]:
        """Plain data, to cross an execnet channel."""
        return {
            "attempted": self.attempted,
            "succeeded": self.succeeded,
            "failed": dict(self.failed),
            "setup_ms": self.setup_ms,
            "notify_ms": self.notify_ms,
            "rtp_expected": self.rtp_expected,
            "rtp_received": self.rtp_received,
            "cpu_seconds": self.cpu_seconds,
            "span": self.span,
            "started": self.started,
            "achieved": self.achieved,
            "kinds": dict(self.kinds),
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Tally:
        """The tally :meth:`to_wire` sent."""
        return cls(
            attempted=int(data["attempted"]),
            succeeded=int(data["succeeded"]),
            failed=Counter({str(k): int(v) for k, v in data["failed"].items()}),
            setup_ms=[float(v) for v in data["setup_ms"]],
            notify_ms=[float(v) for v in data["notify_ms"]],
            rtp_expected=int(data["rtp_expected"]),
            rtp_received=int(data["rtp_received"]),
            cpu_seconds=float(data["cpu_seconds"]),
            span=float(data["span"]),
            started=int(data["started"]),
            achieved=float(data["achieved"]),
            kinds=Counter({str(k): int(v) for k, v in data["kinds"].items()}),
        )


def report(
    tally: Tally,
    *,
    rate_offered: float,
    faults: list[str],
    agents: int,
    cpu_seconds: float,
) -> dict[str, Any]:
    """The run's result in the JSON shape the benchmarks read (keys are a contract; ``kinds``,
    the calls that succeeded by kind, is extra)."""
    return {
        "attempted": tally.attempted,
        "succeeded": tally.succeeded,
        "failed": dict(sorted(tally.failed.items())),
        "rate_offered": rate_offered,
        "rate_achieved": round(tally.achieved, 2),
        "setup_latency_ms": percentiles(tally.setup_ms),
        "notify_latency_ms": percentiles(tally.notify_ms),
        "rtp_loss": round(tally.rtp_loss, 5),
        "converged": not faults,
        "convergence_faults": faults,
        "cpu_seconds": round(cpu_seconds, 2),
        "agents": agents,
        "kinds": dict(sorted(tally.kinds.items())),
    }
