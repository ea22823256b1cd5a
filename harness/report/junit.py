"""JUnit XML of a run, for CI systems: one test case per scenario run.

A failed scenario is a ``<failure>`` whose message is the failed step in plain words; a
skipped one is ``<skipped>``. Each case's output lists every step, and names the trace and pcap
files when the run also wrote a report.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from harness.report.trace import Trace


def junit_xml(traces: Sequence[Trace], files: Mapping[int, Sequence[str]] | None = None) -> bytes:
    """The JUnit XML document for ``traces``; ``files[i]`` lists files to name for trace i."""
    failures = sum(trace.status == "failed" for trace in traces)
    skipped = sum(trace.status == "skipped" for trace in traces)
    started = min((trace.started for trace in traces), default=0.0)
    ended = max((trace.ended for trace in traces), default=0.0)
    suite = ET.Element(
        "testsuite",
        name="vmharness",
        tests=str(len(traces)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time=f"{max(ended - started, 0.0):.3f}",
        timestamp=datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%dT%H:%M:%S"),
    )
    for index, trace in enumerate(traces):
        case = ET.SubElement(
            suite,
            "testcase",
            name=trace.scenario,
            classname=f"vmharness.{trace.convention}",
            time=f"{max(trace.ended - trace.started, 0.0):.3f}",
        )
        if trace.path:
            case.set("file", trace.path)
        properties = ET.SubElement(case, "properties")
        for name, value in (
            ("target", trace.target),
            ("target.identity", trace.target_identity),
            ("convention", trace.convention),
        ):
            ET.SubElement(properties, "property", name=name, value=value)
        failure = trace.failure
        if failure is not None:
            element = ET.SubElement(
                case,
                "failure",
                message=f"step {failure.index + 1} ({failure.kind}): {failure.detail}",
                type="ScenarioFailed",
            )
            element.text = _steps(trace)
        elif trace.status == "skipped":
            # Only skipped steps say why (one that failed as expected is among them).
            reasons = "; ".join(
                dict.fromkeys(s.detail for s in trace.steps if s.status == "skipped" and s.detail)
            )
            ET.SubElement(case, "skipped", message=reasons or "every step was skipped")
        output = _steps(trace)
        named = (files or {}).get(index, ())
        if named:
            output += "\n" + "\n".join(f"[[ATTACHMENT|{name}]]" for name in named)
        ET.SubElement(case, "system-out").text = output
    ET.indent(suite)
    document: bytes = ET.tostring(suite, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def write_junit(
    traces: Sequence[Trace], path: Path, files: Mapping[int, Sequence[str]] | None = None
) -> Path:
    """Write :func:`junit_xml` to ``path`` (parents created); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(junit_xml(traces, files))
    return path


def _steps(trace: Trace) -> str:
    """One line per step, timed in seconds since the scenario started."""
    return "\n".join(
        f"{step.index + 1}. [{step.started - trace.started:7.3f} s] {step.kind} {step.status}: "
        f"{step.detail}".rstrip(": ")
        for step in trace.steps
    )
