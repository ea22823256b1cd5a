"""Runs a scenario: builds its testbed, plays its steps in order, and says what happened.

The testbed is a proxy, a voicemail server and a simulated phone per declared phone, each
registered at the proxy before the first step (unless declared ``registered: no``). Which proxy
and which voicemail server is the run's :class:`Plan`, made from the scenario and the user's
:class:`RunOptions`:

- the voicemail server is the embedded one (configured for the scenario), or an external one
  at ``sip:HOST:PORT`` whose configuration must match the scenario (white-box steps are
  skipped unless its spool can be read);
- the proxy is the simulator shaped by a profile, a Kamailio the harness starts for the run,
  or a proxy under test at ``sip:HOST:PORT`` (the embedded server then listens on the port
  its configuration names, ``voicemail_port``).

A scenario the plan cannot run (a PBX with a foreign server, quirks with a real proxy) is
skipped with the reason. Every SIP message the harness's parties send or receive lands in the
outcome's wire log; parties the harness does not run are named by their address. A topology
with a ``pbx`` adds a simulated PBX on the switch end of a pty pair whose other end the server
opens as its SMDI port; what crosses that line lands in the outcome's ``smdi`` frames.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from harness.core.mailbox import MailboxId
from harness.core.routing import Reason, Router
from harness.media.session import RtpSession
from harness.peers.kamailio import CONVENTIONS as KAMAILIO_CONVENTIONS
from harness.peers.kamailio import KamailioConvention, KamailioError, find_kamailio
from harness.report.trace import LatencySample, RtpStream, SmdiFrame, rtp_stream
from harness.scenario.model import DepositStep, PbxSpec, Scenario, walk_steps
from harness.scenario.steps import StepFailed, StepSkipped, register_phone, run_step
from harness.scenario.wire import WireView
from harness.sim import profiles
from harness.sim.pbx import SimPbx
from harness.sim.phone import Call, Phone, Subscription
from harness.sim.profiles import ProxyProfile
from harness.sim.proxy import SimProxy
from harness.sip.message import Response
from harness.sip.transaction import Peer
from harness.sip.transport import TransactionFailed, WireMessage
from harness.smdi.link import PtyPair, open_pty_pair
from harness.targets import (
    EmbeddedTarget,
    ExternalProxy,
    ExternalTarget,
    KamailioProxy,
    MailboxEntry,
    PeerEntry,
    ProxyParty,
    SimulatedProxy,
    SmdiEntry,
    Target,
    sip_address,
    sip_peer,
)
from harness.voicemail.smdi import SmdiOptions
from harness.voicemail.store import Spool

#: Phones register this many at a time (a load topology declares hundreds).
_REGISTER_AT_ONCE = 50
#: Seconds the start-up NOTIFYs of the embedded server may take to be answered.
_SETTLE_SECONDS = 5.0
#: Seconds a phone rings at a harness-run Kamailio before the call goes to voicemail.
DEFAULT_RING = 1.0


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Where scenarios run, as the user chose (``vmharness run``, the pytest options).

    None leaves the choice to each scenario (its ``target:`` and ``proxy:``), else the
    embedded server and the simulator.
    """

    #: ``embedded`` or ``sip:HOST:PORT``.
    target: str | None = None
    #: The external target's spool directory, for white-box steps.
    target_spool: Path | None = None
    #: ``simulator``, ``kamailio`` or ``sip:HOST:PORT``.
    proxy: str | None = None
    #: The simulated proxy's profile: a shipped name or a profile file.
    profile: str | None = None
    #: The embedded server's SIP port (0: any free port).
    voicemail_port: int = 0
    #: The simulated proxy's SIP port (0: any free port).
    proxy_port: int = 0
    #: Where a harness-run Kamailio writes its log (inside, ``<folder>-<file>/`` per scenario).
    log_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.target is not None and self.target != "embedded":
            _address(self.target, "--target", "embedded or sip:HOST:PORT")
        if self.proxy is not None and self.proxy not in ("simulator", "kamailio"):
            _address(self.proxy, "--proxy", "simulator, kamailio or sip:HOST:PORT")
        if self.profile is not None and self.proxy not in (None, "simulator"):
            raise ValueError(
                f"--proxy-profile shapes the simulated proxy; --proxy {self.proxy} is a real one"
            )
        if self.profile is not None:
            profiles.load_profile(self.profile)
        for name, port in (
            ("--voicemail-port", self.voicemail_port),
            ("--proxy-port", self.proxy_port),
        ):
            if not 0 <= port < 65536:
                raise ValueError(f"{name} must be 0 (any free port) or 1..65535, not {port}")


