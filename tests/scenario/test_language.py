"""The scenario language beyond single steps: variables, ranges, blocks, hops and parties."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.mailbox import MailboxId
from harness.scenario.loader import load_scenario, validate_paths
from harness.scenario.model import Scenario
from harness.scenario.registry import walk_steps
from harness.scenario.steps.blocks import ParallelStep, RepeatStep, WaitStep
from harness.scenario.steps.calls import DepositStep
from harness.scenario.steps.mwi import ExpectNotifyStep
from harness.scenario.steps.registration import RegisterStep, SubscribeStep, UnsubscribeStep
from harness.scenario.steps.wire import ExpectSipStep
from harness.scenario.topology import MailboxRange, PhoneSpec
from harness.scenario.variables import range_values, substitute

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


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str) -> Scenario:
    return load_scenario(write(tmp_path, text))


def problems(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    return [str(problem).replace(str(path), "s.yaml") for problem in validate_paths([path])]


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("1000..1003", ("1000", "1001", "1002", "1003")),
        ("0998..1001", ("0998", "0999", "1000", "1001")),
        ("8..11", ("8", "9", "10", "11")),
        (" 5 .. 5 ", ("5",)),
    ],
)
def test_a_range_keeps_the_width_of_its_first_number(text: str, values: tuple[str, ...]) -> None:
    assert range_values(text) == values


def test_variables_fill_text_anywhere_and_may_use_earlier_ones(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        """\
name: calls from ${caller}
vars:
  box: "2000"
  caller: "+1555${box}"
  pause: 0.5
mailboxes:
  - {box: "${box}", pin: "4321"}
phones:
  - {user: "${box}"}
steps:
  - deposit: {to: "${box}@default", from: "${caller}", seconds: "${pause}"}
  - wait: ${pause}
""",
    )

    assert scenario.name == "calls from +15552000"
    assert scenario.vars == {"box": "2000", "caller": "+15552000", "pause": "0.5"}
    assert scenario.steps == (
        DepositStep(to=MailboxId("2000"), from_="+15552000", seconds=0.5),
        WaitStep(seconds=0.5),
    )


def test_ranges_declare_one_mailbox_and_one_phone_per_number(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        """\
name: t
mailboxes:
  - {range: "1000..1002", pin: "1234"}
  - {range: "1000..1001", context: sales, pin: "9"}
phones:
  - {range: "1000..1002"}
  - {range: "2000..2001"}
steps:
  - wait: 1
""",
    )

    assert scenario.mailboxes[0] == MailboxRange(range="1000..1002", pin="1234")
    assert [str(box.id) for box in scenario.every_mailbox] == [
        "1000@default",
        "1001@default",
        "1002@default",
        "1000@sales",
        "1001@sales",
    ]
    assert scenario.mailbox("1001@sales").pin == "9"
    assert [phone.user for phone in scenario.every_phone] == [
        "1000",
        "1001",
        "1002",
        "2000",
        "2001",
    ]
    # 2000 and 2001 have no mailbox of their own number: their lamps show nothing.
    assert scenario.mailbox_of(scenario.phone("1002")) == scenario.every_mailbox[2]
    assert scenario.mailbox_of(scenario.phone("2000")) is None


def test_a_phone_range_shows_its_own_mailboxes(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        """\
name: t
mailboxes:
  - {range: "1000..1001", context: sales, pin: "1"}
phones:
  - {range: "1000..1001", context: sales, dtmf: info, registered: no}
steps:
  - wait: 1
""",
    )

    phone = scenario.phone("1001")
    assert phone == PhoneSpec(
        user="1001", mailbox=MailboxId("1001", "sales"), dtmf="info", registered=False
    )
    owned = scenario.mailbox_of(phone)
    assert owned is not None
    assert owned.id == MailboxId("1001", "sales")


def test_repeat_fills_its_variable_into_each_iteration(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        """\
name: t
vars: {caller: "+1555"}
mailboxes:
  - {range: "3000..3002", pin: "1"}
phones:
  - {range: "3000..3002"}
steps:
  - repeat:
      over: "3000..3002"
      as: box
      concurrency: 3
      steps:
        - deposit: {to: "${box}", from: "${caller}${box}", seconds: 1}
        - expect_notify: {phone: "${box}", waiting: yes}
  - repeat: {times: 2, as: n, steps: [{wait: "0.${n}"}]}
  - repeat: {over: [a, b], steps: [{wait: 1}]}
