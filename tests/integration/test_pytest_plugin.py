"""The pytest plugin: scenario items per target, proxy and profile, with readable ids."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.scenario.site import STARTER

SCENARIO = """\
name: the phone registers
proxy: {convention: diversion}
mailboxes: [{box: "2000", pin: "4321"}]
phones: [{user: "2000"}]
steps:
  - register: {phone: "2000"}
"""

SMDI = """\
name: the PBX line
proxy: {convention: request-uri}
mailboxes: [{box: "2000", pin: "4321"}]
pbx: {}
steps:
  - smdi_send: {type: B, forwarding: "2000"}
"""


def pytest_run(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir(exist_ok=True)
    (scenarios / "register.yaml").write_text(SCENARIO)
    (scenarios / "pbx.yaml").write_text(SMDI)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    # Only the plugins under test: autoloading every plugin of the venv costs seconds.
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    plugins = ["-p", "harness.pytest_plugin", "-p", "xdist.plugin", "-p", "no:cacheprovider"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", *plugins, "-c", str(tmp_path / "pytest.ini"), *arguments],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_each_item_is_named_by_its_target_proxy_and_convention(tmp_path: Path) -> None:
    run = pytest_run(
        tmp_path,
        "--collect-only",
        "-q",
        "--proxy-profile",
        "generic",
        "--proxy-profile",
        "notify-481",
        "scenarios/register.yaml",
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines()[:2] == [
        "scenarios/register.yaml::register[embedded/sim/diversion]",
        "scenarios/register.yaml::register[embedded/sim:notify-481/diversion]",
    ]


def test_markers_select_by_party(tmp_path: Path) -> None:
    run = pytest_run(
        tmp_path,
        "--collect-only",
        "-q",
        "--target",
        "embedded",
        "--target",
        "sip:127.0.0.1:5070",
        "-m",
        "external_target and diversion",
        "scenarios",
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines()[0] == (
        "scenarios/register.yaml::register[127.0.0.1:5070/sim/diversion]"
    )
    assert "3 deselected" in run.stdout


def test_a_scenario_the_target_cannot_run_is_skipped_with_the_reason(tmp_path: Path) -> None:
    run = pytest_run(tmp_path, "-rs", "--target", "sip:127.0.0.1:9", "scenarios/pbx.yaml")

    assert run.returncode == 0, run.stdout + run.stderr
    assert "the PBX's SMDI line reaches the embedded voicemail server only" in run.stdout
    assert "1 skipped" in run.stdout


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    bad_target = pytest_run(tmp_path, "--collect-only", "--target", "5070", "scenarios")
    fixed_port = pytest_run(
        tmp_path, "--collect-only", "-n", "2", "--voicemail-port", "5070", "scenarios"
    )

    assert bad_target.returncode == 4
    assert '--target: "5070" is not a SIP address' in bad_target.stderr
    assert fixed_port.returncode == 4
    assert "--voicemail-port fixes one port that every -n worker would bind" in fixed_port.stderr


def test_a_site_runs_what_applies_to_it_and_skips_the_rest_with_the_reason(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(STARTER.replace('numbers: "3000..3099"', 'numbers: "2000"'))

    run = pytest_run(tmp_path, "-rs", "--site", str(site), "scenarios")

    assert run.returncode == 0, run.stdout + run.stderr
    # The diversion scenario does not apply to an x-voicemail site; the PBX one to any site.
    assert "the site names mailboxes with x-voicemail; this scenario needs diversion" in run.stdout
    assert "the site has no PBX on an SMDI line" in run.stdout
    assert "2 skipped" in run.stdout
