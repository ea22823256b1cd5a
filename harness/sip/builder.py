"""Building new SIP messages: requests outside a dialog, responses, CANCELs, and the random
identifiers they carry (branch, tag, Call-ID).

Every header written here parses back with :mod:`harness.sip.message` and the header models
(:class:`Via`, :class:`Address`, :class:`URI`). Identifiers come from :mod:`secrets`; nothing
reads a clock.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence

from harness.sip.address import Address
from harness.sip.message import Header, Request, Response
from harness.sip.uri import URI
from harness.sip.via import MAGIC_COOKIE, Via

#: Reason phrases of the status codes registered for SIP (RFC 3261 §21 and later RFCs).
REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    199: "Early Dialog Terminated",
    200: "OK",
    202: "Accepted",
    204: "No Notification",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    412: "Conditional Request Failed",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Interval Too Small",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    491: "Request Pending",
    493: "Undecipherable",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    580: "Precondition Failure",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}

HeaderPairs = Iterable[tuple[str, str]]

_TOKEN_RE = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+\Z")


def new_branch() -> str:
    """A fresh RFC 3261 branch: the magic cookie and 64 random bits."""
    return MAGIC_COOKIE + secrets.token_hex(8)


def new_tag() -> str:
    """A fresh From/To tag (48 random bits, RFC 3261 §19.3 asks for at least 32)."""
    return secrets.token_hex(6)


def new_call_id(host: str | None = None) -> str:
    """A fresh Call-ID: 96 random bits, ``@host`` appended when given."""
    local = secrets.token_hex(12)
    return local if host is None else f"{local}@{host}"


def format_host(host: str) -> str:
    """``host`` as it appears in a URI or Via: IPv6 literals in brackets."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def new_via(
    local: tuple[str, int],
    transport: str = "UDP",
    *,
    branch: str | None = None,
    rport: bool = True,
) -> Via:
    """A top Via for a request sent from ``local``: a new branch, and ``rport`` (RFC 3581)."""
    params: list[tuple[str, str | None]] = [("branch", branch or new_branch())]
    if rport:
        params.append(("rport", None))
    return Via(
        transport=transport.upper(),
        host=format_host(local[0]),
        port=local[1],
        params=tuple(params),
    )


def reason_phrase(status: int) -> str:
    """The registered reason phrase of ``status``; ValueError names an unknown code."""
    if not 100 <= status <= 699:
        raise ValueError(f"status code {status} is outside 100-699")
    phrase = REASON_PHRASES.get(status)
    if phrase is None:
        raise ValueError(f"status code {status} has no registered reason phrase: pass reason=")
    return phrase


def as_address(value: Address | str, what: str) -> Address:
    """``value`` as an Address, parsing text; the error names ``what`` was being parsed."""
    if isinstance(value, Address):
        return value
    try:
        return Address.parse(value)
    except ValueError as error:
        raise ValueError(f"{what}: {error}") from None


def as_uri(value: URI | str, what: str) -> URI:
    """``value`` as a URI, parsing text; the error names ``what`` was being parsed."""
    if isinstance(value, URI):
        return value
    try:
        return URI.parse(value)
    except ValueError as error:
        raise ValueError(f"{what}: {error}") from None


def without_tag(address: Address) -> Address:
    """``address`` without its ``tag`` parameter."""
    kept = tuple(item for item in address.params if item[0].lower() != "tag")
    if kept == address.params:
        return address
    return Address(uri=address.uri, display_name=address.display_name, params=kept)


def body_headers(body: bytes, content_type: str | None) -> list[Header]:
    """The Content-Type header for ``body`` (Content-Length is written by the encoder)."""
    if body and content_type is None:
        raise ValueError("a body needs a content_type")
    return [Header("Content-Type", content_type)] if content_type is not None else []


