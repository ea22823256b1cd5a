"""Benchmark figures: ours beside a peer's, measured in the same run, judged against a target.

Every bench script makes :class:`Figure` records, prints them with :func:`render` and writes
them with :func:`write_json` under ``reports/bench/`` (one JSON file per script), so the table
and the issue's note come from the same numbers. A figure whose side could not be measured
(a peer not installed, a command not on this branch) says ``skipped: why`` instead of a verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "reports" / "bench"


def load_average() -> float:
    """The machine's one-minute load average (it is shared: each figure carries it)."""
    return os.getloadavg()[0]


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure: ``ours`` beside ``peer`` (same unit), and the target it must reach.

    ``target_ratio`` is the least ``ours / peer`` that passes; ``minimum`` an absolute floor
    for ``ours`` besides (e.g. 60 deposits/s). ``skipped`` names why it was not measured.
    """

    bench: str
    what: str
    unit: str
    ours: float | None
    peer: float | None
    peer_name: str
    target_ratio: float
    minimum: float | None = None
    skipped: str | None = None
    load: float = field(default_factory=load_average)
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """ours / peer, when both were measured and the peer is not zero."""
        if self.ours is None or not self.peer:
            return None
        return self.ours / self.peer

    @property
    def verdict(self) -> str:
        """``PASS``, ``FAIL`` or ``skipped: why``."""
        if self.skipped is not None:
            return f"skipped: {self.skipped}"
        ratio = self.ratio
        if ratio is None or self.ours is None:
            return "FAIL"
        floor_met = self.minimum is None or self.ours >= self.minimum
        return "PASS" if ratio >= self.target_ratio and floor_met else "FAIL"

    def as_json(self) -> dict[str, Any]:
        """The record with its ratio and verdict, for the JSON report."""
        return {**asdict(self), "ratio": self.ratio, "verdict": self.verdict}


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def _target(figure: Figure) -> str:
    text = f">= {figure.target_ratio:.0%}"
    if figure.minimum is not None:
        text += f", >= {_number(figure.minimum)}"
    return text


def render(figures: Sequence[Figure]) -> str:
    """A plain-text table: what, ours, the peer, the ratio, the target, the verdict, load."""
    header = ("figure", "ours", "peer", "ratio", "target", "load", "verdict")
    rows = [header]
    for figure in figures:
        ratio = figure.ratio
        rows.append(
            (
                f"{figure.what} ({figure.unit})",
                _number(figure.ours),
                f"{_number(figure.peer)} {figure.peer_name}",
                "-" if ratio is None else f"{ratio:.1%}",
                _target(figure),
                f"{figure.load:.1f}",
                figure.verdict,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    notes = [f"  {figure.what}: {figure.note}" for figure in figures if figure.note]
    return "\n".join([line.rstrip() for line in lines] + notes)


def write_json(
    name: str, figures: Iterable[Figure], details: dict[str, Any], directory: Path = REPORTS
) -> Path:
    """``<directory>/<name>.json``: the figures and the details of each measurement."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    document = {
        "bench": name,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cores": os.cpu_count(),
        "figures": [figure.as_json() for figure in figures],
        "details": details,
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path


def parser(doc: str) -> argparse.ArgumentParser:
    """The options every bench script takes: ``--quick`` and where the JSON goes."""
    made = argparse.ArgumentParser(
        description=doc.split("\n\n", maxsplit=1)[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    made.add_argument("--quick", action="store_true", help="small sizes, about a minute")
    made.add_argument(
        "--reports", type=Path, default=REPORTS, help=f"where the JSON goes (default {REPORTS})"
    )
    return made


def finish(name: str, figures: Sequence[Figure], details: dict[str, Any], reports: Path) -> int:
    """Print the table and write the JSON. Exit code 0 even when a figure fails its target:
    the verdict is in the table, and ``make bench`` goes on to the next script."""
    print(render(figures))
    print(f"written {write_json(name, figures, details, reports)}")
    return 0
