"""Runs the scenarios of a run, one at a time in this process or several at once in worker
processes, and tells a sink what happens as it happens.

Worker processes come from a fork server that imported the scenario runtime once, so a worker
starts in milliseconds and shares nothing with the others: each scenario still gets its own
embedded server, simulated proxy and ports. Workers take scenario indexes from a queue the
:class:`harness.scenario.schedule.Schedule` feeds, load the scenario file again (scenario
objects do not cross processes; outcomes do) and send back :data:`Event` records. A worker that
dies fails the scenario it was running, with its exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import queue
import resource
import signal
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from harness.report.records import ScenarioOutcome, StepOutcome
from harness.scenario.loader import load_scenario
from harness.scenario.model import Scenario
from harness.scenario.plan import RunOptions
from harness.scenario.runner import run_scenario
from harness.scenario.schedule import Job, Schedule

#: Seconds between checks that every worker is still alive while no event arrives.
POLL = 0.5
#: Seconds the workers get to stop once the run is over.
STOP_WAIT = 10.0


@dataclass(frozen=True, slots=True)
class Started:
    """Scenario ``index`` began (its testbed is being built)."""

    index: int


@dataclass(frozen=True, slots=True)
class StepBegun:
    """Scenario ``index`` began its step ``step`` of kind ``kind``."""

    index: int
    step: int
    kind: str


@dataclass(frozen=True, slots=True)
class Finished:
    """Scenario ``index`` ended with ``outcome``."""

    index: int
    outcome: ScenarioOutcome


@dataclass(frozen=True, slots=True)
class Stopped:
    """A worker process ended after using ``cpu`` seconds of CPU (user and system)."""

    cpu: float


Event = Started | StepBegun | Finished
Sink = Callable[[Event], None]


@dataclass(frozen=True, slots=True)
class LogSetup:
    """Where the run's log lines go: a file (None: nowhere), and stderr too when verbose."""

    file: Path | None = None
    verbose: bool = False

    def begin(self) -> None:
        """Start the run's log afresh (each process of the run then appends to it)."""
        if self.file is not None:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            self.file.write_text("", encoding="utf-8")

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """Send the ``harness`` loggers' lines where this setup says while the block runs
        (not to the root logger: results and log lines stay apart)."""
        logger = logging.getLogger("harness")
        saved = (list(logger.handlers), logger.level, logger.propagate)
        formatter = logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
        handlers: list[logging.Handler] = []
        if self.file is not None:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            handlers.append(logging.FileHandler(self.file, encoding="utf-8"))
        if self.verbose:
            handlers.append(logging.StreamHandler())
        if not handlers:  # else logging's last resort prints warnings between the results
            handlers.append(logging.NullHandler())
        for handler in handlers:
            handler.setFormatter(formatter)
        logger.handlers = handlers
        logger.setLevel(logging.DEBUG if self.verbose else logging.WARNING)
        logger.propagate = False
        try:
            yield
        finally:
            for handler in handlers:
                handler.close()
            logger.handlers, logger.level, logger.propagate = saved[0], saved[1], saved[2]


def crashed_outcome(scenario: Scenario, path: Path, detail: str) -> ScenarioOutcome:
    """The outcome of a scenario whose run ended by a harness error, not a step's verdict."""
    now = time.time()
    step = StepOutcome(0, "setup", "failed", detail, now, now)
    return ScenarioOutcome(scenario.name, path, (step,), (), now, now)


def run_here(
    scenarios: Sequence[tuple[Path, Scenario]],
    options: RunOptions,
    jobs: Sequence[Job],
    sink: Sink,
) -> None:
    """Run ``jobs`` one after another in this process, telling ``sink``."""
    schedule = Schedule(jobs, 1)
    while not schedule.done:
        for job in schedule.ready():
            path, scenario = scenarios[job.index]
            sink(Started(job.index))
            outcome = _run_one(scenario, path, options, job.index, sink)
            schedule.finish(job.index)
            sink(Finished(job.index, outcome))


def _run_one(
    scenario: Scenario, path: Path, options: RunOptions, index: int, sink: Sink
) -> ScenarioOutcome:
    def step_begun(step: int, kind: str) -> None:
        sink(StepBegun(index, step, kind))

    try:
        return asyncio.run(run_scenario(scenario, path, options, on_step=step_begun))
    except Exception:  # a harness bug: the run goes on, the scenario fails with the traceback
        return crashed_outcome(scenario, path, traceback.format_exc(limit=8))


