"""How a scenario runs: on which voicemail server, behind which proxy, as the user chose.

:class:`RunOptions` are the user's choices (``vmharness run``, the pytest options); the
:class:`Plan` of one scenario is made from them and the scenario:

- the voicemail server is the embedded one (configured for the scenario), or an external one
  at ``sip:HOST:PORT`` whose configuration must match the scenario (white-box steps are
  skipped unless its spool can be read);
- the proxy is the simulator shaped by a profile, a Kamailio the harness starts for the run,
  or a proxy under test at ``sip:HOST:PORT`` (the embedded server then listens on the port
  its configuration names, ``voicemail_port``).

A scenario the plan cannot run (a PBX with a foreign server, quirks with a real proxy) is
skipped with the reason.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.peers.asterisk import AsteriskError, find_asterisk, find_sounds
from harness.peers.kamailio import CONVENTIONS as KAMAILIO_CONVENTIONS
from harness.peers.kamailio import KamailioError, find_kamailio
from harness.scenario.model import Scenario
from harness.scenario.registry import SimulatorUse
from harness.scenario.site import Site, site_skip
from harness.scenario.target_file import TargetFile
from harness.sim import profiles
from harness.sim.profiles import ProxyProfile
from harness.sip.transaction import Peer
from harness.targets import sip_address, sip_peer

#: Seconds a phone rings at a harness-run Kamailio before the call goes to voicemail.
DEFAULT_RING = 1.0
#: The number a phone dials to reach its voicemail menu, unless the site names another.
DEFAULT_ACCESS_CODE = "*97"
#: The tag of the scenarios that judge a deployment: they run only against a site, whose rules
#: (which outcomes are forwarded, the access code, the budget) they take as expectations.
CONFORMANCE_TAG = "conformance"


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Where scenarios run, as the user chose (``vmharness run``, the pytest options).

    None leaves the choice to each scenario (its ``target:`` and ``proxy:``), else the
    embedded server and the simulator.
    """

    #: ``embedded``, ``asterisk`` or ``sip:HOST:PORT``.
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
    #: The Asterisk binary of ``--target asterisk`` (None: on PATH, else the build cache).
    asterisk: Path | None = None
    #: Where a harness-run Asterisk keeps its logs (inside, ``<folder>-<file>/`` per scenario).
    asterisk_log_dir: Path | None = None
    #: What the external target has (``--target-file``): scenarios it cannot serve are skipped.
    target_file: TargetFile | None = None
    #: The deployment under test (``--site``): scenarios that do not apply to it are skipped.
    site: Site | None = None

    @classmethod
    def for_site(cls, site: Site, log_dir: Path | None = None) -> RunOptions:
        """The options that run scenarios against ``site``'s proxy and voicemail server."""
        voicemail = site.voicemail
        return cls(
            target=voicemail.address,
            target_spool=voicemail.spool,
            proxy=site.proxy.address,
            voicemail_port=voicemail.port or 0,
            log_dir=log_dir,
            site=site,
        )

    #: ``sqlite``: the embedded server reads mailboxes and peers from a database (None: as
    #: each scenario's ``target: {realtime: …}`` says).
    realtime: Literal["sqlite"] | None = None

    def __post_init__(self) -> None:
        if self.target is not None and self.target not in ("embedded", "asterisk"):
            _address(self.target, "--target", "embedded, asterisk or sip:HOST:PORT")
        if self.proxy is not None and self.proxy not in ("simulator", "kamailio"):
            _address(self.proxy, "--proxy", "simulator, kamailio or sip:HOST:PORT")
        if self.profile is not None and self.proxy not in (None, "simulator"):
            raise ValueError(
                f"--proxy-profile shapes the simulated proxy; --proxy {self.proxy} is a real one"
            )
        if self.profile is not None:
            profiles.load_profile(self.profile)
        if self.target_file is not None and not (self.target or "").startswith("sip:"):
            raise ValueError(
                "--target-file describes a voicemail server the harness does not run; give "
                "its address with --target sip:HOST:PORT"
            )
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
    #: Whether the voicemail server is an Asterisk the harness runs (``target`` is then None).
    asterisk: bool = False
    #: That Asterisk's binary (None: on PATH, else the build cache).
    asterisk_binary: Path | None = None
    #: What the external target has, when its owner said (``--target-file``).
    target_file: TargetFile | None = None
    #: The deployment under test, when the run names one.
    site: Site | None = None

    @property
    def access_code(self) -> str:
        """The number a phone dials to reach its voicemail menu."""
        if self.site is None or self.site.retrieval is None:
            return DEFAULT_ACCESS_CODE
        return self.site.retrieval.access_code

    @property
    def target_name(self) -> str:
        """``embedded``, ``asterisk`` or ``sip:HOST:PORT``."""
        if self.asterisk:
            return "asterisk"
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
        target = self.target_name.removeprefix("sip:")
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
    plan = _plan(scenario, options)
    plan = _with_site(scenario, plan, options.site)
    if options.target_file is not None:
        return _with_target_file(scenario, plan, options.target_file)
    if options.target != "asterisk":
        return plan
    plan = dataclasses.replace(plan, asterisk=True, asterisk_binary=options.asterisk)
    if plan.skip is not None:
        return plan
    return dataclasses.replace(plan, skip=_asterisk_skip(options))


