"""Runs a scenario: builds its testbed, plays its steps in order, and says what happened.

The testbed is the simulated proxy (with the scenario's convention), the voicemail server under
test, and a simulated phone per declared phone, each registered at the proxy before the first
step. Every SIP message any of them sends or receives lands in the outcome's wire log. A
topology with a ``pbx`` adds a simulated PBX on the switch end of a pty pair whose other end the
server opens as its SMDI port; what crosses that line lands in the outcome's ``smdi`` frames.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.mailbox import MailboxId
from harness.core.routing import Router
from harness.report.trace import SmdiFrame
from harness.scenario.model import PbxSpec, Scenario
from harness.scenario.steps import StepFailed, StepSkipped, run_step
from harness.sim.pbx import SimPbx
from harness.sim.phone import Phone
from harness.sim.profiles import ProxyProfile
from harness.sim.proxy import SimProxy
from harness.sip.transport import WireMessage
from harness.smdi.link import PtyPair, open_pty_pair
from harness.targets import EmbeddedTarget, MailboxEntry, PeerEntry, SmdiEntry
from harness.voicemail.smdi import SmdiOptions


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What one step did: ``passed``, ``failed``, ``skipped`` or ``not run``."""

    index: int
    kind: str
    status: str
    detail: str
    started: float
    ended: float


@dataclass(frozen=True, slots=True)
class ScenarioOutcome:
    """The result of one scenario run."""

    name: str
    path: Path | None
    steps: tuple[StepOutcome, ...]
    wire: tuple[WireMessage, ...]
    started: float
    ended: float
    target: str = "embedded"
    convention: str = "x-voicemail"
    #: What crossed the SMDI line, as the simulated PBX saw it.
    smdi: tuple[SmdiFrame, ...] = ()

    @property
    def status(self) -> str:
        """``failed`` if a step failed, ``skipped`` if every step that ran was skipped, else
        ``passed``."""
        statuses = {step.status for step in self.steps}
        if "failed" in statuses:
            return "failed"
        if statuses and statuses <= {"skipped", "not run"}:
            return "skipped"
        return "passed"

    @property
    def failure(self) -> StepOutcome | None:
        """The step that failed, if one did."""
        return next((step for step in self.steps if step.status == "failed"), None)


@dataclass(slots=True)
class Testbed:
    """The parties of one scenario run, started and wired together."""

    scenario: Scenario
    proxy: SimProxy
    target: EmbeddedTarget
    phones: dict[str, Phone]
    wire: list[WireMessage] = field(default_factory=list)
    callers: dict[str, Phone] = field(default_factory=dict)
    #: Per phone, the loop time after which the next NOTIFY expectation looks.
    cursors: dict[str, float] = field(default_factory=dict)
    #: Per phone, the message signatures heard in its last retrieval.
    heard_codes: dict[str, list[str]] = field(default_factory=dict)
    #: The simulated PBX on the SMDI line, and the pty pair that is the line.
    pbx: SimPbx | None = None
    line: PtyPair | None = None
    #: Index of the SMDI line record after which the next ``expect_smdi`` looks.
    smdi_cursor: int = 0

    def now(self) -> float:
        """The loop clock."""
        return asyncio.get_running_loop().time()

    def phone_for(self, mailbox: MailboxId) -> Phone | None:
        """The declared phone whose mailbox is ``mailbox``."""
        for spec in self.scenario.phones:
            owned = self.scenario.mailbox_of(spec)
            if owned is not None and owned.id == mailbox:
                return self.phones[spec.user]
        return None

    async def caller(self, number: str) -> Phone:
        """An unregistered phone calling from ``number`` (made on first use)."""
        phone = self.callers.get(number)
        if phone is None:
            phone = Phone(number, self.proxy.address)
            phone.transport.subscribe(self.wire.append)
            await phone.start()
            self.callers[number] = phone
        return phone

    async def close(self) -> None:
        """Stop every party."""
        for phone in [*self.phones.values(), *self.callers.values()]:
            await phone.close()
        if self.pbx is not None:
            await self.pbx.close()
        await self.target.close()
        await self.proxy.close()
        if self.line is not None:
            self.line.close()

    def smdi_frames(self) -> tuple[SmdiFrame, ...]:
        """The SMDI line as the PBX saw it, stamped with wall-clock time."""
        if self.pbx is None:
            return ()
        offset = time.time() - self.now()
        return tuple(
            SmdiFrame("pbx", record.kind, record.direction, record.data, record.at + offset)
            for record in self.pbx.line
        )


