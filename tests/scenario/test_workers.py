"""Scenarios run in worker processes: a cancelled run stops them all and says so."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

RUN = Path(__file__).resolve().parents[1] / "report" / "data" / "run"
VMHARNESS = Path(sys.executable).parent / "vmharness"


def test_sigterm_stops_a_concurrent_run_and_its_workers(tmp_path: Path) -> None:
    run = subprocess.Popen(
        [VMHARNESS, "run", RUN, "-j", "2", "--progress", "plain"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # Wait (bounded) until the fork server and both workers are up, plus a moment for them to
    # take a scenario each.
    deadline = time.monotonic() + 30
    while len(spawned := _descendants(run.pid)) < 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(spawned) >= 4  # resource tracker, fork server, two workers
    time.sleep(1.0)
    begun = time.monotonic()
    run.send_signal(signal.SIGTERM)  # a CI job cancelled
    output, _ = run.communicate(timeout=30)
    assert run.returncode == 130, output
    assert time.monotonic() - begun < 10
    assert "vmharness run: interrupted" in output
    assert "Traceback" not in output
    time.sleep(0.5)
    assert [pid for pid in spawned if _alive(pid)] == []


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie only waits to be reaped by whoever adopted it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, of in parents.items() if of == parent]
        found += children
        frontier += children
    return found
