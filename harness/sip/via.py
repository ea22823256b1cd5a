"""The Via header (RFC 3261 §20.42, RFC 3581 rport)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from harness.sip.errors import SIPParseError
from harness.sip.uri import Params, format_params, param_value, parse_params

#: Branches starting with this cookie are RFC 3261 branches (§8.1.1.7).
MAGIC_COOKIE = "z9hG4bK"

_SENT_BY_RE = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?\Z")


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
        """Parse one Via value (one element of the comma list)."""
        sent_protocol, _, rest = text.strip().partition(" ")
        pieces = [piece.strip() for piece in sent_protocol.split("/")]
        if len(pieces) != 3 or not all(pieces):
            # Tolerate LWS around the slashes (RFC 4475 wsinv): rebuild from the whole value.
            match = re.match(r"\s*([^/\s]+)\s*/\s*([^/\s]+)\s*/\s*([^\s;]+)\s+(.*)\Z", text, re.S)
            if match is None:
                raise SIPParseError(offset, f"malformed Via {text!r}")
            pieces = [match.group(1), match.group(2), match.group(3)]
            rest = match.group(4)
        sent_by, semicolon, param_text = rest.strip().partition(";")
        match_sent = _SENT_BY_RE.match(sent_by.strip())
        if match_sent is None:
            raise SIPParseError(offset, f"malformed Via sent-by {sent_by!r}")
        port = int(match_sent.group(2)) if match_sent.group(2) else None
        if port is not None and port > 65535:
            raise SIPParseError(offset, f"Via port {port} out of range")
        params = parse_params(param_text.replace(" ", ""), offset) if semicolon else ()
        return cls(
            transport=pieces[2].upper(),
            host=match_sent.group(1),
            port=port,
            params=params,
            protocol=f"{pieces[0]}/{pieces[1]}",
            raw=text.strip(),
        )

    def param(self, name: str) -> str | None:
        """Parameter ``name``: value, '' for a flag, None when absent."""
        return param_value(self.params, name)

    @property
    def branch(self) -> str | None:
        """The branch parameter."""
        return self.param("branch")

    def with_params(self, **params: str | None) -> Via:
        """A copy with parameters set (replacing those of the same name, keeping order)."""
        lowered = {name.lower(): value for name, value in params.items()}
        out: list[tuple[str, str | None]] = []
        for name, value in self.params:
            if name.lower() in lowered:
                out.append((name, lowered.pop(name.lower())))
            else:
                out.append((name, value))
        out.extend(lowered.items())
        return dataclasses.replace(self, params=tuple(out), raw=None)

    def __str__(self) -> str:
        if self.raw is not None:
            return self.raw
        port = "" if self.port is None else f":{self.port}"
        return f"{self.protocol}/{self.transport} {self.host}{port}{format_params(self.params)}"
