"""The MD queue: call details waiting for the call they describe (sans-IO).

A switch writes an MD message on the SMDI line at about the time it sends the call to the
message desk; the voicemail system then finds the message for the call by a *search key*:

- ``station`` (the default, Asterisk's): the forwarding station, after ``msdstrip``;
- ``terminal``: the message-desk terminal (Asterisk's ``t`` option), the line the call came in on;
- ``desk``: the message-desk number (Asterisk's ``n`` option).

:meth:`MdQueue.find` returns the oldest unexpired message whose key matches, or registers a
waiter that a later :meth:`MdQueue.add` satisfies, or that :meth:`MdQueue.poll` times out.
Messages older than ``expiry`` seconds are dropped whenever the queue is consulted.

A message is **consumed** by the lookup that uses it. Asterisk's ``SMDI_MSG_RETRIEVE`` leaves
it on the queue until it expires, so a second call with the same key within ``msgexpirytime``
gets the same details again (a caller who retries after a busy-forward would hear the busy
greeting twice from one MD). Here each MD describes one call: two forwarded calls for one
station need two MD messages, and they are handed out oldest first.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from harness.smdi.codec import MdMessage

#: What an MD message is found by.
SearchMode = Literal["station", "terminal", "desk"]
SEARCH_MODES: tuple[SearchMode, ...] = ("station", "terminal", "desk")
#: smdi.conf's default ``msgexpirytime``, in seconds.
DEFAULT_EXPIRY = 30.0


def search_key(message: MdMessage, mode: SearchMode) -> str:
    """The field of ``message`` that ``mode`` matches against."""
    if mode == "terminal":
        return message.terminal
    if mode == "desk":
        return message.desk
    return message.forwarding_station


@dataclass(frozen=True, slots=True)
class QueuedMd:
    """An MD message on the queue and when it arrived."""

    message: MdMessage
    received: float


@dataclass(frozen=True, slots=True)
class Matched:
    """Lookup ``ticket`` found ``entry`` (now taken off the queue)."""

    ticket: int
    key: str
    entry: QueuedMd


@dataclass(frozen=True, slots=True)
class Waiting:
    """Lookup ``ticket`` found nothing yet; it waits until ``deadline``."""

    ticket: int
    key: str
    deadline: float


@dataclass(frozen=True, slots=True)
class TimedOut:
    """Lookup ``ticket`` reached its deadline without a matching MD message."""

    ticket: int
    key: str


class MdQueue:
    """MD messages by arrival, with lookups that wait for one to come.

    ``expiry`` is smdi.conf's ``msgexpirytime`` in seconds; ``search`` picks the key.
    """

    def __init__(self, *, expiry: float = DEFAULT_EXPIRY, search: SearchMode = "station") -> None:
        if expiry <= 0:
            raise ValueError(f"MD expiry must be positive, got {expiry}")
        if search not in SEARCH_MODES:
            raise ValueError(
                f"SMDI search mode must be one of {', '.join(SEARCH_MODES)}, got {search!r}"
            )
        self.expiry = expiry
        self.search: SearchMode = search
        self._messages: deque[QueuedMd] = deque()
        self._waiters: dict[int, Waiting] = {}
        self._tickets = 0

    def add(self, message: MdMessage, now: float) -> list[Matched]:
        """Queue a message received at ``now``; the oldest waiter for its key takes it."""
        self._purge(now)
        entry = QueuedMd(message, now)
        key = search_key(message, self.search)
        waiter = next((w for w in self._waiters.values() if w.key == key), None)
        if waiter is not None:
            del self._waiters[waiter.ticket]
            return [Matched(waiter.ticket, key, entry)]
        self._messages.append(entry)
        return []

    def find(self, key: str, now: float, timeout: float) -> Matched | Waiting:
        """Take the oldest message for ``key``, or wait up to ``timeout`` seconds for one."""
        if timeout < 0:
            raise ValueError(f"lookup timeout must not be negative, got {timeout}")
        self._purge(now)
        self._tickets += 1
        ticket = self._tickets
        for entry in self._messages:
            if search_key(entry.message, self.search) == key:
                self._messages.remove(entry)
                return Matched(ticket, key, entry)
        waiting = Waiting(ticket, key, now + timeout)
        self._waiters[ticket] = waiting
        return waiting

    def cancel(self, ticket: int) -> None:
        """Stop waiting for ``ticket`` (the call went away); unknown tickets are ignored."""
        self._waiters.pop(ticket, None)

    def poll(self, now: float) -> list[TimedOut]:
        """Time out the lookups whose deadline has come, and drop expired messages."""
        self._purge(now)
        due = [waiter for waiter in self._waiters.values() if waiter.deadline <= now]
        for waiter in due:
            del self._waiters[waiter.ticket]
        return [TimedOut(waiter.ticket, waiter.key) for waiter in due]

    def next_timer(self) -> float | None:
        """When :meth:`poll` has a lookup to time out next."""
        return min((waiter.deadline for waiter in self._waiters.values()), default=None)

    def messages(self, now: float) -> tuple[QueuedMd, ...]:
        """The messages still on the queue at ``now``, oldest first."""
        self._purge(now)
        return tuple(self._messages)

    @property
    def waiting(self) -> tuple[Waiting, ...]:
        """The lookups waiting, in the order they started."""
        return tuple(self._waiters.values())

    def _purge(self, now: float) -> None:
        # Arrival order is time order, so expired messages are all at the head.
        while self._messages and now - self._messages[0].received > self.expiry:
            self._messages.popleft()
