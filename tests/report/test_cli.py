"""The CLI around reports: run --report/--junit, report RUN_DIR, report --compare."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.report.trace import Trace


def test_a_run_writes_traces_pages_pcaps_and_junit(cli_run: Any) -> None:
    assert cli_run.code == 1  # one scenario fails on purpose
    slugs = sorted(path.stem for path in (cli_run.report / "traces").glob("*.json"))
    assert slugs == ["data-run-register-again", "data-run-wrong-count"]
    for slug in slugs:
        assert (cli_run.report / "scenarios" / f"{slug}.html").is_file()
        assert (cli_run.report / "pcap" / f"{slug}.pcap").stat().st_size > 1000
    failed = Trace.load(cli_run.report / "traces" / "data-run-wrong-count.json")
    assert failed.status == "failed"
    assert failed.failure is not None
    assert failed.failure.spec == {"phone": "2000", "waiting": True, "voice": "2/0", "within": 1.0}
    assert failed.convention == "diversion"
    assert failed.tags == ("deposit", "mwi")
    suite = ET.parse(cli_run.junit).getroot()
    assert suite.get("tests") == "2"
    case = suite.find(f"testcase[@name='{failed.scenario}']")
    assert case is not None
    assert case.find("failure") is not None
    assert f"report: {cli_run.report / 'index.html'}" in cli_run.output


def test_the_failing_page_states_expected_and_observed(cli_run: Any) -> None:
    page = (cli_run.report / "scenarios" / "data-run-wrong-count.html").read_text()
    assert (
        "<dt>Expected</dt><dd>phone 2000 receives a NOTIFY with Messages-Waiting: yes, "
        "Voice-Message: 2/0 within 1 s</dd>" in page
    )
    assert "<dt>Observed</dt><dd>phone 2000 expected a NOTIFY" in page
    assert 'href="../pcap/data-run-wrong-count.pcap"' in page


def test_report_rebuilds_the_pages_from_saved_traces(
    cli_run: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(cli_run.report / "traces", copy / "traces")
    assert main(["report", str(copy)]) == 0
    assert capsys.readouterr().out == f"report: {copy / 'index.html'}\n"
    for name in (
        "index.html",
        "scenarios/data-run-wrong-count.html",
        "pcap/data-run-wrong-count.pcap",
    ):
        assert (copy / name).is_file(), name
    rebuilt = (copy / "scenarios" / "data-run-wrong-count.html").read_text()
    original = (cli_run.report / "scenarios" / "data-run-wrong-count.html").read_text()
    # Identical but for the generation time in the footer.
    assert rebuilt.split("<footer>")[0] == original.split("<footer>")[0]


def _run_with(source: Path, target: Path, statuses: dict[str, str]) -> Path:
    """A copy of a run's traces with the given scenario results."""
    shutil.copytree(source / "traces", target / "traces")
    for name, status in statuses.items():
        path = target / "traces" / f"{name}.json"
        document = json.loads(path.read_text())
        document["status"] = status
        for step in document["steps"]:
            step.update(status="passed", detail="ok")
        if status == "failed":
            document["steps"][-1].update(status="failed", detail="the proxy did not answer")
        path.write_text(json.dumps(document))
    return target


