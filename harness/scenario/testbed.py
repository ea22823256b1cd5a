"""The testbed of one scenario run: its parties, started and wired together, and the little
state steps hand on to later steps.

The parties (the proxy, the voicemail server, a simulated phone per declared phone, the PBX on
an SMDI line) are fixed once :func:`build_testbed` returns. What steps change is narrow and
named: the wire log the parties feed, calls hung up (their RTP statistics and what they heard),
live subscriptions, the NOTIFY, SMDI and ``expect_sip`` positions already used, and latency
samples. Every time is the running loop's; :attr:`Testbed.clock` dates them for the outcome.
"""

from __future__ import annotations

import asyncio
import os
import tty
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from harness.core.mailbox import MailboxId
from harness.core.routing import Convention, Router
from harness.media.session import RtpSession
from harness.media.sounds import prompt_library
from harness.peers.kamailio import KamailioConvention, KamailioError
from harness.report.records import ClockAnchor, LatencySample, RtpStream, SmdiFrame, rtp_stream
from harness.scenario.model import Scenario
from harness.scenario.plan import Plan, RunOptions, plan_run
from harness.scenario.step import StepFailed
from harness.scenario.steps.registration import register_phone
from harness.scenario.topology import PbxSpec
from harness.scenario.wire import WireView
from harness.sim.pbx import SimPbx
from harness.sim.phone import Call, Phone, Subscription
from harness.sim.profiles import ProxyProfile
from harness.sip.message import Request, Response
from harness.sip.transaction import Peer
from harness.sip.transport import TransactionFailed, WireMessage
from harness.smdi.link import PtyPair, open_pty_pair
from harness.targets import (
    AsteriskTarget,
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
    TargetStartError,
)

if TYPE_CHECKING:
    from harness.scenario.listen_back import Deposited

#: Phones register this many at a time (a load topology declares hundreds).
_REGISTER_AT_ONCE = 50
#: Seconds the start-up NOTIFYs of the voicemail server may take to be answered.
_SETTLE_SECONDS = 5.0
#: Seconds without a NOTIFY after which a server the harness cannot ask counts as settled.
_QUIET_SECONDS = 0.5


