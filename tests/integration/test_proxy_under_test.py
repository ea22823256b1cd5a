"""Scenarios through a real proxy: a Kamailio the runner starts (``--proxy kamailio``), or one
the user runs (``--proxy sip:HOST:PORT --voicemail-port PORT``), with the embedded server."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.peers.kamailio import KAMAILIO_BINARY, Kamailio, free_port
from harness.report.html import write_report
from harness.report.records import ScenarioOutcome
from harness.report.trace import Trace
from harness.scenario.loader import load_scenario
from harness.scenario.model import Scenario
from harness.scenario.plan import RunOptions
from harness.scenario.runner import run_scenario


@pytest.fixture
def kamailio_present(require_peer: Callable[..., str]) -> None:
    # /usr/sbin, where Debian puts it, is not on every user's PATH.
    if shutil.which("kamailio") is None:
        require_peer("kamailio", KAMAILIO_BINARY)


pytestmark = pytest.mark.usefixtures("kamailio_present")

FORWARDING_AND_RELAY = """\
name: the proxy forwards on no answer, busy and unregistered, and relays the lamp
proxy: {convention: x-voicemail}
mailboxes: [{box: "2000", pin: "4321"}, {box: "2001", pin: "4321"}]
phones: [{user: "2000"}, {user: "2001", registered: no}]
steps:
  - deposit: {to: "2000", from: "+15551230000", reason: no-answer, seconds: 0.5, keys: "#"}
  - expect_sip: {hop: proxy->voicemail, method: INVITE, header: X-Voicemail-Mailbox, value: "2000"}
  - expect_notify: {phone: "2000", waiting: yes, voice: "1/0"}
  - expect_sip: {hop: proxy->2000, method: NOTIFY, status: 200}
  - deposit: {to: "2000", from: "+15551230001", reason: user-busy, seconds: 0.5, keys: "#"}
  - expect_notify: {phone: "2000", waiting: yes, voice: "2/0"}
  - deposit: {to: "2001", from: "+15551230002", reason: unavailable, seconds: 0.5, keys: "#"}
  - expect_sip: {hop: proxy->voicemail, method: INVITE, header: X-Voicemail-Mailbox, value: "2001"}
  - expect_sip: {hop: voicemail->proxy, method: NOTIFY, status: 404}
  - expect_spool: {mailbox: "2001", count: 1}
"""

RETRIEVAL = """\
name: the retrieval number reaches the caller's own mailbox
proxy: {kamailio: {convention: diversion}}
mailboxes: [{box: "2000", pin: "4321"}]
phones: [{user: "2000"}]
steps:
  - deposit: {to: "2000", from: "+15551230000", reason: user-busy, seconds: 0.5, keys: "#"}
  - expect_sip: {hop: proxy->voicemail, method: INVITE, header: Diversion, contains: user-busy}
  - retrieve: {phone: "2000", pin: "4321", keys: "#", expect_prompts: [vm-password, vm-youhave]}
  - expect_sip: {hop: 2000->proxy, method: INVITE, status: 200}
"""

QUIRKY = """\
name: only the simulator reorders its headers
proxy: {convention: x-voicemail, quirks: [compact-headers]}
mailboxes: [{box: "2000", pin: "4321"}]
steps: [{wait: 0.1}]
"""


def scenario(tmp_path: Path, text: str) -> tuple[Scenario, Path]:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return load_scenario(path), path


def steps_of(outcome: ScenarioOutcome) -> list[str]:
    return [f"{step.kind} {step.status}: {step.detail}" for step in outcome.steps]


async def test_kamailio_forwards_every_way_and_relays_notify_or_answers_404(
    tmp_path: Path,
) -> None:
    written, path = scenario(tmp_path, FORWARDING_AND_RELAY)

    outcome = await run_scenario(written, path, RunOptions(proxy="kamailio", log_dir=tmp_path))

    assert outcome.status == "passed", steps_of(outcome)
    assert (outcome.proxy, outcome.convention, outcome.quirks) == ("kamailio", "x-voicemail", ())
    # Kamailio's log is kept where the run was told to put it.
    log = tmp_path / f"{tmp_path.name}-s" / "kamailio.log"
    assert "Listening on" in log.read_text()
    trace = Trace.from_outcome(outcome)
    assert trace.proxy_identity.startswith("kamailio (")
    assert trace.target_identity == f"vmharness via {trace.proxy_identity}"
    # Kamailio is drawn as the proxy in the ladder, not as an address.
    parties = trace.parties()
    assert {"phone 2000", "proxy", "voicemail"} <= set(parties)
    assert not [party for party in parties if party[0].isdigit()]


async def test_the_diversion_variant_and_the_retrieval_number(tmp_path: Path) -> None:
    written, path = scenario(tmp_path, RETRIEVAL)

    outcome = await run_scenario(written, path)

    assert outcome.status == "passed", steps_of(outcome)
    assert (outcome.proxy, outcome.convention) == ("kamailio", "diversion")


async def test_a_scenario_of_simulator_quirks_is_skipped_with_the_reason(tmp_path: Path) -> None:
    written, path = scenario(tmp_path, QUIRKY)

    outcome = await run_scenario(written, path, RunOptions(proxy="kamailio"))

    assert outcome.status == "skipped"
    assert outcome.steps[0].detail == (
        "needs the simulated proxy (compact-headers); a real proxy behaves as it is configured"
    )


async def test_a_users_own_proxy_reaches_the_server_on_the_port_it_names(tmp_path: Path) -> None:
    written, path = scenario(tmp_path, FORWARDING_AND_RELAY)
    voicemail = ("127.0.0.1", free_port("127.0.0.1"))

    async with Kamailio(voicemail, no_answer_timeout=1.0, log_dir=tmp_path) as kamailio:
        host, port = kamailio.address
        options = RunOptions(proxy=f"sip:{host}:{port}", voicemail_port=voicemail[1])
        outcome = await run_scenario(written, path, options)

    assert outcome.status == "passed", steps_of(outcome)
    assert outcome.proxy == f"sip:{host}:{port}"
    assert outcome.parties == ((kamailio.address, "proxy"),)


async def test_the_kamailio_run_is_a_column_of_its_own_in_the_report(tmp_path: Path) -> None:
    text, _ = FORWARDING_AND_RELAY.split('  - deposit: {to: "2000", from: "+15551230001"')
    written, path = scenario(tmp_path, text)

    simulated = await run_scenario(written, path)
    real = await run_scenario(written, path, RunOptions(proxy="kamailio"))

    traces = [Trace.from_outcome(outcome) for outcome in (simulated, real)]
    assert [trace.status for trace in traces] == ["passed", "passed"]
    index = write_report(traces, tmp_path / "report").read_text()
    matrix = index.split('id="matrix"')[1]
    assert ">vmharness<" in matrix
    assert f">vmharness via {traces[1].proxy_identity}<" in matrix
