"""Scenario files: what loads, and the one-line error each mistake gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.mailbox import MailboxId
from harness.core.routing import Reason
from harness.scenario.loader import (
    Problem,
    ScenarioError,
    load_scenario,
    load_scenarios,
    scenario_files,
    validate_paths,
)
from harness.scenario.model import Scenario
from harness.scenario.steps.blocks import WaitStep
from harness.scenario.steps.calls import DepositStep, RetrieveStep
from harness.scenario.steps.mwi import ExpectNoNotifyStep, ExpectNotifyStep
from harness.scenario.steps.registration import RegisterStep
from harness.scenario.steps.spool import ExpectSpoolStep
from harness.scenario.topology import MailboxSpec, PhoneSpec, ProxySpec

DATA = Path(__file__).parent / "data"

KINDS = (
    "deposit, expect_heard, expect_lamp, expect_no_notify, expect_notify, expect_sip, "
    "expect_smdi, expect_spool, load, parallel, register, repeat, retrieve, smdi_send, "
    "subscribe, unsubscribe, wait"
)

# Seven lines; the steps a test adds start on line 8.
HEADER = """\
name: t
mailboxes:
  - {box: "2000", pin: "4321"}
phones:
  - {user: "2000"}
steps:
  - register: {phone: "2000"}
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problem_lines(path: Path) -> list[str]:
    """The problems of ``path`` as printed, with the file name cut to ``s.yaml``."""
    return [str(problem).replace(str(path), path.name) for problem in validate_paths([path])]


def test_every_step_kind_loads_into_the_model() -> None:
    scenario = load_scenario(DATA / "every_step.yaml")

    assert scenario == Scenario(
        name="every step kind",
        description="a deposit and a retrieval through a Diversion proxy",
        tags=("deposit", "mwi"),
        proxy=ProxySpec(
            convention="diversion", quirks=("compact-headers",), profile="kamailio-like"
        ),
        mailboxes=(
            MailboxSpec(box="0042", context="sales", pin="0042", name="Ada Lovelace"),
            MailboxSpec(box="2000", pin="4321"),
        ),
        phones=(
            PhoneSpec(user="0042", mailbox=MailboxId("0042", "sales")),
            PhoneSpec(user="2000"),
        ),
        steps=(
            RegisterStep(phone="0042"),
            DepositStep(
                to=MailboxId("0042", "sales"),
                from_="+15551230000",
                reason=Reason.USER_BUSY,
                seconds=4.0,
                signature="A1",
            ),
            DepositStep(
                to=MailboxId("2000"),
                from_="+15551230001",
                audio=DATA / "greeting.wav",
                expect_status=486,
            ),
            ExpectNotifyStep(phone="0042", waiting=True, voice="1/0", within=2.5),
            ExpectNoNotifyStep(phone="2000", within=2.0),
            RetrieveStep(
                phone="0042",
                pin="0042",
                keys=("1", "7", "#"),
                expect_prompts=("vm-youhave", "vm-goodbye"),
            ),
            ExpectSpoolStep(mailbox=MailboxId("0042", "sales"), folder="Old", count=0),
            WaitStep(seconds=0.5),
            ExpectNotifyStep(phone="0042", waiting=False, voice="0/0"),
        ),
    )


def test_the_design_example_loads() -> None:
    scenario = load_scenario(DATA / "design_example.yaml")

    assert scenario.proxy.convention == "diversion"
    assert [step.kind for step in scenario.steps] == [
        "deposit",
        "expect_notify",
        "retrieve",
        "expect_notify",
    ]
    notify = scenario.steps[1]
    assert isinstance(notify, ExpectNotifyStep)
    assert notify.voice_counts == (1, 0)


def test_defaults_fill_what_a_scenario_leaves_out(tmp_path: Path) -> None:
    scenario = load_scenario(
        write(tmp_path, HEADER + '  - deposit: {to: "2000", from: "+1"}\n  - wait: 1\n')
    )

    assert scenario.proxy == ProxySpec(convention="x-voicemail", quirks=(), profile=None)
    assert scenario.mailboxes[0].context == "default"
    assert scenario.steps[1] == DepositStep(
        to=MailboxId("2000", "default"),
        from_="+1",
        reason=Reason.NO_ANSWER,
        seconds=3.0,
        expect_status=200,
    )
    assert scenario.steps[2] == WaitStep(seconds=1.0)


