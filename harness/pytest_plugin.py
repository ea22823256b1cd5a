"""pytest plugin: every scenario file under a ``scenarios`` directory is a test item.

``pytest scenarios/`` runs the library against the embedded voicemail server and the simulated
proxy. The options choose other parties, and each may be given more than once: every scenario
then runs once per combination, as items named ``<file>[<target>/<proxy>/<convention>]``
(``x-voicemail-basic[embedded/sim:strips-x-headers/x-voicemail]``):

- ``--target embedded|sip:HOST:PORT`` and ``--target-spool DIR`` (white-box steps need it);
- ``--proxy simulator|kamailio|sip:HOST:PORT`` and ``--proxy-profile NAME|FILE``;
- ``--voicemail-port`` and ``--proxy-port`` fix the ports of the embedded server and of the
  simulated proxy, for real parties configured to reach them (not with ``-n``).

Each item carries markers: the convention (``pytest -m diversion``), ``embedded_target`` or
``external_target``, ``simulated_proxy`` or ``real_proxy``, and ``target(name)``,
``proxy(name)``, ``proxy_profile(name)`` with the values. A malformed file is a collection
error of one line per problem, naming the file, the line and the field. Under ``pytest -n``
each worker's parties use ports of their own (chosen free) and private directories.

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
from harness.peers.asterisk import AsteriskError
from harness.peers.kamailio import KamailioError
from harness.report.records import ScenarioOutcome
from harness.scenario.loader import SCENARIO_SUFFIXES, ScenarioError, load_scenario
from harness.scenario.model import Scenario
from harness.scenario.plan import Plan, RunOptions, plan_run
from harness.scenario.runner import run_scenario
from harness.scenario.site import SiteError, load_site

#: The run options of every combination the command line asks for.
RUNS = pytest.StashKey[list[RunOptions]]()


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


def _target_marker(plan: Plan) -> str:
    """``embedded_target``, ``asterisk_target`` or ``external_target``."""
    if plan.asterisk:
        return "asterisk_target"
    return "embedded_target" if plan.target is None else "external_target"


def pytest_addoption(parser: pytest.Parser) -> None:
    """The options that choose the voicemail server and the proxy of scenario items."""
    group = parser.getgroup("vmharness", "vmharness scenarios")
    group.addoption(
        "--target",
        action="append",
        metavar="embedded|asterisk|sip:HOST:PORT",
        help="the voicemail server under test (repeatable): the embedded one, a real Asterisk "
        "the harness configures per scenario, or an external one configured to match the "
        "scenarios",
    )
    group.addoption(
        "--target-spool",
        type=Path,
        metavar="DIR",
        help="the external target's spool, for white-box steps (skipped without it)",
    )
    group.addoption(
        "--asterisk",
        type=Path,
        metavar="PATH",
        help="the asterisk binary of --target asterisk (default: on PATH, else the build cache)",
    )
    group.addoption(
        "--proxy",
        action="append",
        metavar="simulator|kamailio|sip:HOST:PORT",
        help="the proxy (repeatable): the simulator, a Kamailio per scenario, or a proxy under "
        "test",
    )
    group.addoption(
        "--proxy-profile",
        action="append",
        metavar="NAME|FILE",
        help="the simulated proxy's profile instead of each scenario's (repeatable)",
    )
    group.addoption(
        "--voicemail-port",
        type=int,
        default=0,
        metavar="PORT",
        help="the embedded voicemail server's SIP port, for a proxy under test configured "
        "to forward to it",
    )
    group.addoption(
        "--site",
        type=Path,
        metavar="FILE",
        help="the deployment under test (a site file): its proxy and voicemail server, with "
        "the scenarios that do not apply to it skipped",
    )
    group.addoption(
        "--proxy-port",
        type=int,
        default=0,
        metavar="PORT",
        help="the simulated proxy's SIP port, for an external target whose peers name it",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers scenario items carry; check the options."""
    config.addinivalue_line("markers", "scenario: a vmharness scenario file")
    for convention in CONVENTIONS:
        config.addinivalue_line(
            "markers", f"{_marker(convention)}: scenarios using the {convention} convention"
        )
    for name, text in (
        ("embedded_target", "scenarios run against the embedded voicemail server"),
        ("external_target", "scenarios run against a voicemail server at an address"),
        ("asterisk_target", "scenarios run against a real Asterisk the harness configures"),
        ("simulated_proxy", "scenarios run through the simulated proxy"),
        ("real_proxy", "scenarios run through Kamailio or a proxy under test"),
        ("target(name)", "the voicemail server a scenario item runs against"),
        ("proxy(name)", "the proxy a scenario item runs through"),
        ("proxy_profile(name)", "the simulated proxy's profile of a scenario item"),
    ):
        config.addinivalue_line("markers", f"{name}: {text}")
    config.stash[RUNS] = _runs(config)