class Testbed:
    """The parties of one scenario run and what its steps hand on to later steps."""

    def __init__(
        self,
        scenario: Scenario,
        plan: Plan,
        proxy: ProxyParty,
        target: Target,
        *,
        parties: Mapping[Peer, str],
        clock: ClockAnchor,
    ) -> None:
        self.scenario = scenario
        self.plan = plan
        self.proxy = proxy
        self.target = target
        #: The run's anchor: dates the loop times of the run.
        self.clock = clock
        self._parties = dict(parties)
        self._wire: list[WireMessage] = []
        #: The wire log, read as crossings between named parties.
        self.view = WireView(self._wire, self._parties)
        self._phones: dict[str, Phone] = {}
        self._callers: dict[str, Phone] = {}
        self._pbx: SimPbx | None = None
        self._line: PtyPair | None = None
        self._steps_start = 0
        self._notify_cursors: dict[str, float] = {}
        self._subscriptions: dict[str, Subscription] = {}
        self._heard: dict[str, tuple[str, ...]] = {}
        self._hung_up: set[str] = set()
        self._rtp: list[RtpStream] = []
        self._smdi_cursor = 0
        self._matched: set[tuple[str, str, str, str, str]] = set()
        self._latency: list[tuple[float, float]] = []
        #: Deposits only listening can check (the target's spool cannot be read).
        self.deposited: list[Deposited] = []

    # -- the parties -------------------------------------------------------------------------

    @property
    def phones(self) -> Mapping[str, Phone]:
        """The declared phones by user."""
        return MappingProxyType(self._phones)

    @property
    def pbx(self) -> SimPbx | None:
        """The simulated PBX on the SMDI line, if the topology has one."""
        return self._pbx

    @property
    def parties(self) -> Mapping[Peer, str]:
        """Addresses of parties the harness does not run."""
        return MappingProxyType(self._parties)

    def phone(self, user: str) -> Phone:
        """The declared phone ``user``."""
        return self._phones[user]

    def phone_for(self, mailbox: MailboxId) -> Phone | None:
        """The declared phone whose mailbox is ``mailbox``."""
        for spec in self.scenario.every_phone:
            owned = self.scenario.mailbox_of(spec)
            if owned is not None and owned.id == mailbox:
                return self._phones[spec.user]
        return None

    async def caller(self, number: str) -> Phone:
        """An unregistered phone calling from ``number`` (made on first use)."""
        phone = self._callers.get(number)
        if phone is None:
            phone = Phone(number, self.proxy.address, clock_origin=self.clock.loop)
            phone.transport.subscribe(self.record)
            await phone.start()
            self._callers[number] = phone
        return phone

    def now(self) -> float:
        """The loop clock."""
        return asyncio.get_running_loop().time()

    # -- the wire ----------------------------------------------------------------------------

    def record(self, message: WireMessage) -> None:
        """The parties' observer: add ``message`` to the wire log."""
        self._wire.append(message)

    @property
    def wire(self) -> tuple[WireMessage, ...]:
        """The wire log so far."""
        return tuple(self._wire)

    def mark(self) -> int:
        """The wire log's position now: what a step's failure story reads from."""
        return len(self._wire)

    @property
    def steps_start(self) -> int:
        """The wire position where the steps began: ``expect_sip`` looks from there."""
        return self._steps_start

    def was_matched(self, key: tuple[str, str, str, str, str]) -> bool:
        """Whether an ``expect_sip`` matched the message of :attr:`Crossing.key` ``key``."""
        return key in self._matched

    def claim_match(self, key: tuple[str, str, str, str, str]) -> None:
        """Mark the message of ``key`` matched: no later ``expect_sip`` matches it again."""
        self._matched.add(key)

    # -- calls -------------------------------------------------------------------------------

    async def hang_up(self, call: Call) -> Response | None:
        """Hang ``call`` up (BYE unless the far end did), keeping its RTP statistics and what
        its phone heard; once."""
        if call.dialog.call_id in self._hung_up:
            return None
        self._hung_up.add(call.dialog.call_id)
        self._rtp.append(rtp_stream(call.phone.transport.party, call.rtp, call.dialog.call_id))
        try:
            return await call.hangup()
        except TransactionFailed:
            return None
        finally:
            self._heard[call.phone.user] = tuple(call.heard_prompts())

    def last_heard(self, user: str) -> tuple[str, ...] | None:
        """The prompts the last call of phone ``user`` a step hung up heard (None: no call)."""
        return self._heard.get(user)

    def _media_closed(self, call_id: str, session: RtpSession) -> None:
        self._rtp.append(rtp_stream("voicemail", session, call_id))

    # -- message waiting ---------------------------------------------------------------------

    def notify_cursor(self, user: str) -> float:
        """The loop time after which phone ``user``'s next NOTIFY expectation looks."""
        return self._notify_cursors[user]

    def move_notify_cursor(self, user: str, at: float) -> None:
        """Have phone ``user``'s next NOTIFY expectation look after loop time ``at``."""
        self._notify_cursors[user] = at

    def keep_subscription(self, user: str, subscription: Subscription) -> None:
        """Phone ``user``'s live message-summary subscription."""
        self._subscriptions[user] = subscription

    def end_subscription(self, user: str) -> Subscription | None:
        """Phone ``user``'s live subscription, forgotten here (None if it has none)."""
        return self._subscriptions.pop(user, None)

    # -- SMDI --------------------------------------------------------------------------------

    @property
    def smdi_cursor(self) -> int:
        """The SMDI line record after which the next ``expect_smdi`` looks."""
        return self._smdi_cursor

    def move_smdi_cursor(self, position: int) -> None:
        """Have the next ``expect_smdi`` look from line record ``position``."""
        self._smdi_cursor = position

    # -- load --------------------------------------------------------------------------------

    def record_latency(self, started: float, duration: float) -> None:
        """A ``repeat`` iteration that began at loop time ``started`` took ``duration`` s."""
        self._latency.append((started, duration))

    # -- the outcome -------------------------------------------------------------------------

    def rtp_streams(self) -> tuple[RtpStream, ...]:
        """RTP statistics of the calls that ended."""
        return tuple(self._rtp)

    def latency_samples(self) -> tuple[LatencySample, ...]:
        """The ``repeat`` iterations' durations, dated."""
        return tuple(LatencySample(self.clock.date(at), took) for at, took in self._latency)

    def smdi_frames(self) -> tuple[SmdiFrame, ...]:
        """The SMDI line as the PBX saw it, dated."""
        if self._pbx is None:
            return ()
        return tuple(
            SmdiFrame("pbx", record.kind, record.direction, record.data, self.clock.date(record.at))
            for record in self._pbx.line
        )

    async def close(self) -> None:
        """Stop every party (the phones first, each removing its binding at the proxy)."""
        phones = [*self._phones.values(), *self._callers.values()]
        for phone in phones:
            for call in list(phone.calls.values()):
                if call.dialog.call_id not in self._hung_up:
                    self._rtp.append(
                        rtp_stream(phone.transport.party, call.rtp, call.dialog.call_id)
                    )
        # At once: a proxy that stopped answering costs one unregister timeout, not one each.
        await asyncio.gather(*(phone.close() for phone in phones))
        if self._pbx is not None:
            await self._pbx.close()
        await self.target.close()
        await self.proxy.close()
        if self._line is not None:
            self._line.close()

    # -- building ----------------------------------------------------------------------------

    async def start(self, line: PtyPair | None) -> None:
        """Bind the proxy, start the voicemail server, the proxy, the PBX (on ``line``) and the
        phones, and let the server settle: :func:`build_testbed` does, once."""
        self._line = line
        self.proxy.subscribe(self.record)
        self.target.subscribe(self.record)
        self.target.on_media_closed(self._media_closed)
        try:
            address = await self.proxy.bind()
            voicemail = await self.target.start(address)
        except OSError as error:
            raise StepFailed(f"cannot open a SIP port: {error}") from None
        except TargetStartError as error:
            raise StepFailed(str(error)) from None
        try:
            await self.proxy.start(voicemail)
        except KamailioError as error:
            raise StepFailed(f"Kamailio did not start: {error}") from None
        pbx = self.scenario.pbx
        if line is not None and pbx is not None:
            await self._start_pbx(pbx, line, address)
        await self._start_phones(address)
        await self.target.settle(_SETTLE_SECONDS)
        if isinstance(self.target, ExternalTarget | AsteriskTarget):
            await self._settle_notifies(_SETTLE_SECONDS)
        start = self.now()
        self._notify_cursors = {user: start for user in self._phones}
        self._steps_start = self.mark()

    async def _settle_notifies(self, within: float) -> None:
        """Wait (at most ``within`` seconds) until the voicemail server has sent no NOTIFY for
        :data:`_QUIET_SECONDS`: what a server the harness cannot ask sends at start-up or
        after its reset (retransmissions included) lands before the steps, not in them."""
        deadline = self.now() + within
        last = self.now()
        seen = self.mark()
        while self.now() < deadline:
            await asyncio.sleep(0.05)
            if any(
                crossing.sender == "voicemail"
                and isinstance(crossing.message, Request)
                and crossing.message.method == "NOTIFY"
                for crossing in self.view.crossings(seen)
            ):
                last = self.now()
            seen = self.mark()
            if self.now() - last >= _QUIET_SECONDS:
                return

    async def _start_pbx(self, pbx: PbxSpec, line: PtyPair, proxy: Peer) -> None:
        if self.target.smdi_port is None:
            raise StepFailed(f"the voicemail server did not open its SMDI port {line.slave_path}")
        self._pbx = SimPbx(
            line.master_fd,
            pbx.settings,
            msdstrip=pbx.msdstrip,
            pacing=pbx.pacing,
            proxy=proxy,
            errors=pbx.errors,
            on_wire=self.record,
        )
        await self._pbx.start()

    async def _start_phones(self, proxy: Peer) -> None:
        """Start every declared phone and register those declared registered, some at a time."""
        gate = asyncio.Semaphore(_REGISTER_AT_ONCE)

        site = self.plan.site

        async def start(user: str, password: str | None, registered: bool) -> None:
            async with gate:
                phone = Phone(user, proxy, clock_origin=self.clock.loop)
                phone.transport.subscribe(self.record)
                await phone.start()
                self._phones[user] = phone
                if site is not None:
                    phone.expires = site.phones.expires
                    password = password or site.phones.password
                    await _clear_stale(phone, password, site.phones.clear_stale_bindings)
                if registered:
                    await _register(phone, password)

        await asyncio.gather(
            *(
                start(spec.user, spec.password, spec.registered)
                for spec in self.scenario.every_phone
            )
        )


