"""A real Asterisk (chan_sip, app_voicemail, res_smdi) as the voicemail server of one run.

The binary is the one named (``--asterisk PATH``), else ``asterisk`` on PATH, else the build
cache of :mod:`harness.peers.asterisk_build`. Each instance runs in a private directory of its
own: ``asterisk.conf`` points every Asterisk directory (configuration, spool, run, log, lib)
there, except the modules (the install's) and the sounds (the Debian sounds package, linked in
as ``sounds/en``), so several instances run side by side and none touches ``/etc/asterisk``.
The caller hands in the rest of the configuration as texts (sip.conf, voicemail.conf,
extensions.conf, smdi.conf); :func:`render_sip_conf` writes the chan_sip one.

Asterisk runs in the foreground (``-f``) with its console output in ``asterisk.log``; it is
ready when ``core waitfullybooted`` returns over its control socket, and is stopped with
``core stop now``, then by its PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import socket
import tempfile
import termios
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.core.mailbox import MailboxId
from harness.peers.asterisk_build import AsteriskInstall, cached_asterisk
from harness.sip.transaction import Peer

#: Where Debian's sound packages put the English prompts (``asterisk-core-sounds-en-wav``).
DEBIAN_SOUNDS = Path("/usr/share/asterisk/sounds")
_SOUND_DIRECTORIES = ("en", "en_US_f_Allison")

#: The modules a voicemail server needs, loaded explicitly (``autoload=no``): an install with
#: every module (chan_pjsip among them) would otherwise bind ports the run does not own.
MODULES = (
    "res_timing_timerfd.so",
    "res_rtp_asterisk.so",
    "res_http_websocket.so",
    "res_crypto.so",
    "res_speech.so",
    "res_agi.so",
    "res_smdi.so",
    "chan_sip.so",
    "pbx_config.so",
    "app_voicemail.so",
    "app_playback.so",
    "app_stack.so",
    "app_exec.so",
    "codec_ulaw.so",
    "codec_alaw.so",
    "codec_a_mu.so",
    "codec_gsm.so",
    "codec_resample.so",
    "format_wav.so",
    "format_wav_gsm.so",
    "format_pcm.so",
    "format_gsm.so",
    "format_sln.so",
    "func_callerid.so",
    "func_channel.so",
    "func_strings.so",
    "func_logic.so",
    "func_cut.so",
    "func_global.so",
)

_LOG_TAIL_LINES = 30


class AsteriskError(RuntimeError):
    """Asterisk is missing, would not start, or did not boot in time."""


def find_asterisk(binary: Path | None = None) -> AsteriskInstall:
    """The Asterisk to run: ``binary``, else ``asterisk`` on PATH, else the cached build.

    AsteriskError saying where it looked when there is none.
    """
    if binary is not None:
        if not binary.is_file():
            raise AsteriskError(f"no Asterisk binary at {binary}")
        return AsteriskInstall(binary.resolve().parent.parent)
    found = shutil.which("asterisk")
    if found is not None:
        return AsteriskInstall(Path(found).resolve().parent.parent)
    cached = cached_asterisk()
    if cached is not None:
        return cached
    raise AsteriskError(
        "no Asterisk: not on PATH and not built; build it once with "
        "`python -m harness.peers.asterisk_build` (needs asterisk-18.26.4.tar.xz), or give "
        "--asterisk PATH"
    )


def find_sounds() -> Path:
    """The English sounds directory; AsteriskError when the sounds package is missing."""
    for name in _SOUND_DIRECTORIES:
        candidate = DEBIAN_SOUNDS / name
        if (candidate / "vm-intro.wav").is_file():
            return candidate
    raise AsteriskError(
        f"no Asterisk sounds under {DEBIAN_SOUNDS} (Debian package asterisk-core-sounds-en-wav):"
        " every prompt would be missing"
    )


def free_udp_port(host: str) -> int:
    """A UDP port free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class SipPeer:
    """A phone's chan_sip peer: NOTIFYs for ``mailbox`` go to ``sip:<user>@<proxy>``."""

    user: str
    mailbox: MailboxId
    dtmfmode: str = "rfc2833"


