"""Deposits under SIPp load: the voicemail server beside Asterisk 18.26.4 app_voicemail, both
playing the real sound files (asterisk-core-sounds-en-wav). Targets: >= 2x Asterisk, and at
least 60 deposits/s of 3 s messages and 900 concurrent 20 s recordings.

    .venv/bin/python bench/deposits.py [--quick] [--only ours|asterisk] [--playback-process off]

Each caller (bench/sipp/deposit.xml, SIPp) names its box in X-Voicemail-Mailbox, skips the
greeting with an RFC 4733 '#' half a second in (as the project's SIPp deposit tests do, so both
servers hold a call for the same time), stays silent over the beep and speaks a signed message
(harness.media.signature), then hangs up. The mailboxes are used in turn so none fills up.

Every recording of a step is checked: one per successful call, its length within 0.1 s of the
length one lone call records on the idle server (measured first), its signature decoded. Audio
missing from a recording counts as RTP lost. Two figures per server:

* deposits/s of 3 s messages: rising rates; the highest step where no call failed and every
  recording is intact;
* concurrent 20 s recordings: N calls offered over 10 s (so all N are up together for 10 s);
  the largest N where no call failed, every recording is intact and at most 0.1 % is lost.

Asterisk is the build of ``python3 -m harness.peers.asterisk_build`` (cached under
~/.cache/vmharness), started and configured by harness.peers.asterisk through the harness's
Asterisk target; when it is missing its figures say "skipped".
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from figures import Figure, finish, parser
from sipp_load import (
    RETRIES,
    SCENARIOS,
    RateStep,
    ServedVoicemail,
    cpu_seconds,
    mailbox_files,
    sipp_at_rate,
)

from harness.core.mailbox import MailboxId
from harness.media.signature import find_message_codes
from harness.media.wav import read_wav
from harness.peers.asterisk import AsteriskError, find_asterisk
from harness.peers.asterisk_build import AsteriskBuildError, build, find_tarball
from harness.peers.signed_speech import signed_speech
from harness.peers.sipp import KeyPress, SippError, find_sipp, write_rtp_pcap
from harness.targets import AsteriskTarget, MailboxEntry, TargetStartError

NAME = "deposits"
RATE = 8000
CODE = "BENCH14"
#: Mailboxes the calls are spread over (app_voicemail keeps at most 100 messages in a folder).
BOXES = [str(3000 + n) for n in range(2000)]
#: The lone call's recording is the reference; each under load must be within this.
TOLERANCE = 0.1
#: The largest share of audio a clean concurrency step may lose.
MAX_LOSS = 0.001
#: Seconds over which a concurrency step offers its calls (all are up together after that).
SPREAD = 10.0
SIZES = {
    "quick": {"rates": (5, 10, 20), "step_seconds": 6.0, "concurrent": (25, 50, 100)},
    "full": {
        "rates": (10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 100),
        "step_seconds": 20.0,
        "concurrent": (50, 100, 150, 300, 450, 600, 750, 900, 1050),
    },
}


@dataclass(frozen=True, slots=True)
class Speech:
    """What each caller sends: the pcap in ``directory`` and how long to stay on the line."""

    directory: Path
    hold_ms: int
    message_seconds: float


def write_speech(directory: Path, message_seconds: float) -> Speech:
    """'#' at 0.5 s, silence to 2 s (the beep), the signed message, 0.3 s of silence."""
    directory.mkdir(parents=True, exist_ok=True)
    signature_seconds = 1.2
    message = signed_speech(CODE, speech_seconds=(message_seconds - signature_seconds) / 2)
    audio = np.concatenate(
        (np.zeros(2 * RATE, np.int16), message, np.zeros(3 * RATE // 10, np.int16))
    )
    write_rtp_pcap(directory / "deposit.pcap", audio, keys=[KeyPress(0.5, "#")])
    return Speech(directory, round(audio.size * 1000 / RATE), message_seconds)


@dataclass
class Server:
    """A voicemail server under test: where it listens, its spool, its PID."""

    name: str
    address: tuple[str, int]
    spool: Path
    pid: int | None
    boxes: Path

    def recordings(self) -> set[Path]:
        """Every message's audio in the spool."""
        return set(self.spool.glob("*/*/INBOX/msg*.wav"))