def _address(text: str, option: str, choices: str) -> Peer:
    try:
        return sip_peer(text)
    except ValueError as error:
        raise ValueError(f"{option}: {error} (give {choices})") from None


@dataclass(frozen=True, slots=True)
class Plan:
    """How one scenario runs: its voicemail server, its proxy, the convention and quirks."""

    #: The external voicemail server, or None for the embedded one.
    target: Peer | None
    target_spool: Path | None
    proxy: Literal["simulator", "kamailio", "external"]
    #: The external proxy's address.
    proxy_address: Peer | None
    #: The simulated proxy's profile (None for a real proxy).
    profile: ProxyProfile | None
    convention: str
    #: Seconds a phone rings at Kamailio before the call goes to voicemail.
    ring: float = DEFAULT_RING
    #: Why the scenario cannot run this way, if it cannot.
    skip: str | None = None

    @property
    def target_name(self) -> str:
        """``embedded`` or ``sip:HOST:PORT``."""
        return "embedded" if self.target is None else sip_address(self.target)

    @property
    def proxy_name(self) -> str:
        """``simulator``, ``kamailio`` or ``sip:HOST:PORT``."""
        if self.proxy == "external" and self.proxy_address is not None:
            return sip_address(self.proxy_address)
        return self.proxy

    @property
    def quirks(self) -> tuple[str, ...]:
        """The simulated proxy's quirks."""
        return () if self.profile is None else self.profile.quirks

    @property
    def label(self) -> str:
        """``embedded/sim/x-voicemail``, ``127.0.0.1:5070/kamailio/diversion``: for test ids."""
        target = "embedded" if self.target is None else self.target_name.removeprefix("sip:")
        if self.proxy == "simulator":
            name = None if self.profile is None else self.profile.name
            proxy = "sim" if name in (None, ProxyProfile().name) else f"sim:{name}"
        else:
            proxy = self.proxy_name.removeprefix("sip:")
        return f"{target}/{proxy}/{self.convention}"


def plan_run(
    scenario: Scenario, options: RunOptions | None = None, path: Path | None = None
) -> Plan:
    """The plan of ``scenario`` under ``options``; ``path`` is the scenario file (profile files
    are relative to it). ValueError for a profile that does not load; KamailioError under
    ``CI=true`` when Kamailio is wanted and missing."""
    options = options or RunOptions()
    target: Peer | None = None
    if options.target is not None:
        target = None if options.target == "embedded" else sip_peer(options.target)
    elif scenario.target.external is not None:
        target = sip_peer(scenario.target.external)
    spool = options.target_spool or scenario.target.spool
    kind: Literal["simulator", "kamailio", "external"]
    if options.proxy is None:
        kind = scenario.proxy.kind
        address = sip_peer(scenario.proxy.external) if scenario.proxy.external else None
    elif options.proxy in ("simulator", "kamailio"):
        kind, address = ("simulator" if options.proxy == "simulator" else "kamailio"), None
    else:
        kind, address = "external", sip_peer(options.proxy)
    spec = scenario.proxy
    ring = spec.kamailio.ring if spec.kamailio is not None else DEFAULT_RING
    if kind != "simulator":
        plan = Plan(target, spool, kind, address, None, spec.effective_convention, ring)
        return dataclasses.replace(plan, skip=_real_proxy_skip(scenario, plan))
    profile = _profile(scenario, options.profile)
    plan = Plan(target, spool, kind, None, profile, profile.convention, ring)
    if target is not None and scenario.pbx is not None:
        plan = dataclasses.replace(
            plan, skip="the PBX's SMDI line reaches the embedded voicemail server only"
        )
    return plan


