"""Proxy profiles: how a simulated proxy names the mailbox, and the quirks of real proxies.

A profile is a header convention plus quirks plus a few options, written as YAML::

    name: history-info-sbc
    description: An SBC in front of the voicemail server.
    convention: history-info        # x-voicemail | diversion | history-info | rfc4458 | ...
    quirks:
      - b2bua                       # a quirk without options
      - session-timer: {interval: 2, expires: 90}
      - compact-headers
    no_answer_timeout: 0.5          # seconds a registered phone rings before voicemail
    forward_unconditional: []       # users whose calls go straight to voicemail
    retrieval_users: ["*97"]        # numbers that reach the voicemail menu
    replicate_register: no          # copy phones' REGISTERs to the voicemail server (chan_sip: no)

Every field but ``convention`` may be left out. Profiles ship as
``harness/sim/proxies/<name>.yaml`` (:func:`shipped_profiles`); :func:`load_profile` reads one
by name or path and reports each problem on one line naming the file, the line and the field.

Each quirk is a class below named after what it reproduces; its fields are its options, each
with a default. :data:`QUIRKS` lists them by the name a profile uses. The simulated proxy reads a
profile once, as a :class:`~harness.sim.behaviour.ProxyBehaviour`.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.core.routing import RETRIEVAL_USERS, Convention
from harness.yaml_problems import (
    Loc,
    describe_node,
    describe_value,
    field_path,
    line_and_column,
    locate,
)


def _status(value: int, allowed: Iterable[int], what: str) -> int:
    choices = sorted(allowed)
    if value not in choices:
        listed = ", ".join(str(choice) for choice in choices)
        raise ValueError(f"{what} must be one of {listed}, not {value}")
    return value


def _methods(values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        if not value or not value.replace("-", "").isalpha():
            raise ValueError(f"{value!r} is not a SIP method name")
    return tuple(value.upper() for value in values)


class Quirk(BaseModel):
    """Base of every quirk: its fields are the quirk's options, each with a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The name a profile lists the quirk by.
    name: ClassVar[str]


class CompactHeaders(Quirk):
    """Write header names in their compact form where one exists (``v:``, ``f:``, ``i:``…)
    in everything the proxy sends."""

    name: ClassVar[str] = "compact-headers"


class LowerCaseHeaders(Quirk):
    """Write every header name in lower case (``call-id:``) in everything the proxy sends."""

    name: ClassVar[str] = "lower-case-headers"


class FoldedHeaders(Quirk):
    """Fold header values longer than ``width`` characters onto continuation lines
    (RFC 3261 §7.3.1) in everything the proxy sends."""

    name: ClassVar[str] = "folded-headers"
    width: int = Field(default=30, ge=8, le=200)


class RecordRoute(Quirk):
    """Record-Route with loose routing (``;lr``), so in-dialog requests pass the proxy.
    This is the default; listing it only says so."""

    name: ClassVar[str] = "record-route"


class NoRecordRoute(Quirk):
    """Do not Record-Route: in-dialog requests go straight between the phone and the voicemail
    server, by their Contacts."""

    name: ClassVar[str] = "no-record-route"


class StripXHeaders(Quirk):
    """Remove every ``X-`` header but those in ``keep`` from the requests the proxy forwards.

    This breaks the ``x-voicemail`` convention on purpose: ``X-Voicemail-Mailbox`` never
    reaches the voicemail server.
    """

    name: ClassVar[str] = "strip-x-headers"
    #: X- headers to let through, in any case.
    keep: tuple[str, ...] = ()

    def strips(self, header: str) -> bool:
        """Whether the header called ``header`` is removed."""
        lowered = header.lower()
        return lowered.startswith("x-") and lowered not in {name.lower() for name in self.keep}


class RewriteRequestUri(Quirk):
    """Replace the user of the Request-URI of a call redirected to voicemail with a fixed
    pilot number (``sip:voicemail@server``); the convention's headers and URI parameters stay.
    Calls to the voicemail number keep their Request-URI. With the ``request-uri`` convention
    the mailbox is then lost, on purpose."""

    name: ClassVar[str] = "rewrite-request-uri"
    user: str = Field(default="voicemail", min_length=1)


