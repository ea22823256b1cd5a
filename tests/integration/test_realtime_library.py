"""The scenario library with the embedded server fed from a database: mailboxes and peers are
static realtime rows in SQLite (``target: {realtime: sqlite}``, or ``vmharness run --realtime
sqlite`` for every scenario), and a representative part of the library passes as it does with
files — deposits, lamps, a login, a PIN changed from the menu and written into its row."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scenario.loader import load_scenario
from harness.scenario.plan import RunOptions
from harness.scenario.runner import run_scenario

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios"
SUBSET = (
    "deposit/x-voicemail-context.yaml",
    "mwi/two-mailboxes-each-own-lamp.yaml",
    "mwi/phone-registers-later-gets-lamp.yaml",
    "retrieve/options-change-pin.yaml",
)

DECLARED = """\
name: a scenario asks for a server fed from SQLite
target: {realtime: sqlite}
proxy: {convention: x-voicemail}
mailboxes: [{box: "2000", pin: "4321"}]
phones: [{user: "2000"}]
steps:
  - deposit: {to: "2000", from: "+15551230000", seconds: 1, keys: "#"}
  - expect_notify: {phone: "2000", waiting: yes, voice: "1/0", within: 3}
"""


@pytest.mark.parametrize("name", SUBSET)
async def test_a_library_scenario_passes_with_mailboxes_and_peers_from_sqlite(name: str) -> None:
    path = LIBRARY / name
    outcome = await run_scenario(load_scenario(path), path, RunOptions(realtime="sqlite"))
    failure = outcome.failure
    assert outcome.status == "passed", None if failure is None else failure.detail


async def test_a_scenario_file_can_ask_for_the_database(tmp_path: Path) -> None:
    path = tmp_path / "declared.yaml"
    path.write_text(DECLARED)
    scenario = load_scenario(path)
    assert scenario.target.realtime == "sqlite"
    outcome = await run_scenario(scenario, path)
    failure = outcome.failure
    assert outcome.status == "passed", None if failure is None else failure.detail


def test_an_unknown_database_kind_is_named_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "wrong.yaml"
    path.write_text(DECLARED.replace("realtime: sqlite", "realtime: mysql"))
    with pytest.raises(Exception, match=r"wrong.yaml:2.*realtime") as caught:
        load_scenario(path)
    assert "sqlite" in str(caught.value)


def test_realtime_with_an_external_server_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "external.yaml"
    path.write_text(
        DECLARED.replace("{realtime: sqlite}", "{realtime: sqlite, external: sip:10.0.0.1:5060}")
    )
    with pytest.raises(Exception, match=r"external.yaml:2.*an external server .* reads its own"):
        load_scenario(path)
