"""SIP message model, parser and serialiser (RFC 3261 §7), sans-IO.

A parsed message remembers the exact bytes it came from, so serialising an unmodified message
gives those bytes back. Any change returns a new message without them, which is then built from
its parts (each header that was not changed is still written as received). :func:`encode`
builds a message with explicit switches for the odd things a test may want on the wire on
purpose: a wrong or missing Content-Length, compact or odd-case names, folded values, comma
lists split or joined, another separator or line end.

The parser is strict by default and tolerant where RFC 3261 says to be: header names in any
case and compact form, white space around the colon, folded values, empty values, CRLFs before
the start line, no Content-Length on a datagram and trailing octets after the body of one.
``lenient=True`` also accepts what RFC 4475 lets a liberal element accept: bare LF line ends,
runs of SP in the request line and SP after the SIP version, a status line without the SP
before an empty reason, header values that are not UTF-8 (kept as surrogates) and, on a
stream, a missing Content-Length (taken as 0). Every failure raises :class:`SIPParseError`
with the byte offset of the problem and a reason.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, Self

from harness.sip.address import Address
from harness.sip.errors import MessageTooLargeError, SIPParseError
from harness.sip.via import Via

#: Compact header forms: RFC 3261 §7.3.3 plus those registered by later RFCs.
COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}
_COMPACT_OF = {long.lower(): short for short, long in COMPACT_FORMS.items()}

_CANONICAL: dict[str, str] = {
    name.lower(): name
    for name in (
        *COMPACT_FORMS.values(),
        "Call-ID",
        "CSeq",
        "WWW-Authenticate",
        "Max-Forwards",
        "Record-Route",
        "Route",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Authorization",
        "Subscription-State",
        "Expires",
        "Allow",
        "Accept",
        "User-Agent",
        "Server",
        "Require",
        "Proxy-Require",
        "Diversion",
        "History-Info",
        "RSeq",
        "RAck",
        "Min-SE",
        "MIME-Version",
        "P-Asserted-Identity",
        "X-Voicemail-Mailbox",
        "X-Voicemail-Context",
    )
}

#: Headers whose value may be a comma-separated list (RFC 3261 §7.3.1). Others, such as the
#: auth headers and Date, contain commas that are not list separators.
LIST_HEADERS = frozenset(
    {
        "via",
        "contact",
        "route",
        "record-route",
        "allow",
        "supported",
        "require",
        "proxy-require",
        "unsupported",
        "accept",
        "accept-encoding",
        "accept-language",
        "allow-events",
        "content-encoding",
        "content-language",
        "diversion",
        "history-info",
        "in-reply-to",
        "alert-info",
        "call-info",
        "error-info",
        "reason",
        "warning",
        "p-asserted-identity",
    }
)

_TOKEN_BYTES = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
)
_VERSION_RE = re.compile(rb"SIP/[0-9]+\.[0-9]+\Z", re.IGNORECASE)
_WSP = b" \t"
_CR, _LF = 13, 10


@functools.lru_cache(maxsize=1024)
def canonical_name(name: str) -> str:
    """The conventional spelling of a header name: compact forms expanded, case normalised."""
    if len(name) == 1 and name.lower() in COMPACT_FORMS:
        return COMPACT_FORMS[name.lower()]
    known = _CANONICAL.get(name.lower())
    if known is not None:
        return known
    return "-".join(part.capitalize() for part in name.split("-"))


@functools.lru_cache(maxsize=1024)
def header_key(name: str) -> str:
    """The lookup key of a header name: lower case with compact forms expanded."""
    return canonical_name(name).lower()


def split_list(value: str, *, keep_empty: bool = False) -> list[str]:
    """Split a header value at commas that are outside quotes and angle brackets.

    Empty elements (``a,,b``) are dropped unless ``keep_empty``.
    """
    parts: list[str] = []
    start = 0
    quoted = False
    angle = False
    index = 0
    while index < len(value):
        char = value[index]
        if quoted:
            if char == "\\":
                index += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "<":
            angle = True
        elif char == ">":
            angle = False
        elif char == "," and not angle:
            parts.append(value[start:index].strip(" \t"))
            start = index + 1
        index += 1
    parts.append(value[start:].strip(" \t"))
    return parts if keep_empty else [part for part in parts if part]


@dataclass(frozen=True, slots=True)
class Header:
    """One header line. ``raw`` holds the exact bytes received (folding included), if any."""

    name: str
    value: str
    raw: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> str:
        """Lookup key: lower case, compact form expanded."""
        return header_key(self.name)


class _Headers:
    """Header access shared by requests and responses."""

    __slots__ = ()
    headers: tuple[Header, ...]
    body: bytes
    raw: bytes | None

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case, compact or long form), or None."""
        key = header_key(name)
        for item in self.headers:
            if item.key == key:
                if key in LIST_HEADERS:
                    values = split_list(item.value)
                    return values[0] if values else ""
                return item.value
        return None

    def header_values(self, name: str) -> list[str]:
        """Every value of ``name`` in order: repeated lines and comma lists both count."""
        key = header_key(name)
        values: list[str] = []
        for item in self.headers:
            if item.key == key:
                if key in LIST_HEADERS:
                    values.extend(split_list(item.value))
                else:
                    values.append(item.value)
        return values

    def has(self, name: str) -> bool:
        """Whether header ``name`` is present."""
        key = header_key(name)
        return any(item.key == key for item in self.headers)

    def count(self, name: str) -> int:
        """How many header lines of ``name`` the message has (not counting comma values)."""
        key = header_key(name)
        return sum(1 for item in self.headers if item.key == key)

    def vias(self) -> list[Via]:
        """Every Via value, top first, parsed; SIPParseError names a malformed one."""
        return [Via.parse(value) for value in self.header_values("Via")]

    def address(self, name: str) -> Address | None:
        """The first value of an address header (From, To, Contact…) parsed, or None."""
        value = self.header(name)
        return None if value is None else Address.parse(value)

    def addresses(self, name: str) -> list[Address]:
        """Every value of an address header (Contact, Route…) parsed, in order."""
        return [Address.parse(value) for value in self.header_values(name)]

    def with_header(self, name: str, value: str, *, first: bool = False) -> Self:
        """A copy with one more header line, appended (or put first)."""
        added = Header(name, value)
        headers = (added, *self.headers) if first else (*self.headers, added)
        return dataclasses.replace(self, headers=headers, raw=None)  # type: ignore[type-var]

    def with_headers(self, *pairs: tuple[str, str]) -> Self:
        """A copy with several header lines appended."""
        extra = tuple(Header(name, value) for name, value in pairs)
        return dataclasses.replace(self, headers=(*self.headers, *extra), raw=None)  # type: ignore[type-var]

    def without_header(self, name: str) -> Self:
        """A copy with every line of header ``name`` removed."""
        key = header_key(name)
        kept = tuple(item for item in self.headers if item.key != key)
        return dataclasses.replace(self, headers=kept, raw=None)  # type: ignore[type-var]

    def replace_header(self, name: str, value: str) -> Self:
        """A copy where header ``name`` has the single value ``value``, in place of the first."""
        key = header_key(name)
        out: list[Header] = []
        placed = False
        for item in self.headers:
            if item.key != key:
                out.append(item)
            elif not placed:
                out.append(Header(item.name, value))
                placed = True
        if not placed:
            out.append(Header(canonical_name(name), value))
        return dataclasses.replace(self, headers=tuple(out), raw=None)  # type: ignore[type-var]

    def with_body(self, body: bytes, content_type: str | None = None) -> Self:
        """A copy with a new body (and Content-Type when given)."""
        message = dataclasses.replace(self, body=body, raw=None)  # type: ignore[type-var]
        if content_type is not None:
            message = message.replace_header("Content-Type", content_type)
        return message

    @property
    def call_id(self) -> str:
        """The Call-ID value ('' when missing)."""
        return self.header("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        """CSeq as (number, method); raises SIPParseError when missing or malformed."""
        value = self.header("CSeq")
        if value is None:
            raise SIPParseError(0, "missing CSeq")
        parts = value.split()
        if len(parts) != 2 or not parts[0].isascii() or not parts[0].isdigit():
            raise SIPParseError(0, f"malformed CSeq {value!r}")
        return int(parts[0]), parts[1]

    def to_bytes(self) -> bytes:
        """The message on the wire: the received bytes when unmodified, else built."""
        if self.raw is not None:
            return self.raw
        return encode(self)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Request(_Headers):
    """A SIP request."""

    method: str
    uri: str
    headers: tuple[Header, ...] = ()
    body: bytes = b""
    version: str = "SIP/2.0"
    raw: bytes | None = field(default=None, compare=False, repr=False)

    def start_line(self) -> str:
        """The request line, without its line end."""
        return f"{self.method} {self.uri} {self.version}"


@dataclass(frozen=True, slots=True)
class Response(_Headers):
    """A SIP response."""

    status: int
    reason: str
    headers: tuple[Header, ...] = ()
    body: bytes = b""
    version: str = "SIP/2.0"
    raw: bytes | None = field(default=None, compare=False, repr=False)

    def start_line(self) -> str:
        """The status line, without its line end."""
        return f"{self.version} {self.status} {self.reason}"


Message = Request | Response

ContentLength = Literal["auto", "keep", "omit"] | int
HeaderCase = Literal["keep", "lower", "upper", "canonical"]
ListStyle = Literal["keep", "split", "join"]


# --------------------------------------------------------------------------- serialising


def encode(
    message: Message,
    *,
    content_length: ContentLength = "auto",
    compact: bool = False,
    header_case: HeaderCase = "keep",
    fold_at: int | None = None,
    line_end: bytes = b"\r\n",
    separator: str = ": ",
    list_style: ListStyle = "keep",
) -> bytes:
    """Build the wire form of ``message`` from its parts.

    ``content_length``: ``"auto"`` writes the true body length (replacing the first
    Content-Length header in place and dropping any others, or adding one at the end);
    ``"keep"`` writes the headers exactly as given, duplicates or lies included; ``"omit"``
    drops it; an int writes that number whatever the body.
    ``compact`` uses compact names where they exist; ``header_case`` changes the spelling of the
    other names (``"lower"``, ``"upper"``, ``"canonical"``); ``fold_at`` folds values longer
    than that at commas or spaces onto continuation lines; ``line_end`` ends every line (and the
    head); ``separator`` goes between name and value (``" : "`` for white space before the
    colon); ``list_style`` ``"split"`` writes each value of a comma list on a line of its own,
    ``"join"`` merges the repeated lines of a list header into one comma list where it first
    appears. Headers that carry received bytes are written as received unless a switch
    changes them.
    """
    style = _Style(compact, header_case, fold_at, line_end, separator)
    restyle = style != _PLAIN
    lines = [message.start_line().encode("utf-8", "surrogateescape")]
    length_value = str(len(message.body) if content_length == "auto" else content_length)
    length_written = False
    for item in _arrange(message.headers, list_style):
        if item.key == "content-length" and content_length != "keep":
            if content_length == "omit" or length_written:
                continue
            length_written = True
            if item.raw is not None and not restyle and item.value == length_value:
                lines.append(_without_line_end(item.raw))
            else:
                lines.append(_header_line(item.name, length_value, style))
            continue
        if item.raw is not None and not restyle:
            lines.append(_without_line_end(item.raw))
        else:
            lines.append(_header_line(item.name, item.value, style))
    if not length_written and content_length not in ("keep", "omit"):
        lines.append(_header_line("Content-Length", length_value, style))
    return line_end.join(lines) + line_end + line_end + message.body


def _without_line_end(raw: bytes) -> bytes:
    if raw.endswith(b"\r\n"):
        return raw[:-2]
    return raw[:-1] if raw.endswith(b"\n") else raw


@dataclass(frozen=True, slots=True)
class _Style:
    compact: bool
    header_case: HeaderCase
    fold_at: int | None
    line_end: bytes
    separator: str


_PLAIN = _Style(False, "keep", None, b"\r\n", ": ")


def _arrange(headers: tuple[Header, ...], list_style: ListStyle) -> list[Header]:
    if list_style == "keep":
        return list(headers)
    if list_style == "split":
        out: list[Header] = []
        for item in headers:
            values = split_list(item.value) if item.key in LIST_HEADERS else []
            if len(values) > 1:
                out.extend(Header(item.name, value) for value in values)
            else:
                out.append(item)
        return out
    joined: list[Header] = []
    first_at: dict[str, int] = {}
    for item in headers:
        if item.key not in LIST_HEADERS:
            joined.append(item)
        elif item.key not in first_at:
            first_at[item.key] = len(joined)
            joined.append(item)
        else:
            at = first_at[item.key]
            joined[at] = Header(joined[at].name, f"{joined[at].value}, {item.value}")
    return joined


def _header_line(name: str, value: str, style: _Style) -> bytes:
    short = _COMPACT_OF.get(header_key(name)) if style.compact else None
    if short is not None:
        name = short
    elif style.header_case == "lower":
        name = name.lower()
    elif style.header_case == "upper":
        name = name.upper()
    elif style.header_case == "canonical":
        name = canonical_name(name)
    if style.fold_at is not None and len(value) > style.fold_at:
        value = _fold(value, style.fold_at, style.line_end.decode("ascii"))
    return f"{name}{style.separator}{value}".encode("utf-8", "surrogateescape")


def _fold(value: str, width: int, line_end: str) -> str:
    """Fold a value onto continuation lines (RFC 3261 §7.3.1) after commas or spaces."""
    out: list[str] = []
    line = ""
    for word in re.split(r"(?<=[, ])", value):
        if line.strip() and len(line) + len(word) > width:
            out.append(line.rstrip())
            line = ""
        line += word
    out.append(line.rstrip())
    return (line_end + " ").join(out)


# --------------------------------------------------------------------------- parsing


@dataclass(slots=True)
class _Head:
    """A parsed message head: start line parts, headers and the declared body length."""

    start: tuple[str, str, str]
    is_response: bool
    headers: tuple[Header, ...]
    content_length: int | None
    length_offset: int


def _skip_leading_crlf(data: bytes | bytearray) -> int:
    """RFC 3261 §7.5: CRLFs before the start line are ignored (they are keep-alives on TCP)."""
    index = 0
    while True:
        if data[index : index + 2] == b"\r\n":
            index += 2
        elif data[index : index + 1] == b"\n":
            index += 1
        else:
            return index


def _find_head_end(data: bytes | bytearray, scan: int) -> tuple[int, int] | None:
    """(end of the last header line, start of the body), or None while incomplete.

    The empty line is found as LF LF or LF CR LF, so bare LFs end a head too; the strict
    line reader then reports them where they are.
    """
    bare = data.find(b"\n\n", scan)
    crlf = data.find(b"\n\r\n", scan)
    if bare == -1 and crlf == -1:
        return None
    if crlf == -1 or (bare != -1 and bare < crlf):
        return bare + 1, bare + 2
    return crlf + 1, crlf + 3


def _split_lines(
    data: bytes | bytearray, start: int, end: int, lenient: bool, base: int
) -> list[tuple[int, int, int]]:
    """The head's lines as (start, end of content, start of next line) positions."""
    lines: list[tuple[int, int, int]] = []
    position = start
    while position < end:
        newline = data.find(b"\n", position, end)
        content_end = newline
        if newline > position and data[newline - 1] == _CR:
            content_end = newline - 1
        elif not lenient:
            raise SIPParseError(base + newline, "bare LF line end (expected CRLF)")
        if not lenient:
            stray = data.find(b"\r", position, content_end)
            if stray != -1:
                raise SIPParseError(base + stray, "bare CR inside a line")
        lines.append((position, content_end, newline + 1))
        position = newline + 1
    return lines


def _decode(chunk: bytes, at: int, lenient: bool, what: str) -> str:
    try:
        return chunk.decode("utf-8")
    except UnicodeDecodeError as error:
        if lenient:
            return chunk.decode("utf-8", "surrogateescape")
        raise SIPParseError(at + error.start, f"{what} is not UTF-8") from None


def _is_token(chunk: bytes) -> bool:
    return bool(chunk) and all(byte in _TOKEN_BYTES for byte in chunk)


def _parse_head(
    data: bytes | bytearray, start: int, head_end: int, lenient: bool, base: int
) -> _Head:
    """Parse the start line and header lines between ``start`` and ``head_end``.

    Positions are indexes into ``data``; errors report ``base`` plus the position.
    """
    lines = _split_lines(data, start, head_end, lenient, base)
    line_start, line_end, _ = lines[0]
    if data[line_start : line_start + 1] in (b" ", b"\t"):
        raise SIPParseError(base + line_start, "start line begins with white space")
    start_line = bytes(data[line_start:line_end])
    is_response = start_line[:4].upper() == b"SIP/"
    parse_start = _status_line if is_response else _request_line
    parts = parse_start(start_line, base + line_start, lenient)
    headers: list[Header] = []
    length: int | None = None
    length_offset = base + line_start
    index = 1
    while index < len(lines):
        first_start, first_end, _ = lines[index]
        if data[first_start] in _WSP:
            raise SIPParseError(base + first_start, "continuation line before any header")
        folded_end = index + 1
        while folded_end < len(lines) and data[lines[folded_end][0]] in _WSP:
            folded_end += 1
        colon = data.find(b":", first_start, first_end)
        if colon == -1:
            raise SIPParseError(base + first_start, "header line without a colon")
        name_bytes = bytes(data[first_start:colon]).rstrip(_WSP)
        if not _is_token(name_bytes):
            what = (
                "without a name" if not name_bytes else f"with invalid name {_shown(name_bytes)!r}"
            )
            raise SIPParseError(base + first_start, f"header line {what}")
        pieces = [(colon + 1, bytes(data[colon + 1 : first_end]))]
        for line in lines[index + 1 : folded_end]:
            content = bytes(data[line[0] : line[1]])
            stripped = content.lstrip(_WSP)
            pieces.append((line[0] + len(content) - len(stripped), stripped))
        value = " ".join(
            _decode(chunk, base + at, lenient, "header value") for at, chunk in pieces
        ).strip(" \t")
        name = name_bytes.decode("ascii")
        raw_end = lines[folded_end - 1][2]
        headers.append(Header(name, value, bytes(data[first_start:raw_end])))
        if header_key(name) == "content-length":
            value_at = base + _value_offset(pieces)
            declared = _content_length_value(value, value_at)
            if length is not None and declared != length:
                raise SIPParseError(
                    base + first_start,
                    f"conflicting Content-Length values {length} and {declared}",
                )
            if length is None:
                length, length_offset = declared, value_at
        index = folded_end
    return _Head(parts, is_response, tuple(headers), length, length_offset)


def _value_offset(pieces: list[tuple[int, bytes]]) -> int:
    """Position of the first non-blank value byte (or of the colon's end when empty)."""
    for at, chunk in pieces:
        stripped = chunk.lstrip(_WSP)
        if stripped:
            return at + len(chunk) - len(stripped)
    return pieces[0][0]


def _content_length_value(value: str, at: int) -> int:
    if not value.isascii() or not value.isdigit():
        raise SIPParseError(at, f"invalid Content-Length {value[:40]!r}: expected digits")
    if len(value.lstrip("0")) > 12:
        raise SIPParseError(at, f"Content-Length {value[:40]} is too large")
    return int(value)


def _request_line(line: bytes, at: int, lenient: bool) -> tuple[str, str, str]:
    """``Method SP Request-URI SP SIP-Version`` (RFC 3261 §7.1)."""
    if lenient:
        parts = line.split()
        if len(parts) != 3:
            raise SIPParseError(
                at, "malformed request line: expected 'METHOD Request-URI SIP-Version'"
            )
        method, uri, version = parts
        version_at = at + line.rfind(version)
    else:
        _check_request_spacing(line, at)
        first = line.find(b" ")
        second = line.find(b" ", first + 1)
        method, uri, version = line[:first], line[first + 1 : second], line[second + 1 :]
        version_at = at + second + 1
    if not _is_token(method):
        raise SIPParseError(at, f"invalid method {_shown(method)!r}")
    if not _VERSION_RE.match(version):
        raise SIPParseError(version_at, f"invalid SIP version {_shown(version)!r}")
    uri_at = at + line.find(uri)
    return (
        method.decode("ascii"),
        _decode(uri, uri_at, lenient, "Request-URI"),
        version.decode("ascii"),
    )


def _check_request_spacing(line: bytes, at: int) -> None:
    content = line.rstrip(b" ")
    if len(content) < len(line):
        raise SIPParseError(at + len(content), "white space after the SIP version")
    spaces = [index for index, byte in enumerate(line) if byte == 0x20]
    for index in spaces:
        if line[index + 1] == 0x20:
            raise SIPParseError(at + index + 1, "more than one SP between request-line elements")
    if len(spaces) < 2:
        raise SIPParseError(
            at + len(line), "malformed request line: expected 'METHOD Request-URI SIP-Version'"
        )
    if len(spaces) > 2:
        raise SIPParseError(at + spaces[1], "SP inside the Request-URI")


def _status_line(line: bytes, at: int, lenient: bool) -> tuple[str, str, str]:
    """``SIP-Version SP Status-Code SP Reason-Phrase`` (RFC 3261 §7.2)."""
    space = line.find(b" ")
    if space == -1:
        raise SIPParseError(at + len(line), "status line without a status code")
    version = line[:space]
    if not _VERSION_RE.match(version):
        raise SIPParseError(at, f"invalid SIP version {_shown(version)!r}")
    code_at = space + 1
    if lenient:
        while line[code_at : code_at + 1] == b" ":
            code_at += 1
    code = line[code_at : code_at + 3]
    after = line[code_at + 3 : code_at + 4]
    if len(code) != 3 or not code.isdigit() or after.isdigit():
        end = code_at
        while line[end : end + 1].isdigit():
            end += 1
        shown = line[code_at:end] or line[code_at : code_at + 10]
        raise SIPParseError(
            at + code_at, f"invalid status code {_shown(shown)!r}: expected 3 digits"
        )
    if after not in (b" ", b"") or (after == b"" and not lenient):
        raise SIPParseError(at + code_at + 3, "expected SP after the status code")
    reason_at = code_at + 4
    reason = _decode(line[reason_at:], at + reason_at, lenient, "reason phrase")
    return version.decode("ascii"), code.decode("ascii"), reason


def _shown(chunk: bytes) -> str:
    """A bit of received bytes for an error message: short, and readable whatever they hold."""
    return chunk[:40].decode("utf-8", "backslashreplace")


def _build(head: _Head, body: bytes, raw: bytes) -> Message:
    first, second, third = head.start
    if head.is_response:
        return Response(
            status=int(second),
            reason=third,
            headers=head.headers,
            body=body,
            version=first,
            raw=raw,
        )
    return Request(
        method=first, uri=second, headers=head.headers, body=body, version=third, raw=raw
    )


def parse_message(data: bytes, *, lenient: bool = False) -> Message:
    """Parse one message from a datagram (RFC 3261 §18.3).

    Without Content-Length the body is the rest of the datagram; with it, octets beyond are
    discarded and a shorter body is an error.
    """
    start = _skip_leading_crlf(data)
    if start == len(data):
        raise SIPParseError(start, "empty message")
    found = _find_head_end(data, start)
    if found is None:
        raise SIPParseError(len(data), "message head is not terminated by an empty line")
    head_end, body_start = found
    head = _parse_head(data, start, head_end, lenient, 0)
    if head.content_length is None:
        end = len(data)
    else:
        end = body_start + head.content_length
        if end > len(data):
            raise SIPParseError(
                head.length_offset,
                f"Content-Length {head.content_length} exceeds the "
                f"{len(data) - body_start} bytes after the head",
            )
    return _build(head, data[body_start:end], data[start:end])


class StreamParser:
    """Frames messages out of a TCP byte stream by Content-Length (RFC 3261 §18.3).

    Feed bytes as they arrive with :meth:`feed`; iterate :meth:`messages` for every complete
    message so far. Partial, byte-at-a-time and pipelined reads all work, and no byte is
    scanned twice while a head is incomplete. A framing error is final: a stream cannot be
    resynchronised, so every later call to :meth:`messages` raises the same error.
    """

    def __init__(
        self, *, lenient: bool = False, max_head: int = 65536, max_body: int = 16 * 1024 * 1024
    ) -> None:
        self._buffer = bytearray()
        self._consumed = 0
        self._scan = 0
        self._pending: tuple[_Head, int, int] | None = None
        self._error: SIPParseError | None = None
        self._lenient = lenient
        self._max_head = max_head
        self._max_body = max_body

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        self._buffer += data

    @property
    def offset(self) -> int:
        """Stream offset of the next unparsed byte."""
        return self._consumed

    @property
    def buffered(self) -> int:
        """How many received bytes are not part of a returned message yet."""
        return len(self._buffer)

    def messages(self) -> Iterator[Message]:
        """Yield every complete message buffered; raise SIPParseError on a framing error."""
        if self._error is not None:
            raise self._error
        while True:
            try:
                message = self._next()
            except SIPParseError as error:
                self._error = error
                raise
            if message is None:
                return
            yield message

    def _next(self) -> Message | None:
        if self._pending is None:
            skipped = _skip_leading_crlf(self._buffer)
            if skipped:
                del self._buffer[:skipped]
                self._consumed += skipped
                self._scan = 0
            if not self._buffer:
                return None
            found = _find_head_end(self._buffer, self._scan)
            if found is None:
                if len(self._buffer) > self._max_head:
                    raise MessageTooLargeError(
                        self._consumed + self._max_head,
                        f"message head longer than {self._max_head} bytes",
                    )
                self._scan = max(0, len(self._buffer) - 2)
                return None
            head_end, body_start = found
            if head_end > self._max_head:
                raise MessageTooLargeError(
                    self._consumed + self._max_head,
                    f"message head longer than {self._max_head} bytes",
                )
            head = _parse_head(self._buffer, 0, head_end, self._lenient, self._consumed)
            length = head.content_length
            if length is None:
                if not self._lenient:
                    raise SIPParseError(self._consumed, "missing Content-Length on a stream")
                length = 0
            if length > self._max_body:
                raise MessageTooLargeError(
                    head.length_offset,
                    f"Content-Length {length} exceeds the limit of {self._max_body} bytes",
                )
            self._pending = (head, body_start, body_start + length)
        head, body_start, end = self._pending
        if len(self._buffer) < end:
            return None
        raw = bytes(self._buffer[:end])
        del self._buffer[:end]
        self._consumed += end
        self._scan = 0
        self._pending = None
        return _build(head, raw[body_start:], raw)
