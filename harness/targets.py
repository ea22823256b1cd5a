"""The parties a scenario runs against: the voicemail server under test and the proxy.

The voicemail server is the embedded one (:class:`EmbeddedTarget`), a real Asterisk the harness
configures and starts for each scenario (:class:`AsteriskTarget`), or any server at an address
(:class:`ExternalTarget`: an Asterisk, another vendor's server). For the embedded target the
harness writes the Asterisk-dialect configuration an administrator would write for the
scenario's topology (voicemail.conf with the mailboxes, sip.conf with one static peer per phone
whose ``host=`` is the proxy, and smdi.conf when a PBX is on an SMDI line) and starts
:class:`VoicemailServer` on it, so every run goes through the same config reader a standalone
deployment uses; Asterisk gets the same files plus a dialplan. The harness cannot configure a
foreign server: its mailboxes, PINs and peers must match the scenario (a target file says what
they are, and a reset command puts the server back between scenarios).

The proxy is the simulator shaped by a profile (:class:`SimulatedProxy`), a Kamailio the harness
starts for the run (:class:`KamailioProxy`), or a proxy under test at an address
(:class:`ExternalProxy`). Each is bound (its address known) before the voicemail server starts,
and started once the voicemail server's address is known, since each names the other.

What a scenario step may ask of either is the :class:`Target` and :class:`ProxyParty`
protocols: the runtime never sees which implementation it talks to, so an external server is
just another target, and everything particular to the embedded server stays behind
:class:`EmbeddedTarget`'s methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from harness.core.mailbox import MailboxId
from harness.core.routing import Router
from harness.media.prompts import PromptLibrary
from harness.media.session import RtpSession
from harness.peers.asterisk import (
    Asterisk,
    AsteriskError,
    SipPeer,
    block_until_a_byte,
    find_asterisk,
    find_sounds,
    free_udp_port,
)
from harness.peers.asterisk import render_sip_conf as render_chan_sip_conf
from harness.peers.asterisk_dialplan import ENTRY_CONTEXT, SmdiRouting, render_extensions_conf
from harness.peers.kamailio import Kamailio, KamailioConvention, KamailioError
from harness.sim.profiles import ProxyProfile
from harness.sim.proxy import SimProxy
from harness.sip.errors import SIPParseError
from harness.sip.transaction import Peer
from harness.sip.transport import Observer
from harness.sip.uri import URI
from harness.smdi.link import SerialSettings
from harness.voicemail.conf.server_config import load_config
from harness.voicemail.realtime.migration import move_to_sqlite
from harness.voicemail.server import VoicemailServer
from harness.voicemail.smdi import SmdiOptions
from harness.voicemail.store import Spool

#: Told of each call's media as the call ends: the call's Call-ID and its RTP session.
MediaObserver = Callable[[str, RtpSession], None]


class SpoolReader(Protocol):
    """A voicemail spool the harness can read (Asterisk's layout)."""

    def count(self, mailbox: MailboxId, folder: str = "INBOX") -> int:
        """How many messages ``folder`` of ``mailbox`` holds."""
        ...

    def newest_callerid(self, mailbox: MailboxId, folder: str = "INBOX") -> str | None:
        """The ``callerid=`` of the newest message in the folder (None when it is empty)."""
        ...

    def newest_audio(self, mailbox: MailboxId, folder: str = "INBOX") -> Path | None:
        """The audio file of the newest message in the folder (None when it is empty)."""
        ...


class Target(Protocol):
    """The voicemail server of a run, as steps see it."""

    @property
    def identity(self) -> str:
        """``embedded`` or ``sip:HOST:PORT``."""
        ...

    @property
    def spool_reader(self) -> SpoolReader | None:
        """The server's spool when the harness can read it, else None (white-box steps skip)."""
        ...

    @property
    def smdi_port(self) -> str | None:
        """The SMDI port the server opened, if it opened one."""
        ...

    def subscribe(self, observer: Observer) -> None:
        """Tell ``observer`` about every SIP message the server sends or receives, when the
        harness sees them (an external server's traffic is recorded by its peers)."""
        ...

    def on_media_closed(self, observer: MediaObserver) -> None:
        """Tell ``observer`` about each call's media as the call ends, when the harness sees it."""
        ...

    async def start(self, proxy: Peer) -> Peer:
        """Start serving behind ``proxy``; the server's SIP address."""
        ...

    async def settle(self, within: float) -> None:
        """Wait (at most ``within`` seconds) for the message-waiting NOTIFYs the server sends
        at start-up to be answered, so steps see only their own."""
        ...

    async def wait_idle(self, within: float) -> None:
        """Wait (at most ``within`` seconds) until no call is in progress, so what calls left
        is filed."""
        ...

    async def close(self) -> None:
        """Stop the server, if the harness runs it."""
        ...


class ProxyParty(Protocol):
    """The proxy of a run, as steps see it."""

    @property
    def name(self) -> str:
        """``simulator``, ``kamailio`` or ``sip:HOST:PORT``."""
        ...

    @property
    def address(self) -> Peer:
        """Where phones register and the voicemail server sends its NOTIFYs."""
        ...

    @property
    def identity(self) -> str | None:
        """The proxy's software identity, when it is known here."""
        ...

    def subscribe(self, observer: Observer) -> None:
        """Tell ``observer`` about every SIP message the proxy sends or receives, when the
        harness sees them."""
        ...

    def forward_unconditionally(self, user: str) -> bool:
        """Forward every call to ``user`` to voicemail from now on; False when this proxy
        cannot be told to (it behaves as it is configured)."""
        ...

    def stop_forwarding_unconditionally(self, user: str) -> None:
        """Undo :meth:`forward_unconditionally`."""
        ...

    async def bind(self) -> Peer:
        """Open the proxy's port (or learn it); its address."""
        ...

    async def start(self, voicemail: Peer) -> None:
        """Forward calls to ``voicemail`` from now on."""
        ...

    async def close(self) -> None:
        """Stop the proxy, if the harness runs it."""
        ...


class AsteriskSpool:
    """A :class:`SpoolReader` over a spool directory in Asterisk's layout."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool

    def count(self, mailbox: MailboxId, folder: str = "INBOX") -> int:
        """How many messages ``folder`` of ``mailbox`` holds."""
        return self.spool.count(mailbox, folder)

    def newest_callerid(self, mailbox: MailboxId, folder: str = "INBOX") -> str | None:
        """The ``callerid=`` of the newest message in the folder (None when it is empty)."""
        messages = self.spool.messages(mailbox, folder)
        return messages[-1].info.callerid if messages else None

    def newest_audio(self, mailbox: MailboxId, folder: str = "INBOX") -> Path | None:
        """The audio file of the newest message in the folder (None when it is empty)."""
        messages = self.spool.messages(mailbox, folder)
        return messages[-1].audio if messages else None


def sip_peer(text: str) -> Peer:
    """``sip:HOST:PORT`` as ``(host, port)`` (an IPv6 host without its brackets).

    ValueError saying what is wrong for anything else.
    """
    example = "like sip:127.0.0.1:5060"
    try:
        uri = URI.parse(text.strip())
    except SIPParseError as error:
        raise ValueError(f'"{text}" is not a SIP address {example} ({error.reason})') from None
    if uri.scheme != "sip" or not uri.host:
        raise ValueError(f'"{text}" is not a SIP address {example}')
    if uri.user is not None or uri.params or uri.headers:
        raise ValueError(f'"{text}" names more than a host and a port; give one {example}')
    if uri.port is None:
        raise ValueError(f'"{text}" has no port; give one {example}')
    return uri.host.strip("[]"), uri.port


def sip_address(peer: Peer) -> str:
    """``(host, port)`` as ``sip:HOST:PORT``."""
    host, port = peer
    return f"sip:[{host}]:{port}" if ":" in host else f"sip:{host}:{port}"


@dataclass(frozen=True, slots=True)
class MailboxEntry:
    """A mailbox to configure: ``box => pin,name``."""

    mailbox: MailboxId
    pin: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class PeerEntry:
    """A phone's static peer: NOTIFYs for ``mailbox`` go to ``sip:<user>@<proxy>``.

    ``options`` are further sip.conf lines of the peer, in order (``("buggymwi", "yes")``;
    a second ``("mailbox", "2001@default")`` adds a mailbox, as chan_sip reads it).
    """

    user: str
    mailbox: MailboxId
    dtmfmode: str = "rfc2833"
    options: tuple[tuple[str, str], ...] = ()


def render_voicemail_conf(mailboxes: Iterable[MailboxEntry], general: dict[str, str]) -> str:
    """voicemail.conf text for ``mailboxes``, grouped by context."""
    lines = ["[general]", *(f"{key}={value}" for key, value in general.items())]
    by_context: dict[str, list[MailboxEntry]] = {}
    for entry in mailboxes:
        by_context.setdefault(entry.mailbox.context, []).append(entry)
    for context, entries in by_context.items():
        lines += ["", f"[{context}]"]
        lines += [f"{e.mailbox.box} => {e.pin},{e.name or e.mailbox.box}" for e in entries]
    return "\n".join(lines) + "\n"


def render_sip_conf(
    peers: Iterable[PeerEntry], proxy: Peer, general: dict[str, str] | None = None
) -> str:
    """sip.conf text: a ``subscriber`` template pointing at the proxy and one peer per phone.

    ``general`` adds ``[general]`` options (``subminexpiry``, ``buggymwi``…).
    """
    host, port = proxy
    lines = [
        "[general]",
        "useragent=vmharness",
        *(f"{key}={value}" for key, value in (general or {}).items()),
        "",
        "[subscriber](!)",
        "type=peer",
        f"host={host}",
        f"port={port}",
        # The proxy's TCP connections come from passing ports: match it by address alone.
        "insecure=port",
        "",
        # The proxy as a peer of its own, so it is known (and told 404 for a wrong mailbox)
        # even when no phone is configured.
        "[proxy](subscriber)",
    ]
    for peer in peers:
        lines += [
            "",
            f"[{peer.user}](subscriber)",
            f"defaultuser={peer.user}",
            f"mailbox={peer.mailbox}",
            f"dtmfmode={peer.dtmfmode}",
            *(f"{key}={value}" for key, value in peer.options),
        ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class SmdiEntry:
    """An SMDI interface: smdi.conf ``[interfaces]`` and ``[mailboxes]``, and the voicemail.conf
    ``smdienable``/``smdiport`` that turn it on. ``stations`` maps an SMDI station to its
    mailbox; ``options`` are the server's (search key, lookup timeout, pacing)."""

    port: str
    settings: SerialSettings = field(default_factory=SerialSettings)
    msdstrip: int = 0
    msgexpirytime: int = 30000
    stations: tuple[tuple[str, MailboxId], ...] = ()
    options: SmdiOptions = field(default_factory=SmdiOptions)

    @classmethod
    def of(
        cls,
        port: str,
        settings: SerialSettings,
        *,
        msdstrip: int,
        msgexpirytime: int,
        stations: tuple[tuple[str, MailboxId], ...],
        search: Literal["station", "terminal", "desk"],
        timeout: float,
        pacing: bool,
        key: str = "request-uri",
    ) -> SmdiEntry:
        """An interface on ``port`` whose server looks calls up by ``key`` (see
        :class:`~harness.voicemail.smdi.SmdiOptions`) matched against ``search`` for
        ``timeout`` seconds and paces its lamp commands if ``pacing``."""
        return cls(
            port,
            settings,
            msdstrip=msdstrip,
            msgexpirytime=msgexpirytime,
            stations=stations,
            options=SmdiOptions(search=search, timeout=timeout, pacing=pacing, key=key),
        )


def render_smdi_conf(entry: SmdiEntry) -> str:
    """smdi.conf text: one interface with ``entry``'s line settings, and its station map."""
    settings = entry.settings
    lines = [
        "[interfaces]",
        f"baudrate={settings.baudrate}",
        f"charsize={settings.bytesize}",
        f"paritybit={settings.parity}",
        f"twostopbits={'yes' if settings.stopbits == 2 else 'no'}",
        f"msdstrip={entry.msdstrip}",
        f"msgexpirytime={entry.msgexpirytime}",
        f"smdiport={entry.port}",
        "",
        "[mailboxes]",
        f"smdiport={entry.port}",
        *(f"{station}={mailbox}" for station, mailbox in entry.stations),
    ]
    return "\n".join(lines) + "\n"


class EmbeddedTarget:
    """The harness's own voicemail server, configured for one scenario, in a private directory."""

    identity = "embedded"

    def __init__(
        self,
        mailboxes: Iterable[MailboxEntry],
        peers: Iterable[PeerEntry],
        *,
        router: Router | None = None,
        general: dict[str, str] | None = None,
        sip_general: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        status_port: int | None = None,
        smdi: SmdiEntry | None = None,
        tcp: bool = False,
        realtime: Literal["sqlite"] | None = None,
        prompts: PromptLibrary | None = None,
    ) -> None:
        self.mailboxes = tuple(mailboxes)
        #: What the server plays (None: its generated prompts).
        self.prompts = prompts
        self.peers = tuple(peers)
        self.router = router
        self.general = {"format": "wav", **(general or {})}
        #: sip.conf ``[general]`` options beyond the user agent.
        self.sip_general = dict(sip_general or {})
        self.host = host
        #: The SIP port to bind (0: any free port).
        self.port = port
        #: Where the server's status endpoint listens (0: any free port), None for none.
        self.status_port = status_port
        #: The SMDI interface to enable, if a PBX is on the line.
        self.smdi = smdi
        #: Whether the server also listens for SIP over TCP (a proxy may forward over TCP).
        self.tcp = tcp
        #: ``sqlite``: voicemail.conf and sip.conf are moved into an SQLite database as static
        #: realtime rows, so the server reads its mailboxes and peers from there.
        self.realtime = realtime
        if smdi is not None:
            self.general.update(smdienable="yes", smdiport=smdi.port)
        self._directory = tempfile.TemporaryDirectory(prefix="vmharness-")
        self.root = Path(self._directory.name)
        self.server: VoicemailServer | None = None
        self._observers: list[Observer] = []
        self._media_observers: list[MediaObserver] = []

    @property
    def spool(self) -> Path:
        """Where the server stores messages."""
        return self.root / "spool"

    @property
    def spool_reader(self) -> SpoolReader | None:
        """The running server's spool (None before it starts)."""
        return None if self.server is None else AsteriskSpool(self.server.spool)

    @property
    def smdi_port(self) -> str | None:
        """The SMDI port the running server opened, if it opened one."""
        if self.server is None or self.server.smdi is None or self.smdi is None:
            return None
        return self.smdi.port

    def subscribe(self, observer: Observer) -> None:
        """Tell ``observer`` about every SIP message the server sends or receives (from its
        start on)."""
        self._observers.append(observer)
        if self.server is not None:
            self.server.transport.subscribe(observer)

    def on_media_closed(self, observer: MediaObserver) -> None:
        """Tell ``observer`` about each call's media as the call ends."""
        self._media_observers.append(observer)

    def _media_closed(self, call_id: str, session: RtpSession) -> None:
        for observer in self._media_observers:
            observer(call_id, session)

    async def settle(self, within: float) -> None:
        """Wait for the start-up NOTIFYs of the server to be answered (at most ``within``)."""
        notifier = None if self.server is None else self.server.notifier
        if notifier is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while notifier.pending() and loop.time() < deadline:
            await asyncio.sleep(0.02)

    async def wait_idle(self, within: float) -> None:
        """Wait until the server has no call in progress (at most ``within`` seconds)."""
        if self.server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.server.wait_idle(), within)

    @property
    def config_dir(self) -> Path:
        """Where the generated configuration lives."""
        return self.root / "etc"

    async def start(self, proxy: Peer) -> Peer:
        """Write the configuration for ``proxy``, start the server and return its address."""
        self.config_dir.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "voicemail.conf").write_text(
            render_voicemail_conf(self.mailboxes, self.general)
        )
        (self.config_dir / "sip.conf").write_text(
            render_sip_conf(self.peers, proxy, self.sip_general)
        )
        if self.smdi is not None:
            (self.config_dir / "smdi.conf").write_text(render_smdi_conf(self.smdi))
        if self.realtime == "sqlite":
            move_to_sqlite(self.config_dir, ("voicemail.conf", "sip.conf"))
        config = load_config(self.config_dir)
        self.server = VoicemailServer(
            config,
            self.spool,
            host=self.host,
            port=self.port,
            router=self.router,
            status_port=self.status_port,
            smdi=None if self.smdi is None else self.smdi.options,
            tcp=self.tcp,
            prompts=self.prompts,
        )
        self.server.on_media_closed = self._media_closed
        await self.server.start()
        for observer in self._observers:
            self.server.transport.subscribe(observer)
        return self.server.address

    async def close(self) -> None:
        """Stop the server and remove its files."""
        if self.server is not None:
            await self.server.close()
        self._directory.cleanup()


