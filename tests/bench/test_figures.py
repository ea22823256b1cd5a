"""The benchmarks' table and JSON: a figure beside its peer, judged against its target."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _figures() -> ModuleType:
    # bench/ is a directory of scripts, not a package: load the module from its file (and
    # register it, as dataclasses look their module up).
    name = "bench_figures"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH / "figures.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_each_figure_says_pass_fail_or_why_it_was_skipped() -> None:
    figures = _figures()
    passed = figures.Figure("b", "rate", "calls/s", 50.0, 200.0, "SIPp", 0.2, load=1.0)
    under_floor = figures.Figure(
        "b", "deposits", "calls/s", 50.0, 20.0, "Asterisk", 2.0, minimum=60, load=1.0
    )
    skipped = figures.Figure(
        "b", "load", "calls/s", None, None, "SIPp", 0.25, skipped="vmharness load not available"
    )
    assert passed.verdict == "PASS"
    assert under_floor.verdict == "FAIL"  # 250 % of Asterisk, but under 60 a second
    assert skipped.verdict == "skipped: vmharness load not available"
    table = figures.render([passed, under_floor, skipped]).splitlines()
    assert table[0].split() == ["figure", "ours", "peer", "ratio", "target", "load", "verdict"]
    assert "25.0%" in table[2]
    assert table[2].endswith("PASS")
    assert ">= 200%, >= 60.00" in table[3]
    assert table[4].endswith("skipped: vmharness load not available")


def test_the_json_holds_each_figure_with_its_ratio_and_verdict(tmp_path: Path) -> None:
    figures = _figures()
    figure = figures.Figure("lamps", "SMDI", "commands/s", 7.2, 7.27, "line rate", 0.95)
    args = figures.parser(figures.__doc__).parse_args(["--quick", "--reports", str(tmp_path)])
    assert args.quick
    assert figures.finish("lamps", [figure], {"mode": "quick"}, args.reports) == 0
    written = json.loads((tmp_path / "lamps.json").read_text())
    [record] = written["figures"]
    assert record["verdict"] == "PASS"
    assert abs(record["ratio"] - 7.2 / 7.27) < 1e-9
    assert written["details"] == {"mode": "quick"}