def render_sip_conf(
    peers: Iterable[SipPeer],
    *,
    bind: Peer,
    proxy: Peer,
    context: str,
    tcp: bool = False,
) -> str:
    """sip.conf for Asterisk behind ``proxy``: calls from the proxy land in ``context``
    without a peer match, and each phone is a ``friend`` whose host is the proxy (so NOTIFYs
    go there, and its SUBSCRIBEs through the proxy are accepted by name)."""
    host, port = bind
    proxy_host, proxy_port = proxy
    lines = [
        "[general]",
        f"bindaddr={host}",
        f"bindport={port}",
        f"context={context}",
        "allowguest=yes",
        "alwaysauthreject=no",
        "disallow=all",
        "allow=ulaw,alaw",
        "dtmfmode=rfc2833",
        "rtpkeepalive=0",
        "subminexpiry=30",
        *(["tcpenable=yes", f"tcpbindaddr={host}:{port}"] if tcp else []),
        "",
        "[subscriber](!)",
        "type=friend",
        f"host={proxy_host}",
        f"port={proxy_port}",
        "insecure=port,invite",
        f"context={context}",
        "subscribecontext=" + context,
    ]
    for peer in peers:
        lines += [
            "",
            f"[{peer.user}](subscriber)",
            f"defaultuser={peer.user}",
            f"mailbox={peer.mailbox}",
            f"dtmfmode={peer.dtmfmode}",
        ]
    return "\n".join(lines) + "\n"


def _asterisk_conf(root: Path, install: AsteriskInstall, log_dir: Path) -> str:
    return "\n".join(
        [
            "[directories]",
            f"astetcdir => {root / 'etc'}",
            f"astmoddir => {install.modules}",
            f"astvarlibdir => {root / 'lib'}",
            f"astdbdir => {root / 'lib'}",
            f"astkeydir => {root / 'lib'}",
            f"astdatadir => {root / 'data'}",
            f"astagidir => {root / 'agi'}",
            f"astspooldir => {root / 'spool'}",
            f"astrundir => {root / 'run'}",
            f"astlogdir => {log_dir}",
            f"astsbindir => {install.binary.parent}",
            "",
            "[options]",
            "verbose = 3",
            "nocolor = yes",
            "transmit_silence = no",
            "cache_media_frames = yes",
            "",
        ]
    )


_FIXED_CONFIGS = {
    "modules.conf": "[modules]\nautoload=no\n" + "".join(f"load => {m}\n" for m in MODULES),
    "logger.conf": "[general]\n[logfiles]\nconsole => notice,warning,error,verbose\n"
    "messages => notice,warning,error,verbose,dtmf\n",
    # Random ports from a wide range: instances side by side retry until one binds.
    "rtp.conf": "[general]\nrtpstart=20000\nrtpend=39999\n",
    "indications.conf": "[general]\ncountry=us\n[us]\ndescription = United States\n"
    "ringcadence = 2000,4000\ndial = 350+440\nbusy = 480+620/500,0/500\n"
    "ring = 440+480/2000,0/4000\ncongestion = 480+620/250,0/250\ncallwaiting = 440/300\n"
    "dialrecall = !350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440\n"
    "record = 1400/500,0/15000\ninfo = !950/330,!1400/330,!1800/330,0\n",
}


