"""The voicemail server a scenario runs against: the embedded one, or any server at an address.

For the embedded target the harness writes the Asterisk-dialect configuration an administrator
would write for the scenario's topology (voicemail.conf with the mailboxes, sip.conf with one
static peer per phone whose ``host=`` is the proxy, and smdi.conf when a PBX is on an SMDI line)
and starts :class:`VoicemailServer` on it, so every run goes through the same config reader a
standalone deployment uses.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.mailbox import MailboxId
from harness.core.routing import Router
from harness.sip.transaction import Peer
from harness.smdi.link import SerialSettings
from harness.voicemail.config import load_config
from harness.voicemail.server import VoicemailServer
from harness.voicemail.smdi import SmdiOptions


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
        status_port: int | None = None,
        smdi: SmdiEntry | None = None,
    ) -> None:
        self.mailboxes = tuple(mailboxes)
        self.peers = tuple(peers)
        self.router = router
        self.general = {"format": "wav", **(general or {})}
        #: sip.conf ``[general]`` options beyond the user agent.
        self.sip_general = dict(sip_general or {})
        self.host = host
        #: Where the server's status endpoint listens (0: any free port), None for none.
        self.status_port = status_port
        #: The SMDI interface to enable, if a PBX is on the line.
        self.smdi = smdi
        if smdi is not None:
            self.general.update(smdienable="yes", smdiport=smdi.port)
        self._directory = tempfile.TemporaryDirectory(prefix="vmharness-")
        self.root = Path(self._directory.name)
        self.server: VoicemailServer | None = None

    @property
    def spool(self) -> Path:
        """Where the server stores messages."""
        return self.root / "spool"

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
            port=0,
            router=self.router,
            status_port=self.status_port,
            smdi=None if self.smdi is None else self.smdi.options,
        )
        await self.server.start()
        return self.server.address

    async def close(self) -> None:
        """Stop the server and remove its files."""
        if self.server is not None:
            await self.server.close()
        self._directory.cleanup()
