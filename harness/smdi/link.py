"""The SMDI serial link: port settings, line pacing, and an asyncio adapter over a port.

:class:`SerialSettings` holds the line framing Asterisk's smdi.conf knows (1200-9600 baud,
7 or 8 data bits, even/odd/no parity, 1 or 2 stop bits). :class:`LinePacer` is the sans-IO
arithmetic of how long characters take on such a line. :func:`open_link` opens a device path or
a pyserial URL (``loop://``, ``socket://host:port``) with those settings and returns an
:class:`SmdiLink`, which reads through the event loop (``add_reader`` on the port's descriptor,
no threads) and, with ``pacing=True``, writes no faster than the configured line would.

:func:`open_pty_pair` gives a pseudo-terminal pair that stands in for a serial cable: one side
opens ``slave_path`` like a device, the other uses ``master_fd`` (see :meth:`SmdiLink.from_fd`).
A pty neither paces bytes nor keeps 7-bit or parity framing (Linux reports CS8, no parity, but
keeps the speed and stop bits), which is why pacing is simulated here.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import errno
import io
import os
import socket
import termios
import tty
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Protocol, Self

import serial
from serial.urlhandler import protocol_socket

#: Baud rates smdi.conf accepts.
BAUD_RATES = (1200, 2400, 4800, 9600)
#: How often a port without a file descriptor (``loop://``) is polled for input.
POLL_INTERVAL = 0.005

Parity = Literal["even", "odd", "none"]
_PARITY_LETTER = {"even": "E", "odd": "O", "none": "N"}
_PYSERIAL_PARITY = {
    "even": serial.PARITY_EVEN,
    "odd": serial.PARITY_ODD,
    "none": serial.PARITY_NONE,
}
_READ_SIZE = 4096


class SmdiLinkError(OSError):
    """An SMDI link that cannot be opened or configured; the text names the port."""


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """Line settings of an SMDI port; the defaults are SMDI's 9600 baud 7E1."""

    baudrate: int = 9600
    bytesize: int = 7
    parity: Parity = "even"
    stopbits: int = 1

    def __post_init__(self) -> None:
        if self.baudrate not in BAUD_RATES:
            raise ValueError(
                f"SMDI baud rate must be one of {', '.join(map(str, BAUD_RATES))}, "
                f"got {self.baudrate!r}"
            )
        if self.bytesize not in (7, 8):
            raise ValueError(f"SMDI character size must be 7 or 8 bits, got {self.bytesize!r}")
        if self.parity not in _PARITY_LETTER:
            raise ValueError(f"SMDI parity must be even, odd or none, got {self.parity!r}")
        if self.stopbits not in (1, 2):
            raise ValueError(f"SMDI stop bits must be 1 or 2, got {self.stopbits!r}")

    @property
    def bits_per_char(self) -> int:
        """Bits one character occupies on the line: start + data + parity + stop."""
        return 1 + self.bytesize + (self.parity != "none") + self.stopbits

    @property
    def char_time(self) -> float:
        """Seconds one character occupies on the line."""
        return self.bits_per_char / self.baudrate

    def __str__(self) -> str:
        return f"{self.baudrate} {self.bytesize}{_PARITY_LETTER[self.parity]}{self.stopbits}"


class LinePacer:
    """When bytes written to a serial line have been transmitted (sans-IO).

    The line sends one character per :attr:`SerialSettings.char_time`, back to back while it has
    data, and is idle otherwise. Times are whatever clock the caller passes as ``now``.
    """

    def __init__(self, settings: SerialSettings) -> None:
        self.char_time = settings.char_time
        self._busy_until = float("-inf")

    @property
    def busy_until(self) -> float:
        """When the last scheduled character leaves the line."""
        return self._busy_until

    def release_times(self, n_bytes: int, now: float) -> list[float]:
        """Queue ``n_bytes`` at ``now``; return when each of them has been received in full."""
        if n_bytes < 0:
            raise ValueError(f"byte count must not be negative, got {n_bytes}")
        start = max(now, self._busy_until)
        times = [start + (k + 1) * self.char_time for k in range(n_bytes)]
        if times:
            self._busy_until = times[-1]
        return times

    def schedule(self, n_bytes: int, now: float) -> float:
        """Queue ``n_bytes`` at ``now``; return when the last of them has been received."""
        times = self.release_times(n_bytes, now)
        return times[-1] if times else max(now, self._busy_until)


