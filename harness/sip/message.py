"""SIP message model, parser and serialiser (RFC 3261 §7), sans-IO.

A parsed message remembers the exact bytes it came from, so serialising an unmodified message
gives those bytes back. Any change returns a new message without them, which is then built from
its parts. :func:`encode` builds a message with explicit switches for the odd things a test may
want on the wire on purpose (a wrong Content-Length, compact or lower-case names, folding).

The parser is strict by default; ``lenient=True`` also accepts bare LF line ends and a missing
Content-Length on a stream, as tolerant elements do. Every failure raises :class:`SIPParseError`
with the byte offset of the problem and a reason.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from harness.sip.errors import SIPParseError

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
        "Diversion",
        "History-Info",
        "RSeq",
        "RAck",
        "Min-SE",
        "MIME-Version",
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

_TOKEN_RE = re.compile(rb"[A-Za-z0-9.!%*_+`'~-]+\Z")
_STATUS_LINE_RE = re.compile(rb"SIP/(\d+)\.(\d+) (\d{3}) (.*)\Z", re.DOTALL)
_VERSION_RE = re.compile(r"SIP/\d+\.\d+\Z", re.IGNORECASE)


def canonical_name(name: str) -> str:
    """The conventional spelling of a header name: compact forms expanded, case normalised."""
    if len(name) == 1 and name.lower() in COMPACT_FORMS:
        return COMPACT_FORMS[name.lower()]
    known = _CANONICAL.get(name.lower())
    if known is not None:
        return known
    return "-".join(part.capitalize() for part in name.split("-"))


def header_key(name: str) -> str:
    """The lookup key of a header name: lower case with compact forms expanded."""
    return canonical_name(name).lower()


def split_list(value: str) -> list[str]:
    """Split a header value at commas that are outside quotes and angle brackets."""
    parts: list[str] = []
    start = 0
    quoted = False
    angle = 0
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
            angle += 1
        elif char == ">":
            angle = max(0, angle - 1)
        elif char == ",":
            parts.append(value[start:index].strip())
            start = index + 1
        index += 1
    parts.append(value[start:].strip())
    return [part for part in parts if part]


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
        if len(parts) != 2 or not parts[0].isdigit():
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


def encode(
    message: Message,
    *,
    content_length: ContentLength = "auto",
    compact: bool = False,
    header_case: HeaderCase = "keep",
    fold_at: int | None = None,
    line_end: bytes = b"\r\n",
) -> bytes:
    """Build the wire form of ``message`` from its parts.

    ``content_length``: ``"auto"`` writes the true body length (replacing any Content-Length
    header in place, or adding one at the end); ``"keep"`` writes the headers exactly as given,
    duplicates or lies included; ``"omit"`` drops it; an int writes that number whatever the body.
    ``compact`` uses compact names where they exist; ``header_case`` changes the spelling of
    names; ``fold_at`` folds values longer than that at commas or spaces onto continuation lines.
    Headers that carry received bytes are written as received unless a switch changes them.
    """
    lines = [message.start_line().encode("utf-8")]
    restyle = compact or header_case != "keep" or fold_at is not None or line_end != b"\r\n"
    length_written = False
    style: dict[str, Any] = {
        "compact": compact,
        "header_case": header_case,
        "fold_at": fold_at,
        "line_end": line_end,
    }
    for item in message.headers:
        if item.key == "content-length" and content_length != "keep":
            if content_length == "omit" or length_written:
                continue
            value = str(len(message.body) if content_length == "auto" else content_length)
            lines.append(_header_line(item.name, value, **style))
            length_written = True
            continue
        if item.raw is not None and not restyle:
            lines.append(item.raw.rstrip(b"\r\n"))
            continue
        lines.append(_header_line(item.name, item.value, **style))
    if not length_written and content_length not in ("keep", "omit"):
        value = str(len(message.body) if content_length == "auto" else content_length)
        lines.append(_header_line("Content-Length", value, **{**style, "fold_at": None}))
    return line_end.join(lines) + line_end + line_end + message.body


def _header_line(
    name: str,
    value: str,
    *,
    compact: bool,
    header_case: HeaderCase,
    fold_at: int | None,
    line_end: bytes,
) -> bytes:
    if compact and name.lower() in _COMPACT_OF:
        name = _COMPACT_OF[name.lower()]
    elif header_case == "lower":
        name = name.lower()
    elif header_case == "upper":
        name = name.upper()
    elif header_case == "canonical":
        name = canonical_name(name)
    if fold_at is not None and len(value) > fold_at:
        value = _fold(value, fold_at, line_end.decode("ascii"))
    return f"{name}: {value}".encode()


def _fold(value: str, width: int, line_end: str) -> str:
    """Fold a value onto continuation lines (RFC 3261 §7.3.1) at commas or spaces."""
    out: list[str] = []
    line = ""
    for word in re.split(r"(?<=[, ])", value):
        if line and len(line) + len(word) > width:
            out.append(line.rstrip())
            line = ""
        line += word
    out.append(line.rstrip())
    return (line_end + " ").join(out)


def _split_head(data: bytes, lenient: bool) -> tuple[list[tuple[int, bytes]], int] | None:
    """Split ``data`` into (offset, line) pairs up to the blank line, and the body offset.

    Returns None when the head is not complete yet.
    """
    terminator = data.find(b"\r\n\r\n")
    end_len = 4
    if lenient:
        bare = data.find(b"\n\n")
        if bare != -1 and (terminator == -1 or bare < terminator):
            terminator, end_len = bare, 2
        mixed = data.find(b"\r\n\n")
        if mixed != -1 and (terminator == -1 or mixed < terminator):
            terminator, end_len = mixed, 3
    if terminator == -1:
        return None
    head = data[:terminator]
    lines: list[tuple[int, bytes]] = []
    offset = 0
    separator = rb"\r?\n" if lenient else rb"\r\n"
    for match in re.finditer(separator, head + (b"\r\n" if not lenient else b"\n")):
        lines.append((offset, head[offset : match.start()]))
        offset = match.end()
    if not lenient:
        for line_offset, line in lines:
            bare_lf = line.find(b"\n")
            if bare_lf != -1:
                raise SIPParseError(line_offset + bare_lf, "bare LF line end")
    return lines, terminator + end_len


def _parse_head(lines: list[tuple[int, bytes]], base: int) -> tuple[str, tuple[Header, ...]]:
    """Parse the start line and header lines (unfolding continuations)."""
    start_offset, start = lines[0]
    try:
        start_line = start.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SIPParseError(base + start_offset + error.start, "start line is not UTF-8") from None
    headers: list[Header] = []
    pending: list[tuple[int, bytes]] = []

    def flush() -> None:
        if not pending:
            return
        first_offset, first = pending[0]
        raw = b"\r\n".join(line for _, line in pending) + b"\r\n"
        joined = first + b"".join(b" " + line.strip(b" \t") for _, line in pending[1:])
        colon = joined.find(b":")
        if colon <= 0:
            raise SIPParseError(base + first_offset, "header line without a name and colon")
        name_bytes = joined[:colon].rstrip(b" \t")
        if not _TOKEN_RE.match(name_bytes):
            raise SIPParseError(base + first_offset, f"invalid header name {name_bytes!r}")
        try:
            value = joined[colon + 1 :].strip(b" \t").decode("utf-8")
        except UnicodeDecodeError as error:
            raise SIPParseError(
                base + first_offset + colon + 1 + error.start, "header value is not UTF-8"
            ) from None
        headers.append(Header(name_bytes.decode("ascii"), value, raw))
        pending.clear()

    for line_offset, line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            if not pending:
                raise SIPParseError(base + line_offset, "continuation line before any header")
            pending.append((line_offset, line))
            continue
        flush()
        pending.append((line_offset, line))
    flush()
    return start_line, tuple(headers)


def _build(
    start_line: str, headers: tuple[Header, ...], body: bytes, raw: bytes, base: int
) -> Message:
    if start_line.startswith("SIP/"):
        match = _STATUS_LINE_RE.match(start_line.encode("utf-8"))
        if match is None:
            raise SIPParseError(base, f"malformed status line {start_line!r}")
        version = f"SIP/{match.group(1).decode()}.{match.group(2).decode()}"
        return Response(
            status=int(match.group(3)),
            reason=match.group(4).decode("utf-8"),
            headers=headers,
            body=body,
            version=version,
            raw=raw,
        )
    parts = start_line.split(" ")
    if len(parts) != 3 or not all(parts):
        raise SIPParseError(base, f"malformed request line {start_line!r}")
    method, uri, version = parts
    if not _TOKEN_RE.match(method.encode()):
        raise SIPParseError(base, f"invalid method {method!r}")
    if not _VERSION_RE.match(version):
        raise SIPParseError(base + len(method) + len(uri) + 2, f"invalid version {version!r}")
    return Request(method=method, uri=uri, headers=headers, body=body, version=version, raw=raw)


def _content_length(headers: Iterable[Header], base: int) -> int | None:
    values = [item.value for item in headers if item.key == "content-length"]
    if not values:
        return None
    if len(set(values)) > 1:
        raise SIPParseError(base, f"conflicting Content-Length values {values}")
    if not values[0].isdigit():
        raise SIPParseError(base, f"invalid Content-Length {values[0]!r}")
    return int(values[0])


def _skip_leading_crlf(data: bytes) -> int:
    """RFC 3261 §7.5: CRLFs before the start line are ignored (they are keep-alives on TCP)."""
    index = 0
    while data[index : index + 2] == b"\r\n" or data[index : index + 1] == b"\n":
        index += 2 if data[index : index + 1] == b"\r" else 1
    return index


def parse_message(data: bytes, *, lenient: bool = False) -> Message:
    """Parse one message from a datagram (RFC 3261 §18.3).

    Without Content-Length the body is the rest of the datagram; with it, octets beyond are
    discarded and a shorter body is an error.
    """
    start = _skip_leading_crlf(data)
    split = _split_head(data[start:], lenient)
    if split is None:
        raise SIPParseError(len(data), "message head is not terminated by an empty line")
    lines, body_offset = split
    if not lines or not lines[0][1]:
        raise SIPParseError(start, "empty message")
    start_line, headers = _parse_head(lines, start)
    body_start = start + body_offset
    declared = _content_length(headers, start)
    if declared is None:
        body = data[body_start:]
    else:
        if body_start + declared > len(data):
            raise SIPParseError(
                len(data),
                f"Content-Length {declared} exceeds the {len(data) - body_start} body bytes",
            )
        body = data[body_start : body_start + declared]
    raw = data[start : body_start + len(body)]
    return _build(start_line, headers, body, raw, start)


class StreamParser:
    """Frames messages out of a TCP byte stream by Content-Length (RFC 3261 §18.3).

    Feed bytes as they arrive with :meth:`feed`; iterate :meth:`messages` for every complete
    message so far. Partial and pipelined reads both work.
    """

    def __init__(self, *, lenient: bool = False, max_head: int = 65536) -> None:
        self._buffer = bytearray()
        self._consumed = 0
        self._lenient = lenient
        self._max_head = max_head

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        self._buffer += data

    @property
    def offset(self) -> int:
        """Stream offset of the next unparsed byte."""
        return self._consumed

    def messages(self) -> Iterator[Message]:
        """Yield every complete message buffered; raise SIPParseError on a framing error."""
        while True:
            message = self._next()
            if message is None:
                return
            yield message

    def _next(self) -> Message | None:
        data = bytes(self._buffer)
        start = _skip_leading_crlf(data)
        if start:
            del self._buffer[:start]
            self._consumed += start
            data = data[start:]
        if not data:
            return None
        split = _split_head(data, self._lenient)
        if split is None:
            if len(data) > self._max_head:
                raise SIPParseError(self._consumed + len(data), "message head too long")
            return None
        lines, body_offset = split
        start_line, headers = _parse_head(lines, self._consumed)
        declared = _content_length(headers, self._consumed)
        if declared is None:
            if not self._lenient:
                raise SIPParseError(self._consumed, "missing Content-Length on a stream")
            declared = 0
        end = body_offset + declared
        if len(data) < end:
            return None
        message = _build(start_line, headers, data[body_offset:end], data[:end], self._consumed)
        del self._buffer[:end]
        self._consumed += end
        return message
