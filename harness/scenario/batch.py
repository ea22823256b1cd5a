"""A run of many scenarios: how many at once, in what order, shown how.

``-j auto`` runs :func:`auto_jobs` scenarios at once: scenarios mostly wait on real-time audio,
so several per core keep the machine busy without starving the audio of CPU. The cap is honest:
scenarios that share a real party run together only with disjoint numbers, and a fixed port
makes the run serial (:mod:`harness.scenario.schedule`); :attr:`Batch.note` says why a run got
fewer slots than asked.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.peers.kamailio import KamailioError
from harness.report.findings import FINDINGS
from harness.report.progress import Item, LiveProgress, PlainProgress, Progress, wants_live
from harness.report.records import ScenarioOutcome
from harness.scenario.model import Scenario
from harness.scenario.plan import Plan, RunOptions, plan_run
from harness.scenario.schedule import (
    Job,
    claims_of,
    expected_seconds,
    serial_reason,
    shared_parties,
)
from harness.scenario.workers import (
    Event,
    Finished,
    LogSetup,
    Started,
    StepBegun,
    WorkerPool,
    run_here,
)

#: Scenarios per core that ``-j auto`` runs at once (measured: see ``bench/run_wall_time.py``).
PER_CORE = 6
#: The file of a report directory that keeps each scenario's duration, for the next run's ETA.
DURATIONS = "durations.json"


def auto_jobs(count: int) -> int:
    """How many scenarios ``-j auto`` runs at once for a run of ``count``."""
    return max(1, min(count, PER_CORE * (os.cpu_count() or 1)))


def parse_jobs(text: str) -> int | None:
    """``auto`` (None) or a positive count; ValueError naming the option otherwise."""
    if text == "auto":
        return None
    try:
        jobs = int(text)
    except ValueError:
        raise ValueError(f"-j/--jobs: give a number or auto, not {text!r}") from None
    if jobs < 1:
        raise ValueError(f"-j/--jobs: give at least 1, not {jobs}")
    return jobs


@dataclass(frozen=True, slots=True)
class Batch:
    """The scenarios of a run as jobs, and how many run at once."""

    jobs: tuple[Job, ...]
    slots: int
    #: Why the run got fewer slots than asked, or how real parties constrain it.
    note: str | None = None


def plan_batch(
    scenarios: Sequence[tuple[Path, Scenario]],
    options: RunOptions,
    jobs: int | None,
    durations: Mapping[str, float],
) -> Batch:
    """The jobs of ``scenarios`` and the slots of the run (``jobs`` None: auto)."""
    wanted = auto_jobs(len(scenarios)) if jobs is None else jobs
    built: list[Job] = []
    parties: set[str] = set()
    for index, (path, scenario) in enumerate(scenarios):
        plan = _plan(scenario, options, path)
        if plan is not None and plan.skip is None:
            parties.update(shared_parties(plan))
        built.append(Job(index, claims_of(scenario, plan), expected_seconds(str(path), durations)))
    slots = max(1, min(wanted, len(scenarios)))
    note = None
    serial = serial_reason(options)
    if serial is not None and slots > 1:
        slots, note = 1, serial
    elif parties and slots > 1:
        note = (
            f"scenarios sharing {', '.join(sorted(parties))} run together only when their "
            "phones and mailboxes differ"
        )
    return Batch(tuple(built), slots, note)


def _plan(scenario: Scenario, options: RunOptions, path: Path) -> Plan | None:
    try:
        return plan_run(scenario, options, path)
    except (ValueError, KamailioError):  # the run reports it as the scenario's failed setup
        return None


def load_durations(report: Path | None) -> dict[str, float]:
    """The previous run's duration of each scenario (by file), from its report directory."""
    if report is None:
        return {}
    try:
        data = json.loads((report / DURATIONS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)}


def save_durations(report: Path, outcomes: Sequence[ScenarioOutcome]) -> None:
    """Keep each scenario's duration in ``report`` for the next run's estimate."""
    durations = load_durations(report)
    for outcome in outcomes:
        if outcome.path is not None:
            durations[str(outcome.path)] = round(outcome.ended - outcome.started, 2)
    report.mkdir(parents=True, exist_ok=True)
    (report / DURATIONS).write_text(json.dumps(durations, indent=1, sort_keys=True) + "\n")


