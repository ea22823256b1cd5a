"""Addresses in From, To, Contact, Route, Diversion and History-Info (RFC 3261 §20.10).

``"Display" <sip:user@host;uri-param>;header-param`` (name-addr) or ``sip:user@host;header-param``
(addr-spec, where every ``;`` parameter belongs to the header, not the URI).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from harness.sip.errors import SIPParseError
from harness.sip.uri import URI, Params, format_params, param_value, parse_params

_TOKEN_WORDS_RE = re.compile(r"[A-Za-z0-9.!%*_+`'~\- \t]*\Z")


@dataclass(frozen=True, slots=True)
class Address:
    """A URI with an optional display name and header parameters (tag, expires, reason…)."""

    uri: URI
    display_name: str | None = None
    params: Params = ()
    angle: bool = True
    raw: str | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str, offset: int = 0) -> Address:
        """Parse one address (not a comma list); ``offset`` positions errors."""
        stripped = text.strip()
        lead = offset + (len(text) - len(text.lstrip()))
        display: str | None = None
        if stripped.startswith('"'):
            end = _closing_quote(stripped, lead)
            display = re.sub(r"\\(.)", r"\1", stripped[1:end])
            rest = stripped[end + 1 :].lstrip()
            rest_offset = lead + len(stripped) - len(rest)
            if not rest.startswith("<"):
                raise SIPParseError(rest_offset, "quoted display name not followed by <URI>")
        else:
            angle_at = stripped.find("<")
            if angle_at > 0:
                words = stripped[:angle_at]
                if not _TOKEN_WORDS_RE.match(words):
                    raise SIPParseError(lead, f"display name {words.strip()!r} needs quotes")
                display = words.strip() or None
            rest = stripped[angle_at:] if angle_at >= 0 else stripped
            rest_offset = lead + (angle_at if angle_at > 0 else 0)
        if rest.startswith("<"):
            close = rest.find(">")
            if close == -1:
                raise SIPParseError(rest_offset, "unterminated <URI>")
            uri_text = rest[1:close]
            uri = URI.parse(uri_text, rest_offset + 1)
            tail = rest[close + 1 :].strip()
            tail_offset = rest_offset + close + 1
            angle = True
        else:
            uri_text, semicolon, param_text = rest.partition(";")
            if "?" in uri_text or "," in uri_text:
                raise SIPParseError(rest_offset, "addr-spec with '?' or ',' must be in <>")
            uri = URI.parse(uri_text.strip(), rest_offset)
            tail = semicolon + param_text
            tail_offset = rest_offset + len(uri_text)
            angle = False
        params: Params = ()
        if tail:
            if not tail.startswith(";"):
                raise SIPParseError(tail_offset, f"unexpected text after address: {tail!r}")
            params = parse_params(tail[1:], tail_offset + 1)
        return cls(uri=uri, display_name=display, params=params, angle=angle, raw=text.strip())

    def param(self, name: str) -> str | None:
        """Header parameter ``name``: its value, '' for a flag, None when absent."""
        return param_value(self.params, name)

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter (From/To)."""
        return self.param("tag")

    def with_params(self, **params: str | None) -> Address:
        """A copy with header parameters set (replacing those of the same name)."""
        names = {name.lower() for name in params}
        kept = tuple(item for item in self.params if item[0].lower() not in names)
        return dataclasses.replace(self, params=(*kept, *params.items()), raw=None)

    def with_uri(self, uri: URI) -> Address:
        """A copy with another URI."""
        return dataclasses.replace(self, uri=uri, raw=None)

    def __str__(self) -> str:
        if self.raw is not None:
            return self.raw
        uri = str(self.uri)
        if self.angle or self.display_name or self.uri.params or self.uri.headers:
            uri = f"<{uri}>"
        if self.display_name:
            escaped = self.display_name.replace("\\", "\\\\").replace('"', '\\"')
            uri = f'"{escaped}" {uri}'
        return uri + format_params(self.params)


def _closing_quote(text: str, offset: int) -> int:
    index = 1
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] == '"':
            return index
        index += 1
    raise SIPParseError(offset, "unterminated quoted display name")