@pytest.mark.parametrize(
    "written",
    ["0042", "'0042'", '"0042"'],
)
def test_leading_zeros_stay_whether_quoted_or_not(tmp_path: Path, written: str) -> None:
    text = f"""\
name: zeros
mailboxes:
  - {{box: {written}, pin: {written}}}
phones:
  - {{user: {written}}}
steps:
  - deposit: {{to: {written}, from: +015551230000}}
"""
    scenario = load_scenario(write(tmp_path, text))

    mailbox, phone = scenario.mailboxes[0], scenario.phones[0]
    assert isinstance(mailbox, MailboxSpec)
    assert isinstance(phone, PhoneSpec)
    assert mailbox.box == "0042"
    assert mailbox.pin == "0042"
    assert phone.user == "0042"
    deposit = scenario.steps[0]
    assert isinstance(deposit, DepositStep)
    assert deposit.to == MailboxId("0042")
    assert deposit.from_ == "+015551230000"
    assert scenario.mailbox_of(phone) == mailbox


@pytest.mark.parametrize(
    ("written", "waiting"),
    [
        ("yes", True),
        ("Yes", True),
        ("on", True),
        ("true", True),
        ("no", False),
        ("NO", False),
        ("off", False),
        ("false", False),
    ],
)
def test_yaml_11_booleans_read_as_booleans(tmp_path: Path, written: str, waiting: bool) -> None:
    text = HEADER + f'  - expect_notify: {{phone: "2000", waiting: {written}}}\n'

    step = load_scenario(write(tmp_path, text)).steps[1]

    assert isinstance(step, ExpectNotifyStep)
    assert step.waiting is waiting


def test_keys_may_be_a_list(tmp_path: Path) -> None:
    text = HEADER + '  - retrieve: {phone: "2000", pin: "4321", keys: [1, 7, "#", b]}\n'

    step = load_scenario(write(tmp_path, text)).steps[1]

    assert isinstance(step, RetrieveStep)
    assert step.keys == ("1", "7", "#", "B")


def test_anchors_and_merge_keys_are_followed(tmp_path: Path) -> None:
    text = HEADER + (
        '  - expect_notify: &lit {phone: "2000", waiting: yes, voice: 1/0}\n'
        "  - expect_notify: {<<: *lit, waiting: no}\n"
        "  - expect_notify: *lit\n"
    )

    steps = load_scenario(write(tmp_path, text)).steps

    assert steps[1] == steps[3] == ExpectNotifyStep(phone="2000", waiting=True, voice="1/0")
    assert steps[2] == ExpectNotifyStep(phone="2000", waiting=False, voice="1/0")


def test_a_phone_shows_its_own_mailbox_or_none(tmp_path: Path) -> None:
    text = """\
name: lamps
mailboxes:
  - {box: "2000", pin: "1"}
  - {box: "3000", context: sales, pin: "1"}
phones:
  - {user: "2000"}
  - {user: "2001"}
  - {user: "2002", mailbox: 3000@sales}
steps:
  - wait: 1
"""
    scenario = load_scenario(write(tmp_path, text))

    phones = [phone for phone in scenario.phones if isinstance(phone, PhoneSpec)]
    assert len(phones) == len(scenario.phones)
    assert [scenario.mailbox_of(phone) for phone in phones] == [
        scenario.mailboxes[0],
        None,
        scenario.mailboxes[1],
    ]
    assert scenario.mailbox("3000@sales") is scenario.mailboxes[1]
    assert scenario.phone("2001") is scenario.phones[1]


