"""Kamailio, a real SIP proxy, in front of the voicemail server for one run.

The configuration is ``fixtures/proxies/kamailio/kamailio.cfg``; everything site-specific in it
is a ``#!trydef`` default that this module overrides with ``-A NAME=value`` (listen address and
port, voicemail server address, no-answer timer, control socket). Each instance gets a private
directory for its copy of the configuration, its control socket, pid file and (unless told
otherwise) its log, so several instances run side by side.

Kamailio runs in the foreground (``-DD -E``) so its log goes to stderr, which lands in
:attr:`Kamailio.log_path`. It is ready when it answers an OPTIONS; it is stopped by its PID with
SIGTERM, then SIGKILL for what is left of its own process group.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from harness.core.routing import Convention
from harness.sip.builder import new_request
from harness.sip.errors import SIPParseError
from harness.sip.message import Response, parse_message
from harness.sip.transaction import Peer

#: Where the Debian package installs the binary (``/usr/sbin`` is not on every user's PATH).
KAMAILIO_BINARY = Path("/usr/sbin/kamailio")
#: Kamailio's control tool, from the same package.
KAMCMD_BINARY = Path("/usr/sbin/kamcmd")

#: The configuration shipped with the project.
DEFAULT_CONFIG = (
    Path(__file__).resolve().parents[2] / "fixtures" / "proxies" / "kamailio" / "kamailio.cfg"
)

#: How Kamailio can name the mailbox on a forwarded INVITE (the config's variants).
KamailioConvention = Literal[Convention.X_VOICEMAIL, Convention.DIVERSION]
CONVENTIONS: tuple[KamailioConvention, ...] = (Convention.X_VOICEMAIL, Convention.DIVERSION)

_LOG_TAIL_LINES = 40


class KamailioError(RuntimeError):
    """Kamailio is missing, would not start, or did not answer in time."""


def find_kamailio() -> Path:
    """The kamailio binary: on PATH, else the Debian location; KamailioError when neither."""
    found = shutil.which("kamailio")
    if found is not None:
        return Path(found)
    if KAMAILIO_BINARY.exists():
        return KAMAILIO_BINARY
    raise KamailioError(
        f"kamailio not found on PATH nor at {KAMAILIO_BINARY} (Debian package: kamailio)"
    )


def free_port(host: str) -> int:
    """A port free for both UDP and TCP on ``host`` right now (Kamailio listens on both)."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port: int = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise KamailioError(f"no port free for both UDP and TCP on {host} after 20 tries")


def _ipv4(value: str, what: str) -> str:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{what} must be an IPv4 address, not {value!r}") from None
    if address.version != 4:
        raise ValueError(f"{what} must be an IPv4 address, not {value!r}")
    return value


def _cfg_string(value: str, what: str) -> str:
    """``value`` as a quoted define for ``-A``; refuses what the config language cannot hold."""
    if not value or any(char in value for char in '"\\\r\n\t '):
        raise ValueError(
            f"{what} {value!r} must be non-empty, without quotes, backslashes or spaces"
        )
    return f'"{value}"'


