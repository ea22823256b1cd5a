"""The report's matrix by parties: what each party under test did with each scenario.

Rows are scenarios grouped by area (the library folder a scenario file sits in: deposit,
retrieve, mwi, smdi, quirks, load, then any other folder), each row naming the proxy profile
and convention it ran with. Columns are the parties under test: the voicemail server (target)
with the proxy in front of it. Within an area, rows that failed somewhere come first, then rows
skipped (with the reason), then rows that passed everywhere, which the page folds away.

Above the matrix: the named findings the traces carry, each with the scenarios that show it,
and, against a baseline run, what newly failed, what was fixed and how latency moved.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from harness.report.compare import Comparison, compare_runs
from harness.report.findings import FINDINGS
from harness.report.trace import Trace

#: The library's areas in the order a reader wants them; other folders follow by name.
AREAS = ("deposit", "retrieve", "mwi", "smdi", "quirks", "load")
#: How an area's folder name reads as a heading, where capitalising it is not enough.
TITLES = {"mwi": "MWI", "smdi": "SMDI"}
#: Worse first: a row's status is the worst of its cells.
RANK = {"failed": 0, "skipped": 1, "passed": 2}


class Run(Protocol):
    """A scenario run of a report (:class:`harness.report.html.Entry`): its trace."""

    @property
    def trace(self) -> Trace:
        """The run's trace."""
        ...


@dataclass(frozen=True, slots=True)
class Party:
    """A matrix column: the voicemail server under test with the proxy in front of it."""

    target: str
    proxy: str
    #: Software identity, as the target's messages name it.
    identity: str

    @property
    def name(self) -> str:
        """``embedded x simulator``, ``sip:10.0.0.5:5060 x kamailio`` (with a times sign)."""
        return f"{self.target} \u00d7 {self.proxy}"


@dataclass(frozen=True, slots=True)
class Row:
    """One scenario with one proxy setup, and its cell (a trace or nothing) per party."""

    key: str
    scenario: str
    setup: str
    cells: tuple[Run | None, ...]
    status: str
    #: Why it was skipped (skipped rows), each reason once.
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Area:
    """The rows of one area: failed, then skipped, then passed."""

    name: str
    failed: tuple[Row, ...]
    skipped: tuple[Row, ...]
    passed: tuple[Row, ...]

    @property
    def title(self) -> str:
        """The heading: ``Deposit``, ``MWI``."""
        return TITLES.get(self.name, self.name.capitalize())


@dataclass(frozen=True, slots=True)
class Finding:
    """A named finding, what it means, and the scenarios (by name) that show it."""

    name: str
    title: str
    scenarios: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LatencyMove:
    """How one scenario's measured latency moved from the baseline run (median, seconds)."""

    scenario: str
    before: float
    after: float

    @property
    def change(self) -> float:
        """Relative change (0.1: ten per cent slower)."""
        return (self.after - self.before) / self.before if self.before else 0.0


@dataclass(frozen=True, slots=True)
class Baseline:
    """The run compared with a previous one."""

    directory: str
    comparison: Comparison
    latency: tuple[LatencyMove, ...] = ()


@dataclass(frozen=True, slots=True)
class Matrix:
    """The whole matrix: columns, areas of rows, findings."""

    parties: tuple[Party, ...]
    areas: tuple[Area, ...]
    findings: tuple[Finding, ...] = ()
    baseline: Baseline | None = field(default=None)


def area_of(trace: Trace) -> str:
    """The library folder of the scenario file (``deposit``), ``other`` without one."""
    if not trace.path:
        return "other"
    parts = Path(trace.path).parts
    if "scenarios" in parts[:-1]:
        below = parts[len(parts) - parts[::-1].index("scenarios") : -1]
        if below:
            return below[0]
    return parts[-2] if len(parts) > 1 else "other"


def party_of(trace: Trace) -> Party:
    """The column of ``trace``."""
    return Party(trace.target, trace.proxy, trace.target_identity)


def setup_of(trace: Trace) -> str:
    """The proxy setup a row names: ``profile sbc · diversion + compact-headers``."""
    convention = " + ".join((trace.convention, *trace.quirks))
    return f"profile {trace.profile} · {convention}" if trace.profile else convention


def skip_reasons(trace: Trace) -> tuple[str, ...]:
    """Why a skipped scenario was skipped, each reason once."""
    reasons = dict.fromkeys(
        step.detail for step in trace.steps if step.status == "skipped" and step.detail
    )
    return tuple(reasons)


#: A previous run to compare with: its report directory (as the page names it) and traces.
PreviousRun = tuple[str, Sequence[Trace]]


def build_matrix(entries: Sequence[Run], baseline: PreviousRun | None = None) -> Matrix:
    """The matrix of report ``entries`` (each with a ``trace``); ``baseline`` is a previous
    run's directory and traces."""
    traces = [entry.trace for entry in entries]
    parties = tuple(sorted({party_of(t) for t in traces}, key=lambda p: (p.target, p.proxy)))
    column = {party: number for number, party in enumerate(parties)}
    grouped: dict[tuple[str, str], list[Run]] = {}
    for entry in entries:
        grouped.setdefault((entry.trace.key, setup_of(entry.trace)), []).append(entry)
    areas: dict[str, list[Row]] = {}
    for (key, setup), group in grouped.items():
        cells: list[Run | None] = [None] * len(parties)
        for entry in group:
            cells[column[party_of(entry.trace)]] = entry
        statuses = [entry.trace.status for entry in group]
        status = min(statuses, key=lambda s: RANK.get(s, 0))
        reasons = tuple(dict.fromkeys(r for e in group for r in skip_reasons(e.trace)))
        row = Row(key, group[0].trace.scenario, setup, tuple(cells), status, reasons)
        areas.setdefault(area_of(group[0].trace), []).append(row)
    order = [name for name in AREAS if name in areas] + sorted(areas.keys() - set(AREAS))
    return Matrix(
        parties,
        tuple(_area(name, areas[name]) for name in order),
        findings_of(traces),
        None if baseline is None else _baseline(baseline[0], baseline[1], traces),
    )


def _area(name: str, rows: list[Row]) -> Area:
    ordered = sorted(rows, key=lambda row: (row.scenario, row.setup))
    return Area(
        name,
        tuple(row for row in ordered if row.status == "failed"),
        tuple(row for row in ordered if row.status == "skipped"),
        tuple(row for row in ordered if row.status not in ("failed", "skipped")),
    )


def findings_of(traces: Sequence[Trace]) -> tuple[Finding, ...]:
    """Each named finding the traces carry, with the scenarios that show it."""
    shown: dict[str, dict[str, None]] = {}
    for trace in traces:
        for name in trace.findings:
            shown.setdefault(name, {})[trace.scenario] = None
    return tuple(
        Finding(name, FINDINGS[name].title if name in FINDINGS else "", tuple(names))
        for name, names in sorted(shown.items())
    )


def _baseline(directory: str, before: Sequence[Trace], after: Sequence[Trace]) -> Baseline:
    old = {(t.key, t.target, t.convention): t for t in before}
    moves: list[LatencyMove] = []
    for trace in after:
        previous = old.get((trace.key, trace.target, trace.convention))
        if previous is None or not previous.latency or not trace.latency:
            continue
        moves.append(
            LatencyMove(
                trace.scenario,
                statistics.median(sample.latency for sample in previous.latency),
                statistics.median(sample.latency for sample in trace.latency),
            )
        )
    moves.sort(key=lambda move: -abs(move.change))
    return Baseline(directory, compare_runs(before, after), tuple(moves))