def _smdi_entry(pbx: PbxSpec, port: str) -> SmdiEntry:
    """The smdi.conf and server options for the scenario's PBX on ``port``."""
    return SmdiEntry(
        port,
        pbx.settings,
        msdstrip=pbx.msdstrip,
        msgexpirytime=pbx.msgexpirytime,
        stations=tuple(pbx.stations.items()),
        options=SmdiOptions(search=pbx.search, timeout=pbx.timeout / 1000, pacing=pbx.pacing),
    )


async def build_testbed(scenario: Scenario) -> Testbed:
    """Start the proxy, the embedded voicemail server and the phones of ``scenario``."""
    profile = ProxyProfile(convention=scenario.proxy.convention, quirks=scenario.proxy.quirks)
    mailboxes = {
        spec.user: owned.id for spec in scenario.phones if (owned := scenario.mailbox_of(spec))
    }
    proxy = SimProxy(("127.0.0.1", 0), profile, mailboxes=mailboxes)
    wire: list[WireMessage] = []
    proxy.transport.subscribe(wire.append)
    await proxy.start()
    line = open_pty_pair() if scenario.pbx is not None else None
    target = EmbeddedTarget(
        [MailboxEntry(box.id, box.pin, box.name or "") for box in scenario.mailboxes],
        [
            PeerEntry(spec.user, mailboxes[spec.user], spec.dtmf)
            for spec in scenario.phones
            if spec.user in mailboxes
        ],
        router=Router(),
        smdi=None
        if line is None or scenario.pbx is None
        else _smdi_entry(scenario.pbx, line.slave_path),
    )
    phones: dict[str, Phone] = {}
    bed = Testbed(scenario, proxy, target, phones, wire, line=line)
    try:
        proxy.voicemail = await target.start(proxy.address)
        assert target.server is not None
        target.server.transport.subscribe(wire.append)
        if line is not None and scenario.pbx is not None:
            if target.server.smdi is None:
                raise StepFailed(
                    f"the voicemail server did not open its SMDI port {line.slave_path}"
                )
            bed.pbx = SimPbx(
                line.master_fd,
                scenario.pbx.settings,
                msdstrip=scenario.pbx.msdstrip,
                pacing=scenario.pbx.pacing,
                proxy=proxy.address,
                errors=scenario.pbx.errors,
                on_wire=wire.append,
            )
            await bed.pbx.start()
        for spec in scenario.phones:
            phone = Phone(spec.user, proxy.address)
            phone.transport.subscribe(wire.append)
            await phone.start()
            phones[spec.user] = phone
            response = await phone.register()
            if response.status != 200:
                raise StepFailed(
                    f"phone {spec.user} could not register at the proxy: "
                    f"{response.status} {response.reason}"
                )
    except BaseException:
        await bed.close()
        raise
    start = bed.now()
    bed.cursors = {user: start for user in phones}
    return bed


async def run_scenario(scenario: Scenario, path: Path | None = None) -> ScenarioOutcome:
    """Run ``scenario`` against the embedded voicemail server; never raises for a failed step."""
    started = time.time()
    outcomes: list[StepOutcome] = []
    try:
        bed = await build_testbed(scenario)
    except StepFailed as failure:
        outcome = StepOutcome(0, "setup", "failed", str(failure), started, time.time())
        return ScenarioOutcome(scenario.name, path, (outcome,), (), started, time.time())
    try:
        failed = False
        for index, step in enumerate(scenario.steps):
            begun = time.time()
            if failed:
                outcomes.append(StepOutcome(index, step.kind, "not run", "", begun, begun))
                continue
            try:
                detail = await run_step(step, bed)
                status = "passed"
            except StepSkipped as skip:
                detail, status = str(skip), "skipped"
            except StepFailed as failure:
                detail, status, failed = str(failure), "failed", True
            outcomes.append(StepOutcome(index, step.kind, status, detail, begun, time.time()))
    finally:
        await bed.close()
    return ScenarioOutcome(
        scenario.name,
        path,
        tuple(outcomes),
        tuple(bed.wire),
        started,
        time.time(),
        convention=scenario.proxy.convention,
        smdi=bed.smdi_frames(),
    )