@contextlib.asynccontextmanager
async def served_ours(scratch: Path, playback: str = "auto") -> AsyncIterator[Server]:
    """``vmharness serve`` playing the real sound files (``playback``: its
    ``--playback-process``)."""
    configs = mailbox_files(BOXES)
    options = ["--prompts", "sounds", "--playback-process", playback]
    async with ServedVoicemail(scratch / "ours", configs, options=options) as served:
        yield Server("vmharness", served.address, served.spool, served.pid, _box_file(scratch))


def build_asterisk() -> str | None:
    """Build Asterisk into the cache when it is missing and its source is at hand (about two
    minutes, once); None when there is one to run, else why not."""
    try:
        find_asterisk()
        return None
    except AsteriskError as missing:
        tarball = find_tarball()
        if tarball is None:
            return str(missing)
    print(f"  building Asterisk from {tarball} (once, into the cache)", flush=True)
    try:
        build(tarball)
    except AsteriskBuildError as error:
        return f"Asterisk could not be built: {error}"
    return None


@contextlib.asynccontextmanager
async def served_asterisk(scratch: Path) -> AsyncIterator[Server]:
    """Asterisk with the same mailboxes, routing on X-Voicemail-Mailbox."""
    mailboxes = [MailboxEntry(MailboxId(box, "default"), "1234") for box in BOXES]
    target = AsteriskTarget(mailboxes, [])
    address = await target.start(("127.0.0.1", 9))
    try:
        assert target.asterisk is not None
        yield Server(
            "Asterisk", address, target.asterisk.spool, target.asterisk.pid, _box_file(scratch)
        )
    finally:
        await target.close()


def _box_file(scratch: Path) -> Path:
    path = scratch / "boxes.csv"
    if not path.exists():
        path.write_text("SEQUENTIAL\n" + "".join(f"{box};\n" for box in BOXES))
    return path


@dataclass(frozen=True, slots=True)
class Checked:
    """What the recordings of a step showed."""

    present: int
    wrong_length: int
    no_signature: int
    #: Seconds of audio missing, summed over the recordings.
    lost: float
    #: Seconds expected, summed.
    expected: float
    durations: tuple[float, ...]

    @property
    def loss(self) -> float:
        """Share of the audio lost."""
        return self.lost / self.expected if self.expected else 0.0

    def intact(self, calls: int) -> bool:
        """One recording per call, each the right length with its signature."""
        return self.present == calls and not self.wrong_length and not self.no_signature

    def describe(self) -> str:
        """One line for the log."""
        spread = f"{min(self.durations):.2f}-{max(self.durations):.2f} s" if self.durations else "-"
        return (
            f"{self.present} recordings ({spread}), {self.wrong_length} off by > {TOLERANCE} s, "
            f"{self.no_signature} without signature, {self.loss:.3%} audio lost"
        )


def check(paths: Sequence[Path], reference: float) -> Checked:
    """Check each recording against the lone call's ``reference`` length."""
    wrong = unsigned = 0
    lost = 0.0
    durations = []
    for path in paths:
        audio, _ = read_wav(path)
        seconds = audio.size / RATE
        durations.append(seconds)
        wrong += abs(seconds - reference) > TOLERANCE
        unsigned += find_message_codes(audio) != [CODE]
        lost += max(0.0, reference - seconds)
    return Checked(
        len(paths), wrong, unsigned, lost, reference * len(paths), tuple(sorted(durations))
    )


async def settled(server: Server, before: set[Path], expected: int, within: float) -> list[Path]:
    """The recordings made since ``before``, once ``expected`` are there or none came for 3 s."""
    deadline = time.monotonic() + within
    seen, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        new = server.recordings() - before
        if len(new) >= expected:
            break
        if len(new) != seen:
            seen, quiet_since = len(new), time.monotonic()
        elif time.monotonic() - quiet_since > 3.0:
            break
        await asyncio.sleep(0.5)
    # A recording is complete once its .txt is written beside it (both servers write it last).
    await asyncio.sleep(1.0)
    return sorted(server.recordings() - before)


