"""The shipped broken proxy profiles against the scenario library.

Run with ``--proxy-profile strips-x-headers``, ``drops-notify`` or ``notify-481``, a library
scenario that needs what the profile breaks must fail, and its failure must say what went
missing in words a vendor reads (the header the INVITE lacked and what the proxy sent, the
NOTIFY that was not relayed, the 481). Scenarios that do not need it must still pass.

Each case runs one real scenario over loopback (a few seconds each).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.report.records import ScenarioOutcome
from harness.scenario.loader import load_scenario
from harness.scenario.plan import RunOptions
from harness.scenario.runner import run_scenario

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios"


async def _run(relative: str, profile: str | None = None) -> ScenarioOutcome:
    """Run the library scenario at ``relative`` with the simulated proxy's ``profile``."""
    path = LIBRARY / relative
    return await run_scenario(load_scenario(path), path, RunOptions(profile=profile))


def _steps(outcome: ScenarioOutcome) -> str:
    return "; ".join(f"{step.kind} {step.status}: {step.detail}" for step in outcome.steps)


@pytest.mark.parametrize(
    ("profile", "scenario", "failing_step", "wording"),
    [
        pytest.param(
            "strips-x-headers",
            "deposit/x-voicemail-basic.yaml",
            "deposit",
            (
                "the INVITE reached the voicemail server without X-Voicemail-Mailbox",
                "the proxy sent: INVITE sip:",
            ),
            id="strips-x-headers-loses-the-mailbox-header",
        ),
        pytest.param(
            "drops-notify",
            "deposit/x-voicemail-basic.yaml",
            "expect_notify",
            (
                "expected a NOTIFY with Messages-Waiting: yes",
                "The voicemail server sent 1 NOTIFY(s) for 2000 to the proxy, which answered "
                "200 OK; the proxy relayed none to phone 2000",
            ),
            id="drops-notify-never-relays-the-lamp",
        ),
        pytest.param(
            "notify-481",
            "deposit/x-voicemail-basic.yaml",
            "expect_notify",
            (
                "expected a NOTIFY with Messages-Waiting: yes",
                "which answered 481 Call/Transaction Does Not Exist",
                "the proxy relayed none to phone 2000",
            ),
            id="notify-481-refuses-the-lamp",
        ),
    ],
)
async def test_a_broken_profile_fails_the_scenario_it_breaks_in_plain_words(
    profile: str, scenario: str, failing_step: str, wording: tuple[str, ...]
) -> None:
    outcome = await _run(scenario, profile)

    assert outcome.status == "failed", _steps(outcome)
    failure = outcome.failure
    assert failure is not None
    assert failure.kind == failing_step, _steps(outcome)
    for words in wording:
        assert words in failure.detail


@pytest.mark.parametrize(
    ("profile", "scenario"),
    [
        # The diversion convention names the mailbox without any X- header.
        pytest.param(
            "strips-x-headers",
            "deposit/diversion-user-busy-busy-greeting.yaml",
            id="strips-x-headers-spares-diversion",
        ),
        # NOTIFYs of a subscription travel in its dialog, not through the relay that is broken.
        pytest.param(
            "drops-notify",
            "mwi/subscribe-notifies-initial-state-and-deposit.yaml",
            id="drops-notify-spares-subscriptions",
        ),
        pytest.param(
            "notify-481",
            "mwi/subscribe-notifies-initial-state-and-deposit.yaml",
            id="notify-481-spares-subscriptions",
        ),
    ],
)
async def test_a_broken_profile_leaves_unaffected_scenarios_passing(
    profile: str, scenario: str
) -> None:
    outcome = await _run(scenario, profile)

    assert outcome.status == "passed", _steps(outcome)


async def test_the_broken_scenario_passes_with_its_own_proxy() -> None:
    """The failures above come from the profiles: the same scenario passes as written."""
    outcome = await _run("deposit/x-voicemail-basic.yaml")

    assert outcome.status == "passed", _steps(outcome)
