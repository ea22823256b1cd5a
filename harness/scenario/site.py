"""The site file: the deployment under test, described once, applied to every scenario.

A site says where the proxy is and what it implements: the header convention(s) and context it
names mailboxes with, which call outcomes it forwards to voicemail, the retrieval access code,
the message-waiting paths and how fast a NOTIFY must cross it, the numbers the harness may
register, and where the voicemail server is. ``vmharness run scenarios --site site.yaml`` runs
every library scenario that applies to the site with the site's values and skips the rest with
the reason (:func:`site_skip`); ``vmharness site init`` writes :data:`STARTER` to begin with.

A malformed site file is reported like a scenario: ``file:line:column: field: message``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from yaml.nodes import MappingNode

from harness.core.routing import Convention
from harness.scenario.model import Scenario
from harness.scenario.registry import Registry
from harness.scenario.steps.calls import DepositStep, RetrieveStep
from harness.scenario.steps.mwi import DEFAULT_BUDGET
from harness.scenario.steps.registration import SubscribeStep
from harness.scenario.variables import range_values
from harness.sip.transaction import Peer
from harness.targets import sip_peer
from harness.yaml_problems import describe_node, field_path, line_and_column, locate

#: Call outcomes a site forwards to voicemail or not.
Outcome = Literal["user-busy", "no-answer", "unavailable", "unconditional"]
OUTCOMES: tuple[Outcome, ...] = ("user-busy", "no-answer", "unavailable", "unconditional")
#: How a message-waiting NOTIFY reaches a phone.
MwiPath = Literal["unsolicited", "subscribe"]


def _address(text: str) -> str:
    sip_peer(text)
    return text


def _convention(name: str) -> str:
    known = [convention.value for convention in Convention]
    if name not in known:
        raise ValueError(f'no convention "{name}" (known: {", ".join(known)})')
    return name


def _numbers(text: str) -> str:
    for part in text.split(","):
        range_values(part) if ".." in part else _one_number(part)
    return text


def _one_number(text: str) -> None:
    if not text.strip().isdigit():
        raise ValueError(f'"{text.strip()}" is neither a number nor a range like "3000..3099"')


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteProxy(_Strict):
    """Where the proxy under test listens."""

    address: Annotated[str, AfterValidator(_address)]
    #: How the phones reach the proxy: UDP, the one transport the harness's phones speak (the
    #: embedded voicemail server takes the proxy's calls over UDP and TCP alike).
    transport: Literal["udp"] = "udp"


class SiteVoicemail(_Strict):
    """The voicemail server: the embedded one on ``port`` (where the proxy sends calls and
    SUBSCRIBEs), or a server already running at ``address``."""

    port: int | None = Field(default=None, ge=1, le=65535)
    address: Annotated[str, AfterValidator(_address)] | None = None
    #: The external server's spool directory, when the harness may read it.
    spool: Path | None = None

    @model_validator(mode="after")
    def _one_server(self) -> Self:
        if (self.port is None) == (self.address is None):
            raise ValueError(
                "give port (the embedded server listens there) or address (a server already "
                "running), one of them"
            )
        return self


class SiteRetrieval(_Strict):
    """The voicemail access code and whether the proxy names the caller's mailbox on it."""

    access_code: str = Field(default="*97", min_length=1)
    #: Whether the INVITE the voicemail server receives names the mailbox (by the convention).
    names_mailbox: bool = True


class SiteMwi(_Strict):
    """How message-waiting reaches the phones and how fast."""

    paths: tuple[MwiPath, ...] = Field(default=("unsolicited",), min_length=1)
    #: Seconds a NOTIFY may take from the voicemail server's send to the phone.
    budget: float = Field(default=DEFAULT_BUDGET, gt=0)
    #: Whether the proxy copies each REGISTER to the voicemail server, which then sends a phone
    #: that comes back its lamp state.
    register_copy: bool = False