def test_compare_shows_what_changed_and_fails_on_a_regression(
    cli_run: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quiet, wrong = "data-run-register-again", "data-run-wrong-count"
    before = _run_with(cli_run.report, tmp_path / "before", {quiet: "passed", wrong: "failed"})
    after = _run_with(cli_run.report, tmp_path / "after", {quiet: "failed", wrong: "passed"})
    assert main(["report", str(after)]) == 0
    code = main(["report", "--compare", str(before), str(after)])
    out = capsys.readouterr().out
    assert code == 1
    assert "newly failing (1):\n  a phone registers at the proxy again" in out
    assert "step 2 (wait): the proxy did not answer" in out
    assert "newly passing (1):\n  lamp shows two new messages after one deposit" in out
    page = (after / "compare.html").read_text()
    assert 'id="newly-failing"' in page
    assert 'href="scenarios/data-run-register-again.html"' in page
    # A run compared with itself: nothing newly failing.
    assert (
        main(
            [
                "report",
                "--compare",
                str(before),
                str(before),
                "--output",
                str(tmp_path / "same.html"),
            ]
        )
        == 0
    )
    assert "0 newly failing, 0 newly passing, 0 added, 0 removed, 1 still failing, 1 unchanged" in (
        capsys.readouterr().out
    )
    assert (tmp_path / "same.html").is_file()


def test_runs_against_two_servers_line_up_and_show_where_they_differ(
    cli_run: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quiet, wrong = "data-run-register-again", "data-run-wrong-count"
    embedded = _run_with(cli_run.report, tmp_path / "embedded", {quiet: "passed", wrong: "passed"})
    asterisk = _run_with(cli_run.report, tmp_path / "asterisk", {quiet: "passed", wrong: "failed"})
    for path in (asterisk / "traces").glob("*.json"):
        document = json.loads(path.read_text())
        document["target"]["name"] = "asterisk"
        path.write_text(json.dumps(document))

    assert main(["report", "--compare", str(embedded), str(asterisk)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("targets: embedded -> asterisk (lined up by scenario)")
    assert "0 added, 0 removed" in out

    assert main(["report", "--compare", str(embedded), str(asterisk), "--across-targets"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("embedded vs asterisk\n")
    assert "  verdict:\n    embedded: passed\n    asterisk: failed at step" in out
    assert "1 scenario(s) differ, 1 agree, 0 ran on one side only" in out
    page = (asterisk / "differential.html").read_text()
    assert "Where embedded and asterisk differ" in page
    assert "the proxy did not answer" in page


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "x", "--across-targets"], "--across-targets goes with --compare"),
        (["report"], "give either RUN_DIR or --compare BEFORE AFTER"),
        (["report", "x", "--compare", "a", "b"], "give either RUN_DIR or --compare"),
        (["report", "x", "--output", "o.html"], "--output goes with --compare"),
        (["report", "{missing}"], "no traces/ directory (not a vmharness report)"),
        (["report", "--compare", "{bad}", "{bad}"], "sip: expected a list, got a string"),
    ],
)
def test_report_usage_errors_exit_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], kit: Any
) -> None:
    bad = tmp_path / "bad"
    document = kit.sample_trace().to_json()
    document["sip"] = "nothing"
    (bad / "traces").mkdir(parents=True)
    (bad / "traces" / "one.json").write_text(json.dumps(document))
    argv = [arg.format(missing=tmp_path / "missing", bad=bad) for arg in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_the_scenarios_run_at_once_with_their_log_lines_kept_apart(cli_run: Any) -> None:
    traces = [Trace.load(path) for path in (cli_run.report / "traces").glob("*.json")]
    # Both ran at the same time, each in its own worker process with its own parties.
    assert max(t.started for t in traces) < min(t.ended for t in traces)
    assert "s of CPU in this process and 2 worker processes" in cli_run.output
    results = [line for line in cli_run.output.splitlines() if line[:7].strip().isupper()]
    assert sorted(line.split()[0] for line in results) == ["FAILED", "PASSED"]
    assert " WARNING " not in cli_run.output
    assert " DEBUG " not in cli_run.output
    assert (cli_run.report / "run.log").is_file()
    assert '<a href="run.log">' in (cli_run.report / "index.html").read_text()
    durations = json.loads((cli_run.report / "durations.json").read_text())
    assert sorted(Path(path).name for path in durations) == [
        "register-again.yaml",
        "wrong-count.yaml",
    ]


def test_a_failure_reads_its_times_from_the_scenario_start(cli_run: Any) -> None:
    failed = Trace.load(cli_run.report / "traces" / "data-run-wrong-count.json")
    assert failed.failure is not None
    detail = failed.failure.detail
    assert "t=" not in detail  # no reading of the event loop's clock
    assert "expected a NOTIFY with Messages-Waiting: yes, Voice-Message: 2/0 within 1 s" in detail
    # Times, where a diagnosis gives any, count from the scenario's start: never a clock value.
    times = [float(value) for value in re.findall(r"(\d+(?:\.\d+)?) s\b", detail)]
    assert all(value < failed.ended - failed.started for value in times), detail


def test_against_a_baseline_only_a_newly_failing_scenario_fails_the_run(
    cli_run: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "last-night"
    shutil.copytree(cli_run.report, baseline)
    # Last night the deliberately failing scenario passed.
    saved = baseline / "traces" / "data-run-wrong-count.json"
    data = json.loads(saved.read_text())
    data["status"] = "passed"
    saved.write_text(json.dumps(data))
    scenario = Path(__file__).parent / "data" / "run" / "wrong-count.yaml"
    report = tmp_path / "tonight"
    code = main(["run", str(scenario), "--report", str(report), "--baseline", str(baseline)])
    out = capsys.readouterr().out
    assert code == 1
    assert f"since {baseline}:" in out
    assert "newly failing (1):" in out
    assert "removed (1):" in out  # register-again did not run tonight: not a regression
    section = (report / "index.html").read_text().split('id="baseline"')[1]
    assert "lamp shows two new messages after one deposit" in section.split("</ul>")[0]
