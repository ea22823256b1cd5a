"""pytest plugin: every scenario file under a ``scenarios`` directory is a test item.

``pytest scenarios/`` runs the library; each item carries the scenario's convention and tags
as markers (``pytest -m diversion``). A malformed file is a collection error of one line per
problem, naming the file, the line and the field.

With ``--alluredir`` (allure-pytest), each scenario item is labelled with its convention as the
feature and its name as the story, and carries its trace (JSON), SIP ladder (SVG) and pcap as
attachments.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import allure
import pytest

from harness.core.routing import CONVENTIONS
from harness.scenario.loader import SCENARIO_SUFFIXES, ScenarioError, load_scenario
from harness.scenario.model import Scenario
from harness.scenario.runner import ScenarioOutcome, run_scenario


class ScenarioFailedError(AssertionError):
    """A scenario step failed; carries the outcome for the report.

    An expectation that was not met, hence an ``AssertionError``: Allure reports it as failed,
    not as a broken test. Its message is the failed step in plain words.
    """

    def __init__(self, outcome: ScenarioOutcome) -> None:
        failure = outcome.failure
        message = (
            f"{outcome.name}: step {failure.index + 1} ({failure.kind}) failed: {failure.detail}"
            if failure is not None
            else outcome.name
        )
        super().__init__(message)
        self.outcome = outcome


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers scenario items carry."""
    config.addinivalue_line("markers", "scenario: a vmharness scenario file")
    for name in CONVENTIONS:
        config.addinivalue_line(
            "markers", f"{_marker(name)}: scenarios using the {name} convention"
        )


def _marker(name: str) -> str:
    return name.replace("-", "_")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect YAML files that live under a directory named ``scenarios``."""
    if file_path.suffix in SCENARIO_SUFFIXES and "scenarios" in file_path.parts:
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    """One scenario file."""

    def collect(self) -> Iterator[pytest.Item]:
        """Load and validate the file; one item for its scenario."""
        try:
            scenario = load_scenario(self.path)
        except ScenarioError as error:
            raise self.CollectError("\n".join(str(problem) for problem in error.problems)) from None
        item = ScenarioItem.from_parent(self, name=self.path.stem, scenario=scenario)
        item.add_marker("scenario")
        item.add_marker(_marker(scenario.proxy.convention))
        yield item


class ScenarioItem(pytest.Item):
    """Runs one scenario against the embedded voicemail server."""

    def __init__(self, *, scenario: Scenario, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.scenario = scenario
        self.outcome: ScenarioOutcome | None = None

    def runtest(self) -> None:
        """Run the scenario; a failed step fails the item, an all-skipped run skips it."""
        self.outcome = asyncio.run(run_scenario(self.scenario, self.path))
        if self.config.getoption("allure_report_dir", default=None):
            self._attach_evidence(self.outcome)
        if self.outcome.status == "failed":
            raise ScenarioFailedError(self.outcome)
        if self.outcome.status == "skipped":
            reasons = "; ".join(step.detail for step in self.outcome.steps if step.detail)
            pytest.skip(reasons or "every step was skipped")

    def _attach_evidence(self, outcome: ScenarioOutcome) -> None:
        """Label the Allure result and attach the trace, the ladder and the pcap."""
        # Only Allure runs pay for the report modules (scapy takes half a second to import).
        from harness.report.ladder import render_ladder  # noqa: PLC0415
        from harness.report.pcap import pcap_bytes  # noqa: PLC0415
        from harness.report.trace import Trace  # noqa: PLC0415

        trace = Trace.from_outcome(outcome, scenario=self.scenario)
        dynamic: Any = allure.dynamic  # its methods carry no annotations
        dynamic.title(self.scenario.name)
        dynamic.feature(self.scenario.proxy.convention)
        dynamic.story(self.scenario.name)
        if self.scenario.description:
            dynamic.description(self.scenario.description)
        for tag in self.scenario.tags:
            dynamic.tag(tag)
        allure.attach(
            json.dumps(trace.to_json(), indent=1, ensure_ascii=False),
            name="trace",
            attachment_type=allure.attachment_type.JSON,
        )
        allure.attach(
            render_ladder(trace),
            name="SIP ladder",
            attachment_type=allure.attachment_type.SVG,
        )
        allure.attach(
            pcap_bytes(trace), name="SIP pcap", attachment_type=allure.attachment_type.PCAP
        )

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: object = None,
    ) -> str:
        """The failed step in plain words, then every step's result."""
        if not isinstance(excinfo.value, ScenarioFailedError):
            return str(super().repr_failure(excinfo))
        outcome = excinfo.value.outcome
        lines = [f"scenario: {outcome.name}"]
        failure = outcome.failure
        if failure is not None:
            lines.append(f"step {failure.index + 1} ({failure.kind}) failed: {failure.detail}")
        lines.append("steps:")
        lines += [
            f"  {step.index + 1}. {step.kind:16} {step.status:8} {step.detail}"
            for step in outcome.steps
        ]
        return "\n".join(lines)

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where the item comes from, for pytest's report."""
        return self.path, 0, f"scenario: {self.scenario.name}"