""",
    )

    by_box, by_count, by_list = scenario.steps
    assert isinstance(by_box, RepeatStep)
    assert by_box.values == ("3000", "3001", "3002")
    assert by_box.concurrency == 3
    assert by_box.iterations[2] == (
        DepositStep(to=MailboxId("3002"), from_="+15553002", seconds=1.0),
        ExpectNotifyStep(phone="3002", waiting=True),
    )
    assert isinstance(by_count, RepeatStep)
    assert by_count.iterations == ((WaitStep(seconds=0.1),), (WaitStep(seconds=0.2),))
    assert isinstance(by_list, RepeatStep)
    assert by_list.values == ("a", "b")
    # The steps as written stay in the model (and in the trace), not 3 copies.
    assert by_box.model_dump(by_alias=True)["steps"][0] == {
        "deposit": {"to": "${box}", "from": "+1555${box}", "seconds": "1"}
    }


def test_parallel_holds_steps_and_walk_steps_finds_them_all(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        HEADER
        + """\
  - parallel:
      - deposit: {to: "2000", from: "+1", seconds: 1}
      - repeat: {over: "1..2", as: i, steps: [{wait: "${i}"}]}
""",
    )

    block = scenario.steps[1]
    assert isinstance(block, ParallelStep)
    assert [step.kind for step in block.steps] == ["deposit", "repeat"]
    assert [(loc, step.kind, note) for loc, step, note in walk_steps(scenario.steps)] == [
        (("steps", 0, "register"), "register", ""),
        (("steps", 1, "parallel", "steps", 0, "deposit"), "deposit", ""),
        (
            ("steps", 1, "parallel", "steps", 1, "repeat", "steps", 0, "wait"),
            "wait",
            ' (when i is "1")',
        ),
        (
            ("steps", 1, "parallel", "steps", 1, "repeat", "steps", 0, "wait"),
            "wait",
            ' (when i is "2")',
        ),
    ]


def test_the_new_single_steps_load(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        HEADER
        + """\
  - register: {phone: "2000", password: s3cret, expires: 0, expect_status: 403}
  - subscribe: {phone: "2000", expires: 60}
  - unsubscribe: "2000"
  - expect_sip:
      {hop: "proxy -> voicemail", method: invite, header: X-Voicemail-Mailbox, value: "2000"}
  - expect_sip: {hop: "voicemail->phone 2000", method: NOTIFY, status: 200}
  - expect_sip: {hop: "caller->proxy", header: Diversion, absent: yes}
  - deposit:
      to: "2000"
      from: "+1"
      hangup: hash
      keys: "#"
      dtmf: info
      expect_prompts: [beep, auth-thankyou]
""",
    )

    assert scenario.steps[1:] == (
        RegisterStep(phone="2000", password="s3cret", expires=0, expect_status=403),
        SubscribeStep(phone="2000", expires=60),
        UnsubscribeStep(phone="2000"),
        ExpectSipStep(
            hop="proxy->voicemail", method="INVITE", header="X-Voicemail-Mailbox", value="2000"
        ),
        ExpectSipStep(hop="voicemail->phone 2000", method="NOTIFY", status=200),
        ExpectSipStep(hop="caller->proxy", header="Diversion", absent=True),
        DepositStep(
            to=MailboxId("2000"),
            from_="+1",
            seconds=3.0,
            hangup="hash",
            keys=("#",),
            dtmf="info",
            expect_prompts=("beep", "auth-thankyou"),
        ),
    )


def test_the_proxy_and_the_target_can_be_real_parties(tmp_path: Path) -> None:
    scenario = load(
        tmp_path,
        """\
name: t
proxy: {kamailio: {convention: diversion, ring: 2}}
target: {external: "sip:127.0.0.1:5070", spool: spool}
mailboxes: [{box: "2000", pin: "1"}]
steps: [{wait: 1}]
""",
    )

    assert scenario.proxy.kind == "kamailio"
    assert scenario.proxy.effective_convention == "diversion"
    assert scenario.target.external == "sip:127.0.0.1:5070"
    assert scenario.target.spool == tmp_path / "spool"
    external = load(
        tmp_path,
        'name: t\nproxy: {external: "sip:[::1]:5060"}\n'
        'mailboxes: [{box: "1", pin: "1"}]\nsteps: [{wait: 1}]\n',
    )
    assert external.proxy.kind == "external"


def test_quirks_take_options_and_profiles_are_names_or_files(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text("convention: diversion\nquirks: [fork]\n")
    scenario = load(
        tmp_path,
        """\