class WorkerPool:
    """``count`` worker processes running scenarios by index; start it before any thread."""

    def __init__(
        self,
        scenarios: Sequence[tuple[Path, Scenario]],
        options: RunOptions,
        count: int,
        logs: LogSetup,
    ) -> None:
        self._scenarios = scenarios
        self._context: ForkServerContext = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["harness.scenario.workers"])
        self._tasks: Any = self._context.Queue()
        self._events: Any = self._context.Queue()
        paths = [path for path, _ in scenarios]
        self._processes: list[BaseProcess] = [
            self._context.Process(
                target=_work,
                args=(self._tasks, self._events, paths, options, logs),
                name=f"vmharness-worker-{number}",
                daemon=True,
            )
            for number in range(count)
        ]
        #: Which worker (pid) runs which scenario index.
        self._running: dict[int, int] = {}
        #: CPU seconds the workers used, known once they stopped.
        self.cpu_seconds = 0.0

    def __enter__(self) -> WorkerPool:
        for process in self._processes:
            process.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc_info: object) -> None:
        if kind is not None:  # interrupted or broken: the scenarios running now are abandoned
            for process in self._processes:
                process.terminate()
            for process in self._processes:
                process.join(timeout=5)
            return
        for _ in self._processes:
            self._tasks.put(None)
        self._collect_cpu()
        for process in self._processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)

    def _collect_cpu(self) -> None:
        """Add up the CPU each worker reports as it stops (a dead one reports nothing)."""
        stopped = 0
        deadline = time.monotonic() + STOP_WAIT
        while stopped < len(self._processes) and time.monotonic() < deadline:
            try:
                _, event = self._events.get(timeout=POLL)
            except queue.Empty:
                if not any(process.is_alive() for process in self._processes):
                    break
                continue
            if isinstance(event, Stopped):
                stopped += 1
                self.cpu_seconds += event.cpu

    def run(self, jobs: Sequence[Job], sink: Sink) -> None:
        """Run ``jobs`` as the schedule allows, at most one per worker, telling ``sink``."""
        schedule = Schedule(jobs, len(self._processes))
        while not schedule.done:
            for job in schedule.ready():
                self._tasks.put(job.index)
            try:
                message = self._events.get(timeout=POLL)
            except queue.Empty:
                self._fail_the_dead(schedule, sink)
                continue
            self._take(message, schedule, sink)

    def _take(self, message: tuple[int, Event | Stopped], schedule: Schedule, sink: Sink) -> None:
        pid, event = message
        if isinstance(event, Stopped):
            return
        if isinstance(event, Started):
            self._running[event.index] = pid
        elif isinstance(event, Finished):
            self._running.pop(event.index, None)
            schedule.finish(event.index)
        sink(event)

    def _fail_the_dead(self, schedule: Schedule, sink: Sink) -> None:
        """Fail the scenarios of workers that died (a crash the worker could not report)."""
        dead = {p.pid: p.exitcode for p in self._processes if not p.is_alive()}
        for index, pid in list(self._running.items()):
            if pid in dead:
                path, scenario = self._scenarios[index]
                detail = f"the worker process running it died (exit code {dead[pid]})"
                outcome = crashed_outcome(scenario, path, detail)
                self._take((pid, Finished(index, outcome)), schedule, sink)
        if len(dead) == len(self._processes) and not schedule.done:
            raise RuntimeError("every worker process died; see the run's log")


def _work(
    tasks: Any, events: Any, paths: Sequence[Path], options: RunOptions, logs: LogSetup
) -> None:
    """A worker process: run the scenario of each index it is given until it gets None."""
    # Ctrl-C reaches the whole process group: the parent decides, workers are told to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pid = os.getpid()

    def send(event: Event) -> None:
        events.put((pid, event))

    with logs.applied():
        while (index := tasks.get()) is not None:
            path = paths[index]
            send(Started(index))
            scenario = load_scenario(
                path, None if options.site is None else options.site.variables()
            )
            send(Finished(index, _run_one(scenario, path, options, index, send)))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    events.put((pid, Stopped(usage.ru_utime + usage.ru_stime)))
