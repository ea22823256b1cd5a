"""How a proxy names the mailbox when it forwards a call to the voicemail server.

Each header convention lives here once, in both directions: the simulated proxy *applies* it to
the INVITE it forwards, and the voicemail server *resolves* the INVITE back to a mailbox and a
redirect reason with the same code. A new convention is one :class:`Convention` name plus one
new class in :data:`CONVENTIONS`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Literal, Protocol
from urllib.parse import quote

from harness.core.mailbox import MailboxId
from harness.sip.address import Address
from harness.sip.errors import SIPParseError
from harness.sip.message import Header, Request
from harness.sip.uri import URI


class Convention(StrEnum):
    """The name of a header convention, as profiles, scenarios and configs spell it."""

    X_VOICEMAIL = "x-voicemail"
    DIVERSION = "diversion"
    HISTORY_INFO = "history-info"
    RFC4458 = "rfc4458"
    REQUEST_URI = "request-uri"
    TO = "to"

    @classmethod
    def named(cls, name: str) -> Convention:
        """The convention called ``name``; ValueError listing the known names otherwise."""
        try:
            return cls(name)
        except ValueError:
            known = ", ".join(cls)
            raise ValueError(f"unknown convention {name!r} (known: {known})") from None


class Reason(StrEnum):
    """Why the call was redirected, in Diversion (RFC 5806) tokens."""

    NO_ANSWER = "no-answer"
    USER_BUSY = "user-busy"
    UNAVAILABLE = "unavailable"
    UNCONDITIONAL = "unconditional"
    DEFLECTION = "deflection"
    UNKNOWN = "unknown"

    @property
    def cause(self) -> int:
        """The RFC 4458 cause code Asterisk maps this reason to."""
        return _CAUSE_OF[self]

    @property
    def busy(self) -> bool:
        """Whether the caller should hear the busy greeting rather than the unavailable one."""
        return self is Reason.USER_BUSY

    @classmethod
    def from_cause(cls, cause: str | int | None) -> Reason:
        """Read an RFC 4458 cause code (487 also reads as deflection, as Asterisk does)."""
        try:
            code = int(cause) if cause is not None else 0
        except ValueError:
            return cls.UNKNOWN
        if code == 487:
            return cls.DEFLECTION
        return _REASON_OF_CAUSE.get(code, cls.UNKNOWN)

    @classmethod
    def from_token(cls, token: str | None) -> Reason:
        """Read a Diversion reason token; unknown or absent tokens read as ``unknown``."""
        try:
            return cls((token or "").strip().strip('"').lower())
        except ValueError:
            return cls.UNKNOWN


_CAUSE_OF = {
    Reason.USER_BUSY: 486,
    Reason.NO_ANSWER: 408,
    Reason.UNCONDITIONAL: 302,
    Reason.UNAVAILABLE: 503,
    Reason.DEFLECTION: 480,
    Reason.UNKNOWN: 404,
}
_REASON_OF_CAUSE = {code: reason for reason, code in _CAUSE_OF.items()}


class RoutingError(ValueError):
    """A request names a mailbox in a form the convention cannot read."""


@dataclass(frozen=True, slots=True)
class Redirect:
    """What a proxy knows when it sends a call to voicemail: whose mailbox, and why."""

    mailbox: MailboxId
    reason: Reason = Reason.NO_ANSWER
    #: Domain of the mailbox owner's address of record (used in Diversion, History-Info, RFC 4458).
    domain: str = "localhost"


@dataclass(frozen=True, slots=True)
class Resolution:
    """What the voicemail server read from a request: the mailbox, the reason and how."""

    mailbox: MailboxId
    reason: Reason | None
    #: The :class:`Convention` that named the mailbox, or how else it was named (``caller``
    #: for a retrieval of the caller's own mailbox, ``smdi`` for an SMDI call record).
    convention: str
    #: The redirecting-from number (Asterisk's ``rdnis``), when the request carries one.
    redirecting: str | None = None
    #: Further mailboxes that get a copy of the message (VoiceMail's ``a&b``).
    also: tuple[MailboxId, ...] = ()

    @property
    def mailboxes(self) -> tuple[MailboxId, ...]:
        """Every mailbox the message goes to, the greeting's owner first."""
        return (self.mailbox, *self.also)


class ConventionRule(Protocol):
    """One way of naming the mailbox in a request, in both directions."""

    name: ClassVar[Convention]

    def apply(self, request: Request, redirect: Redirect, voicemail: URI) -> Request:
        """The request as the proxy forwards it to ``voicemail`` for ``redirect``."""
        ...

    def resolve(self, request: Request, default_context: str) -> Resolution | None:
        """The mailbox this request names, or None when it does not use this convention."""
        ...


