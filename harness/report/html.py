"""The HTML report of a run, built from its traces, readable offline and mailable as it is.

A report directory holds::

    index.html               run metadata, findings, the matrix of scenarios by parties
    run.log                  what the servers and simulators logged during the run
    durations.json           each scenario's time, for the next run's estimate
    scenarios/<slug>.html    one page per scenario run: expected vs observed, ladder, messages
    traces/<slug>.json       the trace of each scenario run (the report is rebuilt from these)
    pcap/<slug>.pcap         the SIP of each scenario run, for Wireshark

Pages are self-contained: CSS and SVG inline, nothing fetched from elsewhere.
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jinja2
from markupsafe import Markup

from harness import __version__
from harness.report.charts import latency_histogram, latency_timeline
from harness.report.compare import Comparison, column_of
from harness.report.differential import Differential
from harness.report.expectation import expectation
from harness.report.ladder import render_ladder
from harness.report.matrix import Matrix, PreviousRun, build_matrix
from harness.report.pcap import write_pcap
from harness.report.trace import Trace, TraceError

TRACES, PCAPS, PAGES = "traces", "pcap", "scenarios"
#: The run's log (server and simulator lines), when the run wrote one.
RUN_LOG = "run.log"

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("harness.report", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One scenario run of a report: its trace and the file names derived from ``slug``."""

    slug: str
    trace: Trace

    @property
    def page(self) -> str:
        """The scenario page, relative to the report directory."""
        return f"{PAGES}/{self.slug}.html"

    @property
    def trace_file(self) -> str:
        """The trace file, relative to the report directory."""
        return f"{TRACES}/{self.slug}.json"

    @property
    def pcap_file(self) -> str:
        """The pcap file, relative to the report directory."""
        return f"{PCAPS}/{self.slug}.pcap"


@dataclass(frozen=True, slots=True)
class Column:
    """A matrix column: one target identity with one proxy profile."""

    identity: str
    target: str
    profile: str


def slugify(text: str) -> str:
    """``text`` as a file-name-safe slug (lower case, ``-`` between words)."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:80] or "scenario"


def entries_for(traces: Sequence[Trace]) -> list[Entry]:
    """Entries with unique slugs, from each scenario's file path (else its name)."""
    used: set[str] = set()
    entries = []
    for trace in traces:
        if trace.path:
            parts = list(Path(trace.path).with_suffix("").parts)
            if "scenarios" in parts:
                parts = parts[len(parts) - parts[::-1].index("scenarios") :]
            base = slugify("-".join(parts[-3:]))
        else:
            base = slugify(trace.scenario)
        slug, number = base, 1
        while slug in used:
            number += 1
            slug = f"{base}-{number}"
        used.add(slug)
        entries.append(Entry(slug, trace))
    return entries


def write_report(
    traces: Sequence[Trace], directory: Path, baseline: PreviousRun | None = None
) -> Path:
    """Save the traces under ``directory`` and write the report (compared with the
    ``baseline`` run, if given); returns ``index.html``."""
    entries = entries_for(traces)
    _clear(directory / TRACES, "*.json")
    for entry in entries:
        entry.trace.save(directory / entry.trace_file)
    return render_report(entries, directory, baseline)


def load_run(directory: Path) -> list[Entry]:
    """The saved traces of a report directory. Raises :class:`TraceError` for a bad one."""
    folder = directory / TRACES
    if not folder.is_dir():
        raise TraceError(f"{directory}: no {TRACES}/ directory (not a vmharness report)")
    files = sorted(folder.glob("*.json"), key=lambda path: path.stem)
    if not files:
        raise TraceError(f"{folder}: no trace files")
    return [Entry(path.stem, Trace.load(path)) for path in files]


def rebuild_report(directory: Path) -> Path:
    """Write the report of ``directory`` again from its saved traces; returns ``index.html``."""
    return render_report(load_run(directory), directory)