def shown(path: Path) -> str:
    """A scenario file as results name it: as given, but a file of an installed library from
    its ``scenarios/`` folder on (not the whole site-packages path)."""
    parts = path.parts
    if path.is_absolute() and "scenarios" in parts:
        return Path(*parts[len(parts) - 1 - parts[::-1].index("scenarios") :]).as_posix()
    return str(path)


def result_lines(path: Path, outcome: ScenarioOutcome) -> list[str]:
    """A scenario's result as printed: one line, and the failure or skip reason under it."""
    seconds = outcome.ended - outcome.started
    lines = [f"{outcome.status.upper():7} {shown(path)}  {outcome.name} ({seconds:.1f} s)"]
    failure = outcome.failure
    if failure is not None:
        lines.append(f"        step {failure.index + 1} ({failure.kind}): {failure.detail}")
        if failure.finding is not None:
            lines.append(f"        finding: {failure.finding} ({FINDINGS[failure.finding].title})")
    elif outcome.status == "skipped":
        reasons = dict.fromkeys(
            step.detail for step in outcome.steps if step.status == "skipped" and step.detail
        )
        lines.append(f"        {'; '.join(reasons) or 'every step was skipped'}")
    return lines


def make_progress(
    mode: str, items: Sequence[Item], slots: int, *, verbose: bool = False
) -> Progress:
    """The display for ``mode``: ``live``, ``plain``, or ``auto`` (live on a terminal, unless
    ``verbose`` log lines would scroll through the panel); on ``sys.stdout`` as it is now (a
    caller may have redirected it)."""
    automatic = mode == "auto" and not verbose and wants_live(sys.stdout)
    live = mode == "live" or automatic
    return LiveProgress(items, slots) if live else PlainProgress(sys.stdout)


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The outcomes of a batch in scenario order, and what the run cost."""

    outcomes: list[ScenarioOutcome]
    wall: float
    #: CPU seconds of the processes that ran the scenarios.
    cpu: float
    slots: int

    def cost(self) -> str:
        """``54.6 s, 16.0 s of CPU in this process and 8 worker processes``."""
        where = "this process"
        if self.slots > 1:
            where += f" and {self.slots} worker processes"
        return f"{self.wall:.1f} s, {self.cpu:.1f} s of CPU in {where}"


def run_batch(
    scenarios: Sequence[tuple[Path, Scenario]],
    options: RunOptions,
    batch: Batch,
    progress: Progress,
    logs: LogSetup,
) -> BatchResult:
    """Run every job of ``batch``, showing it on ``progress``."""
    outcomes: dict[int, ScenarioOutcome] = {}

    def sink(event: Event) -> None:
        if isinstance(event, Started):
            progress.started(event.index)
        elif isinstance(event, StepBegun):
            progress.step(event.index, event.step, event.kind)
        elif isinstance(event, Finished):
            outcomes[event.index] = event.outcome
            path = scenarios[event.index][0]
            progress.finished(event.index, event.outcome.status, result_lines(path, event.outcome))

    begun, cpu = time.monotonic(), _cpu()
    logs.begin()
    if batch.slots == 1:
        with logs.applied(), progress:
            run_here(scenarios, options, batch.jobs, sink)
        cpu = _cpu() - cpu
    else:
        # The pool starts its processes before the live display starts its thread.
        pool = WorkerPool(scenarios, options, batch.slots, logs)
        with _interrupted_by_sigterm(), pool, progress:
            pool.run(batch.jobs, sink)
        # The fork server's imports, done once for all workers, are not counted.
        cpu = _cpu() - cpu + pool.cpu_seconds
    ordered = [outcomes[index] for index in sorted(outcomes)]
    return BatchResult(ordered, time.monotonic() - begun, cpu, batch.slots)


@contextlib.contextmanager
def _interrupted_by_sigterm() -> Iterator[None]:
    """SIGTERM (a cancelled CI job) ends the run as Ctrl-C does: the workers are stopped."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
