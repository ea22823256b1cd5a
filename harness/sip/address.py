"""Addresses in From, To, Contact, Route, Diversion and History-Info (RFC 3261 §20.10).

``"Display" <sip:user@host;uri-param>;header-param`` (name-addr) or ``sip:user@host;header-param``
(addr-spec, where every ``;`` parameter belongs to the header, not the URI).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

from harness.sip.errors import SIPParseError
from harness.sip.uri import (
    TOKEN_CHARS,
    URI,
    Params,
    closing_quote,
    format_header_params,
    param_value,
    parse_params,
    quote_string,
    replace_params,
    unquote_string,
)

_LWS = " \t"
# An unquoted display name is a run of tokens separated by linear white space.
_DISPLAY_CHARS = TOKEN_CHARS | frozenset(_LWS)


@dataclass(frozen=True, slots=True)
class Address:
    """A URI with an optional display name and header parameters (tag, expires, reason…)."""

    uri: URI
    display_name: str | None = None
    params: Params = ()
    angle: bool = True
    raw: str | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str, offset: int = 0, *, lenient: bool = False) -> Address:
        """Parse one address (not a comma list); ``offset`` positions errors.

        ``lenient=True`` also accepts what RFC 4475 lets a liberal element accept: white space
        just inside ``<>`` (§3.1.2.14) and an addr-spec with URI headers that should have been
        in ``<>`` (§3.1.2.13), whose brackets are then inferred.
        """
        try:
            return _parsed_address(text, lenient)
        except SIPParseError as error:
            raise SIPParseError(offset + error.offset, error.reason) from None

    @classmethod
    def _parse(cls, text: str, offset: int, lenient: bool) -> Address:
        start = len(text) - len(text.lstrip(_LWS))
        end = len(text.rstrip(_LWS))
        if start >= end:
            raise SIPParseError(offset, "empty address")
        display: str | None = None
        if text[start] == '"':
            close = start + closing_quote(text[start:end], offset + start)
            display = unquote_string(text[start + 1 : close])
            angle_at = (
                close + 1 + len(text[close + 1 : end]) - len(text[close + 1 : end].lstrip(_LWS))
            )
            if text[angle_at : angle_at + 1] != "<":
                raise SIPParseError(offset + angle_at, "quoted display name not followed by <URI>")
        else:
            angle_at = text.find("<", start, end)
            if angle_at > start:
                words = text[start:angle_at]
                bad = next((i for i, char in enumerate(words) if char not in _DISPLAY_CHARS), None)
                if bad is not None:
                    raise SIPParseError(
                        offset + start + bad,
                        f"display name {words.strip(_LWS)!r} has {words[bad]!r}: it needs quotes",
                    )
                display = words.strip(_LWS) or None
        if angle_at != -1:
            close = text.find(">", angle_at)
            if close == -1 or close >= end:
                raise SIPParseError(offset + angle_at, "unterminated <URI>")
            inner_start, inner_end = angle_at + 1, close
            if lenient:
                inner_start += len(text[inner_start:inner_end]) - len(
                    text[inner_start:inner_end].lstrip(_LWS)
                )
                inner_end = inner_start + len(text[inner_start:inner_end].rstrip(_LWS))
            uri = URI.parse(text[inner_start:inner_end], offset + inner_start)
            tail_start = close + 1
            angle = True
        else:
            uri_end = _addr_spec_end(text, start, end, offset, lenient)
            uri = URI.parse(text[start:uri_end].rstrip(_LWS), offset + start)
            tail_start = uri_end
            angle = False
        params: Params = ()
        tail = text[tail_start:end]
        stripped = tail.lstrip(_LWS)
        if stripped:
            semicolon = tail_start + len(tail) - len(stripped)
            if not stripped.startswith(";"):
                raise SIPParseError(
                    offset + semicolon, f"unexpected text after the address: {stripped[:40]!r}"
                )
            params = parse_params(text[semicolon + 1 : end], offset + semicolon + 1, escaped=False)
        return cls(uri=uri, display_name=display, params=params, angle=angle, raw=text[start:end])

    def param(self, name: str) -> str | None:
        """Header parameter ``name``: its value, '' for a flag, None when absent."""
        return param_value(self.params, name)

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter (From/To)."""
        return self.param("tag")

    def with_params(self, **params: str | None) -> Address:
        """A copy with header parameters set (replacing those of the same name, keeping order)."""
        return dataclasses.replace(self, params=replace_params(self.params, params), raw=None)

    def with_uri(self, uri: URI) -> Address:
        """A copy with another URI."""
        return dataclasses.replace(self, uri=uri, raw=None)

    def __str__(self) -> str:
        if self.raw is not None:
            return self.raw
        uri = str(self.uri)
        # An addr-spec cannot carry ',', ';' or '?' (RFC 3261 §20.10): those force <>.
        if self.angle or self.display_name or any(char in uri for char in ",;?"):
            uri = f"<{uri}>"
        if self.display_name:
            uri = f"{quote_string(self.display_name)} {uri}"
        return uri + format_header_params(self.params)


@functools.lru_cache(maxsize=4096)
def _parsed_address(text: str, lenient: bool) -> Address:
    """:meth:`Address.parse`, remembered: a dialog's From and To come back in each of its
    requests, and each layer (validation, transactions, dialog, routing) reads them. Errors
    are placed from the start of ``text``; they are not remembered."""
    return Address._parse(text, 0, lenient)


def _addr_spec_end(text: str, start: int, end: int, offset: int, lenient: bool) -> int:
    """Where the URI of an addr-spec ends: at the first ';', which starts header parameters."""
    semicolon = text.find(";", start, end)
    uri_end = end if semicolon == -1 else semicolon
    question = text.find("?", start, uri_end)
    if question != -1 and lenient:
        # URI headers hold no ';', so the brackets can be inferred (RFC 4475 §3.1.2.13).
        semicolon = text.find(";", question, end)
        return end if semicolon == -1 else semicolon
    for char in ",?":
        found = text.find(char, start, uri_end)
        if found != -1:
            raise SIPParseError(offset + found, f"a URI with {char!r} must be enclosed in <>")
    return uri_end
