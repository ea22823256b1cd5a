"""Call set-up rate: the highest rate the voicemail server answers with under 1 % failed, beside
a SIPp answering the same SIPp load (the ceiling of this machine). Target: >= 20 %.

    .venv/bin/python bench/call_setup.py [--quick]

SIPp offers calls (bench/sipp/call.xml: INVITE, 200, ACK, BYE at once) at rising rates, first to
a SIPp answering with bench/sipp/answer.xml, then to ``vmharness serve`` (one mailbox, the
Request-URI user); each side's highest clean step is its figure. A step is clean when under
1 % of its calls failed and they all ended within 15 % (+2 s) of the time offered.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from figures import Figure, finish, parser
from sipp_load import (
    SCENARIOS,
    RateStep,
    ServedVoicemail,
    free_port,
    mailbox_files,
    ramp,
    sipp_at_rate,
)

from harness.peers.sipp import Sipp, SippError, find_sipp

NAME = "call_setup"
BOX = "2000"
#: Offered rates (calls/s) for the SIPp answerer and for the server; each step lasts about
#: STEP_SECONDS. The answerer's ladder climbs past what the server's does, to find the ceiling.
PEER_RATES = {
    "quick": (400, 800, 1600, 3200, 6400),
    "full": (500, 1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 12000),
}
OUR_RATES = {
    "quick": (50, 100, 200, 300, 400),
    "full": (50, 100, 150, 200, 250, 300, 350, 400, 500, 600, 800, 1000),
}
STEP_SECONDS = {"quick": 3.0, "full": 10.0}


async def _peer_step(rate: float, seconds: float) -> RateStep:
    calls = max(1, round(rate * seconds))
    answer = Sipp(
        SCENARIOS / "answer.xml",
        ("127.0.0.1", 9),
        calls=calls,
        timeout=seconds + 60,
        extra_args=("-max_socket", "60000"),
    )
    async with answer:
        step, _ = await sipp_at_rate(
            SCENARIOS / "call.xml", answer.address, rate, calls, variables={"user": BOX}
        )
    return step


async def _ours_step(served: ServedVoicemail, rate: float, seconds: float) -> RateStep:
    calls = max(1, round(rate * seconds))
    step, _ = await sipp_at_rate(
        SCENARIOS / "call.xml",
        served.address,
        rate,
        calls,
        variables={"user": BOX},
        target_pid=served.pid,
    )
    return step


async def measure(mode: str) -> tuple[list[Figure], dict[str, object]]:
    """Ramp the SIPp answerer, then the server; the figure and each step's line."""
    seconds = STEP_SECONDS[mode]
    peer_log: list[str] = []
    ours_log: list[str] = []
    print("  SIPp answering SIPp:", flush=True)
    peer = await ramp(PEER_RATES[mode], lambda rate: _peer_step(rate, seconds), peer_log)
    print("  vmharness serve answering SIPp:", flush=True)
    with tempfile.TemporaryDirectory(prefix="vmharness-bench-") as scratch:
        configs = mailbox_files([BOX])
        async with ServedVoicemail(Path(scratch), configs, port=free_port()) as served:
            ours = await ramp(
                OUR_RATES[mode], lambda rate: _ours_step(served, rate, seconds), ours_log
            )
    top = PEER_RATES[mode][-1]
    ceiling = "" if peer is None or peer.rate < top else f"; SIPp answered clean up to {top}/s"
    figure = Figure(
        NAME,
        "call set-up rate, < 1 % failed",
        "calls/s",
        None if ours is None else ours.rate,
        None if peer is None else peer.rate,
        "SIPp UAS",
        0.20,
        note=f"highest clean offered rate, {seconds:g} s a step" + ceiling,
    )
    return [figure], {"peer_steps": peer_log, "our_steps": ours_log, "mode": mode}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser(__doc__).parse_args(argv)
    mode = "quick" if args.quick else "full"
    print(f"call set-up rate ({mode}):", flush=True)
    try:
        find_sipp()
    except SippError as missing:
        skipped = Figure(
            NAME, "call set-up rate, < 1 % failed", "calls/s", None, None, "SIPp UAS", 0.20,
            skipped=str(missing),
        )  # fmt: skip
        return finish(NAME, [skipped], {"mode": mode}, args.reports)
    figures, details = asyncio.run(measure(mode))
    return finish(NAME, figures, details, args.reports)


if __name__ == "__main__":
    sys.exit(main())
