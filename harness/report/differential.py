"""Where two voicemail servers differ on the same scenarios: a differential of two runs.

Two runs of the same library against different targets (the embedded server and a real
Asterisk, say) are lined up by scenario and proxy convention. For each scenario both ran, the
differential says where the servers' behaviour differs as the harness saw it:

- the verdict (passed, failed, skipped) and the step it failed at;
- each step whose outcome or account differs, with what each step said (the prompts heard,
  what the spool held, what the NOTIFY carried), times of day left out;
- the message-summary bodies the server sent, in order (a retransmission counted once, the
  ports each run picks left out).

Scenarios only one run has are listed apart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from harness.report.trace import Trace, Transmission
from harness.sip.errors import SIPParseError
from harness.sip.message import Request, parse_message


@dataclass(frozen=True, slots=True)
class Difference:
    """One aspect of a scenario on which the two servers differ."""

    aspect: str
    left: str
    right: str


@dataclass(frozen=True, slots=True)
class ScenarioDifferential:
    """One scenario as both runs ran it, and where they differ (nothing: they agree)."""

    scenario: str
    key: str
    convention: str
    left_status: str
    right_status: str
    differences: tuple[Difference, ...]


@dataclass(frozen=True, slots=True)
class Differential:
    """Two runs lined up by scenario."""

    left: str
    right: str
    scenarios: tuple[ScenarioDifferential, ...]
    only_left: tuple[str, ...] = ()
    only_right: tuple[str, ...] = ()

    @property
    def differing(self) -> tuple[ScenarioDifferential, ...]:
        """The scenarios on which the servers differ."""
        return tuple(entry for entry in self.scenarios if entry.differences)

    def text(self) -> str:
        """The differential as plain text: each differing scenario, then the counts."""
        lines = [f"{self.left} vs {self.right}"]
        for entry in self.differing:
            lines.append(f"{entry.key} [{entry.convention}]: {entry.scenario}")
            for difference in entry.differences:
                lines.append(f"  {difference.aspect}:")
                lines.append(f"    {self.left}: {difference.left or '-'}")
                lines.append(f"    {self.right}: {difference.right or '-'}")
        for side, keys in ((self.left, self.only_left), (self.right, self.only_right)):
            if keys:
                title = f"only {side}"
                lines.append(f"{title} ({len(keys)}): {', '.join(keys)}")
        agreeing = len(self.scenarios) - len(self.differing)
        lines.append(
            f"{len(self.differing)} scenario(s) differ, {agreeing} agree, "
            f"{len(self.only_left) + len(self.only_right)} ran on one side only"
        )
        return "\n".join(lines)


def differential(left: Sequence[Trace], right: Sequence[Trace]) -> Differential:
    """Line ``left``'s and ``right``'s traces up by scenario and convention."""
    old = {(trace.key, trace.convention): trace for trace in left}
    new = {(trace.key, trace.convention): trace for trace in right}
    entries = tuple(_scenario(old[key], new[key]) for key in sorted(old.keys() & new.keys()))
    return Differential(
        left=_targets(left),
        right=_targets(right),
        scenarios=entries,
        only_left=tuple(key for key, _ in sorted(old.keys() - new.keys())),
        only_right=tuple(key for key, _ in sorted(new.keys() - old.keys())),
    )


def _targets(traces: Sequence[Trace]) -> str:
    return ", ".join(sorted({trace.target for trace in traces})) or "(empty run)"


def _scenario(left: Trace, right: Trace) -> ScenarioDifferential:
    differences: list[Difference] = []
    if left.status != right.status:
        differences.append(Difference("verdict", _verdict(left), _verdict(right)))
    differences += _steps(left, right)
    left_bodies, right_bodies = notify_bodies(left), notify_bodies(right)
    if left_bodies != right_bodies:
        differences.append(
            Difference("NOTIFY bodies", _bodies_text(left_bodies), _bodies_text(right_bodies))
        )
    return ScenarioDifferential(
        left.scenario, left.key, left.convention, left.status, right.status, tuple(differences)
    )


def _bodies_text(bodies: tuple[str, ...]) -> str:
    if not bodies:
        return "no NOTIFY"
    return " | ".join(body or "(empty body)" for body in bodies)


def _verdict(trace: Trace) -> str:
    failure = trace.failure
    if failure is None:
        return trace.status
    return f"{trace.status} at step {failure.index + 1} ({failure.kind})"


#: A loop time in a step's account (``at t=1679.58``): it differs between any two runs.
_LOOP_TIME = re.compile(r"\bt=[0-9]+(?:\.[0-9]+)?")
#: The port of an IPv4 address (``127.0.0.1:34257``): each run's parties take free ones.
_PORT = re.compile(r"\b([0-9]{1,3}(?:\.[0-9]{1,3}){3}):[0-9]+")


def _account(status: str, detail: str) -> str:
    return _LOOP_TIME.sub("t=…", f"{status}: {detail}".rstrip(": "))


def _steps(left: Trace, right: Trace) -> list[Difference]:
    """Steps both ran whose outcome, or account of what happened, differs."""
    right_steps = {(step.index, step.kind): step for step in right.steps}
    found: list[Difference] = []
    for step in left.steps:
        other = right_steps.get((step.index, step.kind))
        if other is None:
            continue
        mine, theirs = _account(step.status, step.detail), _account(other.status, other.detail)
        if mine == theirs:
            continue
        found.append(Difference(f"step {step.index + 1} ({step.kind})", mine, theirs))
    return found


def notify_bodies(trace: Trace) -> tuple[str, ...]:
    """The message-summary bodies the target sent, in order, each request once (a
    retransmission repeats its Call-ID and CSeq), each body's lines in order, trimmed, ports
    left out (``Message-Account`` names the server's, which each run picks)."""
    seen: set[tuple[str, str]] = set()
    bodies: list[str] = []
    for transmission in trace.transmissions():
        request = _notify(transmission, trace.target_party)
        if request is None:
            continue
        identity = (request.call_id, request.header("CSeq") or "")
        if identity in seen:
            continue
        seen.add(identity)
        lines = request.body.decode(errors="replace").splitlines()
        body = "; ".join(line.strip() for line in lines if line.strip())
        bodies.append(_PORT.sub(r"\1:…", body))
    return tuple(bodies)


def _notify(transmission: Transmission, party: str) -> Request | None:
    if transmission.sender != party:
        return None
    try:
        message = parse_message(transmission.data)
    except SIPParseError:
        return None
    if not isinstance(message, Request) or message.method != "NOTIFY":
        return None
    return message
