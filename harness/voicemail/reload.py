"""What a configuration reload changes, told apart from the running configuration (sans-IO).

The server applies it: a mailbox added is counted and its peers get their lamp state; a
mailbox removed is no longer served, but its spool stays on disk, as with Asterisk; a peer
added or changed gets a NOTIFY, a peer removed gets none any more.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.mailbox import MailboxId
from harness.voicemail.conf.server_config import ServerConfig

__all__ = ["ConfigChange", "ReloadOutcome", "config_change"]


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """The mailboxes and peers a reload adds and removes."""

    added: tuple[MailboxId, ...] = ()
    removed: tuple[MailboxId, ...] = ()
    peers_added: tuple[str, ...] = ()
    peers_removed: tuple[str, ...] = ()
    mailboxes: int = 0
    peers: int = 0

    def __str__(self) -> str:
        return (
            f"{self.mailboxes} mailboxes (+{len(self.added)} -{len(self.removed)}), "
            f"{self.peers} peers (+{len(self.peers_added)} -{len(self.peers_removed)})"
        )


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    """How a reload went: the change applied, or why the running configuration stays."""

    change: ConfigChange | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the new configuration is running."""
        return self.error is None

    def __str__(self) -> str:
        if self.error is not None:
            return f"reload failed, the running configuration stays: {self.error}"
        return f"reloaded: {self.change}"

    def as_json(self) -> dict[str, object]:
        """What the status endpoint answers to a reload."""
        change = self.change or ConfigChange()
        return {
            "ok": self.ok,
            "message": str(self),
            "added": [str(box) for box in change.added],
            "removed": [str(box) for box in change.removed],
            "peers_added": list(change.peers_added),
            "peers_removed": list(change.peers_removed),
        }


def config_change(old: ServerConfig, new: ServerConfig) -> ConfigChange:
    """What changes when ``new`` replaces ``old``."""
    old_boxes, new_boxes = old.voicemail.mailboxes, new.voicemail.mailboxes
    old_peers = {peer.name for peer in old.sip.peers}
    new_peers = {peer.name for peer in new.sip.peers}
    return ConfigChange(
        added=tuple(box for box in new_boxes if box not in old_boxes),
        removed=tuple(box for box in old_boxes if box not in new_boxes),
        peers_added=tuple(peer.name for peer in new.sip.peers if peer.name not in old_peers),
        peers_removed=tuple(peer.name for peer in old.sip.peers if peer.name not in new_peers),
        mailboxes=len(new_boxes),
        peers=len(new_peers),
    )
