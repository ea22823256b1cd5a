"""What a person watching a run sees while it runs.

On a terminal, :class:`LiveProgress` keeps a live panel (rich) under the results: how many
scenarios are done, running and failed, each running one with its current step, and an estimate
of the time left from the previous run's durations. Elsewhere (CI, a pipe, a file)
:class:`PlainProgress` prints each scenario's result as one line when it ends, nothing else.
Both print the same result lines; the panel only adds what is going on now.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

STYLES = {"passed": "green", "failed": "bold red", "skipped": "yellow"}


@dataclass(frozen=True, slots=True)
class Item:
    """A scenario of the run as the display names it, and how long it is expected to take."""

    name: str
    expected: float


@dataclass(slots=True)
class _Running:
    since: float
    step: str = "setup"


class Progress(Protocol):
    """Told what happens as the run goes; a context manager around the run."""

    def __enter__(self) -> Progress: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None: ...

    def started(self, index: int) -> None:
        """Scenario ``index`` began."""

    def step(self, index: int, number: int, kind: str) -> None:
        """Scenario ``index`` began its step ``number`` (0-based) of kind ``kind``."""

    def finished(self, index: int, status: str, lines: Sequence[str]) -> None:
        """Scenario ``index`` ended with ``status``; ``lines`` are its result as printed."""


def estimate(waiting: Sequence[float], running_left: Sequence[float], slots: int) -> float:
    """Seconds left: the waiting scenarios' expected durations and what the running ones still
    need, shared among ``slots``, but never less than the longest single one left."""
    work = sum(waiting) + sum(max(left, 0.0) for left in running_left)
    longest = max((*waiting, *running_left, 0.0))
    return max(longest, work / max(slots, 1))


def wants_live(stream: TextIO) -> bool:
    """True on an interactive terminal outside CI."""
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    dumb = os.environ.get("TERM", "") == "dumb"
    return stream.isatty() and not ci and not dumb


@dataclass
class PlainProgress:
    """One line per finished scenario (and its detail lines), for CI logs and pipes."""

    stream: TextIO = field(default_factory=lambda: sys.stdout)

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def started(self, index: int) -> None:
        """Nothing to show until it ends."""

    def step(self, index: int, number: int, kind: str) -> None:
        """Nothing to show until it ends."""

    def finished(self, index: int, status: str, lines: Sequence[str]) -> None:
        """Print the result lines."""
        for line in lines:
            print(line, file=self.stream, flush=True)


class LiveProgress:
    """A live panel of the run under its result lines (rich)."""

    def __init__(
        self,
        items: Sequence[Item],
        slots: int,
        console: Console | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._items = items
        self._slots = slots
        self._clock = clock
        self._console = console or Console()
        self._running: dict[int, _Running] = {}
        self._statuses: dict[int, str] = {}
        self._begun = clock()
        self._live = Live(
            console=self._console, get_renderable=self.panel, refresh_per_second=4, transient=True
        )

    def __enter__(self) -> LiveProgress:
        self._begun = self._clock()
        self._live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._live.stop()

    def started(self, index: int) -> None:
        """Show it among the running ones."""
        self._running[index] = _Running(self._clock())

    def step(self, index: int, number: int, kind: str) -> None:
        """Show its current step."""
        running = self._running.setdefault(index, _Running(self._clock()))
        running.step = f"step {number + 1} {kind}"

    def finished(self, index: int, status: str, lines: Sequence[str]) -> None:
        """Print its result above the panel and count it."""
        self._running.pop(index, None)
        self._statuses[index] = status
        for number, line in enumerate(lines):
            self._console.print(
                Text(line, style=STYLES.get(status, "") if number == 0 else "dim"),
                soft_wrap=True,
            )
        self._live.refresh()

    def seconds_left(self) -> float:
        """The estimate of the time left, from the items' expected durations."""
        now = self._clock()
        waiting = [
            item.expected
            for index, item in enumerate(self._items)
            if index not in self._statuses and index not in self._running
        ]
        left = [
            self._items[index].expected - (now - running.since)
            for index, running in self._running.items()
        ]
        return estimate(waiting, left, self._slots)

    def panel(self) -> Group:
        """The counts line and one line per running scenario."""
        done = len(self._statuses)
        failed = sum(status == "failed" for status in self._statuses.values())
        elapsed = self._clock() - self._begun
        head = Text.assemble(
            (f"{done}/{len(self._items)} done", "bold"),
            "  ",
            (f"{failed} failed", "bold red" if failed else "dim"),
            f"  {len(self._running)} running",
            f"  {_clock_text(elapsed)} elapsed",
            f"  about {_clock_text(self.seconds_left())} left",
        )
        table = Table.grid(padding=(0, 2))
        table.add_column(no_wrap=True, overflow="ellipsis", ratio=3)
        table.add_column(no_wrap=True, ratio=2)
        table.add_column(justify="right", no_wrap=True)
        now = self._clock()
        for index, running in sorted(self._running.items(), key=lambda pair: pair[1].since):
            table.add_row(self._items[index].name, running.step, f"{now - running.since:4.0f} s")
        return Group(head, table)


def _clock_text(seconds: float) -> str:
    minutes, rest = divmod(max(round(seconds), 0), 60)
    return f"{minutes}:{rest:02d}"
