"""SMDI end to end: the server's SMDI port on a pty, a simulated PBX on the other end.

The PBX writes MD messages and sends its calls through the simulated proxy (with the
``request-uri`` convention: no mailbox header), reads the lamp commands and answers some with
MWI-errors. The scenarios in ``scenarios/smdi`` cover each call type and line condition; these
tests cover what a scenario cannot see: consumption of MD messages, MWI-errors recorded against
their command, start-up lamps, the station map, and a 1200-baud line flooded with changes.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

from harness.core.mailbox import MailboxId
from harness.core.routing import Convention, Router
from harness.media.wav import wav_bytes
from harness.sim.pbx import ErrorCause, SimPbx
from harness.sim.phone import CallFailed, Phone
from harness.sim.profiles import ProxyProfile
from harness.sim.proxy import SimProxy
from harness.smdi.codec import MdMessage, MwiCommand
from harness.smdi.link import PtyPair, SerialSettings, open_pty_pair
from harness.targets import EmbeddedTarget, MailboxEntry, SmdiEntry
from harness.voicemail.conf.smdi_conf import SmdiInterface
from harness.voicemail.metadata import MessageInfo
from harness.voicemail.server import VoicemailServer
from harness.voicemail.smdi import SmdiOptions, SmdiService
from harness.voicemail.store import Spool


@dataclass
class SmdiBed:
    """A voicemail server with SMDI enabled, its proxy, and the PBX on the line."""

    proxy: SimProxy
    target: EmbeddedTarget
    pbx: SimPbx
    line: PtyPair
    phones: list[Phone] = field(default_factory=list)

    @property
    def server(self) -> VoicemailServer:
        assert self.target.server is not None
        return self.target.server

    @property
    def smdi(self) -> SmdiService:
        assert self.server.smdi is not None
        return self.server.smdi


BedFactory = Callable[..., Awaitable[SmdiBed]]


@pytest.fixture
async def make_bed() -> AsyncIterator[BedFactory]:
    """``await make_bed(mailboxes=["2000"], stations={...}, errors={...}, timeout=0.5)``."""
    beds: list[SmdiBed] = []

    async def make(
        mailboxes: tuple[str, ...] = ("2000",),
        *,
        stations: dict[str, str] | None = None,
        errors: dict[str, ErrorCause] | None = None,
        timeout: float = 3.0,
        convention: str = "request-uri",
        before_start: Callable[[EmbeddedTarget], None] | None = None,
    ) -> SmdiBed:
        line = open_pty_pair()
        proxy = SimProxy(("127.0.0.1", 9), ProxyProfile(convention=Convention(convention)))
        await proxy.start()
        entry = SmdiEntry(
            line.slave_path,
            stations=tuple((s, MailboxId.parse(m)) for s, m in (stations or {}).items()),
            options=SmdiOptions(timeout=timeout, pacing=True),
        )
        target = EmbeddedTarget(
            [MailboxEntry(MailboxId.parse(box), "4321") for box in mailboxes],
            [],
            router=Router(),
            smdi=entry,
        )
        if before_start is not None:
            before_start(target)
        proxy.voicemail = await target.start(proxy.address)
        pbx = SimPbx(line.master_fd, proxy=proxy.address, errors=errors)
        await pbx.start()
        bed = SmdiBed(proxy, target, pbx, line)
        beds.append(bed)
        return bed

    yield make
    for bed in beds:
        for phone in bed.phones:
            await phone.close()
        await bed.pbx.close()
        await bed.target.close()
        await bed.proxy.close()
        bed.line.close()


async def test_an_md_message_serves_one_call_only(make_bed: BedFactory) -> None:
    # Asterisk leaves the message on the queue until it expires: a caller trying again would
    # get the first caller's call details. Here the second call finds none and is refused.
    bed = await make_bed(stations={"5552000": "2000"}, timeout=0.5)
    await bed.pbx.send_md(MdMessage("001", "0001", "B", "5552000", "3500"))
    call = await bed.pbx.call("5552000", "3500")
    assert call.response.status == 200
    await call.hangup()
    started = time.monotonic()
    with pytest.raises(CallFailed) as refused:
        await bed.pbx.call("5552000", "3600")
    assert refused.value.response.status == 404
    assert 0.45 < time.monotonic() - started < 2.0  # it waited its timeout for another MD
    assert bed.smdi.queued() == ()


async def test_a_call_named_by_a_header_does_not_wait_for_an_md_message(
    make_bed: BedFactory,
) -> None:
    bed = await make_bed(convention="x-voicemail")
    md = MdMessage("001", "0001", "B", "2000", "3500")
    await bed.pbx.send_md(md)
    await asyncio.sleep(0.1)  # the MD message is on the queue before the call
    caller = Phone("+15551230000", bed.proxy.address)
    bed.phones.append(caller)
    await caller.start()
    started = time.monotonic()
    call = await caller.dial("2000")
    assert time.monotonic() - started < 1.0
    await call.hangup()
    # Untouched: it is there for the PBX's own call.
    assert [entry.message for entry in bed.smdi.queued()] == [md]


async def test_lookup_waits_for_a_late_message_by_key(make_bed: BedFactory) -> None:
    bed = await make_bed(("2000", "2001"))
    first = asyncio.ensure_future(bed.smdi.lookup("2001", timeout=2.0))
    await asyncio.sleep(0.2)
    other = MdMessage("001", "0001", "N", "2000", "3500")
    wanted = MdMessage("001", "0002", "B", "2001", "3600")
    await bed.pbx.send_md(other)
    await bed.pbx.send_md(wanted)
    found = await first
    assert found is not None
    assert found.message == wanted
    assert await bed.smdi.lookup("2001", timeout=0.1) is None
    again = await bed.smdi.lookup("2000", timeout=0.1)
    assert again is not None
    assert again.message == other


async def test_an_mwi_error_is_recorded_against_the_command_it_answers(
    make_bed: BedFactory,
) -> None:
    bed = await make_bed(("2000", "2001"), errors={"2000": "INV"})
    bed.smdi.lamp(MailboxId("2000"), on=True)
    bed.smdi.lamp(MailboxId("2001"), on=True)
    await bed.smdi.lamps_idle()
    assert await bed.pbx.wait_line("MWI2000 INV", 0, timeout=2.0) is not None
    for _ in range(200):  # the error still has to cross the line back to the server
        if bed.smdi.faults:
            break
        await asyncio.sleep(0.01)
    [fault] = bed.smdi.faults
    assert (fault.station, fault.cause) == ("2000", "INV")
    assert fault.command is not None
    assert fault.command.command == MwiCommand("2000", on=True)
    assert 0 <= fault.at - fault.command.at < 1.0
    assert bed.pbx.lamps == {"2001": True}
    # An error for 2001 within 1000 ms of its command answers that command...
    await bed.pbx.send_raw(b"\r\nMWI2001 BLK\r\n\x7f\x7f\x19")
    await asyncio.sleep(0.2)
    answer = bed.smdi.faults[-1]
    assert (answer.station, answer.cause) == ("2001", "BLK")
    assert answer.command is not None
    assert answer.command.command == MwiCommand("2001", on=True)
    # ...one long after any command for its station is kept, but answers nothing.
    await asyncio.sleep(1.0)
    await bed.pbx.send_raw(b"\r\nMWI2001 BLK\r\n\x7f\x7f\x19")
    await asyncio.sleep(0.2)
    assert bed.smdi.faults[-1].command is None
    assert len(bed.smdi.faults) == 3


async def test_lit_mailboxes_light_their_lamps_at_start_up(make_bed: BedFactory) -> None:
    def leave_message(target: EmbeddedTarget) -> None:
        info = MessageInfo("2001", "default", "2001", "unknown", "3500", 0, "0-00000000", 1)
        audio = wav_bytes(np.zeros(800, dtype=np.int16))
        Spool(target.spool).save(MailboxId("2001"), audio, info)

    bed = await make_bed(("2000", "2001"), before_start=leave_message)
    assert await bed.pbx.wait_lamp("2001", True, timeout=2.0)
    await bed.smdi.lamps_idle()
    # Only lit lamps generate traffic at start, as res_smdi's poller does.
    assert [record.text for record in bed.pbx.line] == ["OP:MWI 2001!"]


async def test_lamps_follow_the_station_map(make_bed: BedFactory) -> None:
    bed = await make_bed(("2000", "2001", "2002@other"), stations={"5552000": "2000"})
    assert bed.smdi.stations(MailboxId("2000")) == ("5552000",)
    assert bed.smdi.stations(MailboxId("2001")) == ("2001",)
    assert bed.smdi.stations(MailboxId("2002", "other")) == ()
    for box in (MailboxId("2000"), MailboxId("2001"), MailboxId("2002", "other")):
        bed.server.mailbox_changed(box)
    await bed.smdi.lamps_idle()
    # Written is not yet read: wait until the PBX end of the line has the last command.
    assert await bed.pbx.wait_line("RMV:MWI 2001!", 0, timeout=2.0) is not None
    assert [record.text for record in bed.pbx.line] == ["RMV:MWI 5552000!", "RMV:MWI 2001!"]
    assert bed.smdi.mailbox_of("5552000") == MailboxId("2000")
    assert bed.smdi.mailbox_of("3000") == MailboxId("3000")


async def test_a_missing_smdi_port_leaves_the_server_running_without_it() -> None:
    target = EmbeddedTarget(
        [MailboxEntry(MailboxId("2000"), "4321")],
        [],
        smdi=SmdiEntry("/dev/no-such-smdi-port"),
    )
    try:
        await target.start(("127.0.0.1", 9))
        assert target.server is not None
        assert target.server.smdi is None
    finally:
        await target.close()


async def test_fifty_stations_at_1200_baud_end_with_every_lamp_right() -> None:
    """Changes come ten times faster than a 1200-baud 7E1 line carries lamp commands; the
    commands for each station coalesce, no station waits more than a round, and every lamp
    ends in the state of its last change."""
    settings = SerialSettings(1200, 7, "even", 1)
    stations = [str(2000 + i) for i in range(50)]
    rng = random.Random(50)
    with open_pty_pair() as line:
        service = SmdiService(
            SmdiInterface(line.slave_path, baudrate=1200), options=SmdiOptions(pacing=True)
        )
        pbx = SimPbx(line.master_fd, settings, pacing=True)
        await pbx.start()
        await service.start()
        try:
            loop = asyncio.get_running_loop()
            final: dict[str, bool] = {}
            asked: dict[str, float] = {}
            started = loop.time()
            for _ in range(100):  # one change every 10 ms for 1 s
                station = rng.choice(stations)
                final[station] = rng.random() < 0.5
                asked[station] = loop.time()
                service.lamp(MailboxId(station), final[station])
                await asyncio.sleep(0.01)
            for station in stations:  # and every station once more, all at once
                final[station] = not final.get(station, False)
                asked[station] = loop.time()
                service.lamp(MailboxId(station), final[station])
            await asyncio.wait_for(service.lamps_idle(), 30)
            for station in stations:
                assert await pbx.wait_lamp(station, final[station], timeout=1.0), station
            elapsed = loop.time() - started
        finally:
            await service.close()
            await pbx.close()
    commands = [record for record in pbx.line if record.direction == "in"]
    assert pbx.lamps == final
    assert len(commands) < 150 * 0.6  # 150 changes, far fewer commands
    # The line really ran at 1200 baud: each command takes its characters' time.
    line_time = sum(len(record.data) + 1 for record in commands) * settings.char_time
    assert elapsed >= line_time * 0.95
    # Nobody starved: each station's last state was on the line within one round of stations.
    command_time = len(MwiCommand("2000", on=False).encode()) * settings.char_time
    for station in stations:
        done = max(r.at for r in commands if r.text.endswith(f" {station}!"))
        assert done - asked[station] <= (len(stations) + 2) * command_time, station
