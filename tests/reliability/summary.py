"""``reports/reliability.json``: what each fault test tried and what came of it.

Each test adds its own section (read, merged, written under a lock, so parallel workers do not
overwrite one another); ``messages_lost`` and ``exceptions_logged`` are the totals over all.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path
from typing import Any

REPORT = Path(__file__).resolve().parents[2] / "reports" / "reliability.json"


def record(name: str, section: dict[str, Any]) -> None:
    """Add (or replace) the section ``name`` and recompute the totals."""
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    with open(REPORT.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            summary = json.loads(REPORT.read_text()) if REPORT.exists() else {}
        except json.JSONDecodeError:
            summary = {}
        faults = summary.get("faults", {})
        faults[name] = section
        summary = {
            "faults": faults,
            "messages_lost": sum(f.get("messages_lost", 0) for f in faults.values()),
            "exceptions_logged": sum(f.get("exceptions_logged", 0) for f in faults.values()),
        }
        REPORT.write_text(json.dumps(summary, indent=2) + "\n")


def tracebacks(*logs: Path) -> int:
    """How many tracebacks the server processes wrote."""
    return sum(path.read_text().count("Traceback") for path in logs if path.exists())
