"""MWI resync of 10,000 mailboxes through Kamailio: the NOTIFYs per second the voicemail server's
start-up resync delivers, beside the rate Kamailio relays a SIPp sender's NOTIFYs at, to the
same phones. Target: >= 50 %.

    .venv/bin/python bench/mwi_resync.py [--quick] [--mailboxes N]

One Kamailio (fixtures/proxies/kamailio, as harness.peers.kamailio runs it) holds N phones
registered by SIPp (bench/sipp/register.xml), all at one SIPp that answers every NOTIFY and logs
when it came (bench/sipp/notify-answer.xml). Kamailio relays NOTIFYs only from the voicemail
server's address, so both senders use that port in turn:

* the peer: SIPp sends one NOTIFY per phone (bench/sipp/notify-send.xml) as fast as answers
  come back (at most 1,000 outstanding);
* ours: ``vmharness serve --mwi-rate 0`` (unpaced) with the N mailboxes, each with its peer
  behind Kamailio (sip.conf, as bench/realtime.py sets it up), resyncs every lamp at start-up.

Each rate is the phones' count over the time from the first NOTIFY the phones got to the last.
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from figures import Figure, finish, parser
from sipp_load import (
    RETRIES,
    SCENARIOS,
    ServedVoicemail,
    cpu_seconds,
    free_port,
    mailbox_files,
    sipp_at_rate,
)

from harness.peers.kamailio import Kamailio, KamailioError, find_kamailio
from harness.peers.sipp import Sipp, SippError, find_sipp

NAME = "mwi_resync"
FIRST_USER = 20000
_TICK = re.compile(r"notified (\d+) (\S+)")
#: NOTIFYs/s the SIPp sender offers, step by step, until Kamailio no longer relays them clean.
RATES = (1000, 2000, 4000, 6000, 8000, 10000, 12000, 16000)
#: The server's --mwi-rate for its resync: unpaced, then paced (NOTIFYs a second).
OUR_PACING = (0, 6000, 3000)


@dataclass(frozen=True, slots=True)
class Delivered:
    """What the phones got: how many NOTIFYs (not counting retransmissions), over how long
    (from the first to the last first arrival), and how many arrived again."""

    notifies: int
    seconds: float
    again: int = 0

    @property
    def rate(self) -> float:
        """NOTIFYs per second at the phones."""
        return (self.notifies - 1) / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        """One line for the log."""
        return (
            f"{self.notifies} NOTIFYs in {self.seconds:.2f} s = {self.rate:,.0f}/s"
            f" ({self.again} retransmitted)"
        )


def _ticks(phones: Sipp) -> list[tuple[int, str]]:
    """When each NOTIFY reached the phones (SIPp's clock, ms) and its Call-ID, as logged."""
    text = phones.log_file.read_text() if phones.log_file.exists() else ""
    return [(int(found[1]), found[2]) for found in _TICK.finditer(text)]


def _phones(count: int) -> Sipp:
    """All the phones: one SIPp answering every NOTIFY of the run."""
    return Sipp(
        SCENARIOS / "notify-answer.xml",
        ("127.0.0.1", 9),
        calls=count,
        timeout=3600,
        extra_args=("-max_socket", "60000"),
    )


async def _register(kamailio: Kamailio, users: Path, count: int, contact_port: int) -> None:
    step, result = await sipp_at_rate(
        SCENARIOS / "register.xml",
        kamailio.address,
        2000,
        count,
        variables={"contact_port": str(contact_port)},
        extra_args=["-inf", str(users), "-l", "500"],
    )
    if step.succeeded != count:
        raise RuntimeError(
            f"only {step.succeeded} of {count} phones registered:\n{result.describe()}"
        )


async def _delivered(phones: Sipp, before: int, count: int, within: float) -> Delivered:
    """The NOTIFYs logged after the first ``before``, once ``count`` came (or ``within`` s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    quiet = 0
    seen = -1
    while loop.time() < deadline and quiet < 6:
        got = len({call_id for _, call_id in _ticks(phones)[before:]})
        if got >= count:
            break
        quiet = quiet + 1 if got == seen else 0
        seen = got
        await asyncio.sleep(0.5)
    arrivals = _ticks(phones)[before:]
    first: dict[str, int] = {}
    for tick, call_id in arrivals:
        first[call_id] = min(tick, first.get(call_id, tick))
    ticks = sorted(first.values())
    seconds = (ticks[-1] - ticks[0]) / 1000 if len(ticks) > 1 else 0.0
    return Delivered(len(ticks), seconds, len(arrivals) - len(ticks))


async def peer_rate(
    kamailio: Kamailio, phones: Sipp, users: Path, *, count: int, port: int, log: list[str]
) -> Delivered | None:
    """SIPp's NOTIFYs relayed by Kamailio: rising rates (a step that is not clean tried once
    more), the best clean step (every NOTIFY answered in time and at the phones)."""
    best = None
    for rate in RATES:
        for _ in range(1 + RETRIES):
            delivered = await _relay_step(kamailio, phones, users, rate, (count, port, log))
            if delivered is not None:
                break
        if delivered is None:
            break
        if best is None or delivered.rate > best.rate:
            best = delivered
    return best


async def _relay_step(
    kamailio: Kamailio, phones: Sipp, users: Path, rate: int, run: tuple[int, int, list[str]]
) -> Delivered | None:
    """One step of SIPp's NOTIFYs at ``rate``; what the phones got, None when not clean."""
    count, port, log = run
    before = len(_ticks(phones))
    step, _ = await sipp_at_rate(
        SCENARIOS / "notify-send.xml",
        kamailio.address,
        rate,
        count,
        extra_args=["-inf", str(users), "-l", "2000", "-p", str(port)],
    )
    delivered = await _delivered(phones, before, count, 30)
    clean = step.clean and delivered.notifies >= count
    line = f"SIPp at {rate}/s: {step.describe()}; phones: {delivered.describe()}"
    line += "" if clean else "  NOT CLEAN"
    log.append(line)
    print(f"    {line}", flush=True)
    return delivered if clean else None


