"""Wall time of ``make run`` (the whole scenario library) one scenario at a time and with
``-j``: prints both runs' wall and CPU time, their results and the speed-up.

    .venv/bin/python bench/run_wall_time.py [--jobs auto] [--skip-serial] [PATH ...]

Each run is the command ``make run`` runs, into its own report directory under a temporary
directory (so neither run's durations give the other an order to start in).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VMHARNESS = Path(sys.executable).parent / "vmharness"


def timed_run(paths: list[str], jobs: str, report: Path) -> tuple[float, str]:
    """Run the library with ``-j jobs``; its wall time and its last lines."""
    command = [str(VMHARNESS), "run", *paths, "-j", jobs, "--progress", "plain"]
    command += ["--report", str(report)]
    begun = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.monotonic() - begun
    tail = "\n".join(done.stdout.strip().splitlines()[-2:])
    if done.returncode not in (0, 1):
        sys.exit(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr}")
    return wall, tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", default=["scenarios"])
    parser.add_argument("--jobs", default="auto", help="the concurrent run's -j (default auto)")
    parser.add_argument("--skip-serial", action="store_true", help="time the -j run only")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} before the runs")
    with tempfile.TemporaryDirectory(prefix="vmharness-bench-") as scratch:
        walls = {}
        runs = [("-j " + args.jobs, args.jobs)]
        if not args.skip_serial:
            runs.insert(0, ("-j 1", "1"))
        for label, jobs in runs:
            wall, tail = timed_run(args.paths, jobs, Path(scratch) / jobs)
            walls[label] = wall
            print(f"{label:8} {wall:6.1f} s wall")
            print(re.sub(r"^", "         ", tail, flags=re.MULTILINE))
    if len(walls) == 2:
        serial, concurrent = walls.values()
        ratio = serial / concurrent
        print(f"speed-up: {ratio:.1f}x (serial {serial:.1f} s / concurrent {concurrent:.1f} s)")


if __name__ == "__main__":
    main()