def _retarget(request: Request, uri: URI) -> Request:
    return Request(
        method=request.method,
        uri=str(uri),
        headers=request.headers,
        body=request.body,
        version=request.version,
    )


def _owner_uri(redirect: Redirect) -> URI:
    return URI(scheme="sip", user=redirect.mailbox.box, host=redirect.domain)


def _parse_address(text: str, header: str) -> Address:
    try:
        return Address.parse(text)
    except SIPParseError as error:
        raise RoutingError(
            f"{header}: {error.reason} at character {error.offset} of {text!r}"
        ) from None


def _mailbox(box: str, context: str, where: str) -> MailboxId:
    """``box@context`` read from ``where``; a name app_voicemail cannot hold is a RoutingError."""
    try:
        return MailboxId(box, context)
    except ValueError as error:
        raise RoutingError(f"{where} does not name a mailbox: {error}") from None


class XVoicemail:
    """``X-Voicemail-Mailbox`` and ``X-Voicemail-Context`` headers (the seed design).

    Carries no redirect reason; the server uses the unavailable greeting unless another header
    says otherwise.
    """

    name: ClassVar[Convention] = Convention.X_VOICEMAIL

    def apply(self, request: Request, redirect: Redirect, voicemail: URI) -> Request:
        """Point the request at the voicemail server and add both headers."""
        retargeted = _retarget(request, voicemail.with_user(redirect.mailbox.box))
        cleared = retargeted.without_header("X-Voicemail-Mailbox").without_header(
            "X-Voicemail-Context"
        )
        return cleared.with_headers(
            ("X-Voicemail-Mailbox", redirect.mailbox.box),
            ("X-Voicemail-Context", redirect.mailbox.context),
        )

    def resolve(self, request: Request, default_context: str) -> Resolution | None:
        """Read the mailbox from the headers; the context defaults when absent.

        ``X-Voicemail-Mailbox: 2000&2001`` leaves one copy in each (VoiceMail's ``a&b``); each
        item may carry its own ``@context``.
        """
        text = (request.header("X-Voicemail-Mailbox") or "").strip()
        if not text:
            return None
        context = (request.header("X-Voicemail-Context") or "").strip() or default_context
        try:
            boxes = MailboxId.parse_list(text, "&", default_context=context)
        except ValueError as error:
            raise RoutingError(
                f"X-Voicemail-Mailbox/Context does not name a mailbox: {error}"
            ) from None
        if not boxes:
            return None
        return Resolution(boxes[0], None, self.name, also=boxes[1:])


class Diversion:
    """RFC 5806 Diversion: the topmost entry is the most recent diversion and names the owner."""

    name: ClassVar[Convention] = Convention.DIVERSION

    def apply(self, request: Request, redirect: Redirect, voicemail: URI) -> Request:
        """Add a Diversion entry on top of any already present."""
        entry = Address(_owner_uri(redirect)).with_params(
            reason=redirect.reason.value, counter="1", privacy="off"
        )
        retargeted = _retarget(request, voicemail)
        headers = list(retargeted.headers)
        # Topmost Diversion is the most recent; other headers (Via first) keep their place.
        above = next(
            (index for index, item in enumerate(headers) if item.key == "diversion"),
            len(headers),
        )
        headers.insert(above, Header("Diversion", str(entry)))
        return dataclasses.replace(retargeted, headers=tuple(headers))

    def resolve(self, request: Request, default_context: str) -> Resolution | None:
        """The user of the topmost Diversion entry, with its reason."""
        entries = request.header_values("Diversion")
        if not entries:
            return None
        top = _parse_address(entries[0], "Diversion")
        if not top.uri.user:
            raise RoutingError(f"Diversion: no user part in {entries[0]!r}")
        reason = Reason.from_token(top.param("reason"))
        mailbox = _mailbox(top.uri.user, default_context, f"Diversion {entries[0]!r}")
        return Resolution(mailbox, reason, self.name, top.uri.user)


