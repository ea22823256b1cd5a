"""allure-pytest: scenario items carry labels and evidence, and the real generator renders them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ALLURE = Path(__file__).parents[2] / "tools" / "node_modules" / ".bin" / "allure"

PASSING = """\
name: the phone registers again
proxy: {convention: x-voicemail}
mailboxes: [{box: "2000", context: default, pin: "4321"}]
phones: [{user: "2000"}]
steps:
  - register: {phone: "2000"}
"""
FAILING = """\
name: an empty mailbox is said to hold a message
proxy: {convention: diversion}
mailboxes: [{box: "2000", context: default, pin: "4321"}]
phones: [{user: "2000"}]
steps:
  - expect_spool: {mailbox: "2000", count: 1}
"""


def _results(directory: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for path in directory.glob("*-result.json"):
        result = json.loads(path.read_text())
        found[result["name"]] = result
    return found


def test_scenarios_render_in_the_allure_report(require_peer: Any, tmp_path: Path) -> None:
    require_peer("node")
    allure = require_peer("allure", ALLURE)
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "passing.yaml").write_text(PASSING)
    (scenarios / "failing.yaml").write_text(FAILING)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    results = tmp_path / "allure-results"
    # Plugins named explicitly: autoloading every plugin of the venv costs each xdist worker
    # seconds, and these are the ones under test.
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "xdist.plugin",
            "-p",
            "allure_pytest.plugin",
            "-p",
            "harness.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "-n",
            "2",
            "--alluredir",
            str(results),
            "-c",
            str(tmp_path / "pytest.ini"),
            "scenarios",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed, 1 passed" in run.stdout

    written = _results(results)
    assert set(written) == {
        "the phone registers again",
        "an empty mailbox is said to hold a message",
    }
    failed = written["an empty mailbox is said to hold a message"]
    assert failed["status"] == "failed"
    assert (
        "step 1 (expect_spool) failed: 2000@default INBOX holds 0"
        in (failed["statusDetails"]["message"])
    )
    labels = {(label["name"], label["value"]) for label in failed["labels"]}
    assert ("feature", "diversion") in labels
    assert ("story", "an empty mailbox is said to hold a message") in labels
    for result in written.values():
        attachments = {a["name"]: a for a in result["attachments"]}
        assert set(attachments) == {"trace", "SIP ladder", "SIP pcap"}
        assert (results / attachments["SIP pcap"]["source"]).read_bytes()[:4] == b"\xd4\xc3\xb2\xa1"
        assert (results / attachments["SIP ladder"]["source"]).read_text().startswith("<svg")

    report = tmp_path / "allure-report"
    generated = subprocess.run(
        [allure, "generate", str(results), "-o", str(report)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert (report / "index.html").is_file()
    rendered = [
        json.loads(p.read_text()) for p in (report / "data" / "test-results").glob("*.json")
    ]
    by_name = {result["name"]: result for result in rendered}
    assert by_name["an empty mailbox is said to hold a message"]["status"] == "failed"
    assert by_name["the phone registers again"]["status"] == "passed"
    for result in rendered:
        shown = [step["link"] for step in result["steps"] if step.get("type") == "attachment"]
        assert {link["name"] for link in shown} == {"trace", "SIP ladder", "SIP pcap"}
        for link in shown:
            assert not link["missed"]
            assert (report / "data" / "attachments" / f"{link['id']}{link['ext']}").is_file()