async def our_rate(
    kamailio: Kamailio, phones: Sipp, count: int, port: int, *, scratch: Path, log: list[str]
) -> tuple[Delivered, float] | None:
    """The server's start-up resync through Kamailio, unpaced and paced: the fastest that
    reached every phone, and its --mwi-rate."""
    boxes = [str(FIRST_USER + n) for n in range(count)]
    configs = mailbox_files(boxes, kamailio.address)
    best = None
    for pacing in OUR_PACING:
        before = len(_ticks(phones))
        options = ["--mwi-rate", f"{pacing:g}"]
        async with ServedVoicemail(
            scratch / f"paced-{pacing:g}", configs, port=port, options=options
        ) as served:
            delivered = await _delivered(phones, before, count, 300)
            # Start-up (reading the mailboxes and peers) included: a machine shared with other
            # work slows the wall clock, not the CPU a NOTIFY costs.
            used = cpu_seconds(served.pid)
        line = (
            f"vmharness serve --mwi-rate {pacing:g}: {delivered.describe()}; "
            f"the server used {used:.1f} s CPU from its start"
        )
        log.append(line)
        print(f"    {line}", flush=True)
        if delivered.notifies >= count and (best is None or delivered.rate > best[0].rate):
            best = (delivered, pacing)
    return best


async def measure(count: int) -> tuple[list[Figure], dict[str, object]]:
    """Kamailio's relay rate, then the server's."""
    port = free_port()
    log: list[str] = []
    with tempfile.TemporaryDirectory(prefix="vmharness-bench-") as name:
        scratch = Path(name)
        users = scratch / "users.csv"
        users.write_text("SEQUENTIAL\n" + "".join(f"{FIRST_USER + n};\n" for n in range(count)))
        kamailio = Kamailio(("127.0.0.1", port), shared_memory_mb=512, log_dir=scratch)
        async with kamailio, _phones(2 * count * (len(RATES) + len(OUR_PACING))) as phones:
            await _register(kamailio, users, count, phones.port)
            print("  Kamailio relaying SIPp's NOTIFYs:", flush=True)
            peer = await peer_rate(kamailio, phones, users, count=count, port=port, log=log)
            print("  vmharness serve's start-up resync:", flush=True)
            ours = await our_rate(kamailio, phones, count, port, scratch=scratch / "serve", log=log)
    note = "no resync reached every phone"
    if ours is not None:
        note = f"fastest at --mwi-rate {ours[1]:g} (0: unpaced), {ours[0].again} retransmitted"
    figure = Figure(
        NAME,
        f"MWI resync of {count:,} mailboxes via Kamailio",
        "NOTIFYs/s",
        0.0 if ours is None else ours[0].rate,
        None if peer is None else peer.rate,
        "Kamailio relay",
        0.50,
        note=note,
    )
    return [figure], {"mailboxes": count, "steps": log}


def main(argv: Sequence[str] | None = None) -> int:
    made = parser(__doc__)
    made.add_argument("--mailboxes", type=int, help="default 10,000 (quick: 2,000)")
    args = made.parse_args(argv)
    count = args.mailboxes or (2000 if args.quick else 10_000)
    print(f"MWI resync of {count} mailboxes:", flush=True)
    try:
        find_sipp()
        find_kamailio()
    except (SippError, KamailioError) as missing:
        skipped = Figure(
            NAME, f"MWI resync of {count:,} mailboxes via Kamailio", "NOTIFYs/s", None, None,
            "Kamailio relay", 0.50, skipped=str(missing),
        )  # fmt: skip
        return finish(NAME, [skipped], {"mailboxes": count}, args.reports)
    found, details = asyncio.run(measure(count))
    return finish(NAME, found, details, args.reports)


if __name__ == "__main__":
    sys.exit(main())
