"""SMDI lamp updates per second beside the line rate, at 1200 and 9600 baud (7E1), with the
right final lamp for every station. Target: >= 95 % of the line rate.

    .venv/bin/python bench/smdi_lamps.py [--quick]

The server's SMDI service (harness.voicemail.smdi, as ``vmharness serve`` runs it) writes lamp
commands to one end of a pty pair, paced at the baud rate (a pty carries bytes at once); the
switch's side (harness.smdi.codec's command reader) reads the other end. Every station's lamp
is asked for at once, then a third of them change their minds while the line is busy (a newer
request replaces one not yet sent). The figure is the commands carried per second, first byte
to last, beside the commands per second the line's bit rate allows for the same bytes; then each
station's last command must be its last requested state.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from figures import Figure, finish, parser

from harness.core.mailbox import MailboxId
from harness.smdi.codec import MwiCommand, Received, SmdiCommandReader
from harness.smdi.link import SerialSettings, open_pty_pair
from harness.voicemail.conf.smdi_conf import SmdiInterface, SmdiMapping
from harness.voicemail.smdi import SmdiOptions, SmdiService

NAME = "smdi_lamps"
#: Stations per baud rate: each is about 10 s (quick) or 40 s (full) of line time.
STATIONS = {"quick": {1200: 75, 9600: 600}, "full": {1200: 300, 9600: 2400}}


@dataclass(frozen=True, slots=True)
class Carried:
    """What the switch's side received."""

    commands: int
    seconds: float
    line_rate: float
    wrong_final: int

    @property
    def rate(self) -> float:
        """Commands per second, first byte to last."""
        return self.commands / self.seconds if self.seconds > 0 else 0.0


class Switch:
    """The switch's end of the cable: frames the commands and notes when each arrived."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.reader = SmdiCommandReader(timeout=None)
        self.first_byte: float | None = None
        self.last_byte = 0.0
        self.received: list[MwiCommand] = []
        self.bytes = 0
        self.done = asyncio.Event()
        self.expected = 0

    def on_readable(self) -> None:
        """Read what arrived (os.read on the pty master)."""
        data = os.read(self.fd, 65536)
        now = asyncio.get_running_loop().time()
        if self.first_byte is None:
            self.first_byte = now
        self.last_byte = now
        self.bytes += len(data)
        for event in self.reader.feed(data, now):
            if isinstance(event, Received):
                self.received.append(event.message)
        if len(self.received) >= self.expected:
            self.done.set()


def _requests(stations: int) -> tuple[list[tuple[str, bool]], dict[str, bool]]:
    """Every station lit (odd ones cleared), then every third flipped: the requests in order
    and each station's final state."""
    first = [(f"{5000000 + n}", n % 2 == 0) for n in range(stations)]
    again = [(station, not on) for station, on in first[::3]]
    final = dict(first)
    final.update(again)
    return first + again, final


async def carry(baud: int, stations: int) -> Carried:
    """Ask for ``stations`` lamps at ``baud`` and measure how the line carried them."""
    loop = asyncio.get_running_loop()
    with open_pty_pair() as pty:
        interface = SmdiInterface(port=pty.slave_path, baudrate=baud)
        requests, final = _requests(stations)
        mappings = [
            SmdiMapping(station, MailboxId(station, "default"), pty.slave_path) for station in final
        ]
        service = SmdiService(interface, mappings, SmdiOptions(pacing=True))
        switch = Switch(pty.master_fd)
        await service.start()
        loop.add_reader(pty.master_fd, switch.on_readable)
        try:
            switch.expected = stations
            first_wave, second_wave = requests[:stations], requests[stations:]
            for station, on in first_wave:
                service.lamp(MailboxId(station, "default"), on)
            # The line is busy with the first wave: these replace what is still pending.
            await asyncio.sleep(0.5)
            for station, on in second_wave:
                service.lamp(MailboxId(station, "default"), on)
            await service.lamps_idle()
            await asyncio.sleep(0.2)
        finally:
            loop.remove_reader(pty.master_fd)
            await service.close()
    last = {command.station: command.on for command in switch.received}
    wrong = sum(last.get(station) != on for station, on in final.items())
    char_time = SerialSettings(baudrate=baud).char_time
    commands = len(switch.received)
    first_byte = switch.first_byte or 0.0
    # From the first byte's arrival back to when it began (one character), to the last's.
    seconds = switch.last_byte - first_byte + char_time
    line_rate = commands / (switch.bytes * char_time) if switch.bytes else 0.0
    return Carried(commands, seconds, line_rate, wrong)


async def measure(mode: str) -> tuple[list[Figure], dict[str, object]]:
    """Both baud rates."""
    found, details = [], {}
    for baud, stations in STATIONS[mode].items():
        carried = await carry(baud, stations)
        line = (
            f"{baud} baud: {carried.commands} commands in {carried.seconds:.2f} s = "
            f"{carried.rate:.2f}/s, the line's rate {carried.line_rate:.2f}/s, "
            f"{carried.wrong_final} of {stations} stations with a wrong final lamp"
        )
        print(f"  {line}", flush=True)
        details[f"{baud} baud"] = line
        found.append(
            Figure(
                NAME,
                f"SMDI lamp updates at {baud} baud, every final lamp right",
                "commands/s",
                carried.rate if carried.wrong_final == 0 else 0.0,
                carried.line_rate,
                "line rate",
                0.95,
                note=f"{stations} stations, {carried.wrong_final} wrong final lamps",
            )
        )
    details["mode"] = mode
    return found, details


def main(argv: Sequence[str] | None = None) -> int:
    args = parser(__doc__).parse_args(argv)
    mode = "quick" if args.quick else "full"
    print(f"SMDI lamps ({mode}):", flush=True)
    found, details = asyncio.run(measure(mode))
    return finish(NAME, found, details, args.reports)


if __name__ == "__main__":
    sys.exit(main())