name: t
proxy: {profile: mine.yaml, quirks: [compact-headers, {delay: {seconds: 0.1}}]}
mailboxes: [{box: "2000", pin: "1"}]
steps: [{wait: 1}]
""",
    )

    assert scenario.proxy.profile == str(tmp_path / "mine.yaml")
    assert scenario.proxy.quirks == ("compact-headers", {"delay": {"seconds": "0.1"}})


def test_substitute_leaves_names_it_does_not_bind() -> None:
    assert substitute({"a": ["${x}-${y}", 3]}, {"x": "1"}) == {"a": ["1-${y}", 3]}


# Each mistake and the one line it prints (HEADER is 7 lines, so steps start on line 8).
MISTAKES = [
    pytest.param(
        '  - deposit: {to: "2000", from: "${caler}"}\n',
        's.yaml:8:33: steps[1].deposit.from: unknown variable "caler" (variables: none defined)',
        id="unknown variable",
    ),
    pytest.param(
        '  - deposit: {to: "2000", from: "${call"}\n',
        's.yaml:8:33: steps[1].deposit.from: "${" without a closing "}" in "${call"',
        id="unterminated variable",
    ),
    pytest.param(
        '  - repeat: {over: "1..3", as: box, steps: [{wait: "${bx}"}]}\n',
        's.yaml:8:52: steps[1].repeat.steps[0].wait: unknown variable "bx" (did you mean '
        '"box"?) (variables: box)',
        id="variable outside its repeat",
    ),
    pytest.param(
        '  - repeat: {over: "1..3", steps: [{wait: 1}], times: 2}\n',
        "s.yaml:8:55: steps[1].repeat.times: give either times or over (a range or a list of "
        "values)",
        id="times and over",
    ),
    pytest.param(
        '  - repeat: {over: "3..1", steps: [{wait: 1}]}\n',
        's.yaml:8:20: steps[1].repeat.over: the range "3..1" runs backwards: 3 is after 1',
        id="backward range",
    ),
    pytest.param(
        '  - repeat:\n      over: "1999..2001"\n      as: box\n'
        '      steps: [{deposit: {to: "${box}", from: "+1"}}]\n',
        's.yaml:11:30: steps[1].repeat.steps[0].deposit.to: no mailbox "1999@default" declared '
        '(declared: 2000@default) (when box is "1999")',
        id="iteration names an undeclared mailbox",
    ),
    pytest.param(
        '  - parallel:\n      - wait: 1\n      - deposit: {to: "2000", from: x, secnds: 1}\n',
        's.yaml:10:40: steps[1].parallel[1].deposit.secnds: unknown field "secnds" '
        '(did you mean "seconds"?)',
        id="bad step inside parallel",
    ),
    pytest.param(
        '  - expect_sip: {hop: "proxy-voicemail", method: INVITE}\n',
        's.yaml:8:23: steps[1].expect_sip.hop: a hop is "SENDER->RECEIVER" like '
        '"proxy->voicemail" or "voicemail->proxy", got "proxy-voicemail"',
        id="hop without arrow",
    ),
    pytest.param(
        '  - expect_sip: {hop: "proxy->2001", method: NOTIFY}\n',
        's.yaml:8:23: steps[1].expect_sip.hop: no party "2001": a hop names proxy, voicemail, '
        "caller or a declared phone (declared: 2000)",
        id="hop to an undeclared phone",
    ),
    pytest.param(
        '  - expect_sip: {hop: "proxy->voicemail"}\n',
        "s.yaml:8:5: steps[1].expect_sip: say what to look for: a method, a status or a header",
        id="expect_sip without an expectation",
    ),
    pytest.param(
        '  - expect_sip: {hop: "proxy->voicemail", method: ACK, value: "2000"}\n',
        "s.yaml:8:63: steps[1].expect_sip.value: value goes with header: name the header",
        id="value without header",
    ),
    pytest.param(
        '  - deposit: {to: "2000", from: x, hangup: slam}\n',
        's.yaml:8:44: steps[1].deposit.hangup: got "slam"; expected one of: bye, before-beep, hash',
        id="unknown hangup",
    ),
    pytest.param(
        '  - subscribe: {phone: "2000", expires: 0}\n',
        "s.yaml:8:41: steps[1].subscribe.expires: Input should be greater than or equal to 1",
        id="subscribe for no time",
    ),
]


@pytest.mark.parametrize(("steps", "expected"), MISTAKES)
def test_each_language_mistake_prints_one_line(tmp_path: Path, steps: str, expected: str) -> None:
    assert problems(tmp_path, HEADER + steps) == [expected]


TOPOLOGY_MISTAKES = [
    pytest.param(
        'mailboxes:\n  - {range: "1000..1001", pin: "1"}\n  - {box: "1001", pin: "2"}\n',
        's.yaml:4:11: mailboxes[1].box: mailbox "1001@default" is already declared at mailboxes[0]',
        id="a box inside a range declared again",
    ),
    pytest.param(
        'mailboxes:\n  - {range: "1000-1001", pin: "1"}\n',
        's.yaml:3:13: mailboxes[0].range: a range is "FIRST..LAST" with whole numbers, like '
        '"1000..1019", got "1000-1001"',
        id="bad range",
    ),
    pytest.param(
        'mailboxes:\n  - {range: "1..2", pin: "1", box: "3"}\n',
        's.yaml:3:31: mailboxes[0].box: unknown field "box" (known fields: range, context, pin)',
        id="box and range",
    ),
    pytest.param(
        'mailboxes:\n  - {box: "1", pin: "1"}\nphones:\n  - {range: "1..2", context: sales}\n',
        's.yaml:5:30: phones[0].context: no mailbox "1@sales" declared (declared: 1@default)',
        id="phone range without its mailboxes",
    ),
    pytest.param(
        'vars: {a: "${b}", b: "1"}\nmailboxes:\n  - {box: "1", pin: "1"}\n',
        's.yaml:2:11: vars.a: unknown variable "b" (variables: none defined)',
        id="variable used before it is defined",
    ),
    pytest.param(
        'proxy: {kamailio: {}, quirks: [fork]}\nmailboxes:\n  - {box: "1", pin: "1"}\n',
        "s.yaml:2:23: proxy.quirks: quirks shape the simulated proxy; a real proxy (kamailio) "
        "behaves as it is configured",
        id="quirks with Kamailio",
    ),
    pytest.param(
        'proxy: {convention: history-info, kamailio: {}}\nmailboxes:\n  - {box: "1", pin: "1"}\n',
        "s.yaml:2:21: proxy.convention: the Kamailio config has no history-info variant (it has "
        "x-voicemail and diversion)",
        id="Kamailio without the convention",
    ),
    pytest.param(
        'proxy: {external: "sip:127.0.0.1"}\nmailboxes:\n  - {box: "1", pin: "1"}\n',
        's.yaml:2:19: proxy.external: "sip:127.0.0.1" has no port; give one like '
        "sip:127.0.0.1:5060",
        id="external proxy without port",
    ),
    pytest.param(
        'proxy: {profile: kamailio}\nmailboxes:\n  - {box: "1", pin: "1"}\n',
        's.yaml:2:18: proxy.profile: no proxy profile "kamailio" (did you mean "kamailio-like"?): '
        "shipped ones are",
        id="unknown profile",
    ),
    pytest.param(
        'proxy: {quirks: [{delay: {secs: 1}}]}\nmailboxes:\n  - {box: "1", pin: "1"}\n',
        's.yaml:2:33: proxy.quirks[0].delay.secs: unknown field "secs" (did you mean "seconds"?',
        id="bad quirk option",
    ),
]


@pytest.mark.parametrize(("topology", "expected"), TOPOLOGY_MISTAKES)
def test_each_topology_mistake_prints_one_line(
    tmp_path: Path, topology: str, expected: str
) -> None:
    found = problems(tmp_path, f"name: t\n{topology}steps:\n  - wait: 1\n")

    assert len(found) == 1
    assert found[0].startswith(expected)


def test_unknown_variables_are_reported_with_the_other_problems(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        HEADER + '  - deposit: {to: "${nobox}", from: x}\n  - wait: soon\n',
    )

    # The unfilled ${nobox} is one problem, not also "a bad mailbox".
    assert [line.split(": ")[1] for line in found] == ["steps[1].deposit.to", "steps[2].wait"]
    assert 'unknown variable "nobox"' in found[0]


def test_target_conventions_set_the_embedded_servers_routing_chain(tmp_path: Path) -> None:
    scenario = load(tmp_path, "target:\n  conventions: [x-voicemail, to]\n" + HEADER)
    assert scenario.target.conventions == ("x-voicemail", "to")


def test_an_unknown_target_convention_is_one_line_naming_it(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, "target:\n  conventions: [x-voicemail, too]\n" + HEADER)
    assert problem.startswith("s.yaml:2:")
    assert "target.conventions[1]" in problem
    assert 'unknown convention "too"' in problem