async def deposit_step(
    server: Server, speech: Speech, rate: float, calls: int
) -> tuple[RateStep, list[Path]]:
    """Offer ``calls`` deposits at ``rate``; the SIPp step and the new recordings."""
    before = server.recordings()
    step, _ = await sipp_at_rate(
        SCENARIOS / "deposit.xml",
        server.address,
        rate,
        calls,
        hold_ms=speech.hold_ms,
        cwd=speech.directory,
        target_pid=server.pid,
        extra_args=["-inf", str(server.boxes)],
    )
    return step, await settled(server, before, step.succeeded, within=60.0)


async def reference_length(server: Server, speech: Speech) -> float:
    """What one lone call records on the idle server."""
    step, paths = await deposit_step(server, speech, 1, 1)
    if step.succeeded != 1 or len(paths) != 1:
        raise RuntimeError(f"{server.name}: a lone deposit failed ({step.describe()})")
    audio, _ = read_wav(paths[0])
    return audio.size / RATE


@dataclass
class Results:
    """A server's two figures and the lines that led to them."""

    rate: float | None = None
    concurrent: int | None = None
    log: list[str] | None = None
    #: CPU ms per 3 s deposit, at the ladder's first step (the same load for both servers).
    deposit_cpu_ms: float | None = None
    #: Share of a core per live 20 s recording, at the ladder's first step.
    live_cpu: float | None = None


async def _rates(server: Server, speech: Speech, mode: str, results: Results) -> float | None:
    log = results.log if results.log is not None else []
    reference = await reference_length(server, speech)
    log.append(f"{server.name}: a lone 3 s deposit records {reference:.2f} s")
    best = None
    for rate in SIZES[mode]["rates"]:
        calls = round(rate * float(SIZES[mode]["step_seconds"]))
        for _ in range(1 + RETRIES):
            clean = await _rate_step(server, speech, (rate, calls), reference, results)
            if clean:
                break
        if not clean:
            break
        best = float(rate)
    return best


async def _rate_step(
    server: Server, speech: Speech, load: tuple[float, int], reference: float, results: Results
) -> bool:
    rate, calls = load
    step, paths = await deposit_step(server, speech, rate, calls)
    checked = check(paths, reference)
    clean = step.clean and step.failed == 0 and checked.intact(step.succeeded)
    line = f"{step.describe()}; {checked.describe()}{'' if clean else '  NOT CLEAN'}"
    if results.log is not None:
        results.log.append(f"{server.name} deposits: {line}")
    print(f"    {line}", flush=True)
    if results.deposit_cpu_ms is None and step.target_cpu is not None:
        results.deposit_cpu_ms = 1000 * step.target_cpu / calls
    return clean


async def _concurrent(server: Server, speech: Speech, mode: str, results: Results) -> int | None:
    log = results.log if results.log is not None else []
    reference = await reference_length(server, speech)
    log.append(f"{server.name}: a lone 20 s deposit records {reference:.2f} s")
    best = None
    for calls in SIZES[mode]["concurrent"]:
        for _ in range(1 + RETRIES):
            clean = await _concurrent_step(server, speech, calls, reference, results)
            if clean:
                break
        if not clean:
            break
        best = calls
    return best


async def _concurrent_step(
    server: Server, speech: Speech, calls: int, reference: float, results: Results
) -> bool:
    before = None if server.pid is None else cpu_seconds(server.pid)
    step, paths = await deposit_step(server, speech, calls / SPREAD, calls)
    used = None if before is None or server.pid is None else cpu_seconds(server.pid) - before
    checked = check(paths, reference)
    clean = (
        step.failed == 0
        and step.succeeded == calls
        and checked.intact(calls)
        and checked.loss <= MAX_LOSS
    )
    cpu = "" if used is None else f", {used:.1f} s CPU"
    line = f"{calls} at once{cpu}: {step.describe()}; {checked.describe()}"
    line += "" if clean else "  NOT CLEAN"
    if results.log is not None:
        results.log.append(f"{server.name} concurrent: {line}")
    print(f"    {line}", flush=True)
    if results.live_cpu is None and used is not None:
        results.live_cpu = used / (calls * speech.hold_ms / 1000)
    return clean


