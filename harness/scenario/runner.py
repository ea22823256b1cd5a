"""Runs a scenario: makes its plan, builds its testbed, plays its steps in order, and says what
happened as a :class:`harness.report.records.ScenarioOutcome`.

The testbed is a proxy, a voicemail server and a simulated phone per declared phone, each
registered at the proxy before the first step (unless declared ``registered: no``); which proxy
and which server is the run's plan (:mod:`harness.scenario.plan`). Every SIP message the
harness's parties send or receive lands in the outcome's wire log; parties the harness does not
run are named by their address. A topology with a ``pbx`` adds a simulated PBX on the switch end
of a pty pair whose other end the server opens as its SMDI port; what crosses that line lands
in the outcome's ``smdi`` frames. The run is timed by the event loop's clock and dated by one
anchor taken as it begins.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.peers.asterisk import AsteriskError
from harness.peers.kamailio import KamailioError
from harness.report.records import (
    ClockAnchor,
    ScenarioOutcome,
    ScenarioSummary,
    StepOutcome,
)
from harness.scenario.expected import expected_failure
from harness.scenario.listen_back import listen_back_outcome
from harness.scenario.model import Scenario
from harness.scenario.plan import Plan, RunOptions, plan_run
from harness.scenario.step import StepFailed, StepSkipped
from harness.scenario.steps.mwi import misdirected_notify
from harness.scenario.testbed import Testbed, build_testbed

#: Told the index and kind of each step as it begins (a live display shows the running step).
StepHook = Callable[[int, str], None]
#: The kind of the record a run ends with when a phone received a NOTIFY meant for another.
NOTIFY_ADDRESSING = "notify addressing"


def scenario_summary(scenario: Scenario) -> ScenarioSummary:
    """What a report shows of ``scenario`` as written."""
    return ScenarioSummary(
        description=scenario.description or "",
        tags=tuple(scenario.tags),
        quirks=tuple(
            quirk if isinstance(quirk, str) else next(iter(quirk), "")
            for quirk in scenario.proxy.quirks
        ),
        steps=tuple(_step_spec(step) for step in scenario.steps),
    )


def _step_spec(step: Any) -> dict[str, Any]:
    spec = step.model_dump(mode="json", by_alias=True, exclude_none=True)
    return spec if isinstance(spec, dict) else {}


async def run_scenario(
    scenario: Scenario,
    path: Path | None = None,
    options: RunOptions | None = None,
    on_step: StepHook | None = None,
) -> ScenarioOutcome:
    """Run ``scenario`` as ``options`` say; never raises for a failed or skipped step.
    ``on_step`` is told each step as it begins."""
    clock = ClockAnchor.now()
    try:
        plan = plan_run(scenario, options)
    except (ValueError, KamailioError, AsteriskError) as error:
        return _setup_outcome(scenario, path, None, clock, status="failed", detail=str(error))
    if plan.skip is not None:
        return _setup_outcome(scenario, path, plan, clock, status="skipped", detail=plan.skip)
    try:
        bed = await build_testbed(scenario, options, plan, path, clock)
    except StepFailed as failure:
        return _setup_outcome(scenario, path, plan, clock, status="failed", detail=str(failure))
    try:
        outcomes = await _run_steps(scenario, bed, on_step)
    finally:
        await bed.close()
    expected = scenario.expect_failure.items()
    reason = next((why for name, why in expected if name == plan.target_name), None)
    outcomes = expected_failure(outcomes, plan.target_name, reason)
    return _outcome(scenario, path, plan, outcomes, clock, bed=bed)


async def _run_steps(
    scenario: Scenario, bed: Testbed, on_step: StepHook | None
) -> tuple[StepOutcome, ...]:
    """Each step's outcome, dated; the steps after a failed one are not run."""
    outcomes: list[StepOutcome] = []
    failed = False
    for index, step in enumerate(scenario.steps):
        begun = bed.clock.date(bed.now())
        if failed:
            outcomes.append(StepOutcome(index, step.kind, "not run", "", begun, begun))
            continue
        if on_step is not None:
            on_step(index, step.kind)
        finding: str | None = None
        try:
            detail = await scenario.registry.run(step, bed)
            status = "passed"
        except StepSkipped as skip:
            detail, status = str(skip), "skipped"
        except StepFailed as failure:
            detail, status, failed = str(failure), "failed", True
            finding = failure.finding
        ended = bed.clock.date(bed.now())
        outcomes.append(StepOutcome(index, step.kind, status, detail, begun, ended, finding))
    if not failed and bed.deposited:
        outcomes.append(await listen_back_outcome(bed, len(outcomes)))
    # Every phone checks whom each NOTIFY is for: one meant for another user fails the run
    # even when no step waited for that phone's NOTIFYs.
    misdirected = None if failed else misdirected_notify(bed)
    if misdirected is not None:
        now = bed.clock.date(bed.now())
        outcomes.append(
            StepOutcome(
                len(scenario.steps),
                NOTIFY_ADDRESSING,
                "failed",
                str(misdirected),
                now,
                now,
                misdirected.finding,
            )
        )
    return tuple(outcomes)


def _setup_outcome(
    scenario: Scenario,
    path: Path | None,
    plan: Plan | None,
    clock: ClockAnchor,
    *,
    status: str,
    detail: str,
) -> ScenarioOutcome:
    """The outcome of a run that ended before its steps: setup failed or was skipped."""
    now = _date(clock)
    step = StepOutcome(0, "setup", status, detail, clock.wall, now)
    if plan is None:
        return ScenarioOutcome(
            scenario.name, path, (step,), (), clock.wall, now, summary=scenario_summary(scenario)
        )
    return _outcome(scenario, path, plan, (step,), clock)


def _outcome(
    scenario: Scenario,
    path: Path | None,
    plan: Plan,
    steps: tuple[StepOutcome, ...],
    clock: ClockAnchor,
    *,
    bed: Testbed | None = None,
) -> ScenarioOutcome:
    return ScenarioOutcome(
        scenario.name,
        path,
        steps,
        () if bed is None else bed.wire,
        clock.wall,
        _date(clock),
        target=plan.target_name,
        convention=plan.convention,
        smdi=() if bed is None else bed.smdi_frames(),
        proxy=plan.proxy_name,
        profile=None if plan.profile is None else plan.profile.name,
        quirks=plan.quirks,
        parties=() if bed is None else tuple(bed.parties.items()),
        rtp=() if bed is None else bed.rtp_streams(),
        latency=() if bed is None else bed.latency_samples(),
        clock=clock,
        summary=scenario_summary(scenario),
    )


def _date(clock: ClockAnchor) -> float:
    """The date now, by the run's anchor."""
    return clock.date(asyncio.get_running_loop().time())