class SitePhones(_Strict):
    """The numbers the harness may register and how."""

    #: ``"3000..3099"``, or several: ``"3000..3049, 4000"``.
    numbers: Annotated[str, AfterValidator(_numbers)]
    password: str | None = None
    #: Seconds a registration lasts.
    expires: int = Field(default=120, ge=10)
    #: Remove every binding of a test number before registering it (``Contact: *``).
    clear_stale_bindings: bool = False


class Site(_Strict):
    """The deployment under test (see the module's docstring)."""

    name: str = Field(min_length=1)
    proxy: SiteProxy
    conventions: tuple[Annotated[str, AfterValidator(_convention)], ...] = Field(min_length=1)
    context: str = Field(default="default", min_length=1)
    #: Each outcome: ``forwarded`` or ``not-forwarded``.
    forwarding: dict[Outcome, Literal["forwarded", "not-forwarded"]]
    #: Seconds a phone rings before the proxy forwards the call (no-answer).
    ring: float = Field(default=20.0, gt=0)
    retrieval: SiteRetrieval | None = None
    mwi: SiteMwi = Field(default_factory=SiteMwi)
    phones: SitePhones
    voicemail: SiteVoicemail

    @property
    def proxy_peer(self) -> Peer:
        """The proxy's address."""
        return sip_peer(self.proxy.address)

    def forwards(self, outcome: str) -> bool:
        """Whether the site forwards calls of ``outcome`` to voicemail (unlisted: no)."""
        return any(
            name == outcome and rule == "forwarded" for name, rule in self.forwarding.items()
        )

    def allows(self, number: str) -> bool:
        """Whether the harness may register ``number``."""
        for part in self.phones.numbers.split(","):
            values = range_values(part) if ".." in part else (part.strip(),)
            if number in values:
                return True
        return False

    def variables(self) -> dict[str, str]:
        """What a scenario's ``${name}`` may take from the site: ``convention`` (its first),
        ``context``, ``access_code``."""
        code = "*97" if self.retrieval is None else self.retrieval.access_code
        return {"convention": self.conventions[0], "context": self.context, "access_code": code}


def site_skip(scenario: Scenario, site: Site) -> str | None:
    """Why ``scenario`` does not apply to ``site``, if it does not."""
    if scenario.pbx is not None:
        return "the site has no PBX on an SMDI line"
    convention = scenario.proxy.effective_convention
    if convention not in site.conventions:
        return (
            f"the site names mailboxes with {', '.join(site.conventions)}; this scenario needs "
            f"{convention}"
        )
    for phone in scenario.every_phone:
        if not site.allows(phone.user):
            return f"the site does not let the harness register {phone.user}"
    return _step_skip(scenario.registry, scenario, site)


#: The tag of scenarios in which a phone that registers late must get its lamp state.
REGISTER_RESYNC_TAG = "register-resync"


def _step_skip(registry: Registry, scenario: Scenario, site: Site) -> str | None:
    if REGISTER_RESYNC_TAG in scenario.tags and not site.mwi.register_copy:
        return (
            "the site's proxy does not copy REGISTERs to the voicemail server "
            "(mwi.register_copy), so nothing sends a phone that registers late its lamp state"
        )
    for step in _steps(registry, scenario):
        if isinstance(step, DepositStep) and step.to.context != site.context:
            return (
                f"the site's mailboxes are in context {site.context}; this scenario leaves a "
                f"message in {step.to}"
            )
        if isinstance(step, DepositStep):
            forwarded = site.forwards(step.reason.value)
            if step.expect_status == 200 and not forwarded:
                return f"the site does not forward {step.reason.value} calls to voicemail"
            if step.expect_status != 200 and forwarded:
                return f"the site forwards {step.reason.value} calls to voicemail"
        if isinstance(step, SubscribeStep) and "subscribe" not in site.mwi.paths:
            return "the site's phones do not SUBSCRIBE for message-waiting"
        if isinstance(step, RetrieveStep) and site.retrieval is None:
            return "the site has no voicemail access code"
    return None


def _steps(registry: Registry, scenario: Scenario) -> Iterator[Any]:
    for _, step, _ in registry.walk(scenario.steps):
        yield step


