"""SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966), with parameters, headers and %-escapes.

Also the parameter lists shared by URIs and header fields: URI parameters are %-escaped
(``;n%61me=v%61lue``), header parameters (RFC 3261 ``generic-param``) are not, but may have
linear white space around ``=`` and quoted-string values.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from harness.sip.errors import SIPParseError

Params = tuple[tuple[str, str | None], ...]

# Characters RFC 3261 allows unescaped in each part (unreserved plus the part's own extras).
_UNRESERVED = "-_.!~*'()"
_USER_SAFE = _UNRESERVED + "&=+$,;?/"
_PASSWORD_SAFE = _UNRESERVED + "&=+$,"
_PARAM_SAFE = _UNRESERVED + "[]/:&+$"
_HEADER_SAFE = _UNRESERVED + "[]/?:+$"
_HEX = frozenset("0123456789abcdefABCDEF")
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
#: RFC 3261 ``token`` characters.
TOKEN_CHARS = _ALNUM | frozenset("-.!%*_+`'~")
# An unquoted header parameter value is a token or a host (IPv6 references included).
_GEN_VALUE_CHARS = TOKEN_CHARS | frozenset(":[]")
_PARAM_CHARS = _ALNUM | frozenset(_PARAM_SAFE) | {"%"}
_HOST_RE = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9.])?)\Z")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*\Z")
_NOT_IN_URI = frozenset('<>"')
_LWS = " \t"


def is_token(text: str) -> bool:
    """Whether ``text`` is a non-empty RFC 3261 token."""
    return bool(text) and all(char in TOKEN_CHARS for char in text)


def _unescape(text: str, offset: int, what: str) -> str:
    """Decode %HH escapes; bytes that are not UTF-8 survive as surrogates (round-trip safe)."""
    index = text.find("%")
    while index != -1:
        if text[index + 1 : index + 2] not in _HEX or text[index + 2 : index + 3] not in _HEX:
            raise SIPParseError(offset + index, f"bad %-escape in {what}")
        index = text.find("%", index + 3)
    return unquote(text, errors="surrogateescape")


def _escape(text: str, safe: str) -> str:
    return quote(text, safe=safe, errors="surrogateescape")


def parse_params(text: str, offset: int = 0, *, escaped: bool = True) -> Params:
    """Parse ``name=value;flag`` parameters (the leading ``;`` already removed).

    ``escaped=True`` reads URI parameters: %-escapes are decoded in names and values and no
    white space is allowed. ``escaped=False`` reads header parameters (``generic-param``):
    white space around names, ``=`` and values is allowed, ``%`` is an ordinary character and
    a quoted-string value is returned without its quotes. ``offset`` positions errors.
    """
    if escaped:
        return _parse_uri_params(text, offset)
    return _parse_header_params(text, offset)


def _parse_uri_params(text: str, offset: int) -> Params:
    params: list[tuple[str, str | None]] = []
    position = offset
    for item in text.split(";"):
        name, eq, value = item.partition("=")
        if not name:
            what = "empty URI parameter" if not item else "URI parameter without a name"
            raise SIPParseError(position, what)
        bad = _first_outside(name, _PARAM_CHARS)
        if bad is None and eq:
            found = _first_outside(value, _PARAM_CHARS)
            bad = None if found is None else len(name) + 1 + found
        if bad is not None:
            raise SIPParseError(
                position + bad, f"character {item[bad]!r} not allowed in a URI parameter"
            )
        if eq and not value:
            raise SIPParseError(
                position + len(name) + 1, f"URI parameter {name!r} has an empty value"
            )
        params.append(
            (
                _unescape(name, position, "URI parameter name"),
                _unescape(value, position + len(name) + 1, "URI parameter value") if eq else None,
            )
        )
        position += len(item) + 1
    return tuple(params)


def _parse_header_params(text: str, offset: int) -> Params:
    params: list[tuple[str, str | None]] = []
    for start, item in _split_outside_quotes(text, ";"):
        position = offset + start
        stripped = item.strip(_LWS)
        if not stripped:
            raise SIPParseError(position, "empty parameter")
        lead = position + len(item) - len(item.lstrip(_LWS))
        raw_name, eq, raw_value = stripped.partition("=")
        name = raw_name.rstrip(_LWS)
        if not is_token(name):
            what = "parameter without a name" if not name else f"invalid parameter name {name!r}"
            raise SIPParseError(lead, what)
        if not eq:
            params.append((name, None))
            continue
        value_at = lead + len(raw_name) + 1 + len(raw_value) - len(raw_value.lstrip(_LWS))
        value = raw_value.strip(_LWS)
        if value.startswith('"'):
            end = closing_quote(value, value_at)
            if end != len(value) - 1:
                raise SIPParseError(value_at + end + 1, f"text after the quoted value of {name!r}")
            params.append((name, unquote_string(value[1:end])))
            continue
        if not value:
            raise SIPParseError(value_at, f"parameter {name!r} has an empty value")
        bad = _first_outside(value, _GEN_VALUE_CHARS)
        if bad is not None:
            raise SIPParseError(
                value_at + bad, f"character {value[bad]!r} not allowed in the value of {name!r}"
            )
        params.append((name, value))
    return tuple(params)


def _split_outside_quotes(text: str, separator: str) -> list[tuple[int, str]]:
    """Split at ``separator`` outside quoted strings: (start index, piece) pairs."""
    pieces: list[tuple[int, str]] = []
    start = 0
    index = 0
    quoted = False
    while index < len(text):
        char = text[index]
        if quoted:
            if char == "\\":
                index += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == separator:
            pieces.append((start, text[start:index]))
            start = index + 1
        index += 1
    pieces.append((start, text[start:]))
    return pieces


def closing_quote(text: str, offset: int = 0) -> int:
    """Index of the quote closing the quoted string that opens ``text``; errors name ``offset``."""
    index = 1
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == '"':
            return index
        index += 1
    raise SIPParseError(offset, "unterminated quoted string")


def unquote_string(text: str) -> str:
    """The content of a quoted string (without its quotes) with quoted-pairs resolved."""
    if "\\" not in text:
        return text
    out: list[str] = []
    index = 0
    while index < len(text):
        if text[index] == "\\" and index + 1 < len(text):
            index += 1
        out.append(text[index])
        index += 1
    return "".join(out)


def quote_string(text: str) -> str:
    """``text`` as a quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_params(params: Params, safe: str = _PARAM_SAFE) -> str:
    """Serialise URI parameters (%-escaped), each with its leading ``;``."""
    return "".join(
        f";{_escape(name, safe)}"
        if value is None
        else f";{_escape(name, safe)}={_escape(value, safe)}"
        for name, value in params
    )