class TargetStartError(RuntimeError):
    """The voicemail server the harness runs would not start (or reset, for an external one)."""


class TargetResetError(TargetStartError):
    """An external target's reset command failed or did not end."""


class ExternalTarget:
    """A voicemail server the harness does not run, at ``address``.

    Only what crosses the wire can be checked, unless ``spool`` names a directory where the
    server's spool (Asterisk's layout) can be read. ``reset`` is a shell command (run in
    ``reset_dir``) that puts the server back as its owner configured it (spool emptied, PINs
    and greetings restored) before each scenario; ``smdi_line`` is the PBX end of the server's
    SMDI line, when it has one.
    """

    #: Seconds the reset command may take.
    reset_timeout = 120.0

    def __init__(
        self,
        address: Peer,
        spool: Path | None = None,
        *,
        reset: str | None = None,
        reset_dir: Path | None = None,
        smdi_line: Path | None = None,
    ) -> None:
        self.address = address
        self.spool = spool
        self.identity = sip_address(address)
        self.reset = reset
        self.reset_dir = reset_dir
        #: The PBX end of the server's SMDI line (the server opened its own end).
        self.smdi_port: str | None = None if smdi_line is None else str(smdi_line)

    @property
    def spool_reader(self) -> SpoolReader | None:
        """The server's spool when a readable one was given, else None."""
        return None if self.spool is None else AsteriskSpool(Spool(self.spool))

    def subscribe(self, observer: Observer) -> None:
        """The server's traffic is recorded by the parties it talks to."""

    def on_media_closed(self, observer: MediaObserver) -> None:
        """The server's media is not seen here."""

    async def start(self, proxy: Peer) -> Peer:
        """Run the reset command, if any (TargetResetError when it fails); the server is
        already running: returns its address."""
        if self.reset is not None:
            await self._reset(self.reset)
        return self.address

    async def _reset(self, command: str) -> None:
        process = await asyncio.create_subprocess_shell(
            command,
            cwd=self.reset_dir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), self.reset_timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise TargetResetError(
                f"the target's reset command `{command}` did not end within "
                f"{self.reset_timeout:g} s"
            ) from None
        if process.returncode != 0:
            tail = " | ".join(output.decode(errors="replace").splitlines()[-5:])
            raise TargetResetError(
                f"the target's reset command `{command}` failed with status "
                f"{process.returncode}: {tail or '(no output)'}"
            )

    async def settle(self, within: float) -> None:
        """Nothing to ask the server: the testbed watches its NOTIFYs on the wire instead."""

    async def wait_idle(self, within: float) -> None:
        """Nothing to wait for: a foreign server's calls are not seen here."""

    async def close(self) -> None:
        """Nothing to stop."""


