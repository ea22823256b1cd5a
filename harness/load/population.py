"""The subscribers of a load run: mailboxes, their phones' lamps, and what each should show.

Every subscriber has a phone registered at the proxy (all phones share the generator's one SIP
socket; the contact's user tells them apart). The population tracks, per subscriber, the last
message summary its phone received, how many messages the run should have left (the model:
deposits in, retrievals moved to Old), and the times deposits ended whose NOTIFY has not come
yet, which give the deposit-end → NOTIFY latency.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from harness.core.mailbox import MailboxId
from harness.core.mwi import Counts, MessageSummary


@dataclass
class Subscriber:
    """One mailbox and its phone's view of it."""

    mailbox: MailboxId
    pin: str
    #: The voice counts of the last NOTIFY the phone received (None: none came).
    lamp: Counts | None = None
    waiting: bool | None = None
    #: New and old messages the run left, by its own count.
    new: int = 0
    old: int = 0
    #: Total messages counted in NOTIFYs so far that are due to this run's deposits.
    notified: int = 0
    #: Total (new+old) the mailbox held before the run, from its first NOTIFY.
    base: int | None = None
    ended: deque[float] = field(default_factory=deque)
    #: A call to this mailbox is in progress (retrievals pick idle mailboxes).
    busy: int = 0

    @property
    def user(self) -> str:
        """The phone's user: the mailbox number."""
        return self.mailbox.box

    def expected(self) -> Counts:
        """The voice counts the run should leave the lamp at (over the mailbox's start)."""
        return Counts(self.new + (self.base or 0), self.old)

    def ready_for_retrieval(self) -> bool:
        """A retrieval may call: the run left a new message, the server has announced every
        deposit of the run (a deposit's hang-up comes before the server files it, and a
        retrieval that logs in first hears none) and no other retrieval is on the line."""
        return self.new > 0 and not self.ended and not self.busy

    def settled(self) -> bool:
        """The phone's last NOTIFY shows what the run expects."""
        if self.lamp is None:
            return self.new == 0 and self.old == 0 and not self.base
        return self.expected().matches(self.lamp)


class Population:
    """All subscribers, by phone user."""

    def __init__(self, subscribers: list[Subscriber]) -> None:
        self.subscribers = {subscriber.user: subscriber for subscriber in subscribers}
        #: NOTIFY latencies measured so far, in ms.
        self.notify_ms: list[float] = []

    def __len__(self) -> int:
        return len(self.subscribers)

    def deposited(self, user: str, at: float) -> None:
        """A deposit to ``user``'s mailbox ended (hung up) at ``at``."""
        subscriber = self.subscribers[user]
        subscriber.new += 1
        subscriber.ended.append(at)

    def retrieved(self, user: str) -> None:
        """A retrieval heard ``user``'s first new message: it is Old now."""
        subscriber = self.subscribers[user]
        if subscriber.new > 0:
            subscriber.new -= 1
            subscriber.old += 1

    def notified(self, user: str, summary: MessageSummary, at: float) -> bool:
        """The phone of ``user`` received ``summary`` at ``at``; False when no such phone."""
        subscriber = self.subscribers.get(user)
        if subscriber is None:
            return False
        voice = summary.voice or Counts(0, 0)
        subscriber.lamp, subscriber.waiting = voice, summary.waiting
        total = voice.new + voice.old
        if subscriber.base is None:
            # The first NOTIFY before any deposit ended shows what the mailbox held already.
            subscriber.base = total if not subscriber.ended else 0
        while subscriber.ended and total - subscriber.base > subscriber.notified:
            self.notify_ms.append((at - subscriber.ended.popleft()) * 1000)
            subscriber.notified += 1
        return True

    def unsettled(self) -> list[Subscriber]:
        """Subscribers whose phone does not (yet) show what the run expects."""
        return [s for s in self.subscribers.values() if not s.settled()]

    def lamps(self) -> dict[str, tuple[int, int] | None]:
        """Each phone's last voice counts, as plain data."""
        return {
            user: None if s.lamp is None else (s.lamp.new, s.lamp.old)
            for user, s in self.subscribers.items()
        }