def _with_site(scenario: Scenario, plan: Plan, site: Site | None) -> Plan:
    """The plan for the deployment under test: what does not apply to it is skipped, and a
    conformance scenario is skipped without one."""
    if site is None:
        if CONFORMANCE_TAG in scenario.tags and plan.skip is None:
            return dataclasses.replace(plan, skip="a conformance scenario needs a site (--site)")
        return plan
    return dataclasses.replace(plan, site=site, skip=plan.skip or site_skip(scenario, site))


def _with_target_file(scenario: Scenario, plan: Plan, described: TargetFile) -> Plan:
    """The plan against an external target whose file says what it has: its spool (unless
    given otherwise), its SMDI line, and a skip for what it lacks."""
    plan = dataclasses.replace(
        plan, target_file=described, target_spool=plan.target_spool or described.spool
    )
    if scenario.pbx is not None and described.smdi is not None and plan.proxy == "simulator":
        # The PBX can be wired to the target's line: the default skip does not hold.
        plan = dataclasses.replace(plan, skip=None)
    if plan.skip is not None:
        return plan
    return dataclasses.replace(plan, skip=described.missing(scenario, plan.convention))


def _asterisk_skip(options: RunOptions) -> str | None:
    """Why Asterisk cannot run here (None: it can); AsteriskError under ``CI=true``."""
    try:
        find_asterisk(options.asterisk)
        find_sounds()
    except AsteriskError as error:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            raise
        return str(error)
    return None


def _plan(scenario: Scenario, options: RunOptions) -> Plan:
    target: Peer | None = None
    if options.target is not None:
        target = None if options.target in ("embedded", "asterisk") else sip_peer(options.target)
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
        skip = _real_proxy_skip(scenario, plan, site=options.site is not None)
        return dataclasses.replace(plan, skip=skip)
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
    profile = dataclasses.replace(base.with_quirks(*spec.quirks), convention=convention)
    if spec.replicate_register is not None:
        profile = dataclasses.replace(profile, replicate_register=spec.replicate_register)
    return profile


def _plain_proxy(profile: str) -> bool:
    """Whether the profile ``profile`` is a plain proxy (the default simulator under another
    name, like ``generic``): what any real proxy is expected to do, so no reason to skip."""
    default = ProxyProfile()
    try:
        loaded = profiles.load_profile(profile)
    except ValueError:
        return False
    same = dataclasses.replace(
        loaded, name=default.name, description=default.description, convention=default.convention
    )
    return same == default


def _real_proxy_skip(scenario: Scenario, plan: Plan, *, site: bool = False) -> str | None:
    """Why ``scenario`` cannot run with a real proxy, if it cannot. With a ``site`` (which
    says what the proxy does), a plain profile such as ``generic`` is no reason."""
    spec = scenario.proxy
    shaped = [quirk if isinstance(quirk, str) else next(iter(quirk)) for quirk in spec.quirks]
    if spec.profile and not (site and _plain_proxy(spec.profile)):
        shaped.append(f"profile {Path(spec.profile).stem}")
    if shaped:
        return (
            f"needs the simulated proxy ({', '.join(shaped)}); a real proxy behaves as it is "
            "configured"
        )
    registry = scenario.registry
    for _, step, _ in registry.walk(scenario.steps):
        for use in registry.references(step):
            if isinstance(use, SimulatorUse):
                return use.why
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
