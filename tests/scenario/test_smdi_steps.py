"""Scenario files with a PBX on an SMDI line: what loads, and the error each mistake gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.mailbox import MailboxId
from harness.scenario.loader import load_scenario, validate_paths
from harness.scenario.steps.smdi import ExpectLampStep, ExpectSmdiStep, SmdiSendStep
from harness.smdi.link import SerialSettings

HEADER = """\
name: t
proxy: {convention: request-uri}
mailboxes:
  - {box: "2000", pin: "4321"}
"""
PBX = (
    "pbx: {framing: 8N1, baud: 1200, msdstrip: 3, search: terminal, "
    'stations: {"5552000": "2000"}}\n'
)


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return [str(problem).replace(str(path), "s.yaml") for problem in validate_paths([path])]


def test_a_pbx_and_its_steps_load(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        HEADER
        + PBX
        + """\
steps:
  - smdi_send:
      noise: "\\r\\n\\x19MD00"
      terminal: "0007"
      type: B
      forwarding: "5552000"
      calling: ""
      call: {md_delay: 0.5, skip_greeting: yes, expect_prompts: [beep]}
  - expect_lamp: {station: "5552000", on: yes, within: 2}
  - expect_smdi: {line: "MWI5552000 INV"}
""",
        encoding="utf-8",
    )
    scenario = load_scenario(path)
    assert scenario.pbx is not None
    assert scenario.pbx.settings == SerialSettings(1200, 8, "none", 1)
    assert scenario.pbx.stations == {"5552000": MailboxId("2000")}
    send, lamp, line = scenario.steps
    assert isinstance(send, SmdiSendStep)
    assert (send.desk, send.terminal, send.call_type, send.calling) == ("001", "0007", "B", "")
    assert send.noise == "\r\n\x19MD00"
    assert send.call is not None
    assert send.call.md_delay == 0.5
    assert lamp == ExpectLampStep(station="5552000", on=True, within=2.0)
    assert line == ExpectSmdiStep(line="MWI5552000 INV")


def test_pbx_defaults_are_smdi_9600_7e1_by_forwarding_station(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(HEADER + "pbx: {}\nsteps:\n  - smdi_send: {forwarding: '2000'}\n")
    pbx = load_scenario(path).pbx
    assert pbx is not None
    assert pbx.settings == SerialSettings(9600, 7, "even", 1)
    assert (pbx.search, pbx.timeout, pbx.msgexpirytime, pbx.pacing) == (
        "station",
        3000,
        30000,
        True,
    )


@pytest.mark.parametrize(
    ("pbx", "steps", "expected"),
    [
        (
            "pbx: {framing: 7E3}\n",
            "  - smdi_send: {}\n",
            "s.yaml:5:16: pbx.framing: framing is data bits (7 or 8), parity (E, O or N) and "
            'stop bits (1 or 2) like "7E1" or "8N1", got "7E3"',
        ),
        (
            "pbx: {baud: 19200}\n",
            "  - smdi_send: {}\n",
            "s.yaml:5:13: pbx.baud: an SMDI line runs at 1200, 2400, 4800, 9600 baud, got 19200",
        ),
        (
            'pbx: {stations: {"5552000": "3000"}}\n',
            "  - smdi_send: {}\n",
            's.yaml:5:29: pbx.stations.5552000: no mailbox "3000@default" declared '
            "(declared: 2000@default)",
        ),
        (
            "",
            '  - expect_lamp: {station: "2000", on: yes}\n',
            "s.yaml:6:5: steps[0].expect_lamp: expect_lamp needs a pbx: in the topology",
        ),
        (
            "pbx: {}\n",
            '  - smdi_send: {type: D, calling: "2000", call: {pin: "4321"}}\n',
            "s.yaml:7:43: steps[0].smdi_send.call: the forwarding station is blank, so the call "
            "needs a did: (or a pbx search by terminal or desk)",
        ),
        (
            "pbx: {}\n",
            "  - smdi_send: {type: bb}\n",
            "s.yaml:7:23: steps[0].smdi_send.type: an MD call type is one capital letter "
            '(D direct, A all, B busy, N no answer, U unknown, or a vendor letter), got "bb"',
        ),
        (
            "pbx: {}\n",
            '  - smdi_send: {terminal: "7"}\n',
            "s.yaml:7:27: steps[0].smdi_send.terminal: a message desk terminal is exactly 4 "
            'digits, got "7"',
        ),
        (
            "pbx: {}\n",
            '  - smdi_send: {calling: "35OO"}\n',
            "s.yaml:7:26: steps[0].smdi_send.calling: a station (or blank) is 0 to 10 digits, "
            'got "35OO"',
        ),
        (
            "pbx: {}\n",
            '  - expect_lamp: {station: "2000", on: lit}\n',
            's.yaml:7:40: steps[0].expect_lamp.on: expected yes/no (or true/false), got "lit"',
        ),
    ],
    ids=[
        "framing",
        "baud",
        "station-map",
        "no-pbx",
        "blank-forwarding-no-did",
        "call-type",
        "terminal",
        "calling",
        "lamp-state",
    ],
)
def test_each_mistake_names_its_line_and_field(
    tmp_path: Path, pbx: str, steps: str, expected: str
) -> None:
    assert problems(tmp_path, HEADER + pbx + "steps:\n" + steps) == [expected]
