"""The harness as a load generator: the deposit rate ``vmharness load`` drives clean, beside the
rate SIPp drives clean into the same target. Target: >= 25 % of SIPp's.

    .venv/bin/python bench/load_generator.py [--quick]

The target is one ``vmharness serve`` (the real sound files) with the same mailboxes for both.
Each generator makes deposits of 3 s messages that skip the greeting with '#', at rising rates:
SIPp with bench/sipp/deposit.xml, then ``vmharness load --target sip:HOST:PORT --skip-greeting
--talk 3 --json F``. A step is clean when under 1 % of its calls failed and the calls were
carried at 90 % of the offered rate or better; each side's figure is its highest clean rate.
The CPU each generator used is noted beside it (from the children's rusage).

When ``vmharness load`` is not on this branch the figure says so ("skipped").
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from figures import Figure, finish, parser
from sipp_load import SCENARIOS, VMHARNESS, ServedVoicemail, free_port, mailbox_files, sipp_at_rate

from harness.peers.signed_speech import signed_speech
from harness.peers.sipp import KeyPress, SippError, find_sipp, write_rtp_pcap

NAME = "load_generator"
FIRST_BOX = 10000
MAILBOXES = 1000
RATES = {"quick": (5, 10, 20), "full": (10, 20, 30, 40, 50, 60, 80, 100)}
STEP_SECONDS = {"quick": 6.0, "full": 20.0}
#: A clean step carried at least this share of the offered rate.
CARRIED = 0.9
RATE = 8000


def load_available() -> str | None:
    """None when ``vmharness load`` exists, else why not."""
    done = subprocess.run(
        [str(VMHARNESS), "load", "--help"], capture_output=True, text=True, check=False
    )
    return None if done.returncode == 0 else "vmharness load not available"


def children_cpu() -> float:
    """CPU seconds of the children that have exited (SIPp, vmharness load)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _pcap(directory: Path) -> int:
    """'#' at 0.5 s, 1.5 s of silence (the beep), a 3 s signed message: the hold in ms."""
    directory.mkdir(parents=True, exist_ok=True)
    message = signed_speech("LOAD14", speech_seconds=0.9)
    audio = np.concatenate((np.zeros(2 * RATE, np.int16), message))
    write_rtp_pcap(directory / "deposit.pcap", audio, keys=[KeyPress(0.5, "#")])
    return round(audio.size * 1000 / RATE)


async def sipp_steps(
    served: ServedVoicemail, scratch: Path, mode: str, log: list[str]
) -> tuple[float | None, float | None]:
    """SIPp's highest clean rate and its CPU per call there."""
    hold_ms = _pcap(scratch / "sipp")
    boxes = scratch / "boxes.csv"
    boxes.write_text("SEQUENTIAL\n" + "".join(f"{FIRST_BOX + n};\n" for n in range(MAILBOXES)))
    best = cpu = None
    for rate in RATES[mode]:
        calls = round(rate * STEP_SECONDS[mode])
        before = children_cpu()
        step, _ = await sipp_at_rate(
            SCENARIOS / "deposit.xml",
            served.address,
            rate,
            calls,
            hold_ms=hold_ms,
            cwd=scratch / "sipp",
            extra_args=["-inf", str(boxes)],
        )
        used = children_cpu() - before
        clean = step.clean and step.achieved >= CARRIED * rate
        line = f"SIPp: {step.describe()}, SIPp {used:.1f} s CPU{'' if clean else '  NOT CLEAN'}"
        log.append(line)
        print(f"    {line}", flush=True)
        if not clean:
            break
        best, cpu = float(rate), used / calls
    return best, cpu


async def load_step(
    served: ServedVoicemail, rate: float, calls: int, report: Path
) -> dict[str, Any]:
    """One ``vmharness load`` run; its JSON report."""
    host, port = served.address
    command = [
        str(VMHARNESS), "load", "--target", f"sip:{host}:{port}",
        "--rate", f"{rate:g}", "--calls", str(calls), "--concurrency", str(max(50, calls)),
        "--mailboxes", str(MAILBOXES), "--first-box", str(FIRST_BOX),
        "--talk", "3", "--skip-greeting", "--settle", "5", "--json", str(report),
    ]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    await process.wait()
    if not report.exists():
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode} with no report")
    result: dict[str, Any] = json.loads(report.read_text())
    return result


async def load_steps(
    served: ServedVoicemail, scratch: Path, mode: str, log: list[str]
) -> tuple[float | None, float | None]:
    """vmharness load's highest clean rate and its CPU per call there."""
    best = cpu = None
    for rate in RATES[mode]:
        calls = round(rate * STEP_SECONDS[mode])
        result = await load_step(served, rate, calls, scratch / f"load-{rate}.json")
        failed = sum(result["failed"].values()) if isinstance(result["failed"], dict) else 0
        achieved = float(result["rate_achieved"])
        clean = failed < 0.01 * calls and achieved >= CARRIED * rate
        line = (
            f"vmharness load: {rate:g}/s x {calls}: {result['succeeded']} ok, {failed} failed, "
            f"{achieved:.1f}/s, setup p95 {result['setup_latency_ms'].get('p95')} ms, "
            f"{float(result['cpu_seconds']):.1f} s CPU, converged {result['converged']}"
            f"{'' if clean else '  NOT CLEAN'}"
        )
        log.append(line)
        print(f"    {line}", flush=True)
        if not clean:
            break
        best, cpu = float(rate), float(result["cpu_seconds"]) / calls
    return best, cpu


async def measure(mode: str) -> tuple[list[Figure], dict[str, object]]:
    """SIPp, then vmharness load, into one server."""
    log: list[str] = []
    boxes = [str(FIRST_BOX + n) for n in range(MAILBOXES)]
    with tempfile.TemporaryDirectory(prefix="vmharness-bench-") as name:
        scratch = Path(name)
        configs = mailbox_files(boxes)
        options = ["--prompts", "sounds"]
        async with ServedVoicemail(scratch, configs, port=free_port(), options=options) as served:
            print("  SIPp:", flush=True)
            peer, peer_cpu = await sipp_steps(served, scratch, mode, log)
            print("  vmharness load:", flush=True)
            ours, ours_cpu = await load_steps(served, scratch, mode, log)
    cpu = " ".join(
        f"{who} {value * 1000:.0f} ms CPU a call;"
        for who, value in (("ours", ours_cpu), ("SIPp", peer_cpu))
        if value is not None
    )
    figure = Figure(
        NAME, "load generator deposit rate, < 1 % failed", "calls/s", ours, peer, "SIPp", 0.25,
        note=cpu,
    )  # fmt: skip
    return [figure], {"mode": mode, "steps": log}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser(__doc__).parse_args(argv)
    mode = "quick" if args.quick else "full"
    print(f"load generator ({mode}):", flush=True)
    try:
        find_sipp()
    except SippError as missing:
        skipped = Figure(
            NAME, "load generator deposit rate, < 1 % failed", "calls/s", None, None, "SIPp",
            0.25, skipped=str(missing),
        )  # fmt: skip
        return finish(NAME, [skipped], {"mode": mode}, args.reports)
    unavailable = load_available()
    if unavailable is not None:
        skipped = Figure(
            NAME, "load generator deposit rate, < 1 % failed", "calls/s", None, None, "SIPp",
            0.25, skipped=unavailable,
        )  # fmt: skip
        return finish(NAME, [skipped], {"mode": mode}, args.reports)
    found, details = asyncio.run(measure(mode))
    return finish(NAME, found, details, args.reports)


if __name__ == "__main__":
    sys.exit(main())