async def _clear_stale(phone: Phone, password: str | None, permitted: bool) -> None:
    """Remove the bindings earlier runs (or anything else) left for the phone's number, when
    the site permits; StepFailed when the proxy refuses."""
    if not permitted:
        return
    phone.password = password
    try:
        response = await phone.clear_bindings()
    except TransactionFailed:
        raise StepFailed(
            f"phone {phone.user}: the proxy did not answer the REGISTER that clears its stale "
            "bindings"
        ) from None
    if response.status != 200:
        raise StepFailed(
            f"phone {phone.user}: the proxy answered {response.status} {response.reason} to the "
            "REGISTER that clears its stale bindings (Contact: *)"
        )


async def _register(phone: Phone, password: str | None) -> None:
    """Register a phone before the first step; StepFailed saying why it could not."""
    try:
        response = await register_phone(phone, password=password)
    except TransactionFailed:
        raise StepFailed(f"phone {phone.user}: the proxy did not answer its REGISTER") from None
    if response.status != 200:
        hint = (
            "; the proxy asks for digest credentials: give the phone a password"
            if response.status in (401, 407) and password is None
            else ""
        )
        raise StepFailed(
            f"phone {phone.user} could not register at the proxy: "
            f"{response.status} {response.reason}{hint}"
        )