class Asterisk:
    """One Asterisk process on loopback with a private directory and the given configs."""

    def __init__(
        self,
        configs: Mapping[str, str],
        *,
        install: AsteriskInstall,
        sounds: Path,
        start_timeout: float = 20.0,
        stop_timeout: float = 5.0,
        log_dir: Path | None = None,
    ) -> None:
        self.configs = dict(configs)
        self.install = install
        self.sounds = sounds
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        # Short: the control socket's path must fit a sockaddr_un (108 bytes).
        self._directory = tempfile.TemporaryDirectory(prefix="vmharness-asterisk-")
        self.root = Path(self._directory.name)
        #: Where Asterisk logs (``asterisk.log``: its console; ``messages``: the dialplan and
        #: DTMF as it ran): ``log_dir`` when given, so the logs outlive the instance.
        self.log_dir = log_dir or self.root / "log"
        self._process: asyncio.subprocess.Process | None = None

    @property
    def config_file(self) -> Path:
        """The private asterisk.conf."""
        return self.root / "etc" / "asterisk.conf"

    @property
    def spool(self) -> Path:
        """app_voicemail's spool (``<context>/<box>/INBOX/msg0000.wav``)."""
        return self.root / "spool" / "voicemail"

    @property
    def log_path(self) -> Path:
        """Asterisk's console output."""
        return self.log_dir / "asterisk.log"

    @property
    def pid(self) -> int | None:
        """The process's PID while it runs."""
        if self._process is None or self._process.returncode is not None:
            return None
        return self._process.pid

    def log_text(self) -> str:
        """Everything Asterisk printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _log_tail(self) -> str:
        return "\n".join(self.log_text().splitlines()[-_LOG_TAIL_LINES:]) or "(empty log)"

    def _write_tree(self) -> None:
        for name in ("etc", "lib", "data", "agi", "spool/voicemail", "run"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        (self.root / "data" / "sounds").mkdir(exist_ok=True)
        (self.root / "data" / "sounds" / "en").symlink_to(self.sounds, target_is_directory=True)
        self.config_file.write_text(_asterisk_conf(self.root, self.install, self.log_dir))
        for name, text in {**_FIXED_CONFIGS, **self.configs}.items():
            (self.root / "etc" / name).write_text(text)

    async def start(self) -> None:
        """Write the tree, start Asterisk and wait until it has fully booted."""
        if self._process is not None:
            raise AsteriskError("this Asterisk was already started")
        if not self.install.binary.is_file():
            raise AsteriskError(f"no Asterisk binary at {self.install.binary}")
        self._write_tree()
        command = [str(self.install.binary), "-f", "-n", "-C", str(self.config_file)]
        with self.log_path.open("wb") as log:
            log.write(("$ " + " ".join(command) + "\n").encode())
            log.flush()
            self._process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                preexec_fn=_stop_with_parent,
            )
        try:
            await self._wait_booted()
        except BaseException:
            await self.stop()
            raise

    async def command(self, text: str, timeout: float = 5.0) -> str:
        """Run CLI ``text`` over the control socket (``asterisk -rx``); its output."""
        process = await asyncio.create_subprocess_exec(
            str(self.install.binary),
            "-C",
            str(self.config_file),
            "-rx",
            text,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise AsteriskError(f"`asterisk -rx '{text}'` did not end in {timeout:g} s") from None
        said = output.decode(errors="replace")
        if process.returncode != 0:
            raise AsteriskError(f"`asterisk -rx '{text}'` failed: {said}")
        return said

    async def _wait_booted(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        socket_path = self.root / "run" / "asterisk.ctl"
        while True:
            process = self._process
            assert process is not None
            if process.returncode is not None:
                raise AsteriskError(
                    f"asterisk exited with status {process.returncode} during start-up; "
                    f"log {self.log_path}:\n{self._log_tail()}"
                )
            if loop.time() >= deadline:
                raise AsteriskError(
                    f"asterisk did not boot within {self.start_timeout:g} s; "
                    f"log {self.log_path}:\n{self._log_tail()}"
                )
            if socket_path.exists():
                with contextlib.suppress(AsteriskError):
                    await self.command("core waitfullybooted", timeout=self.start_timeout)
                    return
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """``core stop now``, then SIGTERM and SIGKILL by PID; removes the private directory."""
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(AsteriskError):
                await self.command("core stop now", timeout=self.stop_timeout)
            try:
                await asyncio.wait_for(process.wait(), self.stop_timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), self.stop_timeout)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    await process.wait()
        self._directory.cleanup()


#: prctl(2) option: the signal the child gets when its parent dies.
_PR_SET_PDEATHSIG = 1


def _stop_with_parent() -> None:
    """In the child, before exec: be told (SIGTERM) when the harness dies, so a harness killed
    mid-run leaves no Asterisk holding its ports."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def block_until_a_byte(device_fd: int) -> None:
    """Set VMIN=1 on a serial device: res_smdi spins at full CPU reading a line whose VMIN is
    0 (pyserial leaves it so), since every read then returns at once."""
    attributes = termios.tcgetattr(device_fd)
    attributes[6][termios.VMIN] = 1
    attributes[6][termios.VTIME] = 0
    termios.tcsetattr(device_fd, termios.TCSANOW, attributes)