class B2bua(Quirk):
    """Act as a back-to-back user agent towards the voicemail server: a new Call-ID, new From
    and To tags, the proxy's own Via and Contact on the voicemail side. Responses, ACK, BYE and
    every other in-dialog request are mapped between the two dialogs, both ways. The legs to
    ringing phones and subscriptions stay proxied."""

    name: ClassVar[str] = "b2bua"


class TcpToVoicemail(Quirk):
    """Send every request towards the voicemail server over TCP (the server must listen on
    TCP too). Requests the server sends (BYE, NOTIFY) come back over UDP."""

    name: ClassVar[str] = "tcp-to-voicemail"


class NotifyUnregistered(Quirk):
    """The status a NOTIFY for a user with no registered phone gets: 404 (the default
    behaviour) or 480."""

    name: ClassVar[str] = "notify-unregistered"
    status: int = 404

    @field_validator("status")
    @classmethod
    def _check(cls, value: int) -> int:
        return _status(value, (404, 480), "status")


class NotifyReject(Quirk):
    """Answer every NOTIFY the voicemail server sends for relay with ``status`` (481 by
    default) and relay nothing: a broken proxy. ``in_dialog`` also rejects the NOTIFYs of
    subscriptions."""

    name: ClassVar[str] = "notify-reject"
    status: int = Field(default=481, ge=300, le=699)
    in_dialog: bool = False


class NotifyDrop(Quirk):
    """Swallow every NOTIFY the voicemail server sends for relay: answer it 200 (``answer:
    ok``) or not at all (``answer: nothing``), and never relay it. A broken proxy."""

    name: ClassVar[str] = "notify-drop"
    answer: Literal["ok", "nothing"] = "ok"