class AsteriskTarget:
    """A real Asterisk the harness runs for one scenario (:class:`harness.peers.asterisk.Asterisk`).

    It gets what the embedded server gets for the scenario: voicemail.conf with the mailboxes,
    a chan_sip peer per phone whose host is the proxy, smdi.conf when a PBX is on the line, and
    an extensions.conf routing as the embedded server's chain does
    (:mod:`harness.peers.asterisk_dialplan`). Each scenario starts a fresh instance with an
    empty spool, so nothing (messages, changed PINs, greetings, subscriptions) carries over.
    """

    identity = "asterisk"

    def __init__(
        self,
        mailboxes: Iterable[MailboxEntry],
        peers: Iterable[PeerEntry],
        *,
        router: Router | None = None,
        smdi: SmdiEntry | None = None,
        tcp: bool = False,
        binary: Path | None = None,
        host: str = "127.0.0.1",
        log_dir: Path | None = None,
    ) -> None:
        self.mailboxes = tuple(mailboxes)
        self.peers = tuple(peers)
        self.router = router or Router()
        #: Where Asterisk's logs are kept (None: removed with the instance).
        self.log_dir = log_dir
        self.smdi = smdi
        self.tcp = tcp
        self.install = find_asterisk(binary)
        self.sounds = find_sounds()
        #: Where Asterisk listens: chosen now, since the proxy and the wire log name it.
        self.address: Peer = (host, free_udp_port(host))
        self.asterisk: Asterisk | None = None

    @property
    def spool_reader(self) -> SpoolReader | None:
        """Asterisk's spool (None before it starts)."""
        return None if self.asterisk is None else AsteriskSpool(Spool(self.asterisk.spool))

    @property
    def smdi_port(self) -> str | None:
        """The SMDI port Asterisk opens, if a PBX is on the line."""
        return None if self.smdi is None or self.asterisk is None else self.smdi.port

    def subscribe(self, observer: Observer) -> None:
        """Asterisk's traffic is recorded by the parties it talks to."""

    def on_media_closed(self, observer: MediaObserver) -> None:
        """Asterisk's media is not seen here."""

    def configs(self, proxy: Peer) -> dict[str, str]:
        """The configuration files for ``proxy``, by name."""
        general = {"format": "wav"}
        if self.smdi is not None:
            general.update(smdienable="yes", smdiport=self.smdi.port)
        configs = {
            "voicemail.conf": render_voicemail_conf(self.mailboxes, general),
            "sip.conf": render_chan_sip_conf(
                (SipPeer(peer.user, peer.mailbox, peer.dtmfmode) for peer in self.peers),
                bind=self.address,
                proxy=proxy,
                context=ENTRY_CONTEXT,
                tcp=self.tcp,
            ),
            "extensions.conf": render_extensions_conf(
                self.router.chain,
                retrieval_users=self.router.retrieval_users,
                smdi=None if self.smdi is None else _smdi_routing(self.smdi),
            ),
        }
        if self.smdi is not None:
            configs["smdi.conf"] = render_smdi_conf(self.smdi)
        return configs

    async def start(self, proxy: Peer) -> Peer:
        """Configure Asterisk for ``proxy`` and start it; its SIP address (TargetStartError
        saying why, with the end of its log, when it would not start)."""
        if self.smdi is not None:
            with open(self.smdi.port, "rb", buffering=0) as device:
                block_until_a_byte(device.fileno())
        self.asterisk = Asterisk(
            self.configs(proxy), install=self.install, sounds=self.sounds, log_dir=self.log_dir
        )
        try:
            await self.asterisk.start()
        except AsteriskError as error:
            raise TargetStartError(f"Asterisk did not start: {error}") from None
        return self.address

    async def settle(self, within: float) -> None:
        """Nothing to ask Asterisk: chan_sip sends an unsolicited NOTIFY to each peer with a
        mailbox as it loads, and the testbed watches for them on the wire."""

    async def wait_idle(self, within: float) -> None:
        """Wait until Asterisk has no channel up (at most ``within`` seconds)."""
        if self.asterisk is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            output = await self.asterisk.command("core show channels count")
            if re.search(r"^0 active channels", output, re.MULTILINE):
                return
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        """Stop Asterisk and remove its files."""
        if self.asterisk is not None:
            await self.asterisk.stop()