# Each mistake, after the seven HEADER lines, and the one line it must print.
MISTAKES = [
    pytest.param(
        '  - deposit: {to: "2000", from: x, seconds: abc}\n',
        's.yaml:8:45: steps[1].deposit.seconds: expected a number, got "abc"',
        id="wrong type",
    ),
    pytest.param(
        '  - deposit: {to: "2000", from: x, secnds: 4}\n',
        's.yaml:8:36: steps[1].deposit.secnds: unknown field "secnds" (did you mean "seconds"?)',
        id="typo'd field",
    ),
    pytest.param(
        '  - deposit: {to: "2000", seconds: 4}\n',
        "s.yaml:8:5: steps[1].deposit.from: required field is missing",
        id="missing step field",
    ),
    pytest.param(
        '  - depositt: {to: "2000"}\n',
        f's.yaml:8:5: steps[1]: unknown step kind "depositt" (did you mean "deposit"?); '
        f"known kinds: {KINDS}",
        id="unknown step kind",
    ),
    pytest.param(
        '  - register: {phone: "2000"}\n    wait: 1\n',
        "s.yaml:8:5: steps[1]: a step has exactly one kind, got 2 keys (register, wait); "
        f"known kinds: {KINDS}",
        id="step with two keys",
    ),
    pytest.param(
        '  - deposit:\n    to: "2000"\n',
        's.yaml:8:5: steps[1]: step "deposit" has other keys beside it (to); '
        'indent them under "deposit:"',
        id="step fields not indented",
    ),
    pytest.param(
        "  - {}\n",
        f"s.yaml:8:5: steps[1]: empty step; known kinds: {KINDS}",
        id="empty step",
    ),
    pytest.param(
        '  - expect_notify: {phone: "2001", waiting: yes}\n',
        's.yaml:8:28: steps[1].expect_notify.phone: no phone "2001" declared (declared: 2000)',
        id="undeclared phone",
    ),
    pytest.param(
        '  - deposit: {to: "2000@sales", from: x}\n',
        's.yaml:8:19: steps[1].deposit.to: no mailbox "2000@sales" declared '
        "(declared: 2000@default)",
        id="undeclared mailbox",
    ),
    pytest.param(
        '  - expect_notify: {phone: "2000", waiting: yes, voice: "1-0"}\n',
        's.yaml:8:57: steps[1].expect_notify.voice: voice must be "new/old" message counts '
        'like "1/0", got "1-0"',
        id="bad voice format",
    ),
    pytest.param(
        '  - expect_notify: {phone: "2000", waiting: maybe}\n',
        's.yaml:8:45: steps[1].expect_notify.waiting: expected yes/no (or true/false), got "maybe"',
        id="not a boolean",
    ),
    pytest.param(
        '  - deposit: {to: "2000", from: x, seconds: 2, audio: greeting.wav}\n',
        "s.yaml:8:55: steps[1].deposit.audio: give either seconds or audio, not both",
        id="both seconds and audio",
    ),
    pytest.param(
        '  - deposit: {to: "2000", from: x, audio: nowhere.wav}\n',
        's.yaml:8:43: steps[1].deposit.audio: no audio file "{dir}/nowhere.wav"',
        id="missing audio file",
    ),
    pytest.param(
        '  - retrieve: {phone: "2000", pin: "4321", keys: "1 77 #"}\n',
        's.yaml:8:50: steps[1].retrieve.keys: "77" is not one DTMF key (0-9, *, #, A-D); '
        "separate keys with spaces",
        id="bad DTMF key",
    ),
    pytest.param(
        "  - wait: -1\n",
        "s.yaml:8:11: steps[1].wait: Input should be greater than 0",
        id="negative wait",
    ),
    pytest.param(
        '  - deposit: {to: "2000", from: x, reason: busy}\n',
        's.yaml:8:44: steps[1].deposit.reason: got "busy" (did you mean "user-busy"?); '
        "expected one of: no-answer, user-busy, unavailable, unconditional, deflection, unknown",
        id="bad reason with suggestion",
    ),
    pytest.param(
        '  - register: {phone: "2000", phone: "2001"}\n',
        's.yaml:8:31: steps[1].register.phone: duplicate key "phone" (first at line 8)',
        id="duplicate key",
    ),
    pytest.param(
        "  - wait: [1\n",
        "s.yaml:9:1: YAML syntax error: while parsing a flow sequence started at line 8, "
        "expected ',' or ']', but got '<stream end>'",
        id="bad YAML",
    ),
    pytest.param(
        "---\nname: second\n",
        "s.yaml:8:1: one scenario per file: found a second document",
        id="two documents",
    ),
    pytest.param(
        "nmae: x\n",
        's.yaml:8:1: nmae: unknown field "nmae" (did you mean "name"?)',
        id="typo'd top-level field",
    ),
]