def format_header_params(params: Params) -> str:
    """Serialise header parameters, each with its leading ``;``; values are quoted when needed."""
    out: list[str] = []
    for name, value in params:
        if value is None:
            out.append(f";{name}")
        elif value and all(char in _GEN_VALUE_CHARS for char in value):
            out.append(f";{name}={value}")
        else:
            out.append(f";{name}={quote_string(value)}")
    return "".join(out)


def param_value(params: Params, name: str) -> str | None:
    """The value of parameter ``name`` (case-insensitive); '' for a flag; None when absent."""
    lowered = name.lower()
    for key, value in params:
        if key.lower() == lowered:
            return "" if value is None else value
    return None


def replace_params(params: Params, new: dict[str, str | None]) -> Params:
    """``params`` with ``new`` set: same-named ones replaced in place, the others appended."""
    pending = {name.lower(): (name, value) for name, value in new.items()}
    out: list[tuple[str, str | None]] = []
    for name, value in params:
        replacement = pending.pop(name.lower(), None)
        out.append((name, replacement[1]) if replacement is not None else (name, value))
    out.extend(pending.values())
    return tuple(out)


def check_host(host: str, offset: int) -> None:
    """Raise SIPParseError unless ``host`` is a hostname, IPv4 address or IPv6 reference."""
    if not host or not _HOST_RE.match(host):
        raise SIPParseError(offset, f"invalid host {host!r}")


def split_hostport(text: str, offset: int) -> tuple[str, int | None]:
    """Parse ``host[:port]`` (IPv6 references in brackets); ``offset`` positions errors."""
    if text.startswith("["):
        end = text.find("]")
        if end == -1:
            raise SIPParseError(offset, f"unterminated IPv6 reference {text!r}")
        host, rest = text[: end + 1], text[end + 1 :]
    else:
        host, colon, port_text = text.partition(":")
        rest = colon + port_text
    check_host(host, offset)
    if not rest:
        return host, None
    port_text = rest[1:]
    if not rest.startswith(":") or not port_text.isascii() or not port_text.isdigit():
        raise SIPParseError(offset + len(host), f"invalid port {rest!r}")
    if int(port_text) > 65535:
        raise SIPParseError(offset + len(host) + 1, f"port {port_text} out of range")
    return host, int(port_text)


def _parse_userinfo(userinfo: str, offset: int) -> tuple[str, str | None]:
    """``user[:password]`` of a SIP URI, unescaped; ``offset`` positions errors."""
    raw_user, has_password, raw_password = userinfo.partition(":")
    if not raw_user:
        raise SIPParseError(offset, "empty user part")
    user = _unescape(raw_user, offset, "user part")
    if not has_password:
        return user, None
    return user, _unescape(raw_password, offset + len(raw_user) + 1, "password")


