"""A real Asterisk (chan_sip, app_voicemail, res_smdi) as the voicemail server under test.

The harness configures and starts it per scenario (``--target asterisk``): the dialplan it
renders must route each proxy convention as the embedded server does, and a representative set
of the library (a deposit per convention, retrieval, unsolicited and subscribed MWI, SMDI) must
pass against it. The full library runs against it behind ``make interop``.

Asterisk is the build :mod:`harness.peers.asterisk_build` caches (``.ci/run`` builds it), or an
``asterisk`` on PATH; without one (or without the Debian sounds) these tests skip with the
reason, and fail under CI.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness.core.mailbox import MailboxId
from harness.core.routing import Convention, Router
from harness.peers.asterisk import AsteriskError, find_asterisk, find_sounds
from harness.scenario.loader import load_scenario
from harness.scenario.plan import RunOptions
from harness.scenario.runner import run_scenario
from harness.scenario.steps.registration import register_phone
from harness.sim.phone import CallFailed, Phone
from harness.sim.profiles import ProxyProfile
from harness.targets import AsteriskTarget, MailboxEntry, PeerEntry, SimulatedProxy

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
OWNER = MailboxId("2000")
SALES = MailboxId("2001", "sales")


@pytest.fixture(autouse=True)
def asterisk_present() -> None:
    try:
        find_asterisk()
        find_sounds()
    except AsteriskError as error:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{error}; CI must have every peer")
        pytest.skip(str(error))


@pytest.fixture
async def asterisk(tmp_path: Path) -> AsyncIterator[Bed]:
    """Asterisk reading every convention (To last), behind the simulated proxy."""
    chain = (*Router().chain, Convention.TO)
    mailboxes = {"2000": OWNER, "2001": SALES}
    target = AsteriskTarget(
        [MailboxEntry(OWNER, "4321"), MailboxEntry(SALES, "5")],
        [PeerEntry("2000", OWNER), PeerEntry("2001", SALES)],
        router=Router(chain),
        log_dir=tmp_path / "asterisk",
    )
    beds: list[Bed] = []
    try:
        yield Bed(target, mailboxes, beds)
    finally:
        for bed in beds:
            await bed.close()
        await target.close()


class Bed:
    """Asterisk, and a simulated proxy of one convention in front of it per :meth:`proxy`."""

    def __init__(self, target: AsteriskTarget, mailboxes: dict[str, MailboxId], beds: list[Bed]):
        self.target = target
        self.mailboxes = mailboxes
        self.proxies: list[SimulatedProxy] = []
        self.phones: list[Phone] = []
        beds.append(self)

    async def start(self, name: Convention) -> SimulatedProxy:
        """A proxy of convention ``name``; Asterisk is started behind the first one."""
        proxy = SimulatedProxy(ProxyProfile(convention=name), self.mailboxes)
        self.proxies.append(proxy)
        address = await proxy.bind()
        if self.target.asterisk is None:
            await self.target.start(address)
        await proxy.start(self.target.address)
        return proxy

    async def phone(self, user: str, proxy: SimulatedProxy) -> Phone:
        phone = Phone(user, proxy.address)
        self.phones.append(phone)
        await phone.start()
        return phone

    async def close(self) -> None:
        for phone in self.phones:
            await phone.close()
        for proxy in self.proxies:
            await proxy.close()


def _applications(target: AsteriskTarget) -> list[str]:
    """The VoiceMail()/VoiceMailMain() calls Asterisk's dialplan made, as its log says."""
    assert target.log_dir is not None
    log = (target.log_dir / "messages").read_text()
    return [
        f"{application}({argument})"
        for application, argument in re.findall(
            r'Executing \[[^]]+\] (VoiceMail(?:Main)?)\("[^"]+", "([^"]*)"\)', log
        )
    ]


async def _forwarded_call(bed: Bed, name: Convention, busy: bool) -> str:
    """A call to 2000 forwarded to voicemail by a proxy of ``name`` (2000 busy, or not
    registered): what Asterisk's dialplan made of it."""
    proxy = await bed.start(name)
    if busy:
        owner = await bed.phone("2000", proxy)
        owner.answer_mode = "busy"
        await register_phone(owner)
    caller = await bed.phone("+15551230000", proxy)
    before = len(_applications(bed.target))
    call = await caller.dial("2000")
    await asyncio.sleep(0.3)
    await call.hangup()
    ran = _applications(bed.target)[before:]
    assert len(ran) == 1, ran
    return ran[0]


#: What the embedded server makes of a busy forward under each convention: the mailbox, and the
#: busy greeting where the convention carries the reason.
EXPECTED_BUSY = {
    Convention.X_VOICEMAIL: "VoiceMail(2000@default,u)",
    Convention.DIVERSION: "VoiceMail(2000@default,b)",
    Convention.HISTORY_INFO: "VoiceMail(2000@default,b)",
    Convention.RFC4458: "VoiceMail(2000@default,b)",
    Convention.REQUEST_URI: "VoiceMail(2000@default,u)",
    Convention.TO: "VoiceMail(2000@default,u)",
}


