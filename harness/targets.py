"""The parties a scenario runs against: the voicemail server under test and the proxy.

The voicemail server is the embedded one (:class:`EmbeddedTarget`) or any server at an address
(:class:`ExternalTarget`: an Asterisk, another vendor's server). For the embedded target the
harness writes the Asterisk-dialect configuration an administrator would write for the
scenario's topology (voicemail.conf with the mailboxes, sip.conf with one static peer per phone
whose ``host=`` is the proxy, and smdi.conf when a PBX is on an SMDI line) and starts
:class:`VoicemailServer` on it, so every run goes through the same config reader a standalone
deployment uses. The harness cannot configure a foreign server: its mailboxes, PINs and peers
must match the scenario.

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
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from harness.core.mailbox import MailboxId
from harness.core.routing import Router
from harness.media.prompts import PromptLibrary
from harness.media.session import RtpSession
from harness.peers.kamailio import Kamailio, KamailioConvention, KamailioError
from harness.sim.profiles import ProxyProfile
from harness.sim.proxy import SimProxy
from harness.sip.errors import SIPParseError
from harness.sip.transaction import Peer
from harness.sip.transport import Observer
from harness.sip.uri import URI
from harness.smdi.link import SerialSettings
from harness.voicemail.conf.server_config import load_config
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
    ) -> SmdiEntry:
        """An interface on ``port`` whose server looks calls up by ``search`` for ``timeout``
        seconds and paces its lamp commands if ``pacing``."""
        return cls(
            port,
            settings,
            msdstrip=msdstrip,
            msgexpirytime=msgexpirytime,
            stations=stations,
            options=SmdiOptions(search=search, timeout=timeout, pacing=pacing),
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


class ExternalTarget:
    """A voicemail server the harness does not run, at ``address``.

    Only what crosses the wire can be checked, unless ``spool`` names a directory where the
    server's spool (Asterisk's layout) can be read.
    """

    #: The harness opens no SMDI port of a foreign server.
    smdi_port: str | None = None

    def __init__(self, address: Peer, spool: Path | None = None) -> None:
        self.address = address
        self.spool = spool
        self.identity = sip_address(address)

    @property
    def spool_reader(self) -> SpoolReader | None:
        """The server's spool when a readable one was given, else None."""
        return None if self.spool is None else AsteriskSpool(Spool(self.spool))

    def subscribe(self, observer: Observer) -> None:
        """The server's traffic is recorded by the parties it talks to."""

    def on_media_closed(self, observer: MediaObserver) -> None:
        """The server's media is not seen here."""

    async def start(self, proxy: Peer) -> Peer:
        """Nothing to start: the server is already running; returns its address."""
        return self.address

    async def settle(self, within: float) -> None:
        """Nothing to wait for: what a foreign server sends at start-up is not known here."""

    async def wait_idle(self, within: float) -> None:
        """Nothing to wait for: a foreign server's calls are not seen here."""

    async def close(self) -> None:
        """Nothing to stop."""


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
