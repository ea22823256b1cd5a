"""Comparing two runs: what newly fails or passes, what was added or removed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from harness.report.compare import compare_runs


def _run(kit: Any, **statuses: str) -> list[Any]:
    traces = []
    for name, status in statuses.items():
        trace = kit.sample_trace(scenario=name, path=f"scenarios/{name}.yaml", status=status)
        if status != "failed":
            trace = kit.sample_trace(
                scenario=name, path=f"scenarios/{name}.yaml", status=status, steps=trace.steps[:1]
            )
        traces.append(trace)
    return traces


def test_changes_are_sorted_into_what_a_reader_asks(kit: Any) -> None:
    before = _run(kit, a="passed", b="failed", c="passed", d="failed", gone="passed", e="passed")
    after = _run(kit, a="failed", b="passed", c="passed", d="failed", new="failed", e="skipped")
    comparison = compare_runs(before, after)
    assert [c.scenario for c in comparison.newly_failing] == ["a"]
    assert [c.scenario for c in comparison.newly_passing] == ["b"]
    assert [c.scenario for c in comparison.still_failing] == ["d"]
    assert [(c.scenario, c.after) for c in comparison.added] == [("new", "failed")]
    assert [(c.scenario, c.before) for c in comparison.removed] == [("gone", "passed")]
    assert [(c.before, c.after) for c in comparison.other_changes] == [("passed", "skipped")]
    assert comparison.unchanged == 1
    assert comparison.regressed
    text = comparison.text()
    assert "newly failing (1):\n  a [embedded · diversion]: passed -> failed" in text
    assert "step 2 (expect_notify): phone 2000 saw no NOTIFY" in text
    assert text.endswith(
        "1 newly failing, 1 newly passing, 1 added, 1 removed, 1 still failing, 1 unchanged"
    )


def test_the_same_scenario_under_another_convention_is_another_run(kit: Any) -> None:
    before = [kit.sample_trace(convention="diversion")]
    after = [kit.sample_trace(convention="history-info")]
    comparison = compare_runs(before, after)
    assert len(comparison.added) == len(comparison.removed) == 1
    assert not comparison.regressed


def test_a_target_upgrade_is_reported_not_mistaken_for_new_scenarios(kit: Any) -> None:
    before = [kit.sample_trace()]
    records = list(before[0].sip)
    answer = records[6]  # the voicemail server's 200 OK, with its Server header
    records[6] = replace(answer, data=answer.data.replace(b"18.20.0", b"20.5.0"))
    after = [kit.sample_trace(sip=tuple(records))]
    comparison = compare_runs(before, after)
    assert comparison.identities == (
        ("embedded · diversion", "Asterisk PBX 18.20.0", "Asterisk PBX 20.5.0"),
    )
    assert not comparison.added
    assert [c.scenario for c in comparison.still_failing] == [before[0].scenario]


def test_runs_against_different_targets_line_up_by_scenario(kit: Any) -> None:
    before = _run(kit, a="passed", b="passed", c="failed")
    after = [
        replace(trace, target="asterisk") for trace in _run(kit, a="passed", b="failed", c="failed")
    ]
    comparison = compare_runs(before, after)
    assert not comparison.added
    assert not comparison.removed
    assert [c.scenario for c in comparison.newly_failing] == ["b"]
    assert [c.scenario for c in comparison.still_failing] == ["c"]
    assert comparison.unchanged == 1
    assert comparison.targets == (("embedded",), ("asterisk",))
    assert comparison.text().startswith("targets: embedded -> asterisk (lined up by scenario)")


def test_runs_over_the_same_targets_keep_each_target_apart(kit: Any) -> None:
    both = [*_run(kit, a="passed"), *(replace(t, target="asterisk") for t in _run(kit, a="failed"))]
    comparison = compare_runs(both, both)
    assert comparison.unchanged == 1
    assert [c.column for c in comparison.still_failing] == ["asterisk · diversion"]
    assert comparison.targets is None