@pytest.mark.peer("asterisk")
@pytest.mark.parametrize("name", list(EXPECTED_BUSY))
async def test_each_convention_reaches_the_mailbox_and_greeting_the_embedded_server_picks(
    asterisk: Bed, name: Convention
) -> None:
    assert await _forwarded_call(asterisk, name, busy=True) == EXPECTED_BUSY[name]


@pytest.mark.peer("asterisk")
async def test_an_unregistered_owner_gets_the_unavailable_greeting(asterisk: Bed) -> None:
    assert await _forwarded_call(asterisk, Convention.DIVERSION, busy=False) == (
        "VoiceMail(2000@default,u)"
    )


@pytest.mark.peer("asterisk")
async def test_the_retrieval_number_opens_the_callers_own_mailbox(asterisk: Bed) -> None:
    proxy = await asterisk.start(Convention.X_VOICEMAIL)
    owner = await asterisk.phone("2001", proxy)
    call = await owner.dial("*97")
    # Answer() waits up to 0.5 s for the caller's media before the menu starts.
    await asyncio.sleep(1.0)
    await call.hangup()
    # The proxy names the caller's mailbox in X-Voicemail headers, context and all.
    assert _applications(asterisk.target) == ["VoiceMailMain(2001@sales)"]


@pytest.mark.peer("asterisk")
async def test_each_scenario_gets_a_fresh_private_instance() -> None:
    target = AsteriskTarget([MailboxEntry(OWNER, "4321")], [PeerEntry("2000", OWNER)])
    other = AsteriskTarget([MailboxEntry(OWNER, "5")], [PeerEntry("2000", OWNER)])
    try:
        await asyncio.gather(target.start(("127.0.0.1", 9)), other.start(("127.0.0.1", 9)))
        assert target.address != other.address
        assert target.asterisk is not None
        assert other.asterisk is not None
        assert target.asterisk.root != other.asterisk.root
        conf = (target.asterisk.root / "etc" / "voicemail.conf").read_text()
        assert "2000 => 4321,2000" in conf
        assert "2000 => 5,2000" in (other.asterisk.root / "etc" / "voicemail.conf").read_text()
        pid = target.asterisk.pid
        assert pid is not None
    finally:
        await asyncio.gather(target.close(), other.close())
    assert not target.asterisk.root.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


#: A deposit under each convention (x-voicemail: the unsolicited MWI one), retrieval, unsolicited
#: and subscribed MWI, and SMDI: what ``make test`` runs against Asterisk. The deposits and the
#: retrieval hear Asterisk's own prompts and beep, recognised from the sound files.
REPRESENTATIVE = (
    "mwi/unsolicited-notify-out-of-dialog.yaml",
    "deposit/diversion-user-busy-busy-greeting.yaml",
    "deposit/history-info-no-answer.yaml",
    "deposit/rfc4458-unconditional.yaml",
    "deposit/request-uri-mailbox.yaml",
    "deposit/to-convention.yaml",
    "retrieve/empty-mailbox-says-no-messages.yaml",
    "mwi/subscribe-after-deposit-gets-waiting.yaml",
    "smdi/framing-7e1.yaml",
)


@pytest.mark.peer("asterisk")
@pytest.mark.parametrize("scenario", REPRESENTATIVE)
async def test_the_representative_set_passes_against_asterisk(scenario: str) -> None:
    path = SCENARIOS / scenario
    outcome = await run_scenario(load_scenario(path), path, RunOptions(target="asterisk"))
    story = "; ".join(
        f"step {s.index + 1} ({s.kind}) {s.status}: {s.detail}" for s in outcome.steps
    )
    assert outcome.target == "asterisk"
    assert outcome.status == "passed", story


@pytest.mark.peer("asterisk")
async def test_an_asterisk_that_will_not_start_fails_the_scenario_with_its_log(
    tmp_path: Path,
) -> None:
    binary = tmp_path / "sbin" / "asterisk"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\necho 'Unable to load module chan_sip.so' >&2\nexit 1\n")
    binary.chmod(0o755)
    path = SCENARIOS / "deposit" / "x-voicemail-basic.yaml"
    options = RunOptions(target="asterisk", asterisk=binary)

    outcome = await run_scenario(load_scenario(path), path, options)

    assert outcome.status == "failed"
    (setup,) = outcome.steps
    assert setup.kind == "setup"
    assert setup.detail.startswith("Asterisk did not start: asterisk exited with status 1")
    assert "Unable to load module chan_sip.so" in setup.detail


@pytest.mark.peer("asterisk")
async def test_a_mailbox_voicemail_conf_lacks_is_answered_404(asterisk: Bed) -> None:
    proxy = await asterisk.start(Convention.X_VOICEMAIL)
    caller = await asterisk.phone("+15551230000", proxy)
    with pytest.raises(CallFailed) as failure:
        await caller.dial("2002")
    assert failure.value.response.status == 404
    assert _applications(asterisk.target) == []