class _Port(Protocol):
    """What SmdiLink needs of a pyserial port."""

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def write(self, b: bytes, /) -> int | None: ...

    def close(self) -> None: ...


class SmdiLink:
    """An open SMDI port driven by the running asyncio loop.

    Received bytes go to ``on_data`` if given, else to an internal queue read with
    :meth:`read` or ``async for chunk in link``. Use :func:`open_link` or :meth:`from_fd` to
    make one; close it with :meth:`close` or ``async with``.
    """

    def __init__(
        self,
        name: str,
        settings: SerialSettings,
        *,
        fd: int | None,
        port: _Port | None,
        pacing: bool,
        on_data: Callable[[bytes], None] | None,
        close_fd: bool,
    ) -> None:
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(f"SMDI link {name}: open it inside a running asyncio loop") from None
        self.name = name
        self.settings = settings
        self.error: OSError | None = None
        self._fd = fd
        self._port = port
        self._close_fd = close_fd
        self._pacer = LinePacer(settings) if pacing else None
        self._on_data = on_data
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._write_lock = asyncio.Lock()
        self._closed = False
        self._at_eof = False
        self._poller: asyncio.Task[None] | None = None
        if fd is not None:
            os.set_blocking(fd, False)
            self._loop.add_reader(fd, self._on_readable)
        else:
            self._poller = self._loop.create_task(self._poll())

    @classmethod
    def from_fd(
        cls,
        fd: int,
        settings: SerialSettings | None = None,
        *,
        pacing: bool = False,
        on_data: Callable[[bytes], None] | None = None,
        close_fd: bool = False,
        name: str | None = None,
    ) -> SmdiLink:
        """A link over an already open descriptor, such as a pty master; its termios are
        left alone (``settings`` only drive pacing)."""
        return cls(
            name or f"fd {fd}",
            settings or SerialSettings(),
            fd=fd,
            port=None,
            pacing=pacing,
            on_data=on_data,
            close_fd=close_fd,
        )

    @property
    def pacing(self) -> bool:
        """Whether writes are released at the line's character rate."""
        return self._pacer is not None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def fileno(self) -> int | None:
        """The descriptor read and written, or None for a port without one (``loop://``)."""
        return self._fd

    async def write(self, data: bytes) -> None:
        """Send ``data``; with pacing, return once the line would have sent the last byte."""
        if self._closed:
            raise SmdiLinkError(errno.EBADF, f"SMDI link {self.name} is closed")
        async with self._write_lock:
            if self._pacer is None:
                await self._send(data)
                return
            due = self._pacer.release_times(len(data), self._loop.time())
            sent = 0
            while sent < len(data):
                now = self._loop.time()
                ready = bisect.bisect_right(due, now, lo=sent)
                if ready > sent:
                    await self._send(data[sent:ready])
                    sent = ready
                else:
                    await asyncio.sleep(due[sent] - now)

    async def read(self) -> bytes:
        """The next received bytes; ``b""`` once the other end has gone or the link is closed."""
        if self._at_eof and self._queue.empty():
            return b""
        data = await self._queue.get()
        if not data:
            self._at_eof = True
        return data

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        data = await self.read()
        if not data:
            raise StopAsyncIteration
        return data

    def close(self) -> None:
        """Stop reading and release the port; pending :meth:`read` calls return ``b""``."""
        if self._closed:
            return
        self._closed = True
        if self._fd is not None:
            self._loop.remove_reader(self._fd)
        if self._poller is not None:
            self._poller.cancel()
        if self._port is not None:
            _close_port(self._port)
        elif self._close_fd and self._fd is not None:
            os.close(self._fd)
        self._end()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _deliver(self, data: bytes) -> None:
        if self._on_data is not None:
            self._on_data(data)
        else:
            self._queue.put_nowait(data)

    def _end(self) -> None:
        if not self._at_eof:
            self._at_eof = True
            self._queue.put_nowait(b"")

    def _on_readable(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            # EIO is how a pty reports that its other side has gone.
            if exc.errno != errno.EIO:
                self.error = exc
            data = b""
        if data:
            self._deliver(data)
            return
        self._loop.remove_reader(self._fd)
        self._end()

    async def _poll(self) -> None:
        assert self._port is not None
        while True:
            waiting = self._port.in_waiting
            if waiting:
                self._deliver(self._port.read(waiting))
            await asyncio.sleep(POLL_INTERVAL)

    async def _send(self, data: bytes) -> None:
        if self._fd is None:
            assert self._port is not None
            self._port.write(data)
            return
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._fd, view)
            except BlockingIOError:
                await self._writable()
                continue
            view = view[written:]

    async def _writable(self) -> None:
        assert self._fd is not None
        ready: asyncio.Future[None] = self._loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        self._loop.add_writer(self._fd, wake)
        try:
            await ready
        finally:
            self._loop.remove_writer(self._fd)