def new_request(
    method: str,
    uri: URI | str,
    *,
    from_address: Address | str,
    to_address: Address | str,
    local: tuple[str, int],
    transport: str = "UDP",
    contact: Address | str | None = None,
    call_id: str | None = None,
    cseq: int = 1,
    from_tag: str | None = None,
    branch: str | None = None,
    max_forwards: int = 70,
    route: Sequence[Address | str] = (),
    headers: HeaderPairs = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Request:
    """A request outside any dialog (REGISTER, INVITE, SUBSCRIBE, NOTIFY, OPTIONS…).

    Fills the top Via (``local`` as sent-by, a new branch unless given, ``rport``),
    Max-Forwards, From (with ``from_tag``, a new tag, or the tag ``from_address`` already has),
    To (as given: no tag outside a dialog), Call-ID (new unless given), CSeq and Contact. The
    Contact defaults to ``sip:<From user>@<local>`` with ``;transport=`` for non-UDP transports.
    ``route`` becomes Route headers in order (a preloaded route set); ``headers`` are appended.
    """
    if not _TOKEN_RE.match(method):
        raise ValueError(f"invalid method {method!r}")
    if not 0 <= cseq < 2**31:
        raise ValueError(f"CSeq number {cseq} is outside 0..2**31-1 (RFC 3261 §8.1.1.5)")
    request_uri = as_uri(uri, "Request-URI")
    sender = as_address(from_address, "From")
    if from_tag is not None or sender.tag is None:
        sender = sender.with_params(tag=from_tag or new_tag())
    recipient = as_address(to_address, "To")
    if contact is None:
        params: tuple[tuple[str, str | None], ...] = ()
        if transport.upper() != "UDP":
            params = (("transport", transport.lower()),)
        contact_address = Address(
            URI(
                scheme="sip",
                user=sender.uri.user,
                host=format_host(local[0]),
                port=local[1],
                params=params,
            )
        )
    else:
        contact_address = as_address(contact, "Contact")
    lines = [
        Header("Via", str(new_via(local, transport, branch=branch))),
        Header("Max-Forwards", str(max_forwards)),
        *(Header("Route", str(as_address(item, "Route"))) for item in route),
        Header("From", str(sender)),
        Header("To", str(recipient)),
        Header("Call-ID", call_id or new_call_id()),
        Header("CSeq", f"{cseq} {method}"),
        Header("Contact", str(contact_address)),
        *(Header(name, value) for name, value in headers),
        *body_headers(body, content_type),
    ]
    return Request(method=method, uri=str(request_uri), headers=tuple(lines), body=body)


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    contact: Address | str | None = None,
    headers: HeaderPairs = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Response:
    """A response to ``request`` (RFC 3261 §8.2.6).

    Copies every Via (in order), From, To, Call-ID and CSeq. When the request's To has no tag,
    one is added to every response but a 100: ``to_tag`` when given, else a new one — pass the
    same ``to_tag`` to every response of one dialog. Record-Route is copied into 101-299
    responses (§12.1.1), Timestamp into a 100 (§8.2.6.1). ``reason`` defaults to the
    registered phrase.
    """
    if not 100 <= status <= 699:
        raise ValueError(f"status code {status} is outside 100-699")
    phrase = reason if reason is not None else reason_phrase(status)
    to_value = request.header("To")
    if to_value is None:
        raise ValueError(f"cannot answer {request.method} {request.uri}: it has no To header")
    if status != 100:
        recipient = as_address(to_value, "To")
        if recipient.tag is None:
            to_value = str(recipient.with_params(tag=to_tag or new_tag()))
    lines = [Header("Via", value) for value in request.header_values("Via")]
    if 100 < status < 300:
        lines.extend(
            Header("Record-Route", value) for value in request.header_values("Record-Route")
        )
    sender = request.header("From")
    if sender is not None:
        lines.append(Header("From", sender))
    lines.append(Header("To", to_value))
    for name in ("Call-ID", "CSeq"):
        value = request.header(name)
        if value is not None:
            lines.append(Header(name, value))
    if status == 100:
        timestamp = request.header("Timestamp")
        if timestamp is not None:
            lines.append(Header("Timestamp", timestamp))
    if contact is not None:
        lines.append(Header("Contact", str(as_address(contact, "Contact"))))
    lines.extend(Header(name, value) for name, value in headers)
    lines.extend(body_headers(body, content_type))
    return Response(status=status, reason=phrase, headers=tuple(lines), body=body)


def error_response(
    request: Request, status: int, reason: str, *, headers: HeaderPairs = ()
) -> Response | None:
    """A response refusing ``request`` however broken it is, or None when it cannot be
    addressed (no Via, Call-ID or CSeq to copy: RFC 3261 §8.2.6 needs them to match it).

    :func:`make_response` when the request allows it; otherwise the headers that survived are
    copied as they are (a To that does not parse is copied without a tag added).
    """
    if not (request.has("Via") and request.has("Call-ID") and request.has("CSeq")):
        return None
    try:
        return make_response(request, status, reason, headers=headers)
    except ValueError:
        pass
    lines = [Header("Via", value) for value in request.header_values("Via")]
    for name in ("From", "To", "Call-ID", "CSeq"):
        value = request.header(name)
        if value is not None:
            lines.append(Header(name, value))
    lines.extend(Header(name, value) for name, value in headers)
    return Response(status=status, reason=reason, headers=tuple(lines))


def make_cancel(request: Request, *, headers: HeaderPairs = ()) -> Request:
    """The CANCEL of ``request`` (RFC 3261 §9.1).

    Same Request-URI, Call-ID, From, To and CSeq number; a single Via equal to the request's top
    Via (same branch, so it reaches the same servers); the request's Route headers.
    """
    if request.method in ("ACK", "CANCEL"):
        raise ValueError(f"a {request.method} cannot be cancelled")
    top_via = request.header("Via")
    if top_via is None:
        raise ValueError(f"cannot cancel {request.method} {request.uri}: it has no Via")
    number, _ = request.cseq
    lines = [Header("Via", top_via)]
    max_forwards = request.header("Max-Forwards")
    lines.append(Header("Max-Forwards", max_forwards if max_forwards is not None else "70"))
    lines.extend(Header("Route", value) for value in request.header_values("Route"))
    for name in ("From", "To", "Call-ID"):
        value = request.header(name)
        if value is not None:
            lines.append(Header(name, value))
    lines.append(Header("CSeq", f"{number} CANCEL"))
    lines.extend(Header(name, value) for name, value in headers)
    return Request(method="CANCEL", uri=request.uri, headers=tuple(lines))