def render_report(
    entries: Sequence[Entry], directory: Path, baseline: PreviousRun | None = None
) -> Path:
    """Write index, scenario pages and pcaps for ``entries`` (compared with the ``baseline``
    run, if given); returns ``index.html``."""
    directory.mkdir(parents=True, exist_ok=True)
    _clear(directory / PAGES, "*.html")
    _clear(directory / PCAPS, "*.pcap")
    ordered = sorted(entries, key=lambda entry: (entry.trace.key, _column(entry.trace).profile))
    for entry in ordered:
        write_pcap(entry.trace, directory / entry.pcap_file)
        page = _render_scenario(entry)
        path = directory / entry.page
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
    index = directory / "index.html"
    matrix = build_matrix(ordered, baseline)
    log = directory / RUN_LOG
    index.write_text(
        _render_index(ordered, matrix, RUN_LOG if log.is_file() else None), encoding="utf-8"
    )
    return index


def write_comparison(
    comparison: Comparison, path: Path, before: Path, after: Path, after_entries: Sequence[Entry]
) -> Path:
    """Write the comparison of run ``before`` with run ``after`` as an HTML page at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pages = {(entry.trace.key, column_of(entry.trace)): entry.page for entry in after_entries}
    after_index = after / "index.html"

    def link(key: str, column: str) -> str | None:
        page = pages.get((key, column))
        return _relative(after / page, path.parent) if page else None

    html = _ENVIRONMENT.get_template("compare.html").render(
        comparison=comparison,
        before=str(before),
        after=str(after),
        after_index=_relative(after_index, path.parent) if after_index.exists() else None,
        link=link,
        generated=_now(),
        version=__version__,
    )
    path.write_text(html, encoding="utf-8")
    return path


def write_differential(differential: Differential, path: Path) -> Path:
    """Write where two runs' servers differ, scenario by scenario, as an HTML page at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    html = _ENVIRONMENT.get_template("differential.html").render(
        differential=differential, generated=_now(), version=__version__
    )
    path.write_text(html, encoding="utf-8")
    return path


# -- rendering --------------------------------------------------------------------------------


def _column(trace: Trace) -> Column:
    profile = " + ".join((trace.convention, *trace.quirks))
    return Column(trace.target_identity, trace.target, profile)


def _render_index(entries: Sequence[Entry], matrix: Matrix, log: str | None) -> str:
    columns = {_column(entry.trace) for entry in entries}
    counts = {
        status: sum(entry.trace.status == status for entry in entries)
        for status in ("passed", "failed", "skipped")
    }
    started = min((entry.trace.started for entry in entries), default=0.0)
    ended = max((entry.trace.ended for entry in entries), default=0.0)
    targets = sorted({f"{c.identity} ({c.target})" for c in columns})
    return _ENVIRONMENT.get_template("index.html").render(
        entries=entries,
        matrix=matrix,
        counts=counts,
        started=_date(started) if entries else "—",
        duration=ended - started,
        harness_versions=sorted({entry.trace.harness_version for entry in entries}),
        version=__version__,
        targets=targets,
        profiles=sorted({c.profile for c in columns}),
        host=platform.node(),
        generated=_now(),
        failures=[entry for entry in entries if entry.trace.failure is not None],
        log=log,
    )


def _render_scenario(entry: Entry) -> str:
    trace = entry.trace
    messages = trace.transmissions()
    failure = trace.failure
    samples = [(sample.time, sample.latency) for sample in trace.latency]
    return _ENVIRONMENT.get_template("scenario.html").render(
        entry=entry,
        trace=trace,
        column=_column(trace),
        failure=failure,
        expected=expectation(failure.kind, failure.spec) if failure else "",
        steps=[(step, expectation(step.kind, step.spec)) for step in trace.steps],
        ladder=Markup(render_ladder(trace)),  # every text inside is escaped
        messages=messages,
        started=_date(trace.started),
        histogram=Markup(latency_histogram(samples)) if samples else None,
        timeline=Markup(latency_timeline(samples)) if samples else None,
        version=__version__,
        generated=_now(),
    )


def _date(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _relative(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()


def _clear(folder: Path, pattern: str) -> None:
    """Remove what an earlier report left in one of the report's own folders."""
    if folder.is_dir():
        for stale in folder.glob(pattern):
            stale.unlink()