async def measure_server(
    serve: contextlib.AbstractAsyncContextManager[Server], short: Speech, long: Speech, mode: str
) -> Results:
    """Both figures of one server."""
    results = Results(log=[])
    async with serve as server:
        print(f"  {server.name}, 3 s deposits:", flush=True)
        results.rate = await _rates(server, short, mode, results)
        print(f"  {server.name}, concurrent 20 s recordings:", flush=True)
        results.concurrent = await _concurrent(server, long, mode, results)
    return results


def _cpu_note(ours: float | None, asterisk: float | None, form: str) -> str:
    sides = [(who, value) for who, value in (("ours", ours), ("Asterisk", asterisk)) if value]
    return ", ".join(f"{who} {form.format(value)}" for who, value in sides)


def figures(ours: Results, asterisk: Results, skipped: str | None) -> list[Figure]:
    """The two figures, ours beside Asterisk's."""
    return [
        Figure(
            NAME, "deposits of 3 s messages, all intact", "deposits/s", ours.rate,
            asterisk.rate, "Asterisk", 2.0, minimum=60, skipped=skipped,
            note="CPU a deposit at the first step: "
            + _cpu_note(ours.deposit_cpu_ms, asterisk.deposit_cpu_ms, "{:.1f} ms"),
        ),
        Figure(
            NAME, "concurrent 20 s recordings, <= 0.1 % lost", "calls", ours.concurrent,
            asterisk.concurrent, "Asterisk", 2.0, minimum=900, skipped=skipped,
            note="share of a core a live recording at the first step: "
            + _cpu_note(ours.live_cpu, asterisk.live_cpu, "{:.2%}"),
        ),
    ]  # fmt: skip


async def measure(
    mode: str, only: str | None, playback: str = "auto"
) -> tuple[list[Figure], dict[str, object]]:
    """Our server, then Asterisk, through the same SIPp load."""
    with tempfile.TemporaryDirectory(prefix="vmharness-bench-") as name:
        scratch = Path(name)
        short = write_speech(scratch / "short", 3.0)
        long = write_speech(scratch / "long", 20.0)
        ours = Results(log=[])
        if only in (None, "ours"):
            ours = await measure_server(served_ours(scratch, playback), short, long, mode)
        asterisk, skipped = Results(log=[]), None
        if only in (None, "asterisk"):
            skipped = build_asterisk()
        if only in (None, "asterisk") and skipped is None:
            try:
                asterisk = await measure_server(served_asterisk(scratch), short, long, mode)
            except (TargetStartError, AsteriskError) as error:
                skipped = f"Asterisk: {error}"
        if only is not None and skipped is None:
            skipped = f"only {only} measured"
        details = {
            "mode": mode,
            "playback_process": playback,
            "ours": ours.log,
            "asterisk": asterisk.log,
        }
        return figures(ours, asterisk, skipped), details


def main(argv: Sequence[str] | None = None) -> int:
    made = parser(__doc__)
    made.add_argument("--only", choices=("ours", "asterisk"), help="measure one server only")
    made.add_argument(
        "--playback-process",
        choices=("auto", "on", "off"),
        default="auto",
        help="our server's --playback-process (default auto: on with two cores)",
    )
    args = made.parse_args(argv)
    mode = "quick" if args.quick else "full"
    print(f"deposits ({mode}):", flush=True)
    try:
        find_sipp()
    except SippError as missing:
        return finish(NAME, figures(Results(), Results(), str(missing)), {}, args.reports)
    found, details = asyncio.run(measure(mode, args.only, args.playback_process))
    return finish(NAME, found, details, args.reports)


if __name__ == "__main__":
    sys.exit(main())
