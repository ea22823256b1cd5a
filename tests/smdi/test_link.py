"""SMDI link: settings, line pacing (fake clock), and real ports (pty pair, loop://, socket://)."""

from __future__ import annotations

import asyncio
import os
import termios
import time
from collections.abc import Iterator

import pytest
import serial

from harness.smdi.codec import MdMessage, MwiCommand, Received, SmdiCommandReader, SmdiReader
from harness.smdi.link import (
    LinePacer,
    PtyPair,
    SerialSettings,
    SmdiLink,
    SmdiLinkError,
    open_link,
    open_pty_pair,
)

SEVEN_E_ONE = SerialSettings(9600, 7, "even", 1)
EIGHT_N_ONE = SerialSettings(9600, 8, "none", 1)


@pytest.fixture
def pair() -> Iterator[PtyPair]:
    with open_pty_pair() as pty_pair:
        yield pty_pair


def _fd(link: SmdiLink) -> int:
    fd = link.fileno()
    assert fd is not None, "the link has no descriptor"
    return fd


async def read_exactly(link: SmdiLink, count: int) -> bytes:
    data = b""
    async with asyncio.timeout(2.0):
        while len(data) < count:
            chunk = await link.read()
            assert chunk, f"line closed after {data!r}"
            data += chunk
    return data


# --- settings


def test_default_settings_are_smdi_9600_7e1() -> None:
    settings = SerialSettings()
    assert (settings.baudrate, settings.bytesize, settings.parity, settings.stopbits) == (
        9600,
        7,
        "even",
        1,
    )
    assert str(settings) == "9600 7E1"


@pytest.mark.parametrize(
    ("settings", "bits", "text"),
    [
        (SerialSettings(9600, 7, "even", 1), 10, "9600 7E1"),
        (SerialSettings(9600, 8, "none", 1), 10, "9600 8N1"),
        (SerialSettings(1200, 8, "even", 2), 12, "1200 8E2"),
        (SerialSettings(2400, 7, "odd", 2), 11, "2400 7O2"),
        (SerialSettings(4800, 7, "none", 1), 9, "4800 7N1"),
    ],
)
def test_bits_per_character_follow_the_framing(
    settings: SerialSettings, bits: int, text: str
) -> None:
    assert settings.bits_per_char == bits
    assert settings.char_time == pytest.approx(bits / settings.baudrate)
    assert str(settings) == text


