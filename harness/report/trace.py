"""The trace of one scenario run: everything a report shows, as one versioned JSON file.

A trace holds the scenario's steps with their outcome, every SIP message any party sent or
received (bytes, direction, addresses, transport, monotonic and wall time), per-stream RTP
statistics and SMDI frames, and latency samples of load runs. ``docs/trace-schema.md`` documents
the JSON form; :data:`SCHEMA_VERSION` names its version. Reports (HTML, pcap, ladder, JUnit) are
built from traces only, so ``vmharness report RUN_DIR`` rebuilds them from saved files.

When both ends of a message are parties of the run, the message is recorded twice: ``out`` at
the sender and ``in`` at the receiver. :meth:`Trace.from_outcome` pairs such records (the ``in``
record's ``echo_of`` names the ``out`` record), and :meth:`Trace.transmissions` gives each message
once, with its sender, its receiver and the addresses it really travelled between.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness import __version__
from harness.core.mwi import MwiError, parse_summary
from harness.report.records import (
    ClockAnchor,
    Direction,
    DtmfDigit,
    Endpoint,
    LatencySample,
    RtpStream,
    ScenarioOutcome,
    SmdiFrame,
    echo_pairs,
)
from harness.sip.errors import SIPParseError
from harness.sip.message import Request, Response, parse_message
from harness.sip.transport import WireMessage

#: The ``schema`` value of every trace file.
SCHEMA = "vmharness.trace"
#: The version this module writes and the newest it reads. Fields are only ever added within a
#: version (readers ignore fields they do not know); removing or redefining one bumps it.
SCHEMA_VERSION = 1

STATUSES = ("passed", "failed", "skipped")
STEP_STATUSES = ("passed", "failed", "skipped", "not run")


class TraceError(ValueError):
    """A trace file is unreadable or does not follow the schema; names the file and field."""


@dataclass(frozen=True, slots=True)
class SipRecord:
    """One SIP message as one party saw it on the wire."""

    index: int
    party: str
    direction: Direction
    transport: str
    local: Endpoint
    remote: Endpoint
    wall: float
    monotonic: float
    data: bytes
    #: Why the receiving party could not parse the bytes, if it could not.
    error: str | None = None
    #: For an ``in`` record whose sender is a party of the run: the index of its ``out`` record.
    echo_of: int | None = None


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One scenario step and how it ended."""

    index: int
    kind: str
    status: str
    detail: str
    started: float
    ended: float
    #: The step as the scenario file wrote it (field names as in YAML), when known.
    spec: Mapping[str, Any] = field(default_factory=dict)
    #: The named proxy mistake a failure proves (:mod:`harness.report.findings`), if any.
    finding: str | None = None


@dataclass(frozen=True, slots=True)
class Transmission:
    """One SIP message crossing the wire once, whoever recorded it."""

    #: 1-based position in the run, the anchor number reports link to.
    number: int
    sender: str
    receiver: str
    source: Endpoint
    destination: Endpoint
    transport: str
    #: When it was sent (when only its receipt was recorded: when it was received).
    wall: float
    data: bytes
    error: str | None
    #: Indexes of the records behind it (None when that side was not recorded).
    sent: int | None
    received: int | None

    @property
    def label(self) -> str:
        """Method or status line, as a ladder labels the arrow."""
        return message_label(self.data, self.error)

    @property
    def text(self) -> str:
        """The bytes as text (undecodable bytes replaced)."""
        return self.data.decode("utf-8", errors="replace")


def message_label(data: bytes, error: str | None = None) -> str:
    """``INVITE``, ``NOTIFY yes 1/0`` (a message summary), ``180 Ringing (INVITE)``, or
    ``unparsable`` for bytes that are not SIP."""
    try:
        message = parse_message(data)
    except SIPParseError:
        return "unparsable"
    if isinstance(message, Request):
        return message.method + _summary_of(message)
    label = f"{message.status} {message.reason}"
    try:
        _, method = message.cseq
    except SIPParseError:
        return label
    return f"{label} ({method})"