class HistoryInfo:
    """RFC 7044 History-Info, the retargeted entry carrying an RFC 4458 ``cause``."""

    name: ClassVar[Convention] = Convention.HISTORY_INFO

    def apply(self, request: Request, redirect: Redirect, voicemail: URI) -> Request:
        """Two entries as chan_pjsip writes them: the owner (index 1), then the voicemail target."""
        cause = redirect.reason.cause
        reason = quote(f"SIP;cause={cause}", safe="")
        owner = f"<{_owner_uri(redirect)}?Reason={reason}>;index=1"
        target = Address(voicemail.with_params(cause=str(cause))).with_params(index="1.1", mp="1")
        return (
            _retarget(request, voicemail)
            .with_headers(("History-Info", owner), ("History-Info", str(target)))
            .replace_header("Supported", _supported_with(request, "histinfo"))
        )

    def resolve(self, request: Request, default_context: str) -> Resolution | None:
        """The entry retargeted from by the last entry with a ``cause``: that is the owner."""
        raw_entries = request.header_values("History-Info")
        if not raw_entries:
            return None
        entries = [_parse_address(text, "History-Info") for text in raw_entries]
        by_index = {entry.param("index"): entry for entry in entries}
        for position in range(len(entries) - 1, 0, -1):
            entry = entries[position]
            cause = entry.uri.param("cause")
            if cause is None:
                continue
            index = entry.param("index") or ""
            parent = entry.param("mp") or entry.param("rc") or index.rpartition(".")[0]
            owner = by_index.get(parent) or entries[position - 1]
            if not owner.uri.user:
                raise RoutingError(f"History-Info: entry {parent or index} has no user part")
            return Resolution(
                _mailbox(owner.uri.user, default_context, f"History-Info entry {parent or index}"),
                Reason.from_cause(cause),
                self.name,
                owner.uri.user,
            )
        return None


class VoicemailUri:
    """RFC 4458: ``sip:voicemail@vm;target=sip:2000%40example.com;cause=486``."""

    name: ClassVar[Convention] = Convention.RFC4458

    def apply(self, request: Request, redirect: Redirect, voicemail: URI) -> Request:
        """Put target and cause on the Request-URI."""
        target = f"sip:{redirect.mailbox.box}@{redirect.domain}"
        uri = voicemail.with_user(voicemail.user or "voicemail").with_params(
            target=target, cause=str(redirect.reason.cause)
        )
        return _retarget(request, uri)

    def resolve(self, request: Request, default_context: str) -> Resolution | None:
        """The user of the ``target`` URI parameter, with the reason from ``cause``."""
        uri = _request_uri(request)
        target = uri.param("target")
        if not target:
            return None
        try:
            # URI.param has already undone the %-escapes (%40 -> @) once, as RFC 4458 needs.
            owner = URI.parse(target)
        except SIPParseError as error:
            raise RoutingError(
                f"Request-URI target: {error.reason} at character {error.offset} of {target!r}"
            ) from None
        if not owner.user:
            raise RoutingError(f"Request-URI target {target!r} has no user part")
        return Resolution(
            _mailbox(owner.user, default_context, f"Request-URI target {target!r}"),
            Reason.from_cause(uri.param("cause")),
            self.name,
            owner.user,
        )


class RequestUriUser:
    """The Request-URI user is the mailbox (Asterisk routes on ``${EXTEN}``)."""

    name: ClassVar[Convention] = Convention.REQUEST_URI

    def apply(self, request: Request, redirect: Redirect, voicemail: URI) -> Request:
        """Send to ``sip:<box>@voicemail``."""
        return _retarget(request, voicemail.with_user(redirect.mailbox.box))

    def resolve(self, request: Request, default_context: str) -> Resolution | None:
        """The Request-URI user part."""
        user = _request_uri(request).user
        if not user:
            return None
        return Resolution(_mailbox(user, default_context, "Request-URI user"), None, self.name)


class ToUser:
    """The To header's user is the mailbox (the Request-URI names only the voicemail server)."""

    name: ClassVar[Convention] = Convention.TO

    def apply(self, request: Request, redirect: Redirect, voicemail: URI) -> Request:
        """Keep To as the owner; point the Request-URI at the voicemail server."""
        owner = Address(_owner_uri(redirect))
        current = request.header("To")
        if current is not None:
            tag = _parse_address(current, "To").tag
            if tag is not None:
                owner = owner.with_params(tag=tag)
        return _retarget(request, voicemail).replace_header("To", str(owner))

    def resolve(self, request: Request, default_context: str) -> Resolution | None:
        """The To header's user part."""
        to = request.header("To")
        if to is None:
            return None
        user = _parse_address(to, "To").uri.user
        if not user:
            return None
        return Resolution(_mailbox(user, default_context, "To user"), None, self.name)


def _request_uri(request: Request) -> URI:
    try:
        return URI.parse(request.uri)
    except SIPParseError as error:
        raise RoutingError(
            f"Request-URI: {error.reason} at character {error.offset} of {request.uri!r}"
        ) from None