def _profile(scenario: Scenario, override: str | None) -> ProxyProfile:
    """The simulated proxy's profile: the named one (the option's, else the scenario's) with
    the scenario's quirks added, and the scenario's convention when it names one (a library
    scenario keeps its convention whatever profile it runs with)."""
    spec = scenario.proxy
    name = override or spec.profile
    base = ProxyProfile() if name is None else profiles.load_profile(name)
    given = "convention" in spec.model_fields_set or name is None
    convention = spec.effective_convention if given else base.convention
    return dataclasses.replace(base.with_quirks(*spec.quirks), convention=convention)


def _real_proxy_skip(scenario: Scenario, plan: Plan) -> str | None:
    """Why ``scenario`` cannot run with a real proxy, if it cannot."""
    spec = scenario.proxy
    shaped = [quirk if isinstance(quirk, str) else next(iter(quirk)) for quirk in spec.quirks]
    if spec.profile:
        shaped.append(f"profile {Path(spec.profile).stem}")
    if shaped:
        return (
            f"needs the simulated proxy ({', '.join(shaped)}); a real proxy behaves as it is "
            "configured"
        )
    for _, step, _ in walk_steps(scenario.steps):
        if isinstance(step, DepositStep) and step.reason is Reason.UNCONDITIONAL:
            return "forwards unconditionally, which only the simulated proxy can be told to do"
    if plan.target is not None and scenario.pbx is not None:
        return "the PBX's SMDI line reaches the embedded voicemail server only"
    if plan.proxy != "kamailio":
        return None
    if plan.convention not in KAMAILIO_CONVENTIONS:
        return (
            f"the Kamailio config has no {plan.convention} variant "
            f"(it has {', '.join(KAMAILIO_CONVENTIONS)})"
        )
    try:
        find_kamailio()
    except KamailioError as error:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            raise
        return str(error)
    return None


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
    #: The voicemail server: ``embedded`` or ``sip:HOST:PORT``.
    target: str = "embedded"
    convention: str = "x-voicemail"
    #: What crossed the SMDI line, as the simulated PBX saw it.
    smdi: tuple[SmdiFrame, ...] = ()
    #: The proxy: ``simulator``, ``kamailio`` or ``sip:HOST:PORT``.
    proxy: str = "simulator"
    #: The simulated proxy's profile name and quirks.
    profile: str | None = None
    quirks: tuple[str, ...] = ()
    #: Parties the harness does not run, by address (``proxy``, ``voicemail``).
    parties: tuple[tuple[Peer, str], ...] = ()
    #: Reception statistics of every RTP stream of the run, taken as each call ended.
    rtp: tuple[RtpStream, ...] = ()
    #: How long each iteration of the run's ``repeat`` steps took.
    latency: tuple[LatencySample, ...] = ()

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
    plan: Plan
    proxy: ProxyParty
    target: Target
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
    #: Per phone, its live message-summary subscription.
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    #: RTP statistics of the calls that ended.
    rtp: list[RtpStream] = field(default_factory=list)
    #: Durations of ``repeat`` iterations.
    latency: list[LatencySample] = field(default_factory=list)
    #: Wire log position where the steps began: ``expect_sip`` looks from there.
    steps_start: int = 0
    #: Requests an ``expect_sip`` matched already (:attr:`Crossing.key`).
    sip_matched: set[tuple[str, str, str, str, str]] = field(default_factory=set)
    #: Addresses of parties the harness does not run.
    parties: dict[Peer, str] = field(default_factory=dict)
    view: WireView = field(init=False)
    _hung_up: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.view = WireView(self.wire, self.parties)

    @property
    def sim(self) -> SimProxy | None:
        """The simulated proxy, when the proxy is the simulator."""
        return self.proxy.sim

    @property
    def spool(self) -> Spool | None:
        """The voicemail server's spool, when the harness can read it."""
        return self.target.spool_reader

    def now(self) -> float:
        """The loop clock."""
        return asyncio.get_running_loop().time()

    def phone_for(self, mailbox: MailboxId) -> Phone | None:
        """The declared phone whose mailbox is ``mailbox``."""
        for spec in self.scenario.every_phone:
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

    async def hang_up(self, call: Call) -> Response | None:
        """Hang ``call`` up (BYE unless the far end did) and keep its RTP statistics; once."""
        if call.dialog.call_id in self._hung_up:
            return None
        self._hung_up.add(call.dialog.call_id)
        self.rtp.append(rtp_stream(call.phone.transport.party, call.rtp, call.dialog.call_id))
        try:
            return await call.hangup()
        except TransactionFailed:
            return None

    def media_closed(self, call_id: str, session: RtpSession) -> None:
        """The voicemail server's hook: keep the statistics of a call's media as it ends."""
        self.rtp.append(rtp_stream("voicemail", session, call_id))

    async def close(self) -> None:
        """Stop every party."""
        for phone in [*self.phones.values(), *self.callers.values()]:
            for call in list(phone.calls.values()):
                if call.dialog.call_id not in self._hung_up:
                    self.rtp.append(
                        rtp_stream(phone.transport.party, call.rtp, call.dialog.call_id)
                    )
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


