"""The HTML report: ``index.html`` with the result of every scenario and the SIP it exchanged.

Self-contained (inline CSS, no scripts from elsewhere), so it opens offline and can be mailed
to a vendor as it is.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import jinja2

from harness import __version__
from harness.scenario.runner import ScenarioOutcome
from harness.sip.transport import WireMessage

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("harness.report", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
)


def _first_line(record: WireMessage) -> str:
    return record.data.split(b"\r\n", 1)[0].decode("utf-8", errors="replace")


def _text(record: WireMessage) -> str:
    return record.data.decode("utf-8", errors="replace")


def write_report(outcomes: Sequence[ScenarioOutcome], directory: Path) -> Path:
    """Write ``index.html`` for ``outcomes`` into ``directory``; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    template = _ENVIRONMENT.get_template("index.html")
    counts = {
        status: sum(outcome.status == status for outcome in outcomes)
        for status in ("passed", "failed", "skipped")
    }
    page = template.render(
        outcomes=outcomes,
        counts=counts,
        version=__version__,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        host=platform.node(),
        first_line=_first_line,
        text=_text,
    )
    index = directory / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