def _smdi_routing(entry: SmdiEntry) -> SmdiRouting:
    """How the dialplan looks calls up on ``entry``'s line."""
    return SmdiRouting(
        entry.port,
        search=entry.options.search,
        timeout_ms=round(entry.options.timeout * 1000),
        stations=entry.stations,
        key=entry.options.key,
    )


class SimulatedProxy:
    """The harness's simulated proxy, shaped by a profile, recording its own traffic."""

    name = "simulator"

    def __init__(
        self, profile: ProxyProfile, mailboxes: dict[str, MailboxId], *, port: int = 0
    ) -> None:
        # The voicemail server's address is not known until it starts: see start().
        self.sim = SimProxy(("127.0.0.1", 9), profile, port=port, mailboxes=mailboxes)

    @property
    def address(self) -> Peer:
        """Where phones register and the voicemail server sends its NOTIFYs."""
        return self.sim.address

    @property
    def identity(self) -> str | None:
        """The simulator has no Server header to name it by."""
        return None

    def subscribe(self, observer: Observer) -> None:
        """Tell ``observer`` about every SIP message the proxy sends or receives."""
        self.sim.transport.subscribe(observer)

    def forward_unconditionally(self, user: str) -> bool:
        """Have the simulator forward every call to ``user`` to voicemail."""
        self.sim.forward_unconditional.add(user)
        return True

    def stop_forwarding_unconditionally(self, user: str) -> None:
        """Forward calls to ``user`` by the callee's answer again."""
        self.sim.forward_unconditional.discard(user)

    async def bind(self) -> Peer:
        """Open the proxy's socket; its address."""
        await self.sim.start()
        return self.sim.address

    async def start(self, voicemail: Peer) -> None:
        """Forward calls to ``voicemail`` from now on."""
        self.sim.voicemail = voicemail

    async def close(self) -> None:
        """Close the socket."""
        await self.sim.close()


