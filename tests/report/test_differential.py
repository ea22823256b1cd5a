"""Two runs against different voicemail servers, shown where the servers differ."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from harness.report.differential import differential, notify_bodies


def test_a_scenario_both_servers_pass_alike_is_not_listed(kit: Any) -> None:
    trace = kit.sample_trace(status="passed")
    result = differential([trace], [replace(trace, target="asterisk")])
    assert result.left == "embedded"
    assert result.right == "asterisk"
    assert result.differing == ()
    assert result.text().endswith("0 scenario(s) differ, 1 agree, 0 ran on one side only")


def test_verdict_and_the_step_that_differs_are_shown_side_by_side(kit: Any) -> None:
    embedded = kit.sample_trace(status="passed")
    embedded = replace(
        embedded, steps=tuple(replace(step, status="passed") for step in embedded.steps)
    )
    asterisk = replace(kit.sample_trace(), target="asterisk")
    (entry,) = differential([embedded], [asterisk]).differing
    aspects = {difference.aspect: difference for difference in entry.differences}
    assert aspects["verdict"].left == "passed"
    assert aspects["verdict"].right == "failed at step 2 (expect_notify)"
    assert aspects["step 2 (expect_notify)"].right == "failed: phone 2000 saw no NOTIFY"
    assert "step 3 (expect_spool)" in aspects


def test_notify_bodies_differ_when_one_server_says_something_else(kit: Any) -> None:
    trace = kit.sample_trace()
    bodies = notify_bodies(trace)
    assert bodies, "the sample run has the server's NOTIFY"
    quiet = replace(
        trace, target="asterisk", sip=tuple(r for r in trace.sip if b"NOTIFY" not in r.data[:7])
    )
    (entry,) = differential([trace], [quiet]).differing
    (difference,) = [d for d in entry.differences if d.aspect == "NOTIFY bodies"]
    assert difference.left == "(empty body)"
    assert difference.right == "no NOTIFY"


def test_scenarios_on_one_side_only_are_listed_apart(kit: Any) -> None:
    left = [kit.sample_trace(path="scenarios/a.yaml"), kit.sample_trace(path="scenarios/b.yaml")]
    right = [replace(kit.sample_trace(path="scenarios/b.yaml"), target="asterisk")]
    result = differential(left, right)
    assert result.only_left == ("scenarios/a.yaml",)
    assert "only embedded (1): scenarios/a.yaml" in result.text()


def test_steps_that_pass_on_both_but_tell_another_story_are_shown(kit: Any) -> None:
    trace = kit.sample_trace(status="passed")
    steps = tuple(replace(step, status="passed") for step in trace.steps)
    heard = replace(steps[0], detail="left 3.0 s after the beep at t=12.5")
    silent = replace(steps[0], detail="left 3.0 s without hearing a beep at t=99.1")
    same_time = replace(steps[1], detail="phone 2000: waiting=yes at t=14.0")
    other_time = replace(steps[1], detail="phone 2000: waiting=yes at t=101.75")
    left = replace(trace, steps=(heard, same_time, steps[2]))
    right = replace(trace, target="asterisk", steps=(silent, other_time, steps[2]))
    (entry,) = differential([left], [right]).differing
    (difference,) = entry.differences
    assert difference.aspect == "step 1 (deposit)"
    assert difference.left == "passed: left 3.0 s after the beep at t=…"
    assert difference.right == "passed: left 3.0 s without hearing a beep at t=…"