def _parse_uri_headers(text: str, offset: int) -> tuple[tuple[str, str], ...]:
    """The ``name=value&…`` headers after a URI's ``?``, unescaped; ``offset`` positions errors."""
    headers: list[tuple[str, str]] = []
    for item in text.split("&"):
        name, eq, value = item.partition("=")
        if not name or not eq:
            raise SIPParseError(offset, f"malformed URI header {item!r}")
        headers.append(
            (
                _unescape(name, offset, "URI header"),
                _unescape(value, offset + len(name) + 1, "URI header"),
            )
        )
        offset += len(item) + 1
    return tuple(headers)


@dataclass(frozen=True, slots=True)
class URI:
    """A SIP/SIPS URI, a tel URI, or any other absolute URI (kept as text).

    Components are held unescaped; ``raw`` keeps the text parsed so an unmodified URI
    serialises to exactly what was received.
    """

    scheme: str
    host: str = ""
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: Params = ()
    headers: tuple[tuple[str, str], ...] = ()
    opaque: str | None = None
    raw: str | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str, offset: int = 0) -> URI:
        """Parse a URI; ``offset`` is added to the position reported in errors."""
        for index, char in enumerate(text):
            if char in _NOT_IN_URI or not "\x21" <= char <= "\x7e":
                raise SIPParseError(offset + index, f"character {char!r} not allowed in a URI")
        scheme, colon, rest = text.partition(":")
        if not colon or not _SCHEME_RE.match(scheme):
            raise SIPParseError(offset, f"not a URI: {_clip(text)!r}")
        lowered = scheme.lower()
        base = offset + len(scheme) + 1
        if lowered == "tel":
            number, semicolon, tel_params = rest.partition(";")
            if not number:
                raise SIPParseError(base, "tel URI without a number")
            return cls(
                scheme=scheme,
                user=_unescape(number, base, "tel number"),
                params=_parse_uri_params(tel_params, base + len(number) + 1) if semicolon else (),
                raw=text,
            )
        if lowered not in ("sip", "sips"):
            if not rest:
                raise SIPParseError(base, f"empty {scheme} URI")
            return cls(scheme=scheme, opaque=rest, raw=text)
        # The user part may itself hold ';', '?' and ','; only '@' ends it (RFC 3261 §19.1.1).
        at = rest.find("@")
        userinfo, hostpart = (rest[:at], rest[at + 1 :]) if at != -1 else ("", rest)
        user, password = _parse_userinfo(userinfo, base) if at != -1 else (None, None)
        host_offset = base + (at + 1 if at != -1 else 0)
        before_headers, question, header_text = hostpart.partition("?")
        hostport, semicolon, uri_params = before_headers.partition(";")
        host, port = split_hostport(hostport, host_offset)
        params_offset = host_offset + len(hostport) + 1
        params = _parse_uri_params(uri_params, params_offset) if semicolon else ()
        headers_offset = host_offset + len(before_headers) + 1
        headers = _parse_uri_headers(header_text, headers_offset) if question else ()
        return cls(
            scheme=scheme,
            host=host,
            user=user,
            password=password,
            port=port,
            params=params,
            headers=headers,
            raw=text,
        )

    @property
    def is_sip(self) -> bool:
        """Whether this is a sip: or sips: URI."""
        return self.scheme.lower() in ("sip", "sips")

    def param(self, name: str) -> str | None:
        """The value of URI parameter ``name``; '' for a flag; None when absent."""
        return param_value(self.params, name)

    def with_params(self, **params: str | None) -> URI:
        """A copy with parameters set (replacing those of the same name, keeping order)."""
        return dataclasses.replace(self, params=replace_params(self.params, params), raw=None)

    def with_user(self, user: str | None) -> URI:
        """A copy with another user part."""
        return dataclasses.replace(self, user=user, raw=None)

    def without_headers(self) -> URI:
        """A copy without the ``?name=value`` headers part."""
        if not self.headers:
            return self
        return dataclasses.replace(self, headers=(), raw=None)

    @property
    def hostport(self) -> str:
        """``host`` or ``host:port``."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        if self.raw is not None:
            return self.raw
        if self.opaque is not None:
            return f"{self.scheme}:{self.opaque}"
        if self.scheme.lower() == "tel":
            number = _escape(self.user or "", _USER_SAFE + "+")
            return f"{self.scheme}:{number}{format_params(self.params)}"
        userinfo = ""
        if self.user is not None:
            userinfo = _escape(self.user, _USER_SAFE)
            if self.password is not None:
                userinfo += ":" + _escape(self.password, _PASSWORD_SAFE)
            userinfo += "@"
        text = f"{self.scheme}:{userinfo}{self.hostport}{format_params(self.params)}"
        if self.headers:
            text += "?" + "&".join(
                f"{_escape(name, _HEADER_SAFE)}={_escape(value, _HEADER_SAFE)}"
                for name, value in self.headers
            )
        return text


def _first_outside(text: str, allowed: frozenset[str]) -> int | None:
    """Index of the first character of ``text`` not in ``allowed``, or None."""
    return next((index for index, char in enumerate(text) if char not in allowed), None)


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