@pytest.mark.parametrize(
    ("kwargs", "complaint"),
    [
        ({"baudrate": 19200}, "baud rate must be one of 1200, 2400, 4800, 9600, got 19200"),
        ({"baudrate": 300}, "got 300"),
        ({"bytesize": 6}, "character size must be 7 or 8 bits, got 6"),
        ({"parity": "mark"}, "parity must be even, odd or none, got 'mark'"),
        ({"stopbits": 3}, "stop bits must be 1 or 2, got 3"),
    ],
)
def test_bad_settings_are_refused_clearly(kwargs: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        SerialSettings(**kwargs)  # type: ignore[arg-type]


# --- pacing (sans-IO)


def test_pacer_releases_one_character_per_character_time() -> None:
    pacer = LinePacer(SerialSettings(1200, 7, "even", 1))  # 120 characters per second
    assert pacer.char_time == pytest.approx(1 / 120)
    times = pacer.release_times(3, now=10.0)
    assert times == pytest.approx([10.0 + 1 / 120, 10.0 + 2 / 120, 10.0 + 3 / 120])
    assert pacer.busy_until == pytest.approx(10.025)


def test_pacer_queues_back_to_back_writes() -> None:
    pacer = LinePacer(SerialSettings(1200, 8, "even", 2))  # 12 bits: 100 characters per second
    assert pacer.schedule(10, now=0.0) == pytest.approx(0.1)
    # Written while the line is still busy: it starts when the first write is done.
    assert pacer.schedule(5, now=0.05) == pytest.approx(0.15)


def test_pacer_line_idles_between_writes() -> None:
    pacer = LinePacer(SerialSettings(9600, 7, "even", 1))
    assert pacer.schedule(96, now=0.0) == pytest.approx(0.1)
    assert pacer.schedule(96, now=5.0) == pytest.approx(5.1)


def test_pacer_zero_bytes_and_negative_counts() -> None:
    pacer = LinePacer(SerialSettings(2400, 7, "even", 1))
    assert pacer.schedule(0, now=3.0) == 3.0
    assert pacer.release_times(0, now=3.0) == []
    with pytest.raises(ValueError, match="must not be negative, got -1"):
        pacer.schedule(-1, now=0.0)


def test_a_whole_md_message_takes_its_line_time_at_1200_baud() -> None:
    wire = MdMessage("001", "0007", "B", "5551234", "5559876").encode()
    pacer = LinePacer(SerialSettings(1200, 7, "even", 1))
    assert len(wire) == 31
    assert pacer.schedule(len(wire), now=0.0) == pytest.approx(31 / 120)


# --- pty pair


@pytest.mark.parametrize(
    ("settings", "speed"),
    [(SEVEN_E_ONE, termios.B9600), (EIGHT_N_ONE, termios.B9600)],
    ids=["7E1", "8N1"],
)
async def test_md_and_commands_cross_a_pty_pair(
    pair: PtyPair, settings: SerialSettings, speed: int
) -> None:
    md = MdMessage("001", "0007", "B", "5551234", "5559876")
    async with (
        open_link(pair.slave_path, settings) as voicemail,
        SmdiLink.from_fd(pair.master_fd, settings) as switch,
    ):
        attributes = termios.tcgetattr(_fd(voicemail))
        assert attributes[4] == attributes[5] == speed
        assert not attributes[3] & termios.ICANON

        await switch.write(md.encode())
        received = await read_exactly(voicemail, len(md.encode()))
        [event] = SmdiReader().feed(received, now=0.0)
        assert isinstance(event, Received)
        assert event.message == md

        command = MwiCommand("5551234", on=True).encode(2)
        await voicemail.write(command)
        received = await read_exactly(switch, len(command))
        [command_event] = SmdiCommandReader(msdstrip=2).feed(received, now=0.0)
        assert command_event == Received(MwiCommand("5551234", on=True), 0.0, b"OP:MWI 005551234!")


async def test_speed_and_stop_bits_are_applied_to_the_device(pair: PtyPair) -> None:
    async with open_link(pair.slave_path, SerialSettings(1200, 7, "odd", 2)) as link:
        attributes = termios.tcgetattr(_fd(link))
        assert attributes[4] == termios.B1200
        assert attributes[2] & termios.CSTOPB


async def test_framing_change_at_the_same_speed_survives_the_pty_einval_trap(
    pair: PtyPair,
) -> None:
    serial.Serial(pair.slave_path, 9600, serial.EIGHTBITS, serial.PARITY_NONE).close()
    # The trap itself: asking for 7E1 at the speed the pty already has is refused.
    with pytest.raises(termios.error):
        serial.Serial(pair.slave_path, 9600, serial.SEVENBITS, serial.PARITY_EVEN)
    async with open_link(pair.slave_path, SEVEN_E_ONE) as voicemail:
        assert termios.tcgetattr(_fd(voicemail))[4] == termios.B9600
        os.write(pair.master_fd, b"MD0010007D 3500 \r")
        assert await read_exactly(voicemail, 17) == b"MD0010007D 3500 \r"


async def test_received_bytes_can_go_to_a_callback(pair: PtyPair) -> None:
    got: list[bytes] = []
    arrived = asyncio.Event()

    def on_data(data: bytes) -> None:
        got.append(data)
        if b"".join(got) == b"RMV:MWI 2000!\x04":
            arrived.set()

    async with open_link(pair.slave_path, on_data=on_data):
        os.write(pair.master_fd, b"RMV:MWI 2000!\x04")
        async with asyncio.timeout(2.0):
            await arrived.wait()


async def test_read_returns_empty_when_the_other_end_goes(pair: PtyPair) -> None:
    async with open_link(pair.slave_path) as link:
        os.close(pair.master_fd)
        async with asyncio.timeout(2.0):
            assert await link.read() == b""
        assert [chunk async for chunk in link] == []


async def test_closed_link_refuses_writes_and_ends_reads(pair: PtyPair) -> None:
    link = open_link(pair.slave_path)
    link.close()
    assert link.closed
    assert await link.read() == b""
    with pytest.raises(SmdiLinkError, match="is closed"):
        await link.write(b"x")


async def test_paced_write_over_a_pty_at_9600_baud(pair: PtyPair) -> None:
    wire = MdMessage("001", "0007", "B", "5551234", "5559876").encode() * 3  # 93 bytes
    line_time = len(wire) * SEVEN_E_ONE.char_time  # ~97 ms
    async with (
        open_link(pair.slave_path, SEVEN_E_ONE) as voicemail,
        SmdiLink.from_fd(pair.master_fd, SEVEN_E_ONE, pacing=True) as switch,
    ):
        assert switch.pacing
        started = time.monotonic()
        await switch.write(wire)
        received = await read_exactly(voicemail, len(wire))
        elapsed = time.monotonic() - started
    assert received == wire
    assert line_time * 0.5 < elapsed < 1.0


async def test_paced_concurrent_writes_do_not_interleave(pair: PtyPair) -> None:
    first = MwiCommand("2000", on=True).encode()
    second = MwiCommand("2001", on=False).encode()
    async with (
        open_link(pair.slave_path, SEVEN_E_ONE, pacing=True) as voicemail,
        SmdiLink.from_fd(pair.master_fd) as switch,
    ):
        await asyncio.gather(voicemail.write(first), voicemail.write(second))
        received = await read_exactly(switch, len(first) + len(second))
    assert received in (first + second, second + first)


# --- other ports


async def test_loop_url_echoes_what_is_written() -> None:
    async with open_link("loop://", EIGHT_N_ONE) as link:
        assert link.fileno() is None
        await link.write(b"OP:MWI 2000!\x04")
        assert await read_exactly(link, 13) == b"OP:MWI 2000!\x04"


async def test_socket_url_talks_to_a_tcp_peer() -> None:
    server_got: asyncio.Queue[bytes] = asyncio.Queue()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"\r\nMD0010007D 3500 \r\n\x19")
        await writer.drain()
        server_got.put_nowait(await reader.readexactly(13))
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, open_link(f"socket://127.0.0.1:{port}") as link:
        assert link.fileno() is not None
        assert await read_exactly(link, 21) == b"\r\nMD0010007D 3500 \r\n\x19"
        await link.write(b"OP:MWI 3500!\x04")
        async with asyncio.timeout(2.0):
            assert await server_got.get() == b"OP:MWI 3500!\x04"
        # pyserial's own close would block the event loop for 0.3 s.
        started = time.monotonic()
        link.close()
        assert time.monotonic() - started < 0.2


async def test_missing_device_names_the_path_and_settings() -> None:
    with pytest.raises(SmdiLinkError, match=r"'/dev/no-such-smdi-port' at 9600 7E1"):
        open_link("/dev/no-such-smdi-port")


def test_link_needs_a_running_loop(pair: PtyPair) -> None:
    with pytest.raises(RuntimeError, match="inside a running asyncio loop"):
        open_link(pair.slave_path)
