"""What a person watching a run sees: a live panel on a terminal, one line per result elsewhere."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from rich.console import Console

from harness.report.progress import Item, LiveProgress, PlainProgress, estimate
from harness.scenario.workers import LogSetup


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _panel_text(progress: LiveProgress) -> str:
    console = Console(file=io.StringIO(), width=100, record=True)
    console.print(progress.panel())
    return console.export_text()


def test_the_live_panel_shows_counts_running_steps_and_time_left() -> None:
    clock = Clock()
    items = [Item("scenarios/mwi/a.yaml", 10.0), Item("scenarios/smdi/b.yaml", 20.0)]
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    progress = LiveProgress(items, slots=1, console=console, clock=clock)
    with progress:
        progress.started(0)
        progress.step(0, 2, "expect_notify")
        clock.now += 4
        text = _panel_text(progress)
        assert "0/2 done" in text
        assert "1 running" in text
        assert "scenarios/mwi/a.yaml" in text
        assert "step 3 expect_notify" in text
        # 6 s left of a.yaml, then 20 s of b.yaml, one at a time.
        assert "about 0:26 left" in text
        progress.finished(0, "failed", ["FAILED  scenarios/mwi/a.yaml  a (4.0 s)", "  why"])
        text = _panel_text(progress)
        assert "1/2 done" in text
        assert "1 failed" in text
        assert "scenarios/mwi/a.yaml" not in text
    assert "FAILED  scenarios/mwi/a.yaml  a (4.0 s)" in screen.getvalue()


def test_plain_progress_prints_only_result_lines() -> None:
    stream = io.StringIO()
    with PlainProgress(stream) as progress:
        progress.started(0)
        progress.step(0, 0, "deposit")
        progress.finished(0, "passed", ["PASSED  x.yaml  x (1.0 s)"])
    assert stream.getvalue() == "PASSED  x.yaml  x (1.0 s)\n"


def test_the_estimate_shares_work_among_slots_but_waits_for_the_longest() -> None:
    assert estimate([10.0, 10.0, 10.0, 10.0], [], 4) == 10.0
    assert estimate([10.0, 10.0, 10.0, 10.0], [], 2) == 20.0
    assert estimate([], [30.0, -5.0], 8) == 30.0  # an overdue scenario adds nothing


def test_server_log_lines_go_to_the_run_log_not_the_terminal(
    tmp_path: Path, capsys: object
) -> None:
    log = tmp_path / "run.log"
    log.write_text("the previous run's lines\n")
    LogSetup(log).begin()
    with LogSetup(log).applied():
        logging.getLogger("harness.voicemail.server").warning("mailbox 2000 is full")
    assert "mailbox 2000 is full" in log.read_text()
    assert "previous run" not in log.read_text()
    captured = capsys.readouterr()  # type: ignore[attr-defined]
    assert "mailbox 2000" not in captured.out + captured.err
    with LogSetup(None).applied():  # no report, not verbose: the lines go nowhere
        logging.getLogger("harness.voicemail.server").warning("mailbox 2001 is full")
    captured = capsys.readouterr()  # type: ignore[attr-defined]
    assert "mailbox 2001" not in captured.out + captured.err
    with LogSetup(None, verbose=True).applied():
        logging.getLogger("harness.sim.relay").warning("relayed twice")
    assert "relayed twice" in capsys.readouterr().err  # type: ignore[attr-defined]