class Kamailio:
    """One Kamailio process on loopback, configured for the seed topology.

    The listening port is chosen when the object is made, so the voicemail server can be
    configured with :attr:`address` before Kamailio starts; set :attr:`voicemail` before
    :meth:`start` (or pass it here).
    """

    def __init__(
        self,
        voicemail: Peer | None = None,
        *,
        convention: KamailioConvention = Convention.X_VOICEMAIL,
        no_answer_timeout: float = 20.0,
        reply_timeout: float = 5.0,
        host: str = "127.0.0.1",
        port: int = 0,
        context: str = "default",
        retrieval_user: str = "*97",
        config: Path = DEFAULT_CONFIG,
        binary: Path | None = None,
        log_dir: Path | None = None,
        shared_memory_mb: int = 128,
        private_memory_mb: int = 8,
        start_timeout: float = 10.0,
        stop_timeout: float = 5.0,
        switches: Mapping[str, str | None] | None = None,
    ) -> None:
        if convention not in CONVENTIONS:
            known = ", ".join(CONVENTIONS)
            raise ValueError(f"convention {convention!r} has no Kamailio variant (known: {known})")
        for name, seconds in (
            ("no_answer_timeout", no_answer_timeout),
            ("reply_timeout", reply_timeout),
            ("start_timeout", start_timeout),
            ("stop_timeout", stop_timeout),
        ):
            if not seconds > 0:
                raise ValueError(f"{name} must be a positive number of seconds, not {seconds!r}")
        if not 0 <= port < 65536:
            raise ValueError(f"port must be 0 (pick a free one) or 1..65535, not {port}")
        if not config.is_file():
            raise ValueError(f"Kamailio config {config} does not exist")
        _cfg_string(context, "context")
        _cfg_string(retrieval_user, "retrieval_user")
        #: Further defines, as a user turns the config's switches on (``NO_VM_ON_BUSY``) or
        #: sets its values (``MWI_DELAY_US``: ``"3000000"``); None is a bare define.
        self.switches = dict(switches or {})
        for name in self.switches:
            if not name.isidentifier():
                raise ValueError(f"switch {name!r} is not a define name")
        self.host = _ipv4(host, "host")
        self.port = port or free_port(self.host)
        self.voicemail = voicemail
        self.convention: KamailioConvention = convention
        self.no_answer_timeout = no_answer_timeout
        self.reply_timeout = reply_timeout
        self.context = context
        self.retrieval_user = retrieval_user
        self.source_config = config
        self.binary = binary
        self.shared_memory_mb = shared_memory_mb
        self.private_memory_mb = private_memory_mb
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        # Short, private and ours: the control socket path must fit a sockaddr_un (108 bytes).
        self._directory = tempfile.TemporaryDirectory(prefix="vmharness-kamailio-")
        self.run_dir = Path(self._directory.name)
        self.log_path = (log_dir or self.run_dir) / "kamailio.log"
        self._process: asyncio.subprocess.Process | None = None
        self._server_header: str | None = None

    # -- what the run sees ---------------------------------------------------------------------

    @property
    def address(self) -> Peer:
        """Where phones register and the voicemail server sends its NOTIFYs."""
        return (self.host, self.port)

    @property
    def config_path(self) -> Path:
        """The copy of the configuration this instance runs."""
        return self.run_dir / "kamailio.cfg"

    @property
    def ctl_socket(self) -> Path:
        """The binrpc control socket (``kamcmd -s unix:<path> ul.dump``)."""
        return self.run_dir / "kamailio_ctl"

    @property
    def pid_file(self) -> Path:
        """The pid file Kamailio writes."""
        return self.run_dir / "kamailio.pid"

    @property
    def pid(self) -> int | None:
        """The main process's PID while it runs."""
        if self._process is None or self._process.returncode is not None:
            return None
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once stopped (negative: killed by that signal)."""
        return None if self._process is None else self._process.returncode

    @property
    def server_header(self) -> str:
        """Kamailio's Server header as it answered the readiness OPTIONS (names the version)."""
        if self._server_header is None:
            raise KamailioError("Kamailio has not answered yet: start() it first")
        return self._server_header

    def defines(self) -> list[str]:
        """The ``-A`` preprocessor defines that adapt the shipped config to this run."""
        if self.voicemail is None:
            raise KamailioError("set the voicemail server address before starting Kamailio")
        vm_host, vm_port = self.voicemail
        defines = [
            f"LISTEN_IP={self.host}",
            f"SIP_PORT={self.port}",
            f"VM_IP={_cfg_string(_ipv4(vm_host, 'voicemail host'), 'voicemail host')}",
            f"VM_PORT={vm_port}",
            f"VM_CONTEXT={_cfg_string(self.context, 'context')}",
            f"FR_INV_TIMER={round(self.no_answer_timeout * 1000)}",
            f"FR_TIMER={round(self.reply_timeout * 1000)}",
            f"RETRIEVAL_USER={_cfg_string(self.retrieval_user, 'retrieval_user')}",
            f"CTL_SOCKET={_cfg_string(f'unix:{self.ctl_socket}', 'ctl socket')}",
        ]
        if self.convention == Convention.DIVERSION:
            defines.append("WITH_DIVERSION")
        defines += [
            name if value is None else f"{name}={value}" for name, value in self.switches.items()
        ]
        return defines

    def command(self) -> list[str]:
        """The full command line (foreground, logs on stderr)."""
        binary = self.binary or find_kamailio()
        command = [
            str(binary),
            "-f", str(self.config_path),
            "-DD", "-E",
            "-m", str(self.shared_memory_mb),
            "-M", str(self.private_memory_mb),
            "-Y", str(self.run_dir),
            "-P", str(self.pid_file),
        ]  # fmt: skip
        for define in self.defines():
            command += ["-A", define]
        return command

    def log_text(self) -> str:
        """Everything Kamailio logged so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _log_tail(self) -> str:
        lines = self.log_text().splitlines()[-_LOG_TAIL_LINES:]
        return "\n".join(lines) or "(empty log)"

    async def location_users(self) -> list[str]:
        """The users with a binding in the location table now (``kamcmd ul.dump``)."""
        kamcmd = shutil.which("kamcmd") or str(KAMCMD_BINARY)
        process = await asyncio.create_subprocess_exec(
            kamcmd,
            "-s",
            f"unix:{self.ctl_socket}",
            "ul.dump",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), self.stop_timeout)
        if process.returncode != 0:
            raise KamailioError(f"kamcmd ul.dump failed: {err.decode(errors='replace').strip()}")
        users = []
        for line in out.decode(errors="replace").splitlines():
            name, _, value = line.strip().partition(":")
            if name == "AoR":
                users.append(value.strip())
        return users

    # -- life cycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start Kamailio and wait until it answers an OPTIONS; KamailioError if it does not."""
        if self._process is not None:
            raise KamailioError("this Kamailio was already started")
        command = self.command()
        shutil.copyfile(self.source_config, self.config_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            log.write(("$ " + " ".join(command) + "\n").encode())
            log.flush()
            # A session of its own: the workers share the main PID as process group, so a
            # forced stop reaches them and nothing else.
            self._process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        try:
            self._server_header = await self._wait_ready()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``stop_timeout``; removes the private directory."""
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), self.stop_timeout)
            except TimeoutError:
                # The main process still lives, so its group is still ours: workers included.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        self._directory.cleanup()

    async def _wait_ready(self) -> str:
        """Probe with OPTIONS until answered; the answer's Server (or User-Agent) header."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        probe = _Probe()
        transport, _ = await loop.create_datagram_endpoint(lambda: probe, local_addr=(self.host, 0))
        try:
            local: Peer = transport.get_extra_info("sockname")[:2]
            attempt = 0
            while True:
                process = self._process
                assert process is not None
                if process.returncode is not None:
                    raise KamailioError(
                        f"kamailio exited with status {process.returncode} during start-up; "
                        f"log {self.log_path}:\n{self._log_tail()}"
                    )
                if loop.time() >= deadline:
                    raise KamailioError(
                        f"kamailio did not answer OPTIONS at {self.host}:{self.port} within "
                        f"{self.start_timeout:g} s; log {self.log_path}:\n{self._log_tail()}"
                    )
                attempt += 1
                request = new_request(
                    "OPTIONS",
                    f"sip:{self.host}:{self.port}",
                    from_address=f"<sip:probe@{local[0]}:{local[1]}>",
                    to_address=f"<sip:{self.host}:{self.port}>",
                    local=local,
                    cseq=attempt,
                )
                probe.expect(request.call_id)
                transport.sendto(request.to_bytes(), self.address)
                response = await probe.wait(min(0.2, max(deadline - loop.time(), 0.01)))
                if response is not None:
                    return response.header("Server") or response.header("User-Agent") or ""
        finally:
            transport.close()


class _Probe(asyncio.DatagramProtocol):
    """Receives the answer to one readiness OPTIONS at a time."""

    def __init__(self) -> None:
        self._call_id = ""
        self._answer: asyncio.Future[Response] | None = None

    def expect(self, call_id: str) -> None:
        self._call_id = call_id
        self._answer = asyncio.get_running_loop().create_future()

    async def wait(self, timeout: float) -> Response | None:
        assert self._answer is not None
        try:
            return await asyncio.wait_for(asyncio.shield(self._answer), timeout)
        except TimeoutError:
            return None

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            message = parse_message(data)
        except SIPParseError:
            return
        answer = self._answer
        if (
            isinstance(message, Response)
            and message.call_id == self._call_id
            and answer is not None
            and not answer.done()
        ):
            answer.set_result(message)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable while Kamailio is still binding: the next probe tries again.
        pass
