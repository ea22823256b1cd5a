"""The Via header (RFC 3261 §20.42, RFC 3581 rport)."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

from harness.sip.errors import SIPParseError
from harness.sip.uri import (
    Params,
    format_header_params,
    is_token,
    param_value,
    parse_params,
    replace_params,
    split_hostport,
)

#: Branches starting with this cookie are RFC 3261 branches (§8.1.1.7).
MAGIC_COOKIE = "z9hG4bK"

_LWS = " \t"


@dataclass(frozen=True, slots=True)
class Via:
    """One Via entry: ``SIP/2.0/UDP host:port;branch=…;rport;received=…``."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()
    protocol: str = "SIP/2.0"
    raw: str | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str, offset: int = 0) -> Via:
        """Parse one Via value (one element of the comma list); ``offset`` positions errors.

        Linear white space is allowed around ``/``, ``:``, ``;`` and ``=`` (RFC 3261 SWS).
        """
        try:
            return _parsed_via(text)
        except SIPParseError as error:
            raise SIPParseError(offset + error.offset, error.reason) from None

    @classmethod
    def _parse(cls, text: str, offset: int) -> Via:
        semicolon = text.find(";")
        head = text if semicolon == -1 else text[:semicolon]
        pieces = head.split("/")
        if len(pieces) != 3:
            raise SIPParseError(
                offset, f"malformed Via {head.strip(_LWS)[:60]!r}: expected SIP/2.0/transport host"
            )
        name, version = pieces[0].strip(_LWS), pieces[1].strip(_LWS)
        last_at = len(pieces[0]) + len(pieces[1]) + 2
        last = pieces[2].lstrip(_LWS)
        last_at += len(pieces[2]) - len(last)
        gap = next((index for index, char in enumerate(last) if char in _LWS), len(last))
        transport, sent_by = last[:gap], last[gap + 1 :]
        for what, value in (
            ("protocol name", name),
            ("version", version),
            ("transport", transport),
        ):
            if not is_token(value):
                raise SIPParseError(offset, f"invalid Via {what} {value!r}")
        sent_by_at = last_at + min(gap + 1, len(last))
        stripped = sent_by.strip(_LWS)
        sent_by_at += len(sent_by) - len(sent_by.lstrip(_LWS))
        if not stripped:
            raise SIPParseError(offset + sent_by_at, "Via without a sent-by host")
        host, port = split_hostport(_squeeze_colon(stripped), offset + sent_by_at)
        params: Params = ()
        if semicolon != -1:
            params = parse_params(text[semicolon + 1 :], offset + semicolon + 1, escaped=False)
        return cls(
            transport=transport.upper(),
            host=host,
            port=port,
            params=params,
            protocol=f"{name}/{version}",
            raw=text.strip(_LWS),
        )

    def param(self, name: str) -> str | None:
        """Parameter ``name``: value, '' for a flag, None when absent."""
        return param_value(self.params, name)

    @property
    def branch(self) -> str | None:
        """The branch parameter."""
        return self.param("branch")

    @property
    def sent_by(self) -> str:
        """``host`` or ``host:port`` as sent."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def with_params(self, **params: str | None) -> Via:
        """A copy with parameters set (replacing those of the same name, keeping order)."""
        return dataclasses.replace(self, params=replace_params(self.params, params), raw=None)

    def __str__(self) -> str:
        if self.raw is not None:
            return self.raw
        return f"{self.protocol}/{self.transport} {self.sent_by}{format_header_params(self.params)}"


@functools.lru_cache(maxsize=4096)
def _parsed_via(text: str) -> Via:
    """:meth:`Via.parse`, remembered: a transaction's Via is read by the transport, the
    validation and the transaction layer, and again in its ACK or CANCEL. Errors are placed
    from the start of ``text``; they are not remembered."""
    return Via._parse(text, 0)


def _squeeze_colon(sent_by: str) -> str:
    """Drop white space around the port colon (``host : 5060``), which SWS allows."""
    if sent_by.startswith("["):
        close = sent_by.find("]")
        if close != -1:
            return sent_by[: close + 1] + "".join(sent_by[close + 1 :].split())
        return sent_by
    host, colon, port = sent_by.partition(":")
    if not colon:
        return sent_by
    return f"{host.rstrip(_LWS)}:{port.lstrip(_LWS)}"
