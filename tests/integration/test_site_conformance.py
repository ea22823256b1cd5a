"""A real proxy judged against its site: the shipped Kamailio config passes the conformance set
twice on one running Kamailio and leaves its location table empty; each deliberate mistake,
turned on with a switch of the config as a user would, fails with its named finding.

The mistakes run on a representative scenario each (the one that meets the mistake first), not
the whole set: the whole set is proven against the correct config.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.peers.kamailio import KAMAILIO_BINARY, Kamailio, free_port
from harness.report.findings import FINDINGS
from harness.report.records import ScenarioOutcome
from harness.scenario.loader import load_scenario
from harness.scenario.plan import RunOptions
from harness.scenario.runner import run_scenario
from harness.scenario.site import load_site

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "scenarios" / "conformance"
SITE = ROOT / "fixtures" / "proxies" / "kamailio" / "site.yaml"
#: Seconds a phone rings before Kamailio forwards: short, for a quick test.
RING = 1.0
#: The config as the site describes it: REGISTERs copied to the voicemail server.
CORRECT = {"WITH_REGISTER_COPY": None}


@pytest.fixture
def kamailio_present(require_peer: Callable[..., str]) -> None:
    # /usr/sbin, where Debian puts it, is not on every user's PATH.
    if shutil.which("kamailio") is None:
        require_peer("kamailio", KAMAILIO_BINARY)


pytestmark = pytest.mark.usefixtures("kamailio_present")


def site_file(directory: Path, kamailio: Kamailio, voicemail_port: int, **changes: str) -> Path:
    """The shipped site file with this run's ports and ring time, and ``changes`` (a line's
    text → its replacement)."""
    text = (
        SITE.read_text()
        .replace("sip:127.0.0.1:5060", f"sip:127.0.0.1:{kamailio.port}")
        .replace("port: 5070", f"port: {voicemail_port}")
        .replace("ring: 20 ", f"ring: {RING:g} ")
    )
    for old, new in changes.items():
        assert old in text, old
        text = text.replace(old, new)
    path = directory / "site.yaml"
    path.write_text(text)
    return path


async def vmharness(*arguments: str) -> tuple[int, str]:
    """Run the console script; its exit status and output."""
    script = Path(sys.executable).parent / "vmharness"
    process = await asyncio.create_subprocess_exec(
        str(script),
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=ROOT,
    )
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_the_correct_kamailio_passes_the_conformance_set_twice_and_leaves_no_binding(
    tmp_path: Path,
) -> None:
    voicemail = ("127.0.0.1", free_port("127.0.0.1"))
    async with Kamailio(
        voicemail, no_answer_timeout=RING, switches=CORRECT, log_dir=tmp_path
    ) as kamailio:
        site = site_file(tmp_path, kamailio, voicemail[1])
        found_before = await kamailio.location_users()
        runs = []
        for attempt in ("first", "second"):
            report = tmp_path / attempt
            runs.append(await vmharness("run", "scenarios/conformance", "--site", str(site),
                                        "--report", str(report)))  # fmt: skip
            assert await kamailio.location_users() == found_before == []
    for status, out in runs:
        assert status == 0, out
        # Every scenario that applies passes; the one for a site that does not forward busy
        # calls is skipped with the reason.
        assert "7 passed, 0 failed, 1 skipped" in out, out
        assert "the site forwards user-busy calls to voicemail" in out
    assert (tmp_path / "second" / "index.html").is_file()


@dataclass(frozen=True)
class Mistake:
    """One deliberate mistake: the config's switches (on top of the correct ones, which
    ``dropped`` names are taken from), the scenario that meets it, the finding."""

    switches: dict[str, str | None]
    scenario: str
    finding: str
    context: str = "default"
    #: Changes to the site file (line text → replacement).
    site: dict[str, str] = field(default_factory=dict)
    #: How the diagnosis begins and ends, when the test pins its words.
    told: tuple[str, str] | None = None
    #: Switches of the correct config the mistake forgets to turn on.
    dropped: tuple[str, ...] = ()


MISTAKES = {
    "mailbox-is-caller": Mistake(
        {"VM_MAILBOX_OF_CALLER": None}, "mailbox-of-called-party", "mailbox-is-caller"
    ),
    "wrong-context": Mistake({}, "busy-forwarded", "wrong-context", context="office"),
    "header-renamed": Mistake(
        {"VM_MAILBOX_HEADER": '"X-VM-Mailbox"'}, "busy-forwarded", "header-renamed"
    ),
    "busy-not-forwarded": Mistake(
        {"NO_VM_ON_BUSY": None}, "busy-forwarded", "outcome-not-forwarded"
    ),
    "retrieval-without-mailbox": Mistake(
        {"NO_RETRIEVAL_MAILBOX": None},
        "retrieval-names-mailbox-lamp-off",
        "retrieval-without-mailbox",
    ),
    "notify-refused": Mistake({"NO_MWI_RELAY": None}, "busy-forwarded", "notify-refused"),
    "no-register-copy": Mistake(
        {},
        "unregistered-forwarded-lamp-on-register",
        "lamp-not-resent-on-register",
        dropped=("WITH_REGISTER_COPY",),
    ),
    "notify-late": Mistake(
        {"MWI_DELAY_US": "2600000"},
        "busy-forwarded",
        "notify-late",
        told=(
            "the NOTIFY for phone 3010 was relayed 2.",
            " s after the voicemail server sent it; the budget is 2 s",
        ),
    ),
    "notify-wrong-phone": Mistake(
        {"MWI_ALIAS_FROM": '"3060"', "MWI_ALIAS_TO": '"3061"'},
        "notify-reaches-only-its-phone",
        "notify-wrong-phone",
    ),
}


async def judge(tmp_path: Path, mistake: Mistake) -> tuple[ScenarioOutcome, list[str]]:
    """Run the mistake's scenario against a Kamailio with its switches; the outcome and the
    location table after the run."""
    voicemail = ("127.0.0.1", free_port("127.0.0.1"))
    switches = {
        name: value for name, value in CORRECT.items() if name not in mistake.dropped
    } | mistake.switches
    async with Kamailio(
        voicemail,
        no_answer_timeout=RING,
        context=mistake.context,
        switches=switches,
        log_dir=tmp_path,
    ) as kamailio:
        site = load_site(site_file(tmp_path, kamailio, voicemail[1], **mistake.site))
        path = CONFORMANCE / f"{mistake.scenario}.yaml"
        scenario = load_scenario(path, site.variables())
        outcome = await run_scenario(scenario, path, RunOptions.for_site(site))
        return outcome, await kamailio.location_users()


@pytest.mark.parametrize("name", list(MISTAKES))
async def test_each_deliberate_mistake_is_caught_with_its_finding(
    tmp_path: Path, name: str
) -> None:
    mistake = MISTAKES[name]

    outcome, bindings = await judge(tmp_path, mistake)

    failure = outcome.failure
    assert failure is not None, [step.detail for step in outcome.steps]
    assert outcome.findings == (mistake.finding,), failure.detail
    assert mistake.finding in FINDINGS
    # The diagnosis speaks of the hop and the message, never of the harness's clock.
    assert "t=" not in failure.detail
    if mistake.told is not None:
        begins, ends = mistake.told
        assert failure.detail.startswith(begins), failure.detail
        assert failure.detail.endswith(ends), failure.detail
    assert bindings == []


async def test_a_site_that_does_not_forward_busy_calls_is_held_to_that(tmp_path: Path) -> None:
    rules = {"user-busy: forwarded ": "user-busy: not-forwarded "}
    kept = Mistake({"NO_VM_ON_BUSY": None}, "busy-not-forwarded", "", site=rules)
    broken = Mistake({}, "busy-not-forwarded", "", site=rules)

    kept_outcome, _ = await judge(tmp_path / "kept", kept)
    broken_outcome, _ = await judge(tmp_path / "broken", broken)

    assert kept_outcome.status == "passed", [step.detail for step in kept_outcome.steps]
    assert broken_outcome.findings == ("outcome-forwarded",)


async def test_a_notify_for_another_phone_fails_a_run_whose_steps_never_waited_for_it(
    tmp_path: Path,
) -> None:
    quiet = tmp_path / "quiet.yaml"
    quiet.write_text(
        (CONFORMANCE / "notify-reaches-only-its-phone.yaml")
        .read_text()
        .split("  - expect_notify:")[0]
        .replace("tags: [conformance, ", "tags: [")
        + "  - wait: 1\n"
    )
    mistake = MISTAKES["notify-wrong-phone"]
    voicemail = ("127.0.0.1", free_port("127.0.0.1"))
    async with Kamailio(
        voicemail, no_answer_timeout=RING, switches=CORRECT | mistake.switches, log_dir=tmp_path
    ) as kamailio:
        site = load_site(site_file(tmp_path, kamailio, voicemail[1]))
        outcome = await run_scenario(
            load_scenario(quiet, site.variables()), quiet, RunOptions.for_site(site)
        )

    failure = outcome.failure
    assert failure is not None, [step.detail for step in outcome.steps]
    assert (failure.kind, failure.index) == ("notify addressing", 2)
    assert failure.detail.startswith("the proxy relayed the NOTIFY for 3060 to phone 3061: ")
    assert outcome.findings == ("notify-wrong-phone",)