class KamailioProxy:
    """A Kamailio the harness starts for one run (:class:`harness.peers.kamailio.Kamailio`)."""

    name = "kamailio"

    def __init__(
        self,
        convention: KamailioConvention,
        *,
        ring: float = 1.0,
        log_dir: Path | None = None,
    ) -> None:
        self.kamailio = Kamailio(convention=convention, no_answer_timeout=ring, log_dir=log_dir)

    @property
    def address(self) -> Peer:
        """Where phones register and the voicemail server sends its NOTIFYs."""
        return self.kamailio.address

    @property
    def identity(self) -> str | None:
        """Kamailio's Server header, once it answered."""
        try:
            return self.kamailio.server_header or None
        except KamailioError:
            return None

    def subscribe(self, observer: Observer) -> None:
        """Kamailio's traffic is recorded by the parties it talks to."""

    def forward_unconditionally(self, user: str) -> bool:
        """A real proxy forwards as it is configured: it cannot be told to."""
        return False

    def stop_forwarding_unconditionally(self, user: str) -> None:
        """Nothing was changed."""

    async def bind(self) -> Peer:
        """Kamailio's port is chosen already; its address."""
        return self.kamailio.address

    async def start(self, voicemail: Peer) -> None:
        """Start Kamailio forwarding to ``voicemail``; KamailioError if it will not run."""
        self.kamailio.voicemail = voicemail
        await self.kamailio.start()

    async def close(self) -> None:
        """Stop Kamailio."""
        await self.kamailio.stop()


class ExternalProxy:
    """A proxy under test at ``address``, configured by its owner to reach the voicemail
    server (the embedded one on a fixed port, or an external target)."""

    def __init__(self, address: Peer) -> None:
        self.address = address
        self.name = sip_address(address)

    @property
    def identity(self) -> str | None:
        """Unknown here: the trace reads it from the proxy's Server header."""
        return None

    def subscribe(self, observer: Observer) -> None:
        """The proxy's traffic is recorded by the parties it talks to."""

    def forward_unconditionally(self, user: str) -> bool:
        """A real proxy forwards as it is configured: it cannot be told to."""
        return False

    def stop_forwarding_unconditionally(self, user: str) -> None:
        """Nothing was changed."""

    async def bind(self) -> Peer:
        """The proxy is already running; its address."""
        return self.address

    async def start(self, voicemail: Peer) -> None:
        """Nothing to start: the proxy's own configuration names the voicemail server."""

    async def close(self) -> None:
        """Nothing to stop."""
