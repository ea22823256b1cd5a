"""The voicemail server a scenario runs against: the embedded one, or any server at an address.

For the embedded target the harness writes the Asterisk-dialect configuration an administrator
would write for the scenario's topology (voicemail.conf with the mailboxes, sip.conf with one
static peer per phone whose ``host=`` is the proxy) and starts :class:`VoicemailServer` on it,
so every run goes through the same config reader a standalone deployment uses.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.core.mailbox import MailboxId
from harness.core.routing import Router
from harness.sip.transaction import Peer
from harness.voicemail.config import load_config
from harness.voicemail.server import VoicemailServer


@dataclass(frozen=True, slots=True)
class MailboxEntry:
    """A mailbox to configure: ``box => pin,name``."""

    mailbox: MailboxId
    pin: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class PeerEntry:
    """A phone's static peer: NOTIFYs for ``mailbox`` go to ``sip:<user>@<proxy>``."""

    user: str
    mailbox: MailboxId
    dtmfmode: str = "rfc2833"


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


def render_sip_conf(peers: Iterable[PeerEntry], proxy: Peer) -> str:
    """sip.conf text: a ``subscriber`` template pointing at the proxy and one peer per phone."""
    host, port = proxy
    lines = [
        "[general]",
        "useragent=vmharness",
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
        host: str = "127.0.0.1",
    ) -> None:
        self.mailboxes = tuple(mailboxes)
        self.peers = tuple(peers)
        self.router = router
        self.general = {"format": "wav", **(general or {})}
        self.host = host
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
        (self.config_dir / "sip.conf").write_text(render_sip_conf(self.peers, proxy))
        config = load_config(self.config_dir)
        self.server = VoicemailServer(
            config, self.spool, host=self.host, port=0, router=self.router
        )
        await self.server.start()
        return self.server.address

    async def close(self) -> None:
        """Stop the server and remove its files."""
        if self.server is not None:
            await self.server.close()
        self._directory.cleanup()
