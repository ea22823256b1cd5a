"""Deciding how to answer a parsed message before acting on it (RFC 3261 §8.2, §18; RFC 4475).

The parser frames a message and splits its headers; whether the headers a server relies on are
present, single and well formed is decided here. :func:`check_request` says how a server must
refuse a request (400 Bad Request, 505 Version Not Supported) or None when it may go on;
:func:`check_response` says when a response must be dropped silently (RFC 3261 §18.1.2: a
client never answers a response). Both are pure functions of the message.

``lenient=True`` accepts what RFC 4475 §3.1.2 lets a liberal element accept: a Request-URI in
``<>`` (the brackets are ignored) or with escaped headers (ignored), a Date that is not GMT
(ignored), white space just inside ``<>`` and an addr-spec that needed ``<>``, and over-large
Max-Forwards and expiry values (treated as absent or as the default). Checks that only an
application can make — an unknown URI scheme (416), an unsupported extension (420), an unknown
body type (415) — are left to it.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from harness.sip.address import Address
from harness.sip.errors import SIPParseError
from harness.sip.message import Message, Request, Response, split_list
from harness.sip.uri import URI, is_token
from harness.sip.via import Via

#: Largest CSeq sequence number (RFC 3261 §8.1.1.5: less than 2**31).
MAX_CSEQ = 2**31 - 1
#: Largest Max-Forwards value (RFC 3261 §20.22: 0-255).
MAX_FORWARDS = 255
#: Largest delta-seconds in Expires, Retry-After and the expires parameter (32 bits).
MAX_DELTA_SECONDS = 2**32 - 1
#: Headers every request and response must carry (RFC 3261 §8.1.1; Max-Forwards is only SHOULD).
MANDATORY_HEADERS = ("Via", "From", "To", "Call-ID", "CSeq")
#: Headers that take exactly one value, so a second line makes the message ambiguous.
SINGLE_VALUE_HEADERS = (
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Max-Forwards",
    "Content-Length",
    "Content-Type",
    "Expires",
    "Date",
    "Retry-After",
)

_PHRASES = {400: "Bad Request", 505: "Version Not Supported"}
_CALL_ID_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~()<>:\\\"/[]?{}"
)
_DATE_RE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    r" [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT\Z"
)
_REASON_LIMIT = 120


@dataclass(frozen=True, slots=True)
class Rejection:
    """How to refuse a request: the status code and the reason phrase to answer with."""

    status: int
    reason: str
    #: Headers the answer must carry (``Unsupported`` with a 420).
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Discard:
    """Why a received response must be dropped without any answer."""

    reason: str


class _InvalidError(Exception):
    def __init__(self, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


def check_request(request: Request, *, lenient: bool = False) -> Rejection | None:
    """How a server must refuse ``request``, or None when the request may be processed.

    The reason names what is wrong, e.g. ``Rejection(400, "Bad Request: CSeq method INVITE
    does not match request method OPTIONS")`` or ``Rejection(505, "Version Not Supported:
    SIP/7.0")``. It is one line, safe to use as the reason phrase of the answer.
    """
    try:
        if request.version.upper() != "SIP/2.0":
            raise _InvalidError(request.version, 505)
        _check_request_uri(request.uri, lenient)
        _check_common(request, lenient)
        _check_request_headers(request, lenient)
    except _InvalidError as invalid:
        phrase = _PHRASES[invalid.status]
        return Rejection(invalid.status, f"{phrase}: {clean_reason(invalid.detail)}")
    return None


def check_support(
    request: Request,
    *,
    extensions: Collection[str] = (),
    schemes: Collection[str] = ("sip", "sips", "tel"),
) -> Rejection | None:
    """How an element that serves ``schemes`` and knows ``extensions`` refuses ``request``:
    416 for another Request-URI scheme (RFC 3261 §8.2.2.1), 420 naming each option tag of
    Require it lacks in an Unsupported header (§8.2.2.3); None when it may go on. ACK and
    CANCEL are never refused for Require."""
    scheme = request.uri.partition(":")[0].strip("<").lower()
    if scheme not in schemes:
        return Rejection(416, f"Unsupported URI Scheme: {clean_reason(scheme)}")
    if request.method in ("ACK", "CANCEL"):
        return None
    known = {tag.lower() for tag in extensions}
    required = [tag for value in request.header_values("Require") for tag in split_list(value)]
    missing = [tag for tag in required if tag.lower() not in known]
    if not missing:
        return None
    listed = clean_reason(", ".join(missing))
    return Rejection(420, f"Bad Extension: {listed}", (("Unsupported", listed),))


def check_response(response: Response, *, lenient: bool = False) -> Discard | None:
    """Why ``response`` must be dropped (RFC 4475 §3.1.2.5, §3.1.2.19), or None to process it."""
    try:
        if response.version.upper() != "SIP/2.0":
            raise _InvalidError(f"SIP version {response.version} is not supported")
        if not 100 <= response.status <= 699:
            raise _InvalidError(f"status code {response.status} is outside 100-699")
        _check_common(response, lenient)
    except _InvalidError as invalid:
        return Discard(clean_reason(invalid.detail))
    return None


def _check_request_uri(text: str, lenient: bool) -> None:
    if text.startswith("<") and text.endswith(">"):
        if not lenient:
            raise _InvalidError("the Request-URI must not be enclosed in <>")
        text = text[1:-1]
    try:
        uri = URI.parse(text)
    except SIPParseError as error:
        raise _InvalidError(f"malformed Request-URI: {error.reason}") from None
    if uri.is_sip and uri.headers and not lenient:
        raise _InvalidError("the Request-URI must not carry headers (?name=value)")


def _check_common(message: Message, lenient: bool) -> None:
    """Checks that apply to requests and responses alike."""
    _check_header_counts(message)
    _check_cseq(message)
    _check_call_id(message.header("Call-ID") or "", lenient)
    for name in ("From", "To"):
        _parse_address(name, message.header(name) or "", lenient)
    _check_vias(message, lenient)
    _check_delta("Expires", message.header("Expires"), lenient)
    retry_after = message.header("Retry-After")
    if retry_after is not None:
        _check_delta("Retry-After", retry_after.partition(";")[0].partition("(")[0], lenient)
    if not lenient:
        _check_warnings(message)
    _check_body(message)


def _check_header_counts(message: Message) -> None:
    """Every mandatory header present, each single-value header at most once."""
    missing = [name for name in MANDATORY_HEADERS if not message.has(name)]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise _InvalidError(f"missing mandatory header{plural} {', '.join(missing)}")
    for name in SINGLE_VALUE_HEADERS:
        count = message.count(name)
        if count > 1:
            raise _InvalidError(f"{name} appears {count} times but takes one value")


def _check_vias(message: Message, lenient: bool) -> None:
    _check_list("Via", message, lenient)
    for value in message.header_values("Via"):
        try:
            Via.parse(value)
        except SIPParseError as error:
            raise _InvalidError(f"malformed Via header: {error.reason}") from None


def _check_body(message: Message) -> None:
    """A readable Content-Length, and a Content-Type for any body."""
    length = message.header("Content-Length")
    if length is not None:
        if not length.isascii() or not length.isdigit():
            raise _InvalidError(f"malformed Content-Length {_short(length)!r}")
        if int(length) > MAX_DELTA_SECONDS:
            raise _InvalidError(f"Content-Length {_short(length)} is too large")
    if message.body and not message.has("Content-Type"):
        raise _InvalidError(f"a {len(message.body)}-byte body without Content-Type")


def _check_request_headers(request: Request, lenient: bool) -> None:
    _, method = request.cseq
    if method != request.method:
        raise _InvalidError(
            f"CSeq method {_short(method)} does not match request method {_short(request.method)}"
        )
    forwards = request.header("Max-Forwards")
    if forwards is not None:
        if not forwards.isascii() or not forwards.isdigit():
            raise _InvalidError(f"malformed Max-Forwards {_short(forwards)!r}")
        # RFC 4475 §3.1.2.4: a liberal element may process it as if the field were absent.
        if int(forwards) > MAX_FORWARDS and not lenient:
            raise _InvalidError(f"Max-Forwards {_short(forwards)} exceeds {MAX_FORWARDS}")
    _check_contacts(request, lenient)
    for name in ("Route", "Record-Route"):
        _check_list(name, request, lenient)
        for value in request.header_values(name):
            _parse_address(name, value, lenient)
    date = request.header("Date")
    if date is not None and not lenient and not _DATE_RE.match(date):
        raise _InvalidError(f"Date {_short(date)!r} is not an RFC 1123 date in GMT")


def _check_cseq(message: Message) -> None:
    value = message.header("CSeq") or ""
    parts = value.split()
    if len(parts) != 2 or not parts[0].isascii() or not parts[0].isdigit():
        raise _InvalidError(f"malformed CSeq {_short(value)!r}: expected 'number METHOD'")
    if int(parts[0]) > MAX_CSEQ:
        raise _InvalidError(f"CSeq number {_short(parts[0])} exceeds 2**31-1")
    if not is_token(parts[1]):
        raise _InvalidError(f"malformed CSeq method {_short(parts[1])!r}")


def _check_call_id(value: str, lenient: bool) -> None:
    if not value:
        raise _InvalidError("empty Call-ID")
    if lenient:
        return
    word, _, host = value.partition("@")
    if not word or "@" in host or not all(char in _CALL_ID_CHARS for char in word + host):
        raise _InvalidError(f"malformed Call-ID {_short(value)!r}")


def _check_list(name: str, message: Message, lenient: bool) -> None:
    if lenient:
        return
    for item in message.headers:
        if item.key == name.lower() and "" in split_list(item.value, keep_empty=True):
            raise _InvalidError(f"empty element in the {name} list")


def _parse_address(name: str, value: str, lenient: bool) -> Address:
    try:
        return Address.parse(value, lenient=lenient)
    except SIPParseError as error:
        raise _InvalidError(f"malformed {name} header: {error.reason}") from None


def _check_contacts(request: Request, lenient: bool) -> None:
    _check_list("Contact", request, lenient)
    values = request.header_values("Contact")
    if "*" in values:
        if len(values) > 1 or request.method != "REGISTER":
            raise _InvalidError("Contact * is only allowed alone, in a REGISTER")
        return
    for value in values:
        address = _parse_address("Contact", value, lenient)
        _check_delta("Contact expires", address.param("expires"), lenient)


def _check_delta(name: str, value: str | None, lenient: bool) -> None:
    """delta-seconds; RFC 3261 §20.19 lets a receiver treat bad ones as the default."""
    if value is None or lenient:
        return
    value = value.strip(" \t")
    if not value.isascii() or not value.isdigit():
        raise _InvalidError(f"malformed {name} {_short(value)!r}: expected delta-seconds")
    if int(value) > MAX_DELTA_SECONDS:
        raise _InvalidError(f"{name} {_short(value)} exceeds 2**32-1")


def _check_warnings(message: Message) -> None:
    for value in message.header_values("Warning"):
        code = value.split(" ", 1)[0]
        if len(code) != 3 or not code.isascii() or not code.isdigit():
            raise _InvalidError(f"Warning code {_short(code)!r} is not 3 digits")


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def clean_reason(text: str) -> str:
    """``text`` as one line fit for a reason phrase: no control characters, bounded length."""
    cleaned = "".join("?" if _unprintable(char) else char for char in text)
    return _short(cleaned, _REASON_LIMIT)


def _unprintable(char: str) -> bool:
    # Lone surrogates stand for bytes that were not UTF-8 (lenient parsing).
    code = ord(char)
    return code < 0x20 or code == 0x7F or 0xD800 <= code <= 0xDFFF