def _site_run(config: pytest.Config, file: Path) -> RunOptions:
    """The one run of ``--site``; UsageError for a bad file or options it cannot go with."""
    option = config.getoption
    clashing = [name for name in ("target", "proxy", "proxy_profile") if option(name, None)]
    if clashing:
        given = " and ".join(f"--{name.replace('_', '-')}" for name in clashing)
        raise pytest.UsageError(f"--site names the proxy and voicemail server; drop {given}")
    try:
        site = load_site(file)
    except SiteError as error:
        raise pytest.UsageError(str(error)) from None
    if site.voicemail.port and option("numprocesses", default=None) not in (None, 0):
        raise pytest.UsageError("the site fixes the voicemail port that every -n worker would bind")
    return RunOptions.for_site(site)


def _runs(config: pytest.Config) -> list[RunOptions]:
    """One RunOptions per combination of --target, --proxy and --proxy-profile (or the one
    of --site)."""
    option = config.getoption
    site = option("site", default=None)
    if site is not None:
        return [_site_run(config, site)]
    voicemail_port = option("voicemail_port", default=0) or 0
    proxy_port = option("proxy_port", default=0) or 0
    workers = option("numprocesses", default=None)
    if (voicemail_port or proxy_port) and workers not in (None, 0):
        fixed = "--voicemail-port" if voicemail_port else "--proxy-port"
        raise pytest.UsageError(f"{fixed} fixes one port that every -n worker would bind: drop -n")
    runs: list[RunOptions] = []
    for target in option("target", default=None) or [None]:
        for proxy in option("proxy", default=None) or [None]:
            for profile in option("proxy_profile", default=None) or [None]:
                try:
                    runs.append(
                        RunOptions(
                            target=target,
                            target_spool=option("target_spool", default=None),
                            proxy=proxy,
                            profile=profile,
                            voicemail_port=voicemail_port,
                            proxy_port=proxy_port,
                            asterisk=option("asterisk", default=None),
                        )
                    )
                except ValueError as error:
                    raise pytest.UsageError(str(error)) from None
    return runs


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
        """Load and validate the file; one item per combination of parties."""
        runs = self.config.stash.get(RUNS, [RunOptions()])
        site = runs[0].site if runs else None
        try:
            scenario = load_scenario(self.path, None if site is None else site.variables())
        except ScenarioError as error:
            raise self.CollectError("\n".join(str(problem) for problem in error.problems)) from None
        labels: set[str] = set()
        for options in runs:
            try:
                plan = plan_run(scenario, options)
            except (ValueError, KamailioError, AsteriskError) as error:
                raise self.CollectError(f"{self.path}: {error}") from None
            if plan.label in labels:
                continue
            labels.add(plan.label)
            item = ScenarioItem.from_parent(
                self,
                name=f"{self.path.stem}[{plan.label}]",
                scenario=scenario,
                options=options,
                plan=plan,
            )
            item.add_marker("scenario")
            item.add_marker(_marker(plan.convention))
            item.add_marker(_target_marker(plan))
            item.add_marker("simulated_proxy" if plan.proxy == "simulator" else "real_proxy")
            item.add_marker(pytest.mark.target(plan.target_name))
            item.add_marker(pytest.mark.proxy(plan.proxy_name))
            if plan.profile is not None:
                item.add_marker(pytest.mark.proxy_profile(plan.profile.name))
            yield item


class ScenarioItem(pytest.Item):
    """Runs one scenario with one choice of voicemail server and proxy."""

    def __init__(
        self, *, scenario: Scenario, options: RunOptions, plan: Plan, **kwargs: object
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.scenario = scenario
        self.options = options
        self.plan = plan
        self.outcome: ScenarioOutcome | None = None

    def runtest(self) -> None:
        """Run the scenario; a failed step fails the item, an all-skipped run skips it."""
        self.outcome = asyncio.run(run_scenario(self.scenario, self.path, self.options))
        if self.config.getoption("allure_report_dir", default=None):
            self._attach_evidence(self.outcome)
        if self.outcome.status == "failed":
            raise ScenarioFailedError(self.outcome)
        if self.outcome.status == "skipped":
            reasons = "; ".join(
                step.detail
                for step in self.outcome.steps
                if step.status == "skipped" and step.detail
            )
            pytest.skip(reasons or "every step was skipped")

    def _attach_evidence(self, outcome: ScenarioOutcome) -> None:
        """Label the Allure result and attach the trace, the ladder and the pcap."""
        # Only Allure runs pay for the report modules (scapy takes half a second to import).
        from harness.report.ladder import render_ladder  # noqa: PLC0415
        from harness.report.pcap import pcap_bytes  # noqa: PLC0415
        from harness.report.trace import Trace  # noqa: PLC0415

        trace = Trace.from_outcome(outcome)
        dynamic: Any = allure.dynamic  # its methods carry no annotations
        dynamic.title(self.scenario.name)
        dynamic.feature(self.plan.convention)
        dynamic.story(self.scenario.name)
        dynamic.parameter("target", self.plan.target_name)
        dynamic.parameter("proxy", self.plan.proxy_name)
        if self.plan.profile is not None:
            dynamic.parameter("proxy profile", self.plan.profile.name)
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
