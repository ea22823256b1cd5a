"""What a person watching a load run sees: a live rich panel on a terminal, a plain line every
few seconds under CI or a pipe (as :mod:`harness.report.progress` does for scenario runs)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from harness.report.progress import wants_live

#: Seconds between plain progress lines.
PLAIN_INTERVAL = 5.0


class LoadDisplay:
    """Told the counts as the run goes; a context manager around the run."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream or sys.stdout
        self.live_panel = wants_live(self.stream)
        self._counts = (0, 0, 0, 0)
        self._began = time.monotonic()
        self._printed = 0.0
        self._live: Live | None = None
        if self.live_panel:
            self._live = Live(
                console=Console(file=self.stream),
                get_renderable=self.panel,
                refresh_per_second=4,
                transient=True,
            )

    def __enter__(self) -> LoadDisplay:
        self._began = time.monotonic()
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._live is not None:
            self._live.stop()

    def line(self) -> str:
        """The counts as one line."""
        attempted, succeeded, failed, live = self._counts
        elapsed = time.monotonic() - self._began
        return (
            f"load {elapsed:6.1f}s: {attempted}/{self.total} calls started, "
            f"{succeeded} succeeded, {failed} failed, {live} in progress"
        )

    def panel(self) -> Table:
        """The live panel."""
        attempted, succeeded, failed, live = self._counts
        table = Table(title="vmharness load", show_header=False)
        table.add_row("started", f"{attempted} / {self.total}")
        table.add_row("in progress", str(live))
        table.add_row("succeeded", f"[green]{succeeded}")
        table.add_row("failed", f"[bold red]{failed}" if failed else "0")
        table.add_row("elapsed", f"{time.monotonic() - self._began:.1f} s")
        return table

    def update(self, attempted: int, succeeded: int, failed: int, live: int) -> None:
        """New counts (summed over agents)."""
        self._counts = (attempted, succeeded, failed, live)
        if self._live is not None:
            return
        now = time.monotonic()
        if now - self._printed >= PLAIN_INTERVAL:
            self._printed = now
            print(self.line(), file=self.stream, flush=True)