def _proxy_party(
    plan: Plan, mailboxes: dict[str, MailboxId], options: RunOptions, log_name: str
) -> ProxyParty:
    if plan.proxy == "kamailio":
        log_dir = None if options.log_dir is None else options.log_dir / log_name
        variant: KamailioConvention = (
            "diversion" if plan.convention == "diversion" else "x-voicemail"
        )
        return KamailioProxy(variant, ring=plan.ring, log_dir=log_dir)
    if plan.proxy == "external" and plan.proxy_address is not None:
        return ExternalProxy(plan.proxy_address)
    return SimulatedProxy(plan.profile or ProxyProfile(), mailboxes, port=options.proxy_port)


async def build_testbed(
    scenario: Scenario,
    options: RunOptions | None = None,
    plan: Plan | None = None,
    path: Path | None = None,
) -> Testbed:
    """Start the proxy, the voicemail server and the phones of ``scenario``, as ``plan`` (by
    default the plan under ``options``) says."""
    options = options or RunOptions()
    plan = plan or plan_run(scenario, options)
    mailboxes = {
        spec.user: owned.id for spec in scenario.every_phone if (owned := scenario.mailbox_of(spec))
    }
    # The scenario's folder and file: two files of one name in two folders keep two logs.
    log_name = "-".join(path.with_suffix("").parts[-2:]) if path is not None else "scenario"
    proxy = _proxy_party(plan, mailboxes, options, log_name)
    target: Target
    line: PtyPair | None = None
    if plan.target is not None:
        target = ExternalTarget(plan.target, plan.target_spool)
    else:
        line = open_pty_pair() if scenario.pbx is not None else None
        target = EmbeddedTarget(
            [MailboxEntry(box.id, box.pin, box.name or "") for box in scenario.every_mailbox],
            [
                PeerEntry(spec.user, mailboxes[spec.user], spec.dtmf)
                for spec in scenario.every_phone
                if spec.user in mailboxes
            ],
            router=Router()
            if scenario.target.conventions is None
            else Router.of(scenario.target.conventions),
            port=options.voicemail_port,
            # A proxy under test may forward over TCP; the simulator does with this quirk.
            tcp=plan.proxy == "external"
            or (plan.profile is not None and plan.profile.has("tcp-to-voicemail")),
            smdi=None
            if line is None or scenario.pbx is None
            else _smdi_entry(scenario.pbx, line.slave_path),
        )
    parties: dict[Peer, str] = {}
    if plan.proxy != "simulator":
        parties[proxy.address] = "proxy"
    if plan.target is not None:
        parties[plan.target] = "voicemail"
    phones: dict[str, Phone] = {}
    bed = Testbed(scenario, plan, proxy, target, phones, line=line, parties=parties)
    try:
        proxy.subscribe(bed.wire.append)
        try:
            address = await proxy.bind()
            voicemail = await target.start(address)
        except OSError as error:
            raise StepFailed(f"cannot open a SIP port: {error}") from None
        server = target.server
        if server is not None:
            server.transport.subscribe(bed.wire.append)
            server.on_media_closed = bed.media_closed
        try:
            await proxy.start(voicemail)
        except KamailioError as error:
            raise StepFailed(f"Kamailio did not start: {error}") from None
        if line is not None and scenario.pbx is not None:
            if server is None or server.smdi is None:
                raise StepFailed(
                    f"the voicemail server did not open its SMDI port {line.slave_path}"
                )
            bed.pbx = SimPbx(
                line.master_fd,
                scenario.pbx.settings,
                msdstrip=scenario.pbx.msdstrip,
                pacing=scenario.pbx.pacing,
                proxy=address,
                errors=scenario.pbx.errors,
                on_wire=bed.wire.append,
            )
            await bed.pbx.start()
        await _start_phones(bed, address)
        await _settle(bed)
    except BaseException:
        await bed.close()
        raise
    start = bed.now()
    bed.cursors = {user: start for user in phones}
    bed.steps_start = len(bed.wire)
    return bed