def _supported_with(request: Request, tag: str) -> str:
    tags = [value for value in request.header_values("Supported") if value.lower() != tag]
    return ", ".join([*tags, tag])


#: Every convention by name.
CONVENTIONS: dict[Convention, ConventionRule] = {
    convention.name: convention
    for convention in (
        XVoicemail(),
        Diversion(),
        HistoryInfo(),
        VoicemailUri(),
        RequestUriUser(),
        ToUser(),
    )
}

#: The order the voicemail server tries conventions in when none is configured: explicit headers
#: first, then redirect information, then the addressing of the request itself.
DEFAULT_CHAIN: tuple[Convention, ...] = (
    Convention.X_VOICEMAIL,
    Convention.RFC4458,
    Convention.DIVERSION,
    Convention.HISTORY_INFO,
    Convention.REQUEST_URI,
)


def convention(name: str) -> ConventionRule:
    """The rule of the convention called ``name``; ValueError listing the known names
    otherwise."""
    return CONVENTIONS[Convention.named(name)]


#: Request-URI users that reach the voicemail menu rather than leave a message.
RETRIEVAL_USERS: frozenset[str] = frozenset({"*97"})


@dataclass(frozen=True, slots=True)
class Routed:
    """A call's purpose: leave a message (``deposit``) or listen to one's own (``retrieve``).

    For a retrieval, ``resolution`` names the mailbox to log in to when the request says it,
    else None (the menu asks for it).
    """

    kind: Literal["deposit", "retrieve"]
    resolution: Resolution | None


@dataclass(frozen=True, slots=True)
class Router:
    """An ordered chain of conventions; the first one that names a mailbox wins.

    The redirect reason may come from a later convention in the chain (X-Voicemail names the
    box, a Diversion header added by the same proxy says why), so reasons are filled in from the
    rest of the chain when the winner has none.
    """

    chain: tuple[Convention, ...] = DEFAULT_CHAIN
    default_context: str = "default"
    retrieval_users: frozenset[str] = RETRIEVAL_USERS

    def __post_init__(self) -> None:
        # Names read from a config arrive as text: each is checked and typed here.
        object.__setattr__(self, "chain", tuple(Convention.named(name) for name in self.chain))

    @classmethod
    def of(cls, names: Iterable[str], default_context: str = "default") -> Router:
        """A router over ``names``, checked against the known conventions."""
        return cls(tuple(Convention.named(name) for name in names), default_context)

    def resolve(self, request: Request) -> Resolution | None:
        """The mailbox ``request`` names, or None when no convention in the chain applies."""
        conventions: Sequence[ConventionRule] = [CONVENTIONS[name] for name in self.chain]
        for position, winner in enumerate(conventions):
            found = winner.resolve(request, self.default_context)
            if found is None:
                continue
            if found.reason is not None:
                return found
            for other in conventions[position + 1 :]:
                try:
                    extra = other.resolve(request, self.default_context)
                except RoutingError:
                    # The mailbox is already named; an unreadable extra header only loses the
                    # reason, as a dialplan that never reads that header would.
                    continue
                if extra is not None and extra.reason is not None:
                    return dataclasses.replace(
                        found, reason=extra.reason, redirecting=extra.redirecting
                    )
            return found
        return None

    def classify(self, request: Request) -> Routed:
        """Tell a deposit from a retrieval.

        A retrieval is a call to one of ``retrieval_users`` (the mailbox is then the one
        X-Voicemail names, else the caller's own), or a call whose redirect information names
        the caller's own mailbox (a user calling their own number). Anything else deposits.
        """
        caller = _caller(request)
        if _request_uri(request).user in self.retrieval_users:
            named = CONVENTIONS[Convention.X_VOICEMAIL].resolve(request, self.default_context)
            if named is None and caller is not None:
                named = Resolution(MailboxId(caller, self.default_context), None, "caller")
            return Routed("retrieve", named)
        resolution = self.resolve(request)
        if resolution is not None and caller is not None and caller == resolution.mailbox.box:
            return Routed("retrieve", resolution)
        return Routed("deposit", resolution)


def _caller(request: Request) -> str | None:
    """The From user when it could be a mailbox number, else None."""
    text = request.header("From")
    if text is None:
        return None
    try:
        user = Address.parse(text).uri.user
    except SIPParseError:
        return None
    if not user:
        return None
    try:
        MailboxId(user)
    except ValueError:
        return None
    return user