def _smdi_entry(pbx: PbxSpec, port: str, key: str) -> SmdiEntry:
    """The smdi.conf and server options for the scenario's PBX on ``port``, its calls looked
    up by ``key``."""
    return SmdiEntry.of(
        port,
        pbx.settings,
        msdstrip=pbx.msdstrip,
        msgexpirytime=pbx.msgexpirytime,
        stations=tuple(pbx.stations.items()),
        search=pbx.search,
        timeout=pbx.timeout / 1000,
        pacing=pbx.pacing,
        key=key,
    )


def _proxy_party(
    plan: Plan, mailboxes: dict[str, MailboxId], options: RunOptions, log_name: str
) -> ProxyParty:
    if plan.proxy == "kamailio":
        log_dir = None if options.log_dir is None else options.log_dir / log_name
        variant: KamailioConvention = (
            Convention.DIVERSION
            if plan.convention == Convention.DIVERSION
            else Convention.X_VOICEMAIL
        )
        return KamailioProxy(variant, ring=plan.ring, log_dir=log_dir)
    if plan.proxy == "external" and plan.proxy_address is not None:
        return ExternalProxy(plan.proxy_address)
    return SimulatedProxy(plan.profile or ProxyProfile(), mailboxes, port=options.proxy_port)


def _target(
    scenario: Scenario,
    plan: Plan,
    mailboxes: dict[str, MailboxId],
    options: RunOptions,
    line: PtyPair | None,
    *,
    log_name: str,
) -> Target:
    """The voicemail server of the run: the external one, else the embedded one configured
    for the scenario (with the PBX's SMDI line, if any)."""
    if plan.target is not None:
        described = plan.target_file
        if described is None:
            return ExternalTarget(plan.target, plan.target_spool)
        return ExternalTarget(
            plan.target,
            plan.target_spool,
            reset=described.reset,
            reset_dir=described.path.resolve().parent,
            smdi_line=described.smdi,
        )
    if plan.asterisk:
        logs = options.asterisk_log_dir
        return _asterisk_target(scenario, plan, mailboxes, line, logs and logs / log_name)
    return EmbeddedTarget(
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
        else _smdi_entry(scenario.pbx, line.slave_path, scenario.target.smdi_key),
        realtime=options.realtime or scenario.target.realtime,
        prompts=prompt_library(scenario.target.prompts),
        sip_general={
            "mwi_notify_branch": scenario.target.mwi_notify_branch,
            "register_static_peer": scenario.target.register_static_peer,
        },
    )


