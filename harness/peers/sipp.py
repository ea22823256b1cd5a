"""SIPp, a third-party SIP traffic generator, as a caller or a phone in a run.

Two things a test needs to drive the scenarios under ``fixtures/sipp/``:

* :func:`write_rtp_pcap` renders audio (and RFC 4733 key presses) into a pcap of G.711 RTP
  that SIPp replays with ``<exec play_pcap_audio="..."/>``: Ethernet/IPv4/UDP frames, one
  packet every 20 ms, stamped with the time each is to be sent. SIPp rewrites the addresses and
  ports to the call's, and keeps the RTP header (sequence, timestamp, SSRC, payload type) as is.
* :class:`Sipp` runs one SIPp process: the command line (loopback addresses, statistics and
  error traces into a private directory), a bounded wait, and a stop by PID. Its
  :class:`SippResult` holds the exit code and the last ``-trace_stat`` counters: an answering
  SIPp may exit non-zero when its ``-timeout`` fires although every call succeeded, so the
  counters are what tells.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import os
import secrets
import shutil
import signal
import socket
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import PcapWriter

from harness.media import g711
from harness.media.dtmf import event_code, event_packets
from harness.media.rtp import FRAME_SAMPLES, RtpPacket, RtpSender

#: The scenarios shipped with the project.
SCENARIOS = Path(__file__).resolve().parents[2] / "fixtures" / "sipp"

#: The G.711 codecs a pcap can carry, with their static RTP payload types (RFC 3551).
Codec = Literal["PCMU", "PCMA"]
PAYLOAD_TYPES: Mapping[Codec, int] = {"PCMU": 0, "PCMA": 8}

_RATE = 8000
_FRAME_SECONDS = FRAME_SAMPLES / _RATE
_OUTPUT_TAIL = 3000
#: Where SIPp's media ports are chosen (see free_media_ports).
_MEDIA_PORTS = range(20000, 32000)


class SippError(RuntimeError):
    """SIPp is missing, or a SIPp run could not be started."""


def find_sipp() -> Path:
    """The sipp binary on PATH; SippError naming the Debian package when there is none."""
    found = shutil.which("sipp")
    if found is None:
        raise SippError("sipp not found on PATH (Debian package: sip-tester)")
    return Path(found)


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind((host, 0))
        port: int = udp.getsockname()[1]
        return port


def free_media_ports(host: str = "127.0.0.1") -> int:
    """A base port for SIPp's ``-mp``: it and the next three are free for UDP right now.

    SIPp binds the port for audio and the port two above for video, and fails when either is
    taken. The base is drawn at random below Linux's ephemeral range (32768 up), where the
    kernel never hands out ports to other sockets of the run.
    """
    first = _MEDIA_PORTS.start + 4 * secrets.randbelow(len(_MEDIA_PORTS) // 4)
    for attempt in range(len(_MEDIA_PORTS) // 4):
        base = _MEDIA_PORTS.start + (first - _MEDIA_PORTS.start + 4 * attempt) % len(_MEDIA_PORTS)
        with contextlib.ExitStack() as held:
            try:
                for port in range(base, base + 4):
                    udp = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                    udp.bind((host, port))
            except OSError:
                continue
            return base
    raise SippError(f"no four consecutive UDP ports free on {host} in {_MEDIA_PORTS}")


# --- audio for play_pcap_audio ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyPress:
    """An RFC 4733 key press ``at`` seconds into a pcap; it replaces the audio it overlaps.

    It lasts a whole number of 20 ms frames, so the audio after it stays on the frame grid.
    """

    at: float
    digit: str
    duration_ms: int = 100

    def __post_init__(self) -> None:
        event_code(self.digit)
        if self.duration_ms <= 0 or self.duration_ms % 20:
            raise ValueError(
                f"key press {self.digit!r} lasts {self.duration_ms} ms: "
                "a multiple of 20 ms is needed"
            )


def rtp_packets(
    pcm: npt.ArrayLike,
    *,
    codec: Codec = "PCMA",
    keys: Sequence[KeyPress] = (),
    event_payload_type: int = 101,
    ssrc: int | None = None,
) -> list[tuple[float, RtpPacket]]:
    """The RTP stream of 8 kHz ``pcm``: (seconds from the start, packet), in sending order.

    One G.711 packet per 20 ms. Each key press takes the place of the audio frames it overlaps
    (a phone does not send both), with the packets RFC 4733 prescribes (see
    :func:`harness.media.dtmf.event_packets`); the timestamps run on across it.
    """
    if codec not in PAYLOAD_TYPES:
        known = ", ".join(PAYLOAD_TYPES)
        raise ValueError(f"codec {codec!r} cannot go into an RTP pcap (known: {known})")
    samples = np.asarray(pcm)
    if samples.ndim != 1 or samples.size == 0:
        raise ValueError(f"pcm must be a non-empty 1-D signal, got shape {samples.shape}")
    total = samples.size / _RATE
    pending = sorted(keys, key=lambda key: key.at)
    for key in pending:
        if not 0 <= key.at < total:
            raise ValueError(
                f"key press {key.digit!r} at {key.at:g} s lies outside the {total:g} s of audio"
            )
    sender = RtpSender(PAYLOAD_TYPES[codec], ssrc=ssrc)
    payload = g711.encode(samples, codec)
    timed: list[tuple[float, RtpPacket]] = []
    frame = 0
    frames = -(-samples.size // FRAME_SAMPLES)
    while frame < frames:
        at = frame * _FRAME_SECONDS
        if pending and pending[0].at < at + _FRAME_SECONDS:
            key = pending.pop(0)
            for item in event_packets(
                key.digit, sender, event_payload_type, duration_ms=key.duration_ms
            ):
                timed.append((at + item.at, item.packet))
            # event_packets moved the timestamp on by the key's duration: skip that audio.
            frame += key.duration_ms * _RATE // 1000 // FRAME_SAMPLES
            continue
        chunk = payload[frame * FRAME_SAMPLES : (frame + 1) * FRAME_SAMPLES]
        timed.append((at, sender.packet(chunk)))
        sender.advance(len(chunk))
        frame += 1
    if pending:
        raise ValueError(f"key press {pending[0].digit!r} at {pending[0].at:g} s was not placed")
    return timed


def write_rtp_pcap(
    path: Path,
    pcm: npt.ArrayLike,
    *,
    codec: Codec = "PCMA",
    keys: Sequence[KeyPress] = (),
    event_payload_type: int = 101,
    source: tuple[str, int] = ("127.0.0.1", 6000),
    destination: tuple[str, int] = ("127.0.0.1", 6002),
) -> Path:
    """Write ``pcm`` (8 kHz) as a G.711 RTP pcap SIPp's ``play_pcap_audio`` replays.

    ``source`` and ``destination`` only fill the frames: SIPp sends from its media port to the
    address in the peer's SDP. Returns ``path``.
    """
    packets: list[Any] = []
    for at, packet in rtp_packets(
        pcm, codec=codec, keys=keys, event_payload_type=event_payload_type
    ):
        framed = (
            Ether()
            / IP(src=source[0], dst=destination[0])
            / UDP(sport=source[1], dport=destination[1])
            / Raw(packet.encode())
        )
        framed.time = at
        packets.append(framed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with PcapWriter(str(path), linktype=1, sync=True) as writer:
        writer.write(packets)
    return path


# --- running SIPp -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SippResult:
    """How a SIPp run ended: exit code, its last statistics, what it printed and logged."""

    command: tuple[str, ...]
    returncode: int
    #: The last ``-trace_stat`` row, column name to value (empty when SIPp wrote none).
    stats: Mapping[str, str]
    #: stdout and stderr, the end of them.
    output: str
    #: The ``-trace_err`` log: every unexpected message.
    errors: str
    #: The ``-trace_logs`` log: what the scenario's ``<log>`` actions wrote.
    logs: str
    #: True when SIPp did not exit by itself within the timeout and was killed.
    killed: bool

    def counter(self, name: str) -> int:
        """A cumulative counter, e.g. ``counter("SuccessfulCall")`` for ``SuccessfulCall(C)``."""
        value = self.stats.get(f"{name}(C)", self.stats.get(name))
        if value is None:
            known = ", ".join(self.stats) or "none: SIPp wrote no statistics"
            raise KeyError(f"SIPp statistics have no counter {name!r} (columns: {known})")
        return int(value)

    @property
    def successful_calls(self) -> int:
        """Calls that reached the end of the scenario."""
        return self.counter("SuccessfulCall")

    @property
    def failed_calls(self) -> int:
        """Calls that failed for any reason."""
        return self.counter("FailedCall")

    def describe(self) -> str:
        """A failure message: the command, exit code, counters and the ends of the logs."""
        counters = {
            key: value for key, value in self.stats.items() if key.endswith("(C)") and value != "0"
        }
        return "\n".join(
            (
                "$ " + " ".join(self.command),
                f"exit code {self.returncode}{' (killed at the timeout)' if self.killed else ''}",
                f"counters: {counters}",
                "output:",
                self.output[-_OUTPUT_TAIL:],
                "unexpected messages:",
                self.errors[-_OUTPUT_TAIL:] or "(none)",
                "scenario log:",
                self.logs[-_OUTPUT_TAIL:] or "(none)",
            )
        )


def _last_stats(text: str) -> dict[str, str]:
    """The last data row of a ``-trace_stat`` CSV (``;`` separated, a header row first)."""
    rows = [row for row in csv.reader(io.StringIO(text), delimiter=";") if row]
    if len(rows) < 2:
        return {}
    header, last = rows[0], rows[-1]
    return {name.strip(): value.strip() for name, value in zip(header, last, strict=False)}


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


class Sipp:
    """One SIPp process running a scenario file against ``remote`` on loopback.

    ``variables`` become ``-set NAME VALUE``; ``calls`` is ``-m``; ``timeout`` is both SIPp's
    own ``-timeout`` and the bound of :meth:`wait` (plus a grace period), after which the
    process is killed by its PID. SIPp runs in ``cwd`` (where ``play_pcap_audio`` looks for
    relative file names); its statistics, error and scenario logs go to :attr:`trace_dir`
    (``trace_dir`` when given and kept, else a private directory removed on exit).
    """

    def __init__(
        self,
        scenario: Path,
        remote: tuple[str, int],
        *,
        variables: Mapping[str, str] | None = None,
        calls: int = 1,
        timeout: float = 30.0,
        host: str = "127.0.0.1",
        port: int = 0,
        media_port: int = 0,
        hold_ms: int | None = None,
        cwd: Path | None = None,
        trace_dir: Path | None = None,
        extra_args: Sequence[str] = (),
        binary: Path | None = None,
    ) -> None:
        if not scenario.is_file():
            raise ValueError(f"SIPp scenario {scenario} does not exist")
        if calls < 1:
            raise ValueError(f"calls must be at least 1, not {calls}")
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        for name in variables or {}:
            if not name.isidentifier():
                raise ValueError(f"SIPp variable name {name!r} is not a plain identifier")
        self.scenario = scenario
        self.remote = remote
        self.variables = dict(variables or {})
        self.calls = calls
        self.timeout = timeout
        self.host = host
        self.port = port or free_udp_port(host)
        self.media_port = media_port or free_media_ports(host)
        self.hold_ms = hold_ms
        self.extra_args = tuple(extra_args)
        self.binary = binary
        # Traces stay where the caller says (for a report), else go to a directory of our own.
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        if trace_dir is None:
            self._directory = tempfile.TemporaryDirectory(prefix="vmharness-sipp-")
            trace_dir = Path(self._directory.name)
        trace_dir.mkdir(parents=True, exist_ok=True)
        self.trace_dir = trace_dir
        self.cwd = cwd or self.trace_dir
        self._process: asyncio.subprocess.Process | None = None
        self._command: tuple[str, ...] = ()

    @property
    def address(self) -> tuple[str, int]:
        """Where this SIPp sends and receives SIP."""
        return (self.host, self.port)

    @property
    def pid(self) -> int | None:
        """The process's PID while it runs."""
        if self._process is None or self._process.returncode is not None:
            return None
        return self._process.pid

    @property
    def stats_file(self) -> Path:
        """The ``-trace_stat`` CSV."""
        return self.trace_dir / "stats.csv"

    @property
    def error_file(self) -> Path:
        """The ``-trace_err`` log."""
        return self.trace_dir / "errors.log"

    @property
    def log_file(self) -> Path:
        """The ``-trace_logs`` log."""
        return self.trace_dir / "scenario.log"

    @property
    def output_file(self) -> Path:
        """SIPp's stdout and stderr."""
        return self.trace_dir / "output.log"

    def command(self) -> list[str]:
        """The full SIPp command line."""
        binary = self.binary or find_sipp()
        host, port = self.remote
        command = [
            str(binary),
            "-sf", str(self.scenario),
            "-i", self.host, "-mi", self.host,
            "-p", str(self.port), "-mp", str(self.media_port),
            "-m", str(self.calls),
            "-timeout", f"{max(1, round(self.timeout))}s", "-timeout_error",
            "-nostdin",
            "-trace_stat", "-stf", str(self.stats_file), "-fd", "1",
            "-trace_err", "-error_file", str(self.error_file),
            "-trace_logs", "-log_file", str(self.log_file),
        ]  # fmt: skip
        if self.hold_ms is not None:
            command += ["-d", str(self.hold_ms)]
        for name, value in self.variables.items():
            command += ["-set", name, value]
        command += [*self.extra_args, f"{host}:{port}"]
        return command

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
        if self._directory is not None:
            self._directory.cleanup()

    async def start(self) -> None:
        """Start SIPp; it runs until its calls are done, its timeout fires, or :meth:`stop`."""
        if self._process is not None:
            raise SippError("this SIPp was already started")
        self._command = tuple(self.command())
        with self.output_file.open("wb") as output:
            self._process = await asyncio.create_subprocess_exec(
                *self._command,
                cwd=self.cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=output,
            )

    async def wait(self, grace: float = 5.0) -> SippResult:
        """Wait until SIPp exits (killed ``grace`` seconds after its own timeout) and report."""
        process = self._process
        if process is None:
            raise SippError("start() SIPp before waiting for it")
        killed = False
        try:
            await asyncio.wait_for(process.wait(), self.timeout + grace)
        except TimeoutError:
            killed = True
            await self.stop()
        assert process.returncode is not None
        return SippResult(
            command=self._command,
            returncode=process.returncode,
            stats=_last_stats(_read(self.stats_file)),
            output=_read(self.output_file),
            errors=_read(self.error_file),
            logs=_read(self.log_file),
            killed=killed,
        )

    async def stop(self, timeout: float = 2.0) -> None:
        """Stop SIPp by its PID: SIGTERM, then SIGKILL if it lingers."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        for sent in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, sent)
            try:
                await asyncio.wait_for(process.wait(), timeout)
                return
            except TimeoutError:
                continue


async def run_sipp(scenario: Path, remote: tuple[str, int], **options: Any) -> SippResult:
    """Run a scenario to its end (see :class:`Sipp` for ``options``) and report how it went."""
    sipp = Sipp(scenario, remote, **options)
    async with sipp:
        return await sipp.wait()
