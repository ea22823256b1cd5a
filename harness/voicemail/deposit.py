"""Leaving a message: who called, for which mailbox, and the information file it produces."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from harness.core.mailbox import MailboxId
from harness.core.routing import Reason, Resolution
from harness.voicemail.incoming import IncomingCall
from harness.voicemail.metadata import MessageInfo


class MessageIds:
    """``msg_id`` values as Asterisk writes them: ``<unix time>-<8 hex digits of a counter>``."""

    def __init__(self, start: int = 0) -> None:
        self._counter = itertools.count(start)

    def next(self, unix_time: float) -> str:
        """A new id for a message recorded at ``unix_time``."""
        return f"{int(unix_time)}-{next(self._counter) & 0xFFFFFFFF:08x}"


@dataclass(frozen=True, slots=True)
class Deposit:
    """One call leaving a message: the mailbox, the caller and the redirect information."""

    mailbox: MailboxId
    callerid: str
    exten: str
    rdnis: str
    reason: Reason | None
    callerchan: str
    started: float
    #: The context of the channel that called voicemail (its sip.conf peer's ``context=``,
    #: else ``[general]``'s), which Asterisk writes as ``context=``; None: the mailbox's.
    channel_context: str | None = None
    #: Every mailbox the message goes to (``mailbox`` first); empty: ``mailbox`` alone.
    mailboxes: tuple[MailboxId, ...] = ()
    #: Whether the call asked for an urgent message (``Priority: urgent``).
    urgent: bool = False

    @classmethod
    def from_call(
        cls,
        call: IncomingCall,
        resolution: Resolution,
        callerchan: str,
        started: float,
        channel_context: str | None = None,
    ) -> Deposit:
        """What a call routed to ``resolution`` tells about the message it will leave."""
        return cls(
            mailbox=resolution.mailbox,
            callerid=call.callerid,
            exten=call.request_user or resolution.mailbox.box,
            rdnis=resolution.redirecting or "unknown",
            reason=resolution.reason,
            callerchan=callerchan,
            started=started,
            channel_context=channel_context,
            mailboxes=resolution.mailboxes,
            urgent=call.urgent,
        )

    @property
    def recipients(self) -> tuple[MailboxId, ...]:
        """Every mailbox the message goes to, the first one first."""
        return self.mailboxes or (self.mailbox,)

    @property
    def busy(self) -> bool:
        """Whether the caller hears the busy greeting."""
        return self.reason is not None and self.reason.busy

    def info(self, duration: float, msg_id: str, *, urgent: bool = False) -> MessageInfo:
        """The ``[message]`` information of the recording."""
        return MessageInfo(
            origmailbox=self.mailbox.box,
            context=self.channel_context or self.mailbox.context,
            exten=self.exten,
            rdnis=self.rdnis,
            callerid=self.callerid,
            origtime=int(self.started),
            msg_id=msg_id,
            duration=int(duration),
            callerchan=self.callerchan,
            flag="Urgent" if urgent else "",
        )
