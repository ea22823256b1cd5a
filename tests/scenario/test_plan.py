"""Which voicemail server and proxy a scenario runs with, and what it is skipped for."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.scenario.loader import load_scenario
from harness.scenario.model import Scenario
from harness.scenario.plan import Plan, RunOptions, plan_run

TOPOLOGY = 'mailboxes: [{box: "2000", pin: "1"}]\nphones: [{user: "2000"}]\n'


def scenario(
    tmp_path: Path, proxy: str = "{}", steps: str = "[{wait: 1}]", extra: str = ""
) -> Scenario:
    path = tmp_path / "s.yaml"
    path.write_text(f"name: t\nproxy: {proxy}\n{TOPOLOGY}{extra}steps: {steps}\n")
    return load_scenario(path)


def test_by_default_the_embedded_server_behind_the_simulator(tmp_path: Path) -> None:
    plan = plan_run(scenario(tmp_path))

    assert plan.target is None
    assert plan.proxy == "simulator"
    assert plan.profile is not None
    assert (plan.profile.name, plan.convention, plan.quirks) == ("generic", "x-voicemail", ())
    assert (plan.target_name, plan.proxy_name) == ("embedded", "simulator")
    assert plan.label == "embedded/sim/x-voicemail"
    assert plan.skip is None


def test_a_profile_brings_its_quirks_and_the_scenario_adds_its_own(tmp_path: Path) -> None:
    plan = plan_run(scenario(tmp_path, "{profile: history-info-sbc, quirks: [fork]}"))

    assert plan.profile is not None
    assert plan.convention == "history-info"
    assert plan.quirks == ("b2bua", "session-timer", "compact-headers", "fork")
    assert plan.label == "embedded/sim:history-info-sbc/history-info"


def test_the_scenarios_own_convention_wins_over_the_profile_of_the_command_line(
    tmp_path: Path,
) -> None:
    written = scenario(tmp_path, "{convention: diversion}")

    plan = plan_run(written, RunOptions(profile="strips-x-headers"))

    assert plan.convention == "diversion"
    assert plan.quirks == ("strip-x-headers",)
    assert plan.label == "embedded/sim:strips-x-headers/diversion"


def test_options_choose_an_external_target_and_a_real_proxy(tmp_path: Path) -> None:
    plan = plan_run(
        scenario(tmp_path),
        RunOptions(target="sip:127.0.0.1:5070", target_spool=tmp_path, proxy="sip:[::1]:5060"),
    )

    assert plan == Plan(
        target=("127.0.0.1", 5070),
        target_spool=tmp_path,
        proxy="external",
        proxy_address=("::1", 5060),
        profile=None,
        convention="x-voicemail",
    )
    assert (plan.target_name, plan.proxy_name) == ("sip:127.0.0.1:5070", "sip:[::1]:5060")
    assert plan.label == "127.0.0.1:5070/[::1]:5060/x-voicemail"


def test_options_win_over_what_the_scenario_names(tmp_path: Path) -> None:
    written = scenario(
        tmp_path,
        "{kamailio: {convention: diversion, ring: 3}}",
        extra='target: {external: "sip:127.0.0.1:5070"}\n',
    )

    assert plan_run(written).target == ("127.0.0.1", 5070)
    kamailio = plan_run(written, RunOptions(target="embedded"))
    assert (kamailio.target, kamailio.proxy, kamailio.convention, kamailio.ring) == (
        None,
        "kamailio",
        "diversion",
        3.0,
    )
    simulated = plan_run(written, RunOptions(proxy="simulator"))
    assert simulated.proxy == "simulator"


@pytest.mark.parametrize(
    ("proxy", "steps", "option", "reason"),
    [
        (
            "{quirks: [compact-headers]}",
            "[{wait: 1}]",
            "kamailio",
            "needs the simulated proxy (compact-headers); a real proxy behaves as it is configured",
        ),
        (
            "{profile: notify-481}",
            "[{wait: 1}]",
            "sip:127.0.0.1:5060",
            "needs the simulated proxy (profile notify-481)",
        ),
        (
            "{}",
            '[{deposit: {to: "2000", from: "1", reason: unconditional}}]',
            "kamailio",
            "forwards unconditionally, which only the simulated proxy can be told to do",
        ),
        (
            "{convention: history-info}",
            "[{wait: 1}]",
            "kamailio",
            "the Kamailio config has no history-info variant (it has x-voicemail, diversion)",
        ),
    ],
)
def test_what_only_the_simulator_can_do_is_skipped_with_a_real_proxy(
    tmp_path: Path, proxy: str, steps: str, option: str, reason: str
) -> None:
    plan = plan_run(scenario(tmp_path, proxy, steps), RunOptions(proxy=option))

    assert plan.skip is not None
    assert plan.skip.startswith(reason)


def test_a_pbx_needs_the_embedded_server(tmp_path: Path) -> None:
    written = scenario(tmp_path, "{convention: request-uri}", extra="pbx: {}\n")

    plan = plan_run(written, RunOptions(target="sip:127.0.0.1:5070"))

    assert plan.skip == "the PBX's SMDI line reaches the embedded voicemail server only"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"target": "127.0.0.1:5070"},
            '--target: "127.0.0.1:5070" is not a SIP address like sip:127.0.0.1:5060',
        ),
        ({"proxy": "sip:127.0.0.1"}, '--proxy: "sip:127.0.0.1" has no port'),
        (
            {"proxy": "kamailio", "profile": "generic"},
            "--proxy-profile shapes the simulated proxy; --proxy kamailio is a real one",
        ),
        ({"profile": "no-such"}, "no proxy profile 'no-such'"),
        ({"voicemail_port": 70000}, "--voicemail-port must be 0 (any free port) or 1..65535"),
    ],
)
def test_bad_options_say_which_and_why(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=r"^" + re.escape(message)):
        RunOptions(**options)  # type: ignore[arg-type]
