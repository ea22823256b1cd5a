"""SDP (RFC 4566) for audio calls, and the offer/answer model (RFC 3264), sans-IO.

Parsing keeps every line it does not interpret as an attribute, so a parsed description
serialises back to equivalent text. Offer/answer knows G.711 (static payload types 0 and 8,
which work without an rtpmap) and RFC 4733 telephone-events, which are taken only at 8000 Hz
and with the offerer's payload type.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: Static audio payload types of RFC 3551 that offer/answer can name.
STATIC_PAYLOAD_TYPES: Mapping[int, tuple[str, int]] = {
    0: ("PCMU", 8000),
    3: ("GSM", 8000),
    4: ("G723", 8000),
    8: ("PCMA", 8000),
    9: ("G722", 8000),
    18: ("G729", 8000),
}
_STATIC_BY_NAME = {name: pt for pt, (name, _) in STATIC_PAYLOAD_TYPES.items()}

#: Media directions (RFC 4566 §6); an m-line without one is ``sendrecv``.
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_REVERSED = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}

TELEPHONE_EVENT = "telephone-event"
_RTP_PROTOS = ("RTP/AVP", "RTP/AVPF")


class SdpError(ValueError):
    """Unusable SDP: malformed text (``line`` is its 1-based number) or a failed negotiation."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason if line is None else f"SDP line {line}: {reason}")
        self.reason = reason
        self.line = line


@dataclass(frozen=True, slots=True)
class Origin:
    """The ``o=`` line."""

    username: str
    session_id: int
    session_version: int
    address: str
    nettype: str = "IN"
    addrtype: str = "IP4"

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class RtpMap:
    """One ``a=rtpmap`` value: encoding name, clock rate and (optional) channel count."""

    encoding: str
    clock_rate: int
    channels: int | None = None

    def __str__(self) -> str:
        tail = f"/{self.channels}" if self.channels is not None else ""
        return f"{self.encoding}/{self.clock_rate}{tail}"


@dataclass(frozen=True, slots=True)
class MediaDescription:
    """One ``m=`` section.

    ``formats`` are the m-line's format tokens (payload type numbers for RTP); ``rtpmap`` and
    ``fmtp`` are keyed by payload type; ``direction`` is None when the section states none;
    ``connection`` is a media-level ``c=`` address; ``attributes`` holds every other
    ``a=`` line as (name, value or None) in order, ``other_lines`` the ``i=``, ``b=`` and
    ``k=`` lines.
    """

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    rtpmap: Mapping[int, RtpMap] = field(default_factory=dict)
    fmtp: Mapping[int, str] = field(default_factory=dict)
    direction: str | None = None
    ptime: int | None = None
    connection: str | None = None
    attributes: tuple[tuple[str, str | None], ...] = ()
    other_lines: tuple[str, ...] = ()

    @property
    def payload_types(self) -> tuple[int, ...]:
        """The formats that are payload type numbers."""
        return tuple(int(token) for token in self.formats if token.isdigit())

    def codec(self, payload_type: int) -> RtpMap | None:
        """What ``payload_type`` carries: its rtpmap, else the RFC 3551 static assignment."""
        mapped = self.rtpmap.get(payload_type)
        if mapped is not None:
            return mapped
        static = STATIC_PAYLOAD_TYPES.get(payload_type)
        return RtpMap(*static) if static is not None else None

    def lines(self) -> list[str]:
        """The section as SDP lines, without line ends."""
        out = [f"m={self.media} {self.port} {self.proto} {' '.join(self.formats)}"]
        out.extend(line for line in self.other_lines if line[0] == "i")
        if self.connection is not None:
            out.append(f"c=IN {_addrtype(self.connection)} {self.connection}")
        out.extend(line for line in self.other_lines if line[0] != "i")
        for pt in self.payload_types:
            if pt in self.rtpmap:
                out.append(f"a=rtpmap:{pt} {self.rtpmap[pt]}")
            if pt in self.fmtp:
                out.append(f"a=fmtp:{pt} {self.fmtp[pt]}")
        if self.ptime is not None:
            out.append(f"a=ptime:{self.ptime}")
        out.extend(
            f"a={name}" if value is None else f"a={name}:{value}" for name, value in self.attributes
        )
        if self.direction is not None:
            out.append(f"a={self.direction}")
        return out


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """A whole SDP body. ``connection`` is the session-level ``c=`` address."""

    origin: Origin
    connection: str | None
    media: tuple[MediaDescription, ...] = ()
    session_name: str = "-"
    timing: str = "0 0"
    direction: str | None = None
    version: int = 0
    attributes: tuple[tuple[str, str | None], ...] = ()
    other_lines: tuple[str, ...] = ()

    def __str__(self) -> str:
        lines = [f"v={self.version}", f"o={self.origin}", f"s={self.session_name}"]
        # RFC 4566 §5 order: i u e p, then c, then b, then t, then r z k.
        lines.extend(line for line in self.other_lines if line[0] in "iuep")
        if self.connection is not None:
            lines.append(f"c=IN {_addrtype(self.connection)} {self.connection}")
        lines.extend(line for line in self.other_lines if line[0] == "b")
        lines.append(f"t={self.timing}")
        lines.extend(line for line in self.other_lines if line[0] in "rzk")
        lines.extend(
            f"a={name}" if value is None else f"a={name}:{value}" for name, value in self.attributes
        )
        if self.direction is not None:
            lines.append(f"a={self.direction}")
        for media in self.media:
            lines.extend(media.lines())
        return "\r\n".join(lines) + "\r\n"

    def __bytes__(self) -> bytes:
        return str(self).encode("utf-8")

    def media_address(self, media: MediaDescription) -> str | None:
        """Where ``media`` is sent: its own ``c=`` address, else the session's."""
        return media.connection if media.connection is not None else self.connection

    def media_direction(self, media: MediaDescription) -> str:
        """The effective direction of ``media`` (its own, else the session's, else sendrecv)."""
        return media.direction or self.direction or "sendrecv"