async def _start_phones(bed: Testbed, proxy: Peer) -> None:
    """Start every declared phone and register those declared registered, some at a time."""
    gate = asyncio.Semaphore(_REGISTER_AT_ONCE)

    async def start(user: str, password: str | None, registered: bool) -> None:
        async with gate:
            phone = Phone(user, proxy)
            phone.transport.subscribe(bed.wire.append)
            await phone.start()
            bed.phones[user] = phone
            if not registered:
                return
            try:
                response = await register_phone(phone, password=password)
            except TransactionFailed:
                raise StepFailed(f"phone {user}: the proxy did not answer its REGISTER") from None
            if response.status != 200:
                hint = (
                    "; the proxy asks for digest credentials: give the phone a password"
                    if response.status in (401, 407) and password is None
                    else ""
                )
                raise StepFailed(
                    f"phone {user} could not register at the proxy: "
                    f"{response.status} {response.reason}{hint}"
                )

    await asyncio.gather(
        *(start(spec.user, spec.password, spec.registered) for spec in bed.scenario.every_phone)
    )


async def _settle(bed: Testbed) -> None:
    """Let the embedded server's start-up NOTIFYs be answered, so steps see only their own."""
    server = bed.target.server
    if server is None or server.notifier is None:
        return
    deadline = bed.now() + _SETTLE_SECONDS
    while server.notifier.pending() and bed.now() < deadline:
        await asyncio.sleep(0.02)


async def run_scenario(
    scenario: Scenario, path: Path | None = None, options: RunOptions | None = None
) -> ScenarioOutcome:
    """Run ``scenario`` as ``options`` say; never raises for a failed or skipped step."""
    started = time.time()
    outcomes: list[StepOutcome] = []
    try:
        plan = plan_run(scenario, options)
    except (ValueError, KamailioError) as error:
        outcome = StepOutcome(0, "setup", "failed", str(error), started, time.time())
        return ScenarioOutcome(scenario.name, path, (outcome,), (), started, time.time())
    if plan.skip is not None:
        outcome = StepOutcome(0, "setup", "skipped", plan.skip, started, time.time())
        return _outcome(scenario, path, plan, (outcome,), started)
    try:
        bed = await build_testbed(scenario, options, plan, path)
    except StepFailed as failure:
        outcome = StepOutcome(0, "setup", "failed", str(failure), started, time.time())
        return _outcome(scenario, path, plan, (outcome,), started)
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
    return _outcome(scenario, path, plan, tuple(outcomes), started, bed=bed)


def _outcome(
    scenario: Scenario,
    path: Path | None,
    plan: Plan,
    steps: tuple[StepOutcome, ...],
    started: float,
    *,
    bed: Testbed | None = None,
) -> ScenarioOutcome:
    return ScenarioOutcome(
        scenario.name,
        path,
        steps,
        () if bed is None else tuple(bed.wire),
        started,
        time.time(),
        target=plan.target_name,
        convention=plan.convention,
        smdi=() if bed is None else bed.smdi_frames(),
        proxy=plan.proxy_name,
        profile=None if plan.profile is None else plan.profile.name,
        quirks=plan.quirks,
        parties=() if bed is None else tuple(bed.parties.items()),
        rtp=() if bed is None else tuple(bed.rtp),
        latency=() if bed is None else tuple(bed.latency),
    )
