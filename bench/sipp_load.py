"""SIPp load against a SIP target, and ``vmharness serve`` as one: what the bench scripts share.

* :class:`ServedVoicemail` runs ``vmharness serve`` (the public command, in its own process so
  its CPU is its own) on a configuration directory written for the run, and stops it by PID.
* :func:`sipp_at_rate` offers ``calls`` calls of a SIPp scenario at ``rate`` calls/s and says
  how many succeeded, how many failed, and how fast they were carried.
* :func:`ramp` raises the rate until a step is no longer clean (≥ 1 % failed, or the calls
  took much longer than offered) and keeps the highest clean one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from harness.peers.sipp import Sipp, SippResult, free_udp_port

BENCH = Path(__file__).resolve().parent
#: The SIPp scenarios of the benches (the harness's own are under fixtures/sipp/).
SCENARIOS = BENCH / "sipp"
VMHARNESS = Path(sys.executable).parent / "vmharness"
#: A step is clean below this share of failed calls.
CLEAN_FAILURES = 0.01
#: ... and when its calls took at most this much longer than offered (else the target lags).
CLEAN_LAG = 1.15
_LISTENING = re.compile(rb"listening on ([\d.]+):(\d+)")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` and its live children (the server's playback
    process) used so far (from /proc)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return _own_cpu_seconds(pid) + sum(_own_cpu_seconds(int(child)) for child in children)


def _own_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


#: sip.conf's call-limit for the benches: the server's default (100 calls at once, then 503)
#: guards a deployment, and would cap every ladder here; Asterisk has no such bound by default.
CALL_LIMIT = 20000


def mailbox_files(boxes: Sequence[str], proxy: tuple[str, int] | None = None) -> dict[str, str]:
    """voicemail.conf and sip.conf (with a ``proxy``, a peer per box behind it, whose lamps
    the server keeps; without, no peers and so no NOTIFYs)."""
    lines = "".join(f"{box} => 1234,Subscriber {box}\n" for box in boxes)
    sip = f"[general]\nuseragent=vmharness\ncall-limit={CALL_LIMIT}\n"
    if proxy is not None:
        peers = "".join(
            f"[{box}](subscriber)\ndefaultuser={box}\nmailbox={box}@default\n" for box in boxes
        )
        sip += f"\n[subscriber](!)\ntype=peer\nhost={proxy[0]}\nport={proxy[1]}\n\n{peers}"
    return {"voicemail.conf": f"[general]\nformat=wav\n\n[default]\n{lines}", "sip.conf": sip}


class ServedVoicemail:
    """``vmharness serve`` on loopback for one bench, with its configuration and spool in
    ``directory``. ``port`` 0 takes any free port (read back from what it prints)."""

    def __init__(
        self,
        directory: Path,
        configs: Mapping[str, str],
        *,
        port: int = 0,
        options: Sequence[str] = (),
        start_timeout: float = 120.0,
    ) -> None:
        self.config_dir = directory / "config"
        self.spool = directory / "spool"
        self.configs = dict(configs)
        self.port = port
        self.options = tuple(options)
        self.start_timeout = start_timeout
        self.log_path = directory / "serve.log"
        self._process: asyncio.subprocess.Process | None = None
        self.address: tuple[str, int] = ("127.0.0.1", port)

    @property
    def pid(self) -> int:
        """The server's PID (it must be running)."""
        assert self._process is not None
        return self._process.pid

    async def __aenter__(self) -> Self:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.spool.mkdir(parents=True, exist_ok=True)
        for name, text in self.configs.items():
            (self.config_dir / name).write_text(text)
        command = [str(VMHARNESS), "serve", "--config", str(self.config_dir)]
        command += ["--spool", str(self.spool), "--port", str(self.port), *self.options]
        self._process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=self.log_path.open("wb"),
        )
        try:
            await asyncio.wait_for(self._listening(), self.start_timeout)
        except TimeoutError:
            await self.stop()
            raise RuntimeError(
                f"vmharness serve did not listen within {self.start_timeout:g} s; "
                f"see {self.log_path}"
            ) from None
        return self

    async def _listening(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        while line := await self._process.stdout.readline():
            found = _LISTENING.search(line)
            if found:
                self.address = (found[1].decode(), int(found[2]))
                # Later lines are not read: the pipe would fill, so it goes nowhere.
                asyncio.get_running_loop().create_task(self._drain())
                return
        raise RuntimeError(f"vmharness serve exited at start-up; see {self.log_path}")

    async def _drain(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        while await self._process.stdout.read(65536):
            pass

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def stop(self) -> None:
        """SIGTERM by PID, SIGKILL if it lingers."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        for sent in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sent)
            try:
                await asyncio.wait_for(process.wait(), 10)
                return
            except TimeoutError:
                continue


@dataclass(frozen=True, slots=True)
class RateStep:
    """One step of offered load: what SIPp offered, what succeeded, how long it took."""

    rate: float
    calls: int
    succeeded: int
    failed: int
    seconds: float
    #: What the target's process used meanwhile (None: not measured).
    target_cpu: float | None = None
    #: The first unexpected message SIPp logged, when calls failed.
    why: str = ""
    load: float = field(default_factory=lambda: os.getloadavg()[0])

    @property
    def achieved(self) -> float:
        """Successful calls per second over the step."""
        return self.succeeded / self.seconds if self.seconds > 0 else 0.0

    @property
    def clean(self) -> bool:
        """Under 1 % failed, every call ended, and not much slower than offered."""
        ended = self.succeeded + self.failed >= self.calls
        lag = self.seconds <= CLEAN_LAG * self.calls / self.rate + 2.0
        return ended and lag and self.failed < CLEAN_FAILURES * self.calls

    def describe(self) -> str:
        """One line for the log."""
        cpu = "" if self.target_cpu is None else f", target {self.target_cpu:.1f} s CPU"
        return (
            f"{self.rate:g}/s x {self.calls}: {self.succeeded} ok, {self.failed} failed in "
            f"{self.seconds:.1f} s ({self.achieved:.1f}/s{cpu}, load {self.load:.1f})"
            f"{'' if self.clean else '  NOT CLEAN'}{f' ({self.why})' if self.why else ''}"
        )


async def sipp_at_rate(
    scenario: Path,
    remote: tuple[str, int],
    rate: float,
    calls: int,
    *,
    hold_ms: int = 0,
    variables: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    target_pid: int | None = None,
    extra_args: Sequence[str] = (),
) -> tuple[RateStep, SippResult]:
    """Offer ``calls`` calls of ``scenario`` at ``rate`` per second to ``remote``."""
    timeout = calls / rate + hold_ms / 1000 + 30
    args = ["-r", f"{rate:g}", "-rp", "1000", "-max_socket", "60000", *extra_args]
    before = None if target_pid is None else cpu_seconds(target_pid)
    begun = time.monotonic()
    sipp = Sipp(
        scenario,
        remote,
        calls=calls,
        timeout=timeout,
        hold_ms=hold_ms,
        variables=variables,
        cwd=cwd,
        extra_args=args,
    )
    async with sipp:
        result = await sipp.wait()
    seconds = time.monotonic() - begun - hold_ms / 1000
    used = None if before is None or target_pid is None else cpu_seconds(target_pid) - before
    succeeded = _counter(result, "SuccessfulCall")
    failed = _counter(result, "FailedCall")
    why = first_error(result.errors) if failed else ""
    return RateStep(rate, calls, succeeded, failed, seconds, used, why), result


def _counter(result: SippResult, name: str) -> int:
    try:
        return result.counter(name)
    except (KeyError, ValueError):
        return 0


#: How often a step that was not clean is tried again before the ladder stops: the machine is
#: shared, and one burst of other work should not end a ladder (each side gets the same).
RETRIES = 1


async def ramp(
    rates: Sequence[float], step: Callable[[float], Awaitable[RateStep]], log: list[str]
) -> RateStep | None:
    """Run ``step`` at each rate in turn until one is not clean (again on its retry); the
    highest clean step."""
    best = None
    for rate in rates:
        for _ in range(1 + RETRIES):
            done = await step(rate)
            log.append(done.describe())
            print(f"    {done.describe()}", flush=True)
            if done.clean:
                break
        if not done.clean:
            break
        best = done
    return best


#: Words of the ``-trace_err`` lines that say why a call failed (others are warnings).
_FAILURE_WORDS = ("Aborting", "unexpected", "Unexpected", "timeout", "Timeout", "failed", "Failed")


#: SIPp 3.7's note on where it looks for a pcap, logged whatever happens to the calls.
_PCAP_WARNING = "prefers looking for pcap files next to the scenario"


def first_error(errors: str) -> str:
    """The first line of SIPp's ``-trace_err`` log that says why a call failed."""
    for line in errors.splitlines():
        if _PCAP_WARNING in line:
            continue
        if any(word in line for word in _FAILURE_WORDS):
            return line.strip()[:200]
    return "(no reason logged)"


def free_port() -> int:
    """A UDP port of loopback free right now."""
    return free_udp_port("127.0.0.1")