class _Digest(Quirk):
    """Options shared by the digest challenges."""

    #: 401 (WWW-Authenticate) or 407 (Proxy-Authenticate).
    status: int = 407
    realm: str = Field(default="sim-proxy", min_length=1)
    #: The password every user has, unless ``users`` names another.
    password: str = "secret"
    #: Passwords of particular users (user: password).
    users: tuple[tuple[str, str], ...] = ()

    @field_validator("status")
    @classmethod
    def _check(cls, value: int) -> int:
        return _status(value, (401, 407), "status")

    @field_validator("users", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return tuple((str(user), str(password)) for user, password in value.items())
        return value

    def password_of(self, user: str) -> str:
        """The password ``user`` must answer the challenge with."""
        return dict(self.users).get(user, self.password)


class DigestChallengeNotify(_Digest):
    """Challenge each NOTIFY the voicemail server sends for relay with a 401 or 407; it is
    relayed once it carries valid credentials. The server answers with its sip.conf peer's
    ``secret=`` (username: ``defaultuser``, else ``fromuser``, else the peer name)."""

    name: ClassVar[str] = "digest-challenge-notify"


class DigestChallengeRegister(_Digest):
    """Challenge each REGISTER with a 401 (default) or 407; phones answer with their
    password."""

    name: ClassVar[str] = "digest-challenge-register"
    status: int = 401


class DropFirst(Quirk):
    """Drop the first ``count`` requests received of each method in ``methods`` (``"*"``: any
    method), as a lossy link would; the sender's retransmission gets through. Over TCP nothing
    is retransmitted, so a dropped request is lost."""

    name: ClassVar[str] = "drop-first"
    methods: tuple[str, ...] = ("INVITE",)
    count: int = Field(default=1, ge=1, le=10)

    @field_validator("methods")
    @classmethod
    def _check(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        if "*" in values:
            return ("*",)
        return _methods(values)

    def drops(self, method: str) -> bool:
        """Whether requests of ``method`` are dropped (until ``count`` of them were)."""
        return "*" in self.methods or method.upper() in self.methods


class Delay(Quirk):
    """Wait ``seconds`` before forwarding each request (of ``methods``; empty: every method)."""

    name: ClassVar[str] = "delay"
    seconds: float = Field(default=0.2, gt=0, le=30)
    methods: tuple[str, ...] = ()

    @field_validator("methods")
    @classmethod
    def _check(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return _methods(values)

    def applies(self, method: str) -> bool:
        """Whether requests of ``method`` are delayed."""
        return not self.methods or method.upper() in self.methods


class Fork(Quirk):
    """Keep every registered contact of a user and ring them all in parallel; when one
    answers the others are cancelled, when none does the call goes to voicemail. NOTIFYs are
    forked to every contact too. Without it the most recent contact alone rings."""

    name: ClassVar[str] = "fork"


class Reliable100rel(Quirk):
    """Send the caller a reliable ``180 Ringing`` of the proxy's own (``Require: 100rel``,
    ``RSeq``), retransmitted until the caller's PRACK, which the proxy answers. Provisional
    responses from further on are not relayed then."""

    name: ClassVar[str] = "100rel"


class SessionTimer(Quirk):
    """Refresh each call to the voicemail server with a re-INVITE every ``interval`` seconds,
    carrying ``Session-Expires: <expires>;refresher=uac`` (RFC 4028). Needs ``b2bua``: only a
    B2BUA owns the dialog it refreshes."""

    name: ClassVar[str] = "session-timer"
    interval: float = Field(default=2.0, gt=0)
    expires: int = Field(default=90, ge=90)


#: Every quirk the simulated proxy reproduces, by name.
QUIRKS: dict[str, type[Quirk]] = {
    quirk.name: quirk
    for quirk in (
        CompactHeaders,
        LowerCaseHeaders,
        FoldedHeaders,
        RecordRoute,
        NoRecordRoute,
        StripXHeaders,
        RewriteRequestUri,
        B2bua,
        TcpToVoicemail,
        NotifyUnregistered,
        NotifyReject,
        NotifyDrop,
        DigestChallengeNotify,
        DigestChallengeRegister,
        DropFirst,
        Delay,
        Fork,
        Reliable100rel,
        SessionTimer,
    )
}

#: Quirks the simulated proxy knows how to reproduce.
KNOWN_QUIRKS: frozenset[str] = frozenset(QUIRKS)

#: Pairs of quirks that cannot be in one profile.
_CONFLICTS = (
    ("record-route", "no-record-route", "they contradict each other"),
    ("notify-reject", "notify-drop", "both decide what becomes of a NOTIFY: pick one"),
)
#: Quirks that need another one.
_NEEDS = (("session-timer", "b2bua", "only a B2BUA owns the dialog it refreshes"),)

QuirkSpec = str | Mapping[str, Any] | Quirk
Q = TypeVar("Q", bound=Quirk)


class QuirkError(ValueError):
    """A quirk that is unknown or has bad options; ``problems`` are (where, message) pairs,
    ``where`` relative to the quirk's entry (``("delay", "seconds")``)."""

    def __init__(self, problems: Sequence[tuple[Loc, str]]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(_join(field_path(loc), message) for loc, message in problems))


def parse_quirk(spec: QuirkSpec) -> Quirk:
    """A quirk from its profile form: ``"fork"``, ``{"delay": {"seconds": 0.5}}`` or
    ``{"delay": None}``; QuirkError naming the option at fault otherwise."""
    if isinstance(spec, Quirk):
        return spec
    at: Loc = ()
    if isinstance(spec, str):
        name, options = spec, None
    elif isinstance(spec, Mapping) and len(spec) == 1:
        name, options = next(iter(spec.items()))
        at = (str(name),)
    else:
        raise QuirkError(
            [((), "a quirk is a name, or a mapping of one name to its options (delay: {...})")]
        )
    kind = QUIRKS.get(str(name))
    if kind is None:
        raise QuirkError([((), _unknown_quirk(str(name)))])
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise QuirkError(
            [(at, f"the options of {name} are a mapping, got {describe_value(options)}")]
        )
    try:
        return kind.model_validate(dict(options))
    except ValidationError as error:
        raise QuirkError(
            [
                ((*at, *detail["loc"]), _pydantic_message(detail, kind))
                for detail in error.errors(include_url=False)
            ]
        ) from None


@dataclass(frozen=True, slots=True)
class ProxyProfile:
    """A convention plus the behaviour of one kind of proxy.

    ``quirks`` names the quirks; ``options`` holds each one's options, in the same order (a
    quirk named without options gets its defaults, an option given without its name adds the
    quirk). Conflicting quirks raise ValueError.
    """

    name: str = "generic"
    convention: Convention = Convention.X_VOICEMAIL
    quirks: tuple[str, ...] = ()
    #: Seconds a registered phone may ring before the call goes to voicemail.
    no_answer_timeout: float = 0.5
    #: Users whose calls go straight to voicemail (call forward unconditional).
    forward_unconditional: frozenset[str] = field(default_factory=frozenset)
    #: Numbers a phone dials to reach its voicemail menu.
    retrieval_users: frozenset[str] = RETRIEVAL_USERS
    #: Whether a phone's REGISTER is copied to the voicemail server (third-party
    #: registration), so it resends MWI to a phone that comes back.
    replicate_register: bool = False
    #: The options of each quirk, in the order of ``quirks``.
    options: tuple[Quirk, ...] = ()
    #: What kind of proxy this is, in a sentence.
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "convention", Convention.named(self.convention))
        if not self.no_answer_timeout > 0:
            raise ValueError(f"no_answer_timeout must be positive, not {self.no_answer_timeout}")
        unknown = [name for name in self.quirks if name not in QUIRKS]
        if unknown:
            raise ValueError("; ".join(_unknown_quirk(name) for name in unknown))
        given: dict[str, Quirk] = {}
        for option in self.options:
            if option.name in given:
                raise ValueError(f"quirk {option.name} is given options twice")
            given[option.name] = option
        names = list(dict.fromkeys((*self.quirks, *given)))
        for first, second, why in _CONFLICTS:
            if first in names and second in names:
                raise ValueError(f"quirks {first} and {second} cannot go together: {why}")
        for needing, needed, why in _NEEDS:
            if needing in names and needed not in names:
                raise ValueError(f"quirk {needing} needs quirk {needed}: {why}")
        options = tuple(given.get(name) or QUIRKS[name]() for name in names)
        object.__setattr__(self, "quirks", tuple(names))
        object.__setattr__(self, "options", options)
        object.__setattr__(self, "forward_unconditional", frozenset(self.forward_unconditional))
        object.__setattr__(self, "retrieval_users", frozenset(self.retrieval_users))

    def has(self, name: str) -> bool:
        """Whether the profile has the quirk called ``name``."""
        return name in self.quirks

    def quirk(self, kind: type[Q]) -> Q | None:
        """The options of quirk ``kind`` (``profile.quirk(Delay)``), or None without it."""
        for option in self.options:
            if isinstance(option, kind):
                return option
        return None

    @property
    def record_route(self) -> bool:
        """Whether the proxy record-routes (unless ``no-record-route``)."""
        return not self.has(NoRecordRoute.name)

    def with_quirks(self, *specs: QuirkSpec) -> ProxyProfile:
        """This profile with more quirks; one it already has takes the new options.

        Each spec is a name, a ``{name: options}`` mapping or a :class:`Quirk`; QuirkError
        names a bad one.
        """
        added = [parse_quirk(spec) for spec in specs]
        replaced = {quirk.name for quirk in added}
        kept = [option for option in self.options if option.name not in replaced]
        options = (*kept, *added)
        return dataclasses.replace(
            self, quirks=tuple(option.name for option in options), options=options
        )


# --------------------------------------------------------------------------- profile files


class ProfileError(ValueError):
    """A profile that cannot be loaded; one line per problem: ``file:line:col: field: why``."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class _ProfileFile(BaseModel):
    """The fields of a profile file (quirks are checked one by one, by :func:`parse_quirk`)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    description: str = ""
    convention: str
    quirks: list[Any] = Field(default_factory=list)
    no_answer_timeout: float = Field(default=0.5, gt=0)
    forward_unconditional: tuple[str, ...] = ()
    retrieval_users: tuple[str, ...] = tuple(sorted(RETRIEVAL_USERS))
    replicate_register: bool = False

    @field_validator("convention")
    @classmethod
    def _convention(cls, value: str) -> str:
        Convention.named(value)
        return value


def shipped_profiles() -> dict[str, Path]:
    """The profiles that ship with the harness, by name."""
    folder = Path(str(resources.files("harness.sim") / "proxies"))
    return {path.stem: path for path in sorted(folder.glob("*.yaml"))}


def load_profile(name_or_path: str | Path) -> ProxyProfile:
    """A shipped profile by name, or a profile file by path; ProfileError otherwise."""
    shipped = shipped_profiles()
    if isinstance(name_or_path, str) and name_or_path in shipped:
        return _load_file(shipped[name_or_path])
    path = Path(name_or_path)
    if path.is_file():
        return _load_file(path)
    names = ", ".join(shipped)
    guess = difflib.get_close_matches(str(name_or_path), list(shipped), n=1)
    hint = f' (did you mean "{guess[0]}"?)' if guess else ""
    raise ProfileError(
        [
            f"no proxy profile {str(name_or_path)!r}{hint}: shipped ones are {names}, or give the"
            " path of a profile file"
        ]
    )


def _load_file(path: Path) -> ProxyProfile:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ProfileError([f"{file}: cannot read the profile: {error}"]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark is not None else file
        problem = getattr(error, "problem", None) or str(error)
        raise ProfileError([f"{where}: YAML syntax error: {' '.join(problem.split())}"]) from None
    if not isinstance(root, MappingNode):
        where = f"{file}:1:1" if root is None else _where(file, root)
        raise ProfileError(
            [
                f"{where}: a profile is a mapping (convention: ..., quirks: [...]), got "
                f"{'nothing' if root is None else describe_node(root)}"
            ]
        )
    data = _plain(root)
    problems: list[str] = []
    try:
        fields = _ProfileFile.model_validate(data)
    except ValidationError as error:
        for detail in error.errors(include_url=False):
            loc = tuple(detail["loc"])
            problems.append(_problem(file, root, loc, _pydantic_message(detail, _ProfileFile)))
        raise ProfileError(sorted(problems, key=_line_of)) from None
    quirks: list[Quirk] = []
    for index, spec in enumerate(fields.quirks):
        try:
            quirks.append(parse_quirk(spec))
        except QuirkError as error:
            for loc, message in error.problems:
                problems.append(_problem(file, root, ("quirks", index, *loc), message))
    if problems:
        raise ProfileError(problems)
    try:
        return ProxyProfile(
            name=fields.name or path.stem,
            convention=Convention.named(fields.convention),
            quirks=tuple(quirk.name for quirk in quirks),
            no_answer_timeout=fields.no_answer_timeout,
            forward_unconditional=frozenset(fields.forward_unconditional),
            retrieval_users=frozenset(fields.retrieval_users),
            replicate_register=fields.replicate_register,
            options=tuple(quirks),
            description=fields.description,
        )
    except ValueError as error:
        raise ProfileError([_problem(file, root, ("quirks",), str(error))]) from None


def _plain(node: Node) -> Any:
    """The YAML as dicts, lists and text: ``0042`` stays text, only nulls become None."""
    if isinstance(node, ScalarNode):
        return None if node.tag.endswith(":null") else node.value
    if isinstance(node, SequenceNode):
        return [_plain(item) for item in node.value]
    assert isinstance(node, MappingNode)
    return {
        key.value if isinstance(key, ScalarNode) else describe_node(key): _plain(value)
        for key, value in node.value
    }


def _problem(file: str, root: Node, loc: Loc, message: str) -> str:
    # An unknown field is pointed at by its name, other problems by the value.
    at = locate(root, loc, at_key=message.startswith("unknown field"))
    where = f"{file}:{at.line}:{at.column}"
    return _join(f"{where}: {field_path(loc)}" if loc else where, message)


def _where(file: str, node: Node) -> str:
    line, column = line_and_column(node)
    return f"{file}:{line}:{column}"


def _line_of(problem: str) -> tuple[int, int]:
    parts = problem.split(":")
    numbers = [int(part) for part in parts[1:3] if part.isdigit()]
    return (numbers[0], numbers[1]) if len(numbers) == 2 else (0, 0)


def _join(where: str, message: str) -> str:
    return f"{where}: {message}" if where else message


def _unknown_quirk(name: str) -> str:
    guess = difflib.get_close_matches(name, list(QUIRKS), n=1)
    hint = f'did you mean "{guess[0]}"? ' if guess else ""
    return f'unknown quirk "{name}" ({hint}known: {", ".join(QUIRKS)})'


def _pydantic_message(detail: Any, model: type[BaseModel]) -> str:
    kind = detail["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        known = list(model.model_fields)
        name = str(detail["loc"][-1])
        guess = difflib.get_close_matches(name, known, n=1)
        hint = f'did you mean "{guess[0]}"? ' if guess else ""
        return f'unknown field "{name}" ({hint}known: {", ".join(known) or "none"})'
    message = str(detail["msg"])
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    return f"{message}, got {describe_value(detail.get('input'))}"