# -- the file -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SiteProblem:
    """One thing wrong with a site file, at its line and column (0 when it has none)."""

    file: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        return f"{where}: {self.field + ': ' if self.field else ''}{self.message}"


class SiteError(Exception):
    """A site file that cannot be used; ``problems`` says every reason, each at its place."""

    def __init__(self, problems: list[SiteProblem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


def load_site(path: Path) -> Site:
    """Read and validate a site file; SiteError listing every problem otherwise."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        unreadable = SiteProblem(file, 0, 0, "", f"cannot read the site file: {error}")
        raise SiteError([unreadable]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line, column = (0, 0) if mark is None else line_and_column(mark)
        problem = " ".join((getattr(error, "problem", None) or str(error)).split())
        syntax = SiteProblem(file, line, column, "", f"YAML syntax error: {problem}")
        raise SiteError([syntax]) from None
    if not isinstance(root, MappingNode):
        got = "nothing" if root is None else describe_node(root)
        raise SiteError(
            [SiteProblem(file, 1, 1, "", f"a site is a mapping (name: ..., proxy: ...), got {got}")]
        )
    try:
        return Site.model_validate(data)
    except ValidationError as error:
        problems = []
        details = error.errors(include_url=False)
        places = [tuple(detail["loc"]) for detail in details]
        for detail in details:
            loc = tuple(detail["loc"])
            if any(len(place) > len(loc) and place[: len(loc)] == loc for place in places):
                continue  # a container's error that only echoes the error of an item in it
            where = locate(root, loc, at_key=detail["type"] == "extra_forbidden")
            message = detail["msg"].removeprefix("Value error, ")
            if detail["type"] == "extra_forbidden":
                message = "not a field of a site file"
            problems.append(SiteProblem(file, where.line, where.column, field_path(loc), message))
        raise SiteError(sorted(problems, key=lambda problem: problem.line)) from None


#: What ``vmharness site init`` writes: every field, commented, with the values of the Kamailio
#: configuration the project ships (fixtures/proxies/kamailio).
STARTER = """\
# The deployment under test. Run every scenario that applies to it with
#   vmharness run scenarios --site site.yaml --report out/
# Scenarios that do not apply (another convention, an outcome this proxy does not forward,
# numbers the harness may not register) are skipped with the reason.

name: our proxy

proxy:
  address: sip:127.0.0.1:5060     # where phones register and the voicemail server notifies
  transport: udp                  # the phones speak UDP (the voicemail server takes UDP and TCP)

# How the proxy names the mailbox on a forwarded call: x-voicemail, diversion, history-info,
# rfc4458, request-uri or to (several if it uses more than one).
conventions: [x-voicemail]
context: default                  # the voicemail context the proxy names (X-Voicemail-Context)

# What the proxy does with each call outcome: forwarded (to voicemail) or not-forwarded.
forwarding:
  user-busy: forwarded
  no-answer: forwarded
  unavailable: forwarded          # the callee is not registered, or answers 480
  unconditional: not-forwarded
ring: 20                          # seconds a phone rings before a no-answer call is forwarded

retrieval:
  access_code: "*97"              # the number phones dial to hear their messages
  names_mailbox: yes              # the proxy names the caller's mailbox on that call

mwi:
  paths: [unsolicited]            # unsolicited (relayed NOTIFY), subscribe, or both
  budget: 2                       # seconds a NOTIFY may take from the voicemail server to the phone
  register_copy: no               # the proxy copies REGISTERs to the voicemail server

phones:
  numbers: "3000..3099"           # numbers the harness may register (ranges, comma-separated)
  # password: secret              # when the proxy challenges REGISTERs
  expires: 120                    # seconds each registration lasts
  clear_stale_bindings: no        # remove every binding of a test number before the run

voicemail:
  port: 5070                      # the embedded server listens here; the proxy sends calls to it
  # address: sip:10.0.0.5:5060    # or: a voicemail server already running there
"""
