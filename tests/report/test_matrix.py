"""The matrix by parties: areas from the library's folders, worst rows first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.report.matrix import area_of, build_matrix
from harness.report.trace import Trace


@dataclass(frozen=True)
class Run:
    """A report entry as the matrix reads it."""

    trace: Trace


def test_areas_follow_the_library_order_then_new_folders_by_name(kit: Any) -> None:
    paths = [
        "scenarios/conformance/a.yaml",  # a folder added to the library later
        "/opt/venv/site-packages/harness/library/scenarios/smdi/b.yaml",
        "scenarios/deposit/c.yaml",
        "scenarios/appendix/d.yaml",
    ]
    runs = [Run(kit.sample_trace(path=path, scenario=path)) for path in paths]
    matrix = build_matrix(runs)
    assert [area.name for area in matrix.areas] == ["deposit", "smdi", "appendix", "conformance"]
    assert [area.title for area in matrix.areas][:2] == ["Deposit", "SMDI"]
    assert area_of(kit.sample_trace(path=None)) == "other"


def test_a_row_is_as_bad_as_its_worst_party_and_skips_keep_their_reason(kit: Any) -> None:
    passed = kit.sample_trace(status="passed", steps=kit.sample_trace().steps[:1])
    failed_elsewhere = kit.sample_trace(target="sip:10.0.0.9:5060")
    skip_step = (
        kit.sample_trace()
        .steps[0]
        .__class__(0, "setup", "skipped", "needs the simulated proxy", 0.0, 0.0)
    )
    skipped = kit.sample_trace(
        path="scenarios/deposit/other.yaml", status="skipped", steps=(skip_step,)
    )
    matrix = build_matrix([Run(passed), Run(failed_elsewhere), Run(skipped)])
    assert [party.name for party in matrix.parties] == [
        "embedded \u00d7 simulator",
        "sip:10.0.0.9:5060 \u00d7 simulator",
    ]
    (deposit,) = matrix.areas
    (row,) = deposit.failed
    assert [cell.trace.status if cell else None for cell in row.cells] == ["passed", "failed"]
    (skip,) = deposit.skipped
    assert skip.reasons == ("needs the simulated proxy",)
    assert [cell is None for cell in skip.cells] == [False, True]
    assert deposit.passed == ()
