"""A scenario expected to fail against a server reads as an expected failure there, and one
that passes where it was expected to fail fails the run."""

from __future__ import annotations

from pathlib import Path

from harness.report.records import ScenarioOutcome, StepOutcome
from harness.scenario.batch import result_lines
from harness.scenario.expected import expected_failure
from harness.scenario.loader import load_scenario

REASON = "chan_sip never sends MWI again after a 404"
FAILED = StepOutcome(1, "expect_notify", "failed", "it got none", 1.0, 2.0, "notify-not-relayed")
PASSED = StepOutcome(0, "deposit", "passed", "left 1 s", 0.0, 1.0)
NOT_RUN = StepOutcome(2, "expect_spool", "not run", "", 2.0, 2.0)


def _outcome(steps: tuple[StepOutcome, ...]) -> ScenarioOutcome:
    return ScenarioOutcome("lamp", Path("mwi/lamp.yaml"), steps, (), 0.0, 2.0, target="asterisk")


def test_a_failure_the_scenario_expects_is_skipped_with_the_reason_first() -> None:
    outcome = _outcome(expected_failure((PASSED, FAILED, NOT_RUN), "asterisk", REASON))
    assert outcome.status == "skipped"
    assert outcome.findings == ()
    assert result_lines(Path("mwi/lamp.yaml"), outcome)[1].strip() == (
        f"expected failure against asterisk: {REASON}; as expected, it got none"
    )


def test_a_pass_where_a_failure_was_expected_fails_the_run() -> None:
    outcome = _outcome(expected_failure((PASSED,), "asterisk", REASON))
    assert outcome.status == "failed"
    assert outcome.failure is not None
    assert "expected to fail against asterisk" in outcome.failure.detail


def test_a_target_the_scenario_expects_nothing_of_is_judged_as_usual() -> None:
    assert _outcome(expected_failure((PASSED, FAILED), "embedded", None)).status == "failed"


def test_the_library_declares_chan_sips_differences_for_asterisk_only() -> None:
    scenarios = Path(__file__).parents[2] / "scenarios"
    lamp = load_scenario(scenarios / "mwi" / "phone-registers-later-gets-lamp.yaml")
    assert set(lamp.expect_failure) == {"asterisk"}
    assert "chan_sip" in lamp.expect_failure["asterisk"]
