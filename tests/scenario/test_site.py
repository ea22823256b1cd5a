"""The site file: validated at file:line, applied to scenarios (which run, which skip and why),
and written commented by ``vmharness site init``."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.scenario.loader import load_scenario
from harness.scenario.plan import RunOptions, plan_run
from harness.scenario.site import STARTER, Site, SiteError, load_site, site_skip

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "scenarios" / "conformance"


def site(tmp_path: Path, text: str = STARTER, **changes: str) -> Path:
    for old, new in changes.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(SiteError) as caught:
        load_site(path)
    return [str(problem) for problem in caught.value.problems]


def loaded(tmp_path: Path, **changes: str) -> Site:
    return load_site(site(tmp_path, **changes))


def test_the_starting_file_is_a_valid_site_with_every_field_explained(tmp_path: Path) -> None:
    written = loaded(tmp_path)
    assert written.proxy_peer == ("127.0.0.1", 5060)
    assert written.forwards("user-busy")
    assert not written.forwards("unconditional")
    assert [written.allows(number) for number in ("3000", "3099", "2000")] == [True, True, False]
    assert written.variables() == {
        "convention": "x-voicemail",
        "context": "default",
        "access_code": "*97",
    }
    for field in ("forwarding:", "ring:", "access_code:", "budget:", "clear_stale_bindings:"):
        line = next(line for line in STARTER.splitlines() if line.strip().startswith(field))
        assert "#" in line or STARTER.count(field) == 1


def test_every_problem_is_told_at_its_line(tmp_path: Path) -> None:
    path = site(
        tmp_path,
        **{
            "conventions: [x-voicemail]": "conventions: [x-voicemial]",
            "  user-busy: forwarded": "  user-busy: sometimes",
            "budget: 2 ": "budget: 0 ",
            'numbers: "3000..3099"': 'numbers: "3099..3000"',
            "voicemail:\n  port: 5070": "voicemail:\n  port: 5070\n  colour: blue",
        },
    )
    told = problems(path)
    assert told == [
        f'{path}:14:15: conventions[0]: no convention "x-voicemial" (known: x-voicemail, '
        "diversion, history-info, rfc4458, request-uri, to)",
        f"{path}:19:14: forwarding.user-busy: Input should be 'forwarded' or 'not-forwarded'",
        f"{path}:31:11: mwi.budget: Input should be greater than 0",
        f'{path}:35:12: phones.numbers: the range "3099..3000" runs backwards: 3099 is after 3000',
        f"{path}:42:3: voicemail.colour: not a field of a site file",
    ]


def test_the_voicemail_server_is_one_of_a_port_or_an_address(tmp_path: Path) -> None:
    path = site(tmp_path, **{"  port: 5070 ": "  address: sip:10.0.0.5:5060\n  port: 5070 "})
    (told,) = problems(path)
    assert told.startswith(f"{path}:40:1: voicemail: give port")


def test_a_file_that_is_not_a_site_says_so(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("- a list\n")
    assert problems(path) == [
        f"{path}:1:1: a site is a mapping (name: ..., proxy: ...), got a list"
    ]


@pytest.mark.parametrize(
    ("scenario", "changes", "reason"),
    [
        ("deposit/diversion-unconditional.yaml", {}, "the site names mailboxes with x-voicemail; "
         "this scenario needs diversion"),
        ("deposit/x-voicemail-basic.yaml", {}, "the site does not let the harness register 2000"),
        ("smdi/call-type-busy.yaml", {}, "the site has no PBX on an SMDI line"),
        ("conformance/busy-not-forwarded.yaml", {}, "the site forwards user-busy calls to "
         "voicemail"),
        ("conformance/busy-forwarded.yaml", {"  user-busy: forwarded": "  user-busy: "
         "not-forwarded"}, "the site does not forward user-busy calls to voicemail"),
        ("conformance/subscribe-relayed.yaml", {}, "the site's phones do not SUBSCRIBE for "
         "message-waiting"),
        ("conformance/unregistered-forwarded-lamp-on-register.yaml", {}, "the site's proxy does "
         "not copy REGISTERs to the voicemail server (mwi.register_copy), so nothing sends a "
         "phone that registers late its lamp state"),
    ],
)  # fmt: skip
def test_a_scenario_that_does_not_apply_to_the_site_is_skipped_with_the_reason(
    tmp_path: Path, scenario: str, changes: dict[str, str], reason: str
) -> None:
    chosen = loaded(tmp_path, **changes)
    assert site_skip(load_scenario(ROOT / "scenarios" / scenario), chosen) == reason


def test_a_plain_profile_is_no_reason_to_skip_under_a_site_but_the_context_is(
    tmp_path: Path,
) -> None:
    chosen = loaded(tmp_path, **{'numbers: "3000..3099"': 'numbers: "2000..2099"'})
    options = RunOptions.for_site(chosen)
    plain = load_scenario(ROOT / "scenarios" / "mwi" / "unsolicited-notify-out-of-dialog.yaml")
    sales = load_scenario(ROOT / "scenarios" / "deposit" / "x-voicemail-context.yaml")

    assert plan_run(plain, options).skip is None
    assert plan_run(sales, options).skip == (
        "the site's mailboxes are in context default; this scenario leaves a message in 2000@sales"
    )
    # Without a site nothing says what the proxy does: the profile keeps it on the simulator.
    assert plan_run(plain, RunOptions(proxy="sip:127.0.0.1:5060")).skip == (
        "needs the simulated proxy (profile generic); a real proxy behaves as it is configured"
    )


def test_retrieval_scenarios_need_an_access_code(tmp_path: Path) -> None:
    without = STARTER.split("retrieval:")[0] + "mwi:" + STARTER.split("mwi:")[1]
    chosen = load_site(site(tmp_path, without))
    scenario = load_scenario(CONFORMANCE / "retrieval-names-mailbox-lamp-off.yaml")
    assert site_skip(scenario, chosen) == "the site has no voicemail access code"


def test_the_site_runs_its_scenarios_with_its_own_values(tmp_path: Path) -> None:
    chosen = loaded(
        tmp_path,
        **{
            "context: default ": "context: office ",
            'access_code: "*97"': 'access_code: "*86"',
            "sip:127.0.0.1:5060": "sip:127.0.0.1:5099",
        },
    )
    path = CONFORMANCE / "busy-forwarded.yaml"
    scenario = load_scenario(path, chosen.variables())

    plan = plan_run(scenario, RunOptions.for_site(chosen))

    assert [str(box.id) for box in scenario.every_mailbox] == ["3010@office"]
    assert plan.skip is None
    assert (plan.proxy_name, plan.access_code, plan.convention) == (
        "sip:127.0.0.1:5099",
        "*86",
        "x-voicemail",
    )


def test_a_conformance_scenario_needs_a_site() -> None:
    scenario = load_scenario(CONFORMANCE / "busy-forwarded.yaml")
    assert plan_run(scenario).skip == "a conformance scenario needs a site (--site)"


def test_site_init_writes_the_starting_file_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ours.yaml"
    assert main(["site", "init", str(path)]) == 0
    assert path.read_text() == STARTER
    assert main(["site", "init", str(path)]) == 2
    assert "exists; not overwriting it" in capsys.readouterr().err


def test_run_with_a_broken_site_is_a_usage_error_at_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = site(tmp_path, **{"ring: 20 ": "ring: soon "})
    assert main(["run", str(CONFORMANCE), "--site", str(path)]) == 2
    assert f"{path}:23:7: ring: Input should be a valid number" in capsys.readouterr().err
