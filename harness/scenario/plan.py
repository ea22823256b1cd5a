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

from harness.peers.kamailio import CONVENTIONS as KAMAILIO_CONVENTIONS
from harness.peers.kamailio import KamailioError, find_kamailio
from harness.scenario.model import Scenario
from harness.scenario.registry import SimulatorUse
from harness.sim import profiles
from harness.sim.profiles import ProxyProfile
from harness.sip.transaction import Peer
from harness.targets import sip_address, sip_peer

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
    profile = dataclasses.replace(base.with_quirks(*spec.quirks), convention=convention)
    if spec.replicate_register is not None:
        profile = dataclasses.replace(profile, replicate_register=spec.replicate_register)
    return profile


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