def _close_port(port: _Port) -> None:
    # pyserial's socket:// close() sleeps 0.3 s "for quick reconnects", which would stall the
    # event loop; close its socket directly instead.
    if isinstance(port, protocol_socket.Serial):
        sock: socket.socket | None = getattr(port, "_socket", None)
        if sock is not None:
            sock.close()
            port._socket = None  # type: ignore[attr-defined]
        port.is_open = False
        return
    port.close()


def _configure(port: serial.Serial, settings: SerialSettings, baudrate: int) -> None:
    port.baudrate = baudrate
    port.bytesize = settings.bytesize
    port.parity = _PYSERIAL_PARITY[settings.parity]
    port.stopbits = settings.stopbits
    port.timeout = 0


def _is_einval(exc: BaseException) -> bool:
    return bool(exc.args) and exc.args[0] == errno.EINVAL


def _open_port(url_or_path: str, settings: SerialSettings) -> serial.Serial:
    port = serial.serial_for_url(url_or_path, do_not_open=True)
    _configure(port, settings, settings.baudrate)
    try:
        port.open()
        return port
    except termios.error as exc:
        if not _is_einval(exc):
            raise
    # A Linux pty refuses (EINVAL) a change of character size or parity alone, but accepts it
    # in the same call as a change of speed: open at another speed, then switch to the real one.
    for detour in BAUD_RATES:
        if detour == settings.baudrate:
            continue
        port.baudrate = detour
        try:
            port.open()
        except termios.error as exc:
            if not _is_einval(exc):
                raise
            continue
        try:
            port.baudrate = settings.baudrate
        except BaseException:
            port.close()
            raise
        return port
    raise SmdiLinkError(errno.EINVAL, f"the port refuses {settings} at every speed")


def open_link(
    url_or_path: str,
    settings: SerialSettings | None = None,
    *,
    pacing: bool = False,
    on_data: Callable[[bytes], None] | None = None,
) -> SmdiLink:
    """Open a serial device path or pyserial URL with ``settings`` (SMDI's 9600 7E1 by
    default) in raw mode, and return a link driven by the running asyncio loop."""
    settings = settings or SerialSettings()
    try:
        port = _open_port(url_or_path, settings)
    except (serial.SerialException, termios.error, OSError, ValueError) as exc:
        raise SmdiLinkError(
            errno.EIO, f"cannot open SMDI link {url_or_path!r} at {settings}: {exc}"
        ) from exc
    try:
        fd: int | None = port.fileno()
    except (io.UnsupportedOperation, AttributeError):
        fd = None
    try:
        return SmdiLink(
            url_or_path,
            settings,
            fd=fd,
            port=port,
            pacing=pacing,
            on_data=on_data,
            close_fd=False,
        )
    except BaseException:
        port.close()
        raise


@dataclass(frozen=True, slots=True)
class PtyPair:
    """A pseudo-terminal pair in raw mode: a serial cable for tests.

    Open ``slave_path`` like a device (e.g. with :func:`open_link`) and use ``master_fd`` as
    the other end. ``slave_fd`` stays open so the master never sees the line drop while the
    device side is reopened.
    """

    master_fd: int
    slave_fd: int
    slave_path: str

    def close(self) -> None:
        """Close both descriptors."""
        for fd in (self.master_fd, self.slave_fd):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def open_pty_pair() -> PtyPair:
    """Create a raw pty pair (no echo, no line editing, no CR/LF translation)."""
    master_fd, slave_fd = os.openpty()
    try:
        tty.setraw(slave_fd)
        return PtyPair(master_fd, slave_fd, os.ttyname(slave_fd))
    except BaseException:
        os.close(master_fd)
        os.close(slave_fd)
        raise