def _summary_of(request: Request) -> str:
    """`` yes 1/0`` for a message-summary NOTIFY: the lamp state is what MWI ladders are about."""
    content_type = (request.header("Content-Type") or "").split(";", 1)[0].strip().lower()
    if content_type != "application/simple-message-summary":
        return ""
    try:
        summary = parse_summary(request.body)
    except MwiError:
        return " (unreadable summary)"
    voice = summary.voice
    counts = f" {voice.new}/{voice.old}" if voice is not None else ""
    return f" {'yes' if summary.waiting else 'no'}{counts}"


def agent_of(data: bytes) -> str | None:
    """The sender's software identity: a response's Server or a request's User-Agent."""
    try:
        message = parse_message(data)
    except SIPParseError:
        return None
    if isinstance(message, Response):
        return message.header("Server") or message.header("User-Agent")
    return message.header("User-Agent")


@dataclass(frozen=True, slots=True)
class Trace:
    """Everything recorded of one scenario run; see ``docs/trace-schema.md``."""

    scenario: str
    path: str | None
    status: str
    started: float
    ended: float
    steps: tuple[TraceStep, ...]
    sip: tuple[SipRecord, ...]
    #: What the scenario ran against ("embedded", or an external server's name).
    target: str = "embedded"
    #: The party name the target's SIP messages carry in the trace.
    target_party: str = "voicemail"
    convention: str = "x-voicemail"
    quirks: tuple[str, ...] = ()
    #: What played the proxy: "simulator", "kamailio", or a proxy under test's address.
    proxy: str = "simulator"
    #: The simulated proxy's profile name (None for a real proxy or an older trace).
    profile: str | None = None
    #: Parties the harness did not run (a real proxy, a foreign server), by their address.
    external: tuple[tuple[Endpoint, str], ...] = ()
    description: str = ""
    tags: tuple[str, ...] = ()
    rtp: tuple[RtpStream, ...] = ()
    smdi: tuple[SmdiFrame, ...] = ()
    latency: tuple[LatencySample, ...] = ()
    harness_version: str = __version__

    # -- building ----------------------------------------------------------------------------

    @classmethod
    def from_outcome(
        cls,
        outcome: ScenarioOutcome,
        *,
        rtp: Iterable[RtpStream] | None = None,
        smdi: Iterable[SmdiFrame] | None = None,
        latency: Iterable[LatencySample] = (),
    ) -> Trace:
        """The trace of a runner outcome: its steps with their fields as written (from the
        outcome's summary), its wire log dated by the run's clock anchor. RTP streams, SMDI
        frames and latency samples come from the arguments, else from the outcome."""
        summary = outcome.summary
        steps = tuple(
            TraceStep(
                index=step.index,
                kind=step.kind,
                status=step.status,
                detail=step.detail,
                started=step.started,
                ended=step.ended,
                finding=step.finding,
                spec=summary.steps[step.index]
                if step.kind != "setup" and 0 <= step.index < len(summary.steps)
                else {},
            )
            for step in outcome.steps
        )
        return cls(
            scenario=outcome.name,
            path=outcome.path.as_posix() if outcome.path is not None else None,
            status=outcome.status,
            started=outcome.started,
            ended=outcome.ended,
            steps=steps,
            sip=pair_echoes(outcome.wire, outcome.clock),
            target=outcome.target,
            convention=outcome.convention,
            quirks=outcome.quirks or summary.quirks,
            proxy=outcome.proxy,
            profile=outcome.profile,
            external=tuple((Endpoint(*peer), name) for peer, name in outcome.parties),
            description=summary.description,
            tags=summary.tags,
            rtp=tuple(rtp if rtp is not None else outcome.rtp),
            smdi=tuple(smdi if smdi is not None else outcome.smdi),
            latency=tuple(latency) or outcome.latency,
        )

    # -- what reports ask --------------------------------------------------------------------

    @property
    def failure(self) -> TraceStep | None:
        """The step that failed, if one did."""
        return next((step for step in self.steps if step.status == "failed"), None)

    @property
    def findings(self) -> tuple[str, ...]:
        """The named proxy mistakes the run's failed steps prove, in order, each once."""
        return tuple(dict.fromkeys(step.finding for step in self.steps if step.finding))

    @property
    def key(self) -> str:
        """What identifies the scenario across runs: its file path, else its name."""
        return self.path or self.scenario

    def transmissions(self) -> tuple[Transmission, ...]:
        """Each SIP message once, in the order it was sent."""
        owners = dict(self.external)
        owners.update((record.local, record.party) for record in self.sip)
        echoes = {record.echo_of: record for record in self.sip if record.echo_of is not None}
        found: list[Transmission] = []
        for record in self.sip:
            if record.echo_of is not None:
                continue
            if record.direction == "out":
                echo = echoes.get(record.index)
                found.append(
                    Transmission(
                        number=0,
                        sender=record.party,
                        receiver=echo.party
                        if echo
                        else owners.get(record.remote, str(record.remote)),
                        # The receiver saw the real source (a TCP client's ephemeral port).
                        source=echo.remote if echo else record.local,
                        destination=record.remote,
                        transport=record.transport,
                        wall=record.wall,
                        data=record.data,
                        error=echo.error if echo else None,
                        sent=record.index,
                        received=echo.index if echo else None,
                    )
                )
            else:
                found.append(
                    Transmission(
                        number=0,
                        sender=owners.get(record.remote, str(record.remote)),
                        receiver=record.party,
                        source=record.remote,
                        destination=record.local,
                        transport=record.transport,
                        wall=record.wall,
                        data=record.data,
                        error=record.error,
                        sent=None,
                        received=record.index,
                    )
                )
        found.sort(key=lambda item: item.wall)
        return tuple(replace(item, number=number) for number, item in enumerate(found, 1))

    def parties(self) -> list[str]:
        """Every party of the run, phones first, then the proxy, the target and the rest."""
        seen: dict[str, None] = {}
        for item in self.transmissions():
            seen.setdefault(item.sender)
            seen.setdefault(item.receiver)
        for record in self.sip:
            seen.setdefault(record.party)

        def rank(party: str) -> int:
            if party.startswith("phone"):
                return 0
            if party == "proxy":
                return 1
            if party == self.target_party:
                return 2
            return 3 if not party[:1].isdigit() and not party.startswith("[") else 4

        order = list(seen)
        return sorted(order, key=lambda party: (rank(party), order.index(party)))

    def agent(self, party: str) -> str | None:
        """The Server or User-Agent header that ``party`` first sent, if it sent one."""
        for item in self.transmissions():
            if item.sender == party and (agent := agent_of(item.data)):
                return agent
        return None

    @property
    def proxy_identity(self) -> str:
        """A real proxy's software identity from its Server/User-Agent, else its name."""
        if self.proxy == "simulator":
            return self.proxy
        return self.agent("proxy") or self.proxy

    @property
    def target_identity(self) -> str:
        """The target's software identity from its Server/User-Agent, else the target's name;
        behind a real proxy, ``<target> via <proxy>`` (a run through Kamailio is its own
        column of the matrix)."""
        identity = self.agent(self.target_party) or self.target
        if self.proxy == "simulator":
            return identity
        return f"{identity} via {self.proxy_identity}"

    # -- JSON --------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The trace as a JSON-ready mapping (the schema in ``docs/trace-schema.md``)."""
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "harness_version": self.harness_version,
            "scenario": {
                "name": self.scenario,
                "path": self.path,
                "description": self.description,
                "tags": list(self.tags),
            },
            "target": {"name": self.target, "party": self.target_party},
            "proxy": {
                "convention": self.convention,
                "quirks": list(self.quirks),
                "name": self.proxy,
                "profile": self.profile,
            },
            "external": [
                {"host": endpoint.host, "port": endpoint.port, "party": party}
                for endpoint, party in self.external
            ],
            "status": self.status,
            "started": self.started,
            "ended": self.ended,
            "steps": [_step_json(step) for step in self.steps],
            "sip": [_record_json(record) for record in self.sip],
            "rtp": [_stream_json(stream) for stream in self.rtp],
            "smdi": [_frame_json(frame) for frame in self.smdi],
            "latency": [
                {"time": sample.time, "latency": sample.latency} for sample in self.latency
            ],
        }

    @classmethod
    def from_json(cls, data: Any, source: str = "trace") -> Trace:
        """Read the mapping :meth:`to_json` makes; :class:`TraceError` names a bad field."""
        root = _Field(data, source, "")
        if root.get("schema").text() != SCHEMA:
            raise TraceError(f'{source}: schema: not a vmharness trace (expected "{SCHEMA}")')
        version = root.get("schema_version").integer()
        if version > SCHEMA_VERSION:
            raise TraceError(
                f"{source}: schema_version: {version} is newer than this vmharness reads "
                f"({SCHEMA_VERSION}); upgrade vmharness"
            )
        if version < 1:
            raise TraceError(f"{source}: schema_version: {version} is not a version")
        scenario = root.get("scenario")
        target = root.get("target")
        proxy = root.get("proxy")
        return cls(
            scenario=scenario.get("name").text(),
            path=scenario.get("path").text_or_none(),
            description=scenario.optional("description", "").text(),
            tags=tuple(item.text() for item in scenario.optional("tags", []).items()),
            status=root.get("status").choice(STATUSES),
            started=root.get("started").number(),
            ended=root.get("ended").number(),
            target=target.get("name").text(),
            target_party=target.get("party").text(),
            convention=proxy.get("convention").text(),
            quirks=tuple(item.text() for item in proxy.optional("quirks", []).items()),
            proxy=proxy.optional("name", "simulator").text(),
            profile=proxy.optional("profile", None).text_or_none(),
            external=tuple(
                (item.endpoint(), item.get("party").text())
                for item in root.optional("external", []).items()
            ),
            steps=tuple(_read_step(item) for item in root.get("steps").items()),
            sip=tuple(_read_record(item) for item in root.get("sip").items()),
            rtp=tuple(_read_stream(item) for item in root.optional("rtp", []).items()),
            smdi=tuple(_read_frame(item) for item in root.optional("smdi", []).items()),
            latency=tuple(
                LatencySample(item.get("time").number(), item.get("latency").number())
                for item in root.optional("latency", []).items()
            ),
            harness_version=root.get("harness_version").text(),
        )

    def save(self, path: Path) -> Path:
        """Write the trace as JSON to ``path`` (parents created); returns ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n", "utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> Trace:
        """Read a trace file; :class:`TraceError` says what is wrong and where."""
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise TraceError(f"{path}: cannot read: {error}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise TraceError(
                f"{path}:{error.lineno}:{error.colno}: not JSON: {error.msg}"
            ) from None
        return cls.from_json(data, str(path))


def pair_echoes(
    wire: Sequence[WireMessage], clock: ClockAnchor | None = None
) -> tuple[SipRecord, ...]:
    """The wire log as records, each ``in`` record of a message a party sent marked ``echo_of``
    (:func:`harness.report.records.echo_pairs`), dated by ``clock`` (by default the anchor the
    log's first message carries)."""
    clock = clock or ClockAnchor.of_wire(wire)
    echo_of = echo_pairs(wire)
    return tuple(
        SipRecord(
            index=index,
            party=message.party,
            direction=message.direction,
            transport=message.transport,
            local=Endpoint(*message.local),
            remote=Endpoint(*message.remote),
            wall=clock.date(message.monotonic),
            monotonic=message.monotonic,
            data=message.data,
            error=message.error,
            echo_of=echo_of.get(index),
        )
        for index, message in enumerate(wire)
    )


# -- JSON helpers ---------------------------------------------------------------------------


def _step_json(step: TraceStep) -> dict[str, Any]:
    written = {
        "index": step.index,
        "kind": step.kind,
        "status": step.status,
        "detail": step.detail,
        "started": step.started,
        "ended": step.ended,
        "spec": dict(step.spec),
    }
    if step.finding is not None:
        written["finding"] = step.finding
    return written


def _record_json(record: SipRecord) -> dict[str, Any]:
    return {
        "index": record.index,
        "party": record.party,
        "direction": record.direction,
        "transport": record.transport,
        "local": _endpoint_json(record.local),
        "remote": _endpoint_json(record.remote),
        "wall": record.wall,
        "monotonic": record.monotonic,
        **_bytes_json(record.data),
        "error": record.error,
        "echo_of": record.echo_of,
    }


def _stream_json(stream: RtpStream) -> dict[str, Any]:
    return {
        "party": stream.party,
        "call_id": stream.call_id,
        "local": _endpoint_json(stream.local),
        "remote": _endpoint_json(stream.remote),
        "ssrc": stream.ssrc,
        "payload_types": list(stream.payload_types),
        "packets_sent": stream.packets_sent,
        "received": stream.received,
        "duplicates": stream.duplicates,
        "lost": stream.lost,
        "out_of_order": stream.out_of_order,
        "jitter": stream.jitter,
        "other_ssrc": stream.other_ssrc,
        "malformed": stream.malformed,
        "dtmf": [{"digit": digit.digit, "timestamp": digit.timestamp} for digit in stream.dtmf],
    }


def _frame_json(frame: SmdiFrame) -> dict[str, Any]:
    return {
        "party": frame.party,
        "kind": frame.kind,
        "direction": frame.direction,
        "wall": frame.wall,
        **_bytes_json(frame.data),
    }


def _endpoint_json(endpoint: Endpoint | None) -> dict[str, Any] | None:
    return None if endpoint is None else {"host": endpoint.host, "port": endpoint.port}


def _bytes_json(data: bytes) -> dict[str, str]:
    """Text when the bytes are UTF-8 (readable in the file), else base64."""
    try:
        return {"data": data.decode("utf-8"), "data_encoding": "utf-8"}
    except UnicodeDecodeError:
        return {"data": base64.b64encode(data).decode("ascii"), "data_encoding": "base64"}


class _Field:
    """A value inside a trace document, with its location for error messages."""

    def __init__(self, value: Any, source: str, where: str) -> None:
        self.value = value
        self.source = source
        self.where = where

    def fail(self, reason: str) -> TraceError:
        return TraceError(f"{self.source}: {self.where or 'document'}: {reason}")

    def _mapping(self) -> Mapping[str, Any]:
        if not isinstance(self.value, dict):
            raise self.fail(f"expected an object, got {_kind(self.value)}")
        return self.value

    def _child(self, name: str | int) -> str:
        if isinstance(name, int):
            return f"{self.where}[{name}]"
        return f"{self.where}.{name}" if self.where else name

    def get(self, name: str) -> _Field:
        mapping = self._mapping()
        if name not in mapping:
            raise TraceError(f"{self.source}: {self._child(name)}: missing")
        return _Field(mapping[name], self.source, self._child(name))

    def optional(self, name: str, default: Any) -> _Field:
        return _Field(self._mapping().get(name, default), self.source, self._child(name))

    def items(self) -> list[_Field]:
        if not isinstance(self.value, list):
            raise self.fail(f"expected a list, got {_kind(self.value)}")
        return [_Field(item, self.source, self._child(i)) for i, item in enumerate(self.value)]

    def text(self) -> str:
        if not isinstance(self.value, str):
            raise self.fail(f"expected a string, got {_kind(self.value)}")
        return self.value

    def text_or_none(self) -> str | None:
        return None if self.value is None else self.text()

    def choice(self, allowed: Sequence[str]) -> str:
        text = self.text()
        if text not in allowed:
            raise self.fail(f'"{text}" is not one of {", ".join(allowed)}')
        return text

    def integer(self) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise self.fail(f"expected an integer, got {_kind(self.value)}")
        return self.value

    def integer_or_none(self) -> int | None:
        return None if self.value is None else self.integer()

    def number(self) -> float:
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            raise self.fail(f"expected a number, got {_kind(self.value)}")
        if not math.isfinite(self.value):
            raise self.fail("expected a finite number")
        return float(self.value)

    def endpoint(self) -> Endpoint:
        return Endpoint(self.get("host").text(), self.get("port").integer())

    def endpoint_or_none(self) -> Endpoint | None:
        return None if self.value is None else self.endpoint()

    def data(self) -> bytes:
        """The ``data`` field decoded by its sibling ``data_encoding``."""
        text = self.get("data").text()
        encoding = self.get("data_encoding").choice(("utf-8", "base64"))
        if encoding == "utf-8":
            return text.encode("utf-8")
        try:
            return base64.b64decode(text, validate=True)
        except binascii.Error as error:
            raise self.get("data").fail(f"not base64: {error}") from None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _read_step(item: _Field) -> TraceStep:
    spec = item.optional("spec", {})
    finding = item.optional("finding", None)
    return TraceStep(
        index=item.get("index").integer(),
        kind=item.get("kind").text(),
        status=item.get("status").choice(STEP_STATUSES),
        detail=item.get("detail").text(),
        started=item.get("started").number(),
        ended=item.get("ended").number(),
        spec=dict(spec._mapping()),
        finding=None if finding.value is None else finding.text(),
    )


def _read_record(item: _Field) -> SipRecord:
    direction = item.get("direction").choice(("in", "out"))
    return SipRecord(
        index=item.get("index").integer(),
        party=item.get("party").text(),
        direction="in" if direction == "in" else "out",
        transport=item.get("transport").text(),
        local=item.get("local").endpoint(),
        remote=item.get("remote").endpoint(),
        wall=item.get("wall").number(),
        monotonic=item.get("monotonic").number(),
        data=item.data(),
        error=item.optional("error", None).text_or_none(),
        echo_of=item.optional("echo_of", None).integer_or_none(),
    )


def _read_stream(item: _Field) -> RtpStream:
    return RtpStream(
        party=item.get("party").text(),
        call_id=item.get("call_id").text(),
        local=item.get("local").endpoint_or_none(),
        remote=item.get("remote").endpoint_or_none(),
        ssrc=item.get("ssrc").integer_or_none(),
        payload_types=tuple(pt.integer() for pt in item.get("payload_types").items()),
        packets_sent=item.get("packets_sent").integer(),
        received=item.get("received").integer(),
        duplicates=item.get("duplicates").integer(),
        lost=item.get("lost").integer(),
        out_of_order=item.get("out_of_order").integer(),
        jitter=item.get("jitter").number(),
        other_ssrc=item.get("other_ssrc").integer(),
        malformed=item.get("malformed").integer(),
        dtmf=tuple(
            DtmfDigit(digit.get("digit").text(), digit.get("timestamp").integer())
            for digit in item.optional("dtmf", []).items()
        ),
    )


def _read_frame(item: _Field) -> SmdiFrame:
    direction = item.get("direction").choice(("in", "out"))
    return SmdiFrame(
        party=item.get("party").text(),
        kind=item.get("kind").text(),
        direction="in" if direction == "in" else "out",
        data=item.data(),
        wall=item.get("wall").number(),
    )