@pytest.mark.parametrize(("steps", "expected"), MISTAKES)
def test_each_mistake_prints_one_line_naming_file_line_and_field(
    tmp_path: Path, steps: str, expected: str
) -> None:
    (tmp_path / "greeting.wav").write_bytes((DATA / "greeting.wav").read_bytes())
    path = write(tmp_path, HEADER + steps)

    assert problem_lines(path) == [expected.replace("{dir}", str(tmp_path))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "",
            "s.yaml:1:1: the file is empty; a scenario is a mapping with name, mailboxes and steps",
            id="empty file",
        ),
        pytest.param(
            "# nothing yet\n",
            "s.yaml:1:1: the file is empty; a scenario is a mapping with name, mailboxes and steps",
            id="comments only",
        ),
        pytest.param(
            "- name: t\n",
            "s.yaml:1:1: a scenario is a mapping (name: ..., steps: ...), got a list",
            id="top level is a list",
        ),
        pytest.param(
            "just words\n",
            's.yaml:1:1: a scenario is a mapping (name: ..., steps: ...), got "just words"',
            id="top level is text",
        ),
        pytest.param(
            'name: t\nmailboxes:\n  - {box: "2000"}\nsteps:\n  - wait: 1\n',
            "s.yaml:3:5: mailboxes[0].pin: required field is missing",
            id="missing mailbox field",
        ),
        pytest.param(
            'name: t\nmailboxes:\n  - {box: "2000", pin: "1"}\n',
            "s.yaml:1:1: steps: required field is missing",
            id="missing top-level field",
        ),
        pytest.param(
            "name: t\nmailboxes: []\nsteps:\n  - wait: 1\n",
            "s.yaml:2:1: mailboxes: needs at least 1 item(s), got 0",
            id="no mailbox",
        ),
        pytest.param(
            'name: t\nproxy: {convention: diverson}\nmailboxes:\n  - {box: "1", pin: "1"}\n'
            "steps:\n  - wait: 1\n",
            's.yaml:2:21: proxy.convention: unknown convention "diverson" (did you mean '
            '"diversion"?) (known: x-voicemail, diversion, history-info, rfc4458, '
            "request-uri, to)",
            id="unknown convention",
        ),
        pytest.param(
            "name: t\n\tsteps: []\n",
            "s.yaml:2:1: YAML syntax error: while scanning for the next token, found "
            "character '\\t' that cannot start any token",
            id="tab indentation",
        ),
    ],
)
def test_file_level_mistakes_print_one_line(tmp_path: Path, text: str, expected: str) -> None:
    assert problem_lines(write(tmp_path, text)) == [expected]


def test_every_problem_of_a_file_is_reported(tmp_path: Path) -> None:
    text = HEADER + (
        '  - deposit: {to: "2000", from: x, seconds: abc}\n'
        '  - expect_notify: {phone: "2000", waiting: yes, voice: "1"}\n'
    )

    assert [line.split(": ")[1] for line in problem_lines(write(tmp_path, text))] == [
        "steps[1].deposit.seconds",
        "steps[2].expect_notify.voice",
    ]


def test_load_scenario_raises_scenario_error_with_the_problems(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + '  - register: {phone: "2001"}\n')

    with pytest.raises(ScenarioError) as raised:
        load_scenario(path)

    assert raised.value.problems == [
        Problem(
            str(path), 8, 23, "steps[1].register.phone", 'no phone "2001" declared (declared: 2000)'
        )
    ]
    assert str(raised.value) == str(raised.value.problems[0])


def test_a_file_that_cannot_be_read_is_one_problem(tmp_path: Path) -> None:
    missing = tmp_path / "gone.yaml"

    assert [str(problem) for problem in validate_paths([missing])] == [
        f"{missing}: cannot read the file: No such file or directory"
    ]


def test_bytes_that_are_not_utf8_are_located(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(b"name: t\ndescription: caf\xe9\n")

    assert problem_lines(path) == ["s.yaml:2:17: not UTF-8 text (byte 0xe9)"]


def test_directories_are_searched_for_yaml_files(tmp_path: Path) -> None:
    good = HEADER
    bad = HEADER + "  - wait: soon\n"
    write(tmp_path, good, "a.yaml")
    (tmp_path / "deep" / "er").mkdir(parents=True)
    write(tmp_path / "deep" / "er", bad, "b.yml")
    write(tmp_path / "deep", bad, "notes.txt")
    (tmp_path / ".hidden").mkdir()
    write(tmp_path / ".hidden", bad, "c.yaml")

    assert scenario_files([tmp_path]) == [tmp_path / "a.yaml", tmp_path / "deep" / "er" / "b.yml"]
    assert [problem.file for problem in validate_paths([tmp_path])] == [
        str(tmp_path / "deep" / "er" / "b.yml")
    ]


def test_load_scenarios_reports_the_problems_of_every_file(tmp_path: Path) -> None:
    write(tmp_path, HEADER + "  - wait: soon\n", "a.yaml")
    write(tmp_path, HEADER + "  - wait: later\n", "b.yaml")

    with pytest.raises(ScenarioError) as raised:
        load_scenarios([tmp_path])

    assert [Path(problem.file).name for problem in raised.value.problems] == ["a.yaml", "b.yaml"]


def test_load_scenarios_returns_each_good_scenario() -> None:
    scenarios = load_scenarios([DATA])

    assert sorted(scenario.name for scenario in scenarios) == [
        "busy forward via Diversion lands in the right box and lights the lamp",
        "every step kind",
    ]