def _smdi_line(scenario: Scenario, plan: Plan) -> PtyPair | None:
    """The serial line the PBX is on: a pty pair whose other end the harness's server opens,
    or the PBX end of an external target's line (its target file names it)."""
    if scenario.pbx is None:
        return None
    if plan.target is None:
        return open_pty_pair()
    device = None if plan.target_file is None else plan.target_file.smdi
    if device is None:
        return None
    try:
        fd = os.open(device, os.O_RDWR | os.O_NOCTTY)
    except OSError as error:
        raise StepFailed(f"cannot open the target's SMDI line {device}: {error}") from None
    tty.setraw(fd)
    # The server holds the line's other end; the pair's second descriptor is a duplicate, so
    # closing the pair closes what was opened here.
    return PtyPair(fd, os.dup(fd), str(device))


def _asterisk_target(
    scenario: Scenario,
    plan: Plan,
    mailboxes: dict[str, MailboxId],
    line: PtyPair | None,
    log_dir: Path | None,
) -> AsteriskTarget:
    """An Asterisk configured for the scenario as the embedded server would be."""
    return AsteriskTarget(
        [MailboxEntry(box.id, box.pin, box.name or "") for box in scenario.every_mailbox],
        [
            PeerEntry(spec.user, mailboxes[spec.user], spec.dtmf)
            for spec in scenario.every_phone
            if spec.user in mailboxes
        ],
        router=None
        if scenario.target.conventions is None
        else Router.of(scenario.target.conventions),
        smdi=None
        if line is None or scenario.pbx is None
        else _smdi_entry(scenario.pbx, line.slave_path, scenario.target.smdi_key),
        tcp=plan.proxy == "external"
        or (plan.profile is not None and plan.profile.has("tcp-to-voicemail")),
        binary=plan.asterisk_binary,
        log_dir=log_dir,
    )


async def build_testbed(
    scenario: Scenario,
    options: RunOptions | None = None,
    plan: Plan | None = None,
    path: Path | None = None,
    clock: ClockAnchor | None = None,
) -> Testbed:
    """Start the proxy, the voicemail server and the phones of ``scenario``, as ``plan`` (by
    default the plan under ``options``) says; ``clock`` is the run's anchor (by default, now)."""
    options = options or RunOptions()
    plan = plan or plan_run(scenario, options)
    mailboxes = {
        spec.user: owned.id for spec in scenario.every_phone if (owned := scenario.mailbox_of(spec))
    }
    # The scenario's folder and file: two files of one name in two folders keep two logs.
    log_name = "-".join(path.with_suffix("").parts[-2:]) if path is not None else "scenario"
    proxy = _proxy_party(plan, mailboxes, options, log_name)
    line = _smdi_line(scenario, plan)
    target = _target(scenario, plan, mailboxes, options, line, log_name=log_name)
    parties: dict[Peer, str] = {}
    if plan.proxy != "simulator":
        parties[proxy.address] = "proxy"
    if plan.target is not None:
        parties[plan.target] = "voicemail"
    if isinstance(target, AsteriskTarget):
        parties[target.address] = "voicemail"
    bed = Testbed(scenario, plan, proxy, target, parties=parties, clock=clock or ClockAnchor.now())
    try:
        await bed.start(line)
    except BaseException:
        await bed.close()
        raise
    return bed
