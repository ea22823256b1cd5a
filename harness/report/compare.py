"""What changed between two runs: scenarios newly failing or passing, added or removed.

Runs are matched by scenario (its file path, else its name) and proxy convention, and by target
too when both runs ran the same targets; two runs against different servers (the embedded one,
then Asterisk) line up scenario by scenario, the change of target said once. The target's
software identity is not part of the match, so an upgrade of the target shows as a changed
identity next to the results it changed rather than as every scenario removed and added again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.report.trace import Trace

Key = tuple[str, str, str]

#: The key's target part when runs against different targets are lined up.
_ANY_TARGET = ""


@dataclass(frozen=True, slots=True)
class Change:
    """One scenario run whose result differs between the runs (or that only one run has)."""

    scenario: str
    key: str
    column: str
    before: str | None
    after: str | None
    #: The failed step in plain words, from the run where it failed.
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Comparison:
    """The differences between run ``before`` and run ``after``."""

    newly_failing: tuple[Change, ...]
    newly_passing: tuple[Change, ...]
    other_changes: tuple[Change, ...]
    added: tuple[Change, ...]
    removed: tuple[Change, ...]
    still_failing: tuple[Change, ...]
    unchanged: int
    #: (column, identity before, identity after) for targets whose software changed.
    identities: tuple[tuple[str, str, str], ...] = ()
    #: The targets of each run, when the runs ran against different ones (and so were lined
    #: up by scenario alone).
    targets: tuple[tuple[str, ...], tuple[str, ...]] | None = None

    @property
    def regressed(self) -> bool:
        """True when a scenario that ran in both runs fails now and did not before."""
        return bool(self.newly_failing)

    def text(self) -> str:
        """The comparison as plain text, most important first."""
        lines: list[str] = []
        if self.targets is not None:
            old_targets, new_targets = (", ".join(names) for names in self.targets)
            lines.append(f"targets: {old_targets} -> {new_targets} (lined up by scenario)")
        for column, old, new in self.identities:
            lines.append(f"target {column}: {old} -> {new}")
        sections = (
            ("newly failing", self.newly_failing),
            ("newly passing", self.newly_passing),
            ("other changes", self.other_changes),
            ("added", self.added),
            ("removed", self.removed),
            ("still failing", self.still_failing),
        )
        for title, changes in sections:
            if not changes:
                continue
            lines.append(f"{title} ({len(changes)}):")
            for change in changes:
                was = change.before or "absent"
                now = change.after or "absent"
                lines.append(f"  {change.scenario} [{change.column}]: {was} -> {now}")
                if change.detail:
                    lines.append(f"      {change.detail}")
        counts = (
            f"{len(self.newly_failing)} newly failing, {len(self.newly_passing)} newly passing, "
            f"{len(self.added)} added, {len(self.removed)} removed, "
            f"{len(self.still_failing)} still failing, {self.unchanged} unchanged"
        )
        lines.append(counts)
        return "\n".join(lines)


def column_of(trace: Trace) -> str:
    """The comparison column of a trace: its target and its proxy convention."""
    return f"{trace.target} · {trace.convention}"


def compare_runs(before: Sequence[Trace], after: Sequence[Trace]) -> Comparison:
    """Compare two runs' traces (by scenario alone when they ran against different targets)."""
    old_targets = tuple(sorted({trace.target for trace in before}))
    new_targets = tuple(sorted({trace.target for trace in after}))
    by_target = old_targets == new_targets
    old = {_key(trace, by_target): trace for trace in before}
    new = {_key(trace, by_target): trace for trace in after}
    buckets: dict[str, list[Change]] = {
        name: [] for name in ("failing", "passing", "other", "added", "removed", "still")
    }
    unchanged = 0
    for key in sorted(old.keys() | new.keys()):
        was, now = old.get(key), new.get(key)
        trace = now or was
        assert trace is not None
        change = Change(
            scenario=trace.scenario,
            key=key[0],
            column=column_of(trace),
            before=was.status if was else None,
            after=now.status if now else None,
            detail=_detail(now) or _detail(was),
        )
        if was is None:
            buckets["added"].append(change)
        elif now is None:
            buckets["removed"].append(change)
        elif was.status == now.status:
            if now.status == "failed":
                buckets["still"].append(change)
            else:
                unchanged += 1
        elif now.status == "failed":
            buckets["failing"].append(change)
        elif was.status == "failed" and now.status == "passed":
            buckets["passing"].append(change)
        else:
            buckets["other"].append(change)
    identities: dict[str, tuple[str, str]] = {}
    for key in old.keys() & new.keys():
        column = column_of(new[key])
        before_identity, after_identity = old[key].target_identity, new[key].target_identity
        if before_identity != after_identity:
            identities[column] = (before_identity, after_identity)
    return Comparison(
        newly_failing=tuple(buckets["failing"]),
        newly_passing=tuple(buckets["passing"]),
        other_changes=tuple(buckets["other"]),
        added=tuple(buckets["added"]),
        removed=tuple(buckets["removed"]),
        still_failing=tuple(buckets["still"]),
        unchanged=unchanged,
        identities=tuple((column, *pair) for column, pair in sorted(identities.items())),
        targets=None if by_target else (old_targets, new_targets),
    )


def _key(trace: Trace, by_target: bool = True) -> Key:
    return (trace.key, trace.target if by_target else _ANY_TARGET, trace.convention)


def _detail(trace: Trace | None) -> str:
    if trace is None or trace.failure is None:
        return ""
    failure = trace.failure
    return f"step {failure.index + 1} ({failure.kind}): {failure.detail}"
