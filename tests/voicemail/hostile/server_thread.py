"""A voicemail server running on its own loop in a thread, for tests that hit it with raw bytes.

Hypothesis drives plain sockets from the test thread; the server lives on loopback the whole
module long, as a deployed one would, and every log record it writes is kept for checks.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from harness.voicemail.conf.server_config import load_config
from harness.voicemail.overload import OverloadPolicy
from harness.voicemail.server import VoicemailServer

T = TypeVar("T")

VOICEMAIL_CONF = "[general]\nmaxsecs=30\n\n[default]\n1000 => 1234,Alice\n"
SIP_CONF = "[general]\nuseragent=vmharness-test\n"


class KeptRecords(logging.Handler):
    """Every log record written while installed."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def failures(self) -> list[str]:
        """Records that show a fault: a traceback, or an error."""
        return [
            f"{record.name}: {record.getMessage()}"
            for record in self.records
            if record.exc_info or record.levelno >= logging.ERROR
        ]


class ServerThread:
    """A :class:`VoicemailServer` on UDP and TCP, serving from a thread of its own."""

    def __init__(
        self,
        directory: Path,
        *,
        sip_conf: str = SIP_CONF,
        overload: OverloadPolicy | None = None,
    ) -> None:
        (directory / "conf").mkdir()
        (directory / "conf" / "voicemail.conf").write_text(VOICEMAIL_CONF)
        (directory / "conf" / "sip.conf").write_text(sip_conf)
        self.config = load_config(directory / "conf")
        self.spool = directory / "spool"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: VoicemailServer | None = None
        self.records = KeptRecords()
        self.overload = overload

    def __enter__(self) -> ServerThread:
        logging.getLogger().addHandler(self.records)
        logging.getLogger().setLevel(logging.DEBUG)
        self.thread.start()
        self.server = VoicemailServer(
            self.config, self.spool, port=0, tcp=True, overload=self.overload
        )
        self.run(self.server.start())
        return self

    def __exit__(self, *_: object) -> None:
        if self.server is not None:
            self.run(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
        logging.getLogger().removeHandler(self.records)

    @property
    def address(self) -> tuple[str, int]:
        """Where the server listens (UDP and TCP)."""
        assert self.server is not None
        return self.server.address

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        """Run ``coroutine`` on the server's loop and return its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout)

    def call(self, function: Callable[[], T]) -> T:
        """Run ``function`` on the server's loop (to read its state safely)."""

        async def wrapped() -> T:
            return function()

        return self.run(wrapped())


def udp_exchange(address: tuple[str, int], build: Callable[[int], bytes], wait: float) -> bytes:
    """Send one datagram from a fresh socket (``build`` gets its port); the first answer or b''."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(wait)
        sock.sendto(build(sock.getsockname()[1]), address)
        try:
            return sock.recv(65536)
        except TimeoutError:
            return b""


def tcp_exchange(address: tuple[str, int], build: Callable[[int], bytes], wait: float) -> bytes:
    """Send ``build(port)`` on a new connection, then read what comes back within ``wait``."""
    with socket.create_connection(address, timeout=wait) as sock:
        sock.sendall(build(sock.getsockname()[1]))
        deadline = time.monotonic() + wait
        received = b""
        while b"\r\n\r\n" not in received and time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionError):
                break
            if not chunk:
                break
            received += chunk
        return received
