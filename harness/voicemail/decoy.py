"""A deposit for a mailbox that does not exist, played out as any other so nobody learns it.

A scanner finds extensions by the answers that differ: 404 for a made-up number, 200 for a real
one. With sip.conf's ``alwaysauthreject=yes`` (chan_sip's default) the server answers a
stranger's deposit for an unknown mailbox as it answers any: the call is taken, the caller
hears the default "unavailable" greeting with the number, the beep and the thank-you, and
:class:`DecoyServices` stores nothing, journals nothing and lights no lamp. The mailbox looks
empty and new, as an existing one with no greeting recorded does.
"""

from __future__ import annotations

import logging

from harness.core.mailbox import MailboxId
from harness.voicemail.flows.callflow import MailboxView
from harness.voicemail.services import CallServices, Pcm

log = logging.getLogger(__name__)


class DecoyServices(CallServices):
    """The services of a deposit for an unknown mailbox: every change is dropped."""

    def load(self, mailbox: MailboxId, contents: bool = True) -> MailboxView | None:
        """An empty mailbox with no greeting, whatever the spool holds under that name."""
        return MailboxView(mailbox, None, False, (), counts=None if contents else ())

    def greeting(self, mailbox: MailboxId, kind: str) -> Pcm | None:
        """No recorded greeting: the caller hears the default one."""
        return None

    async def store(
        self, mailboxes: tuple[MailboxId, ...], audio: Pcm, urgent: bool
    ) -> tuple[tuple[MailboxId, ...], tuple[MailboxId, ...]]:
        """Nothing is written; the caller is told it was, as for a real mailbox."""
        log.info("deposit for unknown %s not kept (%d samples)", _names(mailboxes), len(audio))
        return mailboxes, ()

    async def recording_started(self) -> None:
        """No journal: there is nothing to recover."""

    async def mark_urgent(self, urgent: bool) -> None:
        """No journal to relabel."""

    async def recording_progress(self, audio: Pcm) -> bool:
        """Nothing reaches the disk."""
        return False

    def mailbox_changed(self, mailbox: MailboxId) -> None:
        """No lamp, no subscriber, no ``externnotify``: nothing changed."""


def _names(mailboxes: tuple[MailboxId, ...]) -> str:
    return ", ".join(str(mailbox) for mailbox in mailboxes)
