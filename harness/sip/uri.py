"""SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966), with parameters, headers and %-escapes."""

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
_ESCAPE_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_HOST_RE = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)\Z")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*\Z")


def _unescape(text: str, offset: int, what: str) -> str:
    bad = _ESCAPE_RE.search(text)
    if bad is not None:
        raise SIPParseError(offset + bad.start(), f"bad %-escape in {what}")
    return unquote(text)


def parse_params(text: str, offset: int = 0) -> Params:
    """Parse ``;name=value;flag`` (the leading ``;`` already removed)."""
    params: list[tuple[str, str | None]] = []
    position = offset
    for item in text.split(";"):
        if not item:
            raise SIPParseError(position, "empty parameter")
        name, eq, value = item.partition("=")
        name = name.strip()
        if not name:
            raise SIPParseError(position, "parameter without a name")
        params.append((name, _unescape(value.strip(), position, "parameter") if eq else None))
        position += len(item) + 1
    return tuple(params)


def format_params(params: Params, safe: str = _PARAM_SAFE) -> str:
    """Serialise parameters, each with its leading ``;``."""
    return "".join(
        f";{name}" if value is None else f";{name}={quote(value, safe=safe)}"
        for name, value in params
    )


def param_value(params: Params, name: str) -> str | None:
    """The value of parameter ``name`` (case-insensitive); '' for a flag; None when absent."""
    lowered = name.lower()
    for key, value in params:
        if key.lower() == lowered:
            return "" if value is None else value
    return None


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
        scheme, colon, rest = text.partition(":")
        if not colon or not _SCHEME_RE.match(scheme):
            raise SIPParseError(offset, f"not a URI: {text!r}")
        if any(char in text for char in ' \t\r\n<>"'):
            bad = min(text.find(char) for char in ' \t\r\n<>"' if char in text)
            raise SIPParseError(offset + bad, f"character {text[bad]!r} not allowed in a URI")
        lowered = scheme.lower()
        base = offset + len(scheme) + 1
        if lowered == "tel":
            number, _, tel_params = rest.partition(";")
            if not number:
                raise SIPParseError(base, "tel URI without a number")
            return cls(
                scheme=scheme,
                user=_unescape(number, base, "tel number"),
                params=parse_params(tel_params, base + len(number) + 1) if tel_params else (),
                raw=text,
            )
        if lowered not in ("sip", "sips"):
            return cls(scheme=scheme, opaque=rest, raw=text)
        rest, question, header_text = rest.partition("?")
        userinfo, at, hostpart = rest.rpartition("@")
        if not at:
            hostpart, userinfo = rest, ""
        user: str | None = None
        password: str | None = None
        if at:
            raw_user, has_password, raw_password = userinfo.partition(":")
            if not raw_user:
                raise SIPParseError(base, "empty user part")
            user = _unescape(raw_user, base, "user part")
            if has_password:
                password = _unescape(raw_password, base + len(raw_user) + 1, "password")
        host_offset = base + len(userinfo) + len(at)
        hostport, semicolon, uri_params = hostpart.partition(";")
        host, port = _split_hostport(hostport, host_offset)
        params = parse_params(uri_params, host_offset + len(hostport) + 1) if semicolon else ()
        headers: list[tuple[str, str]] = []
        if question:
            header_offset = base + len(rest) + 1
            for item in header_text.split("&"):
                name, eq, value = item.partition("=")
                if not name or not eq:
                    raise SIPParseError(header_offset, f"malformed URI header {item!r}")
                headers.append(
                    (
                        _unescape(name, header_offset, "URI header"),
                        _unescape(value, header_offset, "URI header"),
                    )
                )
                header_offset += len(item) + 1
        return cls(
            scheme=scheme,
            host=host,
            user=user,
            password=password,
            port=port,
            params=params,
            headers=tuple(headers),
            raw=text,
        )

    def param(self, name: str) -> str | None:
        """The value of URI parameter ``name``; '' for a flag; None when absent."""
        return param_value(self.params, name)

    def with_params(self, **params: str | None) -> URI:
        """A copy with parameters set (replacing those of the same name)."""
        names = {name.lower() for name in params}
        kept = tuple(item for item in self.params if item[0].lower() not in names)
        return dataclasses.replace(self, params=(*kept, *params.items()), raw=None)

    def with_user(self, user: str | None) -> URI:
        """A copy with another user part."""
        return dataclasses.replace(self, user=user, raw=None)

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
            return f"{self.scheme}:{self.user}{format_params(self.params)}"
        userinfo = ""
        if self.user is not None:
            userinfo = quote(self.user, safe=_USER_SAFE)
            if self.password is not None:
                userinfo += ":" + quote(self.password, safe=_PASSWORD_SAFE)
            userinfo += "@"
        text = f"{self.scheme}:{userinfo}{self.hostport}{format_params(self.params)}"
        if self.headers:
            text += "?" + "&".join(
                f"{quote(name, safe=_HEADER_SAFE)}={quote(value, safe=_HEADER_SAFE)}"
                for name, value in self.headers
            )
        return text


def _split_hostport(text: str, offset: int) -> tuple[str, int | None]:
    if text.startswith("["):
        end = text.find("]")
        host, rest = text[: end + 1], text[end + 1 :]
    else:
        host, _, port_text = text.partition(":")
        rest = ":" + port_text if _ else ""
    if not host or not _HOST_RE.match(host):
        raise SIPParseError(offset, f"invalid host {host!r}")
    if not rest:
        return host, None
    port_text = rest[1:]
    if not rest.startswith(":") or not port_text.isdigit() or int(port_text) > 65535:
        raise SIPParseError(offset + len(host), f"invalid port {port_text!r}")
    return host, int(port_text)