def _addrtype(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


# RFC 1123 host names: letters, digits and inner hyphens in dot-separated labels.
_HOST_NAME = re.compile(
    r"(?=.*[A-Za-z])[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)
_MAX_HOST_NAME = 253


def _parse_connection(value: str, line: int) -> str:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpError(f"c= must be 'IN IP4|IP6 <address>', got {value!r}", line)
    # A multicast address may carry /ttl and /count; only the address is of use here.
    address = parts[2].split("/", 1)[0]
    if not _is_connection_address(parts[1], address):
        kind = "an IPv4" if parts[1] == "IP4" else "an IPv6"
        raise SdpError(
            f"c= address {address[:60]!r} is neither {kind} address nor a host name", line
        )
    return address


def _is_connection_address(addrtype: str, address: str) -> bool:
    """RFC 4566 §5.7: an address of ``addrtype``, or a fully qualified domain name."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return len(address) <= _MAX_HOST_NAME and _HOST_NAME.fullmatch(address) is not None
    return parsed.version == (4 if addrtype == "IP4" else 6)


def _parse_int(text: str, what: str, line: int) -> int:
    if not text.isdigit():
        raise SdpError(f"{what} {text!r} is not a number", line)
    return int(text)


class _MediaBuilder:
    """Collects the lines of one m= section while parsing."""

    def __init__(self, value: str, line: int) -> None:
        parts = value.split()
        if len(parts) < 4:
            raise SdpError(f"m= needs media, port, proto and formats, got {value!r}", line)
        self.media = parts[0]
        port_text = parts[1].split("/", 1)[0]
        self.port = _parse_int(port_text, "m= port", line)
        if self.port > 65535:
            raise SdpError(f"m= port {self.port} out of range", line)
        self.proto = parts[2]
        self.formats = tuple(parts[3:])
        self.rtpmap: dict[int, RtpMap] = {}
        self.fmtp: dict[int, str] = {}
        self.direction: str | None = None
        self.ptime: int | None = None
        self.connection: str | None = None
        self.attributes: list[tuple[str, str | None]] = []
        self.other_lines: list[str] = []

    def attribute(self, name: str, value: str | None, line: int) -> None:
        if name == "rtpmap" and value is not None:
            pt_text, _, codec = value.partition(" ")
            pieces = codec.strip().split("/")
            if len(pieces) not in (2, 3) or not pieces[0]:
                raise SdpError(
                    f"rtpmap must be '<pt> <name>/<rate>[/<channels>]', got {value!r}", line
                )
            pt = _parse_int(pt_text, "rtpmap payload type", line)
            rate = _parse_int(pieces[1], "rtpmap clock rate", line)
            channels = _parse_int(pieces[2], "rtpmap channels", line) if len(pieces) == 3 else None
            self.rtpmap[pt] = RtpMap(pieces[0], rate, channels)
        elif name == "fmtp" and value is not None:
            pt_text, _, params = value.partition(" ")
            self.fmtp[_parse_int(pt_text, "fmtp payload type", line)] = params.strip()
        elif name == "ptime" and value is not None:
            try:
                # Some stacks write a fractional ptime; whole milliseconds are all we use.
                self.ptime = int(float(value))
            except ValueError:
                raise SdpError(f"ptime {value!r} is not a number", line) from None
        elif name in DIRECTIONS and value is None:
            self.direction = name
        else:
            self.attributes.append((name, value))

    def build(self) -> MediaDescription:
        return MediaDescription(
            media=self.media,
            port=self.port,
            proto=self.proto,
            formats=self.formats,
            rtpmap=self.rtpmap,
            fmtp=self.fmtp,
            direction=self.direction,
            ptime=self.ptime,
            connection=self.connection,
            attributes=tuple(self.attributes),
            other_lines=tuple(self.other_lines),
        )


def _split_attribute(value: str) -> tuple[str, str | None]:
    name, colon, rest = value.partition(":")
    return name.strip(), (rest.strip() if colon else None)


def _parse_origin(value: str, line: int) -> Origin:
    parts = value.split()
    if len(parts) != 6:
        raise SdpError(f"o= needs six fields, got {value!r}", line)
    return Origin(
        username=parts[0],
        session_id=_parse_int(parts[1], "o= session id", line),
        session_version=_parse_int(parts[2], "o= session version", line),
        nettype=parts[3],
        addrtype=parts[4],
        address=parts[5],
    )


class _SessionBuilder:
    """Collects the session-level lines and the m= sections while parsing."""

    def __init__(self) -> None:
        self.version: int | None = None
        self.origin: Origin | None = None
        self.session_name = "-"
        self.timing = "0 0"
        self.connection: str | None = None
        self.direction: str | None = None
        self.attributes: list[tuple[str, str | None]] = []
        self.other: list[str] = []
        self.media: list[_MediaBuilder] = []

    def line(self, kind: str, value: str, line: str, number: int) -> None:
        """Line ``number``, ``<kind>=<value>``: to the session, or to the m= section it is in."""
        current = self.media[-1] if self.media else None
        if kind == "v":
            self.version = _parse_int(value.strip(), "version", number)
        elif kind == "o":
            self.origin = _parse_origin(value, number)
        elif kind == "s":
            self.session_name = value
        elif kind == "t":
            self.timing = value
        elif kind == "c":
            address = _parse_connection(value, number)
            if current is None:
                self.connection = address
            else:
                current.connection = address
        elif kind == "m":
            self.media.append(_MediaBuilder(value, number))
        elif kind == "a":
            self.attribute(value, number, current)
        elif current is None:
            self.other.append(line)
        else:
            current.other_lines.append(line)

    def attribute(self, value: str, number: int, current: _MediaBuilder | None) -> None:
        name, attr_value = _split_attribute(value)
        if current is not None:
            current.attribute(name, attr_value, number)
        elif name in DIRECTIONS and attr_value is None:
            self.direction = name
        else:
            self.attributes.append((name, attr_value))

    def build(self) -> SessionDescription:
        if self.version is None:
            raise SdpError("no v= line")
        if self.origin is None:
            raise SdpError("no o= line")
        return SessionDescription(
            origin=self.origin,
            connection=self.connection,
            media=tuple(builder.build() for builder in self.media),
            session_name=self.session_name,
            timing=self.timing,
            direction=self.direction,
            version=self.version,
            attributes=tuple(self.attributes),
            other_lines=tuple(self.other),
        )


def parse(text: str | bytes) -> SessionDescription:
    """Parse an SDP body. Accepts CRLF or bare LF line ends; raises :class:`SdpError`."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SdpError(f"body is not UTF-8 (byte {exc.start})") from None
    session = _SessionBuilder()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        kind, equals, value = line.partition("=")
        if not equals or len(kind) != 1:
            raise SdpError(f"expected '<letter>=<value>', got {line!r}", number)
        session.line(kind, value, line, number)
    return session.build()


@dataclass(frozen=True, slots=True)
class Negotiated:
    """What an offer/answer exchange settled for the audio stream.

    ``remote_address``/``remote_port`` is where to send RTP; ``payload_type`` and ``codec``
    the audio format; ``telephone_event_pt`` the RFC 4733 payload type, if agreed; ``ptime``
    the packet time the peer asked for (20 if it did not); ``direction`` is this side's
    direction for the stream.
    """

    remote_address: str
    remote_port: int
    payload_type: int
    codec: str
    telephone_event_pt: int | None
    ptime: int
    direction: str = "sendrecv"


def _new_session_id() -> int:
    return secrets.randbits(62)


def make_offer(
    address: str,
    port: int,
    codecs: Sequence[str] = ("PCMU", "PCMA"),
    telephone_event: int | None = 101,
    session_id: int | None = None,
    *,
    session_version: int | None = None,
    ptime: int | None = 20,
    direction: str = "sendrecv",
    username: str = "vmharness",
) -> SessionDescription:
    """An audio offer from ``address``:``port`` with ``codecs`` in order of preference.

    Codecs are static payload types named as in SDP (PCMU, PCMA, ...); telephone-events are
    offered at 8000 Hz only (a peer offered several rates may answer with the wrong one).
    """
    if direction not in DIRECTIONS:
        raise SdpError(f"direction {direction!r} is not one of {', '.join(DIRECTIONS)}")
    payload_types: list[int] = []
    rtpmap: dict[int, RtpMap] = {}
    for codec in codecs:
        pt = _STATIC_BY_NAME.get(codec.upper())
        if pt is None:
            raise SdpError(f"cannot offer codec {codec!r}: known are {', '.join(_STATIC_BY_NAME)}")
        payload_types.append(pt)
        rtpmap[pt] = RtpMap(*STATIC_PAYLOAD_TYPES[pt])
    if not payload_types:
        raise SdpError("an offer needs at least one codec")
    fmtp: dict[int, str] = {}
    if telephone_event is not None:
        if not 96 <= telephone_event <= 127:
            raise SdpError(
                f"telephone-event payload type {telephone_event} is not dynamic (96-127)"
            )
        payload_types.append(telephone_event)
        rtpmap[telephone_event] = RtpMap(TELEPHONE_EVENT, 8000)
        fmtp[telephone_event] = "0-16"
    sid = _new_session_id() if session_id is None else session_id
    media = MediaDescription(
        media="audio",
        port=port,
        proto="RTP/AVP",
        formats=tuple(str(pt) for pt in payload_types),
        rtpmap=rtpmap,
        fmtp=fmtp,
        direction=direction,
        ptime=ptime,
    )
    return SessionDescription(
        origin=Origin(
            username,
            sid,
            sid if session_version is None else session_version,
            address,
            addrtype=_addrtype(address),
        ),
        connection=address,
        media=(media,),
    )


def _telephone_event(media: MediaDescription) -> int | None:
    """The first payload type of ``media`` carrying telephone-event at 8000 Hz."""
    for pt in media.payload_types:
        mapped = media.rtpmap.get(pt)
        if mapped and mapped.encoding.lower() == TELEPHONE_EVENT and mapped.clock_rate == 8000:
            return pt
    return None


def _audio_codec(media: MediaDescription, pt: int, supported: Sequence[str]) -> str | None:
    """The name of the codec ``pt`` carries in ``media``, if it is an 8 kHz one we support."""
    mapped = media.codec(pt)
    if mapped is None or mapped.clock_rate != 8000:
        return None
    name = mapped.encoding.upper()
    return name if name in supported else None


def _rejected(media: MediaDescription) -> MediaDescription:
    """The answer to a stream this side declines (RFC 3264 §6: port zero)."""
    return MediaDescription(media.media, 0, media.proto, media.formats)


def answer(
    offer: SessionDescription,
    address: str,
    port: int,
    supported: Sequence[str] = ("PCMU", "PCMA"),
    session_id: int | None = None,
    *,
    telephone_event: bool = True,
    username: str = "vmharness",
) -> tuple[SessionDescription, Negotiated]:
    """Answer ``offer``: accept the first audio stream with a codec in ``supported``.

    The codec is the first offered one we support (the offerer's preference). Every other
    stream is declined with port 0, and the m-lines keep the offer's order. Raises
    :class:`SdpError` naming what was offered when no stream can be accepted.
    """
    wanted = tuple(name.upper() for name in supported)
    answered: list[MediaDescription] = []
    negotiated: Negotiated | None = None
    unaddressed = False
    for media in offer.media:
        if (
            negotiated is not None
            or media.media != "audio"
            or media.port == 0
            or media.proto not in _RTP_PROTOS
        ):
            answered.append(_rejected(media))
            continue
        chosen = next(
            (
                (pt, name)
                for pt in media.payload_types
                if (name := _audio_codec(media, pt, wanted)) is not None
            ),
            None,
        )
        remote = offer.media_address(media)
        if remote is None:
            unaddressed = True
        if chosen is None or remote is None:
            answered.append(_rejected(media))
            continue
        pt, codec = chosen
        event_pt = _telephone_event(media) if telephone_event else None
        direction = _REVERSED[offer.media_direction(media)]
        ptime = media.ptime or 20
        negotiated = Negotiated(remote, media.port, pt, codec, event_pt, ptime, direction)
        answered.append(_accepted(media, port, negotiated))
    if negotiated is None and unaddressed:
        raise SdpError(f"offered audio has no connection address (c=): {_describe(offer)}")
    if negotiated is None:
        raise SdpError(
            f"no common codec: offered {_describe(offer)}; supported {', '.join(wanted)}"
        )
    sid = _new_session_id() if session_id is None else session_id
    description = SessionDescription(
        origin=Origin(username, sid, sid, address, addrtype=_addrtype(address)),
        connection=address,
        media=tuple(answered),
    )
    return description, negotiated


def _accepted(media: MediaDescription, port: int, agreed: Negotiated) -> MediaDescription:
    """The answer's stream for the offered ``media`` it accepts on ``port``, as ``agreed``."""
    pt, event_pt = agreed.payload_type, agreed.telephone_event_pt
    payload_types = [pt] if event_pt is None else [pt, event_pt]
    rtpmap = {pt: RtpMap(agreed.codec, 8000)}
    fmtp: dict[int, str] = {}
    if event_pt is not None:
        rtpmap[event_pt] = RtpMap(TELEPHONE_EVENT, 8000)
        fmtp[event_pt] = media.fmtp.get(event_pt) or "0-16"
    return MediaDescription(
        media="audio",
        port=port,
        proto=media.proto,
        formats=tuple(str(p) for p in payload_types),
        rtpmap=rtpmap,
        fmtp=fmtp,
        direction=agreed.direction,
        ptime=agreed.ptime,
    )


def _describe(description: SessionDescription) -> str:
    """A short account of the streams in ``description``, for error messages."""
    if not description.media:
        return "no media"
    parts = []
    for media in description.media:
        names = []
        for pt in media.payload_types:
            mapped = media.codec(pt)
            names.append(f"{pt} {mapped}" if mapped is not None else str(pt))
        formats = ", ".join(names) if names else " ".join(media.formats)
        parts.append(f"m={media.media} port {media.port} {media.proto} [{formats}]")
    return "; ".join(parts)


def negotiated_from_answer(offer: SessionDescription, answer_sdp: SessionDescription) -> Negotiated:
    """On the offerer's side: what ``answer_sdp`` accepted of ``offer``.

    Checks what RFC 3264 requires of an answer: one m-line per offered one, and an accepted
    audio format that was offered. Raises :class:`SdpError` otherwise or when the answer
    declined every stream.
    """
    if len(answer_sdp.media) != len(offer.media):
        raise SdpError(
            f"answer has {len(answer_sdp.media)} m-lines for the offer's {len(offer.media)}"
        )
    for index, (offered, answered) in enumerate(zip(offer.media, answer_sdp.media, strict=True)):
        if answered.port == 0 or answered.media != "audio" or offered.media != "audio":
            continue
        offered_pts = set(offered.payload_types)
        for pt in answered.payload_types:
            mapped = answered.codec(pt)
            if mapped is None or mapped.encoding.lower() == TELEPHONE_EVENT:
                continue
            if pt not in offered_pts:
                raise SdpError(
                    f"answer m-line {index + 1} accepts payload type {pt} ({mapped}),"
                    " which was not offered"
                )
            remote = answer_sdp.media_address(answered)
            if remote is None:
                raise SdpError(f"answer m-line {index + 1} has no connection address")
            return Negotiated(
                remote_address=remote,
                remote_port=answered.port,
                payload_type=pt,
                codec=mapped.encoding.upper(),
                telephone_event_pt=_telephone_event(answered),
                ptime=answered.ptime or 20,
                direction=_REVERSED[answer_sdp.media_direction(answered)],
            )
        raise SdpError(f"answer m-line {index + 1} accepts no audio codec: {_describe(answer_sdp)}")
    raise SdpError(f"answer declines every stream: {_describe(answer_sdp)}")
