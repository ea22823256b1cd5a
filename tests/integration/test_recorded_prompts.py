"""The embedded server playing Asterisk's sound files, heard as a phone hears any server.

With ``target: {prompts: sounds}`` the server plays Debian's ``asterisk-core-sounds-en-wav``
(Asterisk's timing); the phones recognise the recordings and the beep. Deposits must hear the
beep (after the whole greeting, or after # cut it short), a caller hanging up in the greeting
must leave nothing, and the retrieval menu must be heard prompt by prompt under Asterisk's names.
"""

from __future__ import annotations

from pathlib import Path

from harness.report.records import ScenarioOutcome
from harness.scenario.loader import load_scenario
from harness.scenario.plan import RunOptions
from harness.scenario.runner import run_scenario

HEAD = """\
name: {name}
target: {{prompts: sounds}}
proxy: {{convention: x-voicemail}}
mailboxes:
  - {{box: "2000", pin: "4321"}}
phones:
  - {{user: "2000"}}
steps:
"""


async def _run(tmp_path: Path, name: str, steps: str) -> ScenarioOutcome:
    path = tmp_path / "scenario.yaml"
    path.write_text(HEAD.format(name=name) + steps)
    return await run_scenario(load_scenario(path), path, RunOptions())


def _story(outcome: ScenarioOutcome) -> str:
    return "; ".join(f"{step.kind} {step.status}: {step.detail}" for step in outcome.steps)


async def test_deposits_hear_asterisks_greeting_and_beep(
    tmp_path: Path, require_sounds: Path
) -> None:
    outcome = await _run(
        tmp_path,
        "deposits against Asterisk's prompts",
        """\
  - deposit: {to: "2000", from: "+15551230061", seconds: 2, signature: "A1", hangup: hash,
              expect_prompts: [vm-theperson, vm-isunavail, vm-intro, beep]}
  - deposit: {to: "2000", from: "+15551230062", seconds: 1, keys: "#", expect_prompts: [beep]}
  - deposit: {to: "2000", from: "+15551230063", seconds: 1, hangup: before-beep}
  - expect_spool: {mailbox: "2000", count: 2}
""",
    )
    story = _story(outcome)
    assert outcome.status == "passed", story
    assert "after the beep, pressed # and the server hung up; stored 2.5 s" in story
    assert "after pressing #, after the beep, and hung up; stored 1.0 s" in story
    assert "hung up during the greeting of 2000@default, leaving no message" in story


async def test_the_retrieval_menu_is_heard_by_asterisks_prompt_names(
    tmp_path: Path, require_sounds: Path
) -> None:
    outcome = await _run(
        tmp_path,
        "retrieval against Asterisk's prompts",
        """\
  - deposit: {to: "2000", from: "+15551230064", seconds: 1, signature: "B2", keys: "#"}
  - retrieve: {phone: "2000", pin: "4321", keys: "1 #",
               expect_prompts: [vm-password, vm-youhave, digits/1, vm-INBOX, vm-message,
                                vm-first, vm-message, vm-received, vm-goodbye]}
""",
    )
    story = _story(outcome)
    assert outcome.status == "passed", story
    assert "and message(s) B2" in story
