"""Scenarios expected to fail against a server, for a documented reason of that server.

A scenario whose ``expect_failure:`` names the target it runs against (``asterisk: "chan_sip
never re-sends MWI after a 404"``) does not fail there: its failed step is reported skipped as
an *expected failure*, the reason first and what was seen after it. If it passes instead, the
difference is gone and the run says so by failing, so the expectation cannot outlive its cause.
"""

from __future__ import annotations

from dataclasses import replace

from harness.report.records import EXPECTED_FAILURE, StepOutcome

#: The step kind of the outcome added when a scenario expected to fail passed.
UNEXPECTED_PASS = "expect_failure"


def expected_failure(
    steps: tuple[StepOutcome, ...], target: str, reason: str | None
) -> tuple[StepOutcome, ...]:
    """``steps`` as reported against ``target``, which the scenario expects to fail for
    ``reason`` (None: it expects nothing there, and ``steps`` are unchanged)."""
    if reason is None:
        return steps
    failed = next((step for step in steps if step.status == "failed"), None)
    if failed is None:
        end = steps[-1].ended if steps else 0.0
        passed = StepOutcome(
            len(steps),
            UNEXPECTED_PASS,
            "failed",
            f"expected to fail against {target} ({reason}) but passed: the difference is "
            "gone, so drop the scenario's expect_failure for it",
            end,
            end,
        )
        return (*steps, passed)
    detail = f"{EXPECTED_FAILURE} against {target}: {reason}; as expected, {failed.detail}"
    return tuple(
        replace(step, status="skipped", detail=detail, finding=None) if step is failed else step
        for step in steps
    )
