"""Lamp commands for a slow line: coalesced per station, served round-robin (sans-IO).

Every mailbox change asks for the lamp of its station(s) to be set (``OP:MWI``) or cleared
(``RMV:MWI``), as app_voicemail does — every time, not only on a change of state. At 1200 baud
a command takes about 0.1 s, so changes can come faster than the line carries them. Then:

- per station only the **latest** requested state is pending: a newer request replaces an
  older one that has not gone out yet, so the last command a station gets is its final state;
- stations are served **round-robin**: a station waits in line once, in the order it first
  asked, and a station asking again after its command went out joins the back of the line,
  so a station that changes all the time cannot starve the others.

The switch answers a command it cannot carry out with an MWI-error (``INV``, ``BLK``). One that
arrives within ``error_window`` seconds (Asterisk's 1000 ms) of a command for the same station
is recorded against that command; any other is recorded as unsolicited. Unlike Asterisk, the
scheduler does not hold the line for the window: the next command goes out at once, and errors
are matched by station.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from harness.smdi.codec import MwiCommand, MwiError

#: How long after a command an MWI-error is taken as its answer (SMDI_MWI_WAIT_TIMEOUT).
ERROR_WINDOW = 1.0
#: How many faults are kept (the oldest are dropped), so a babbling switch cannot fill memory.
MAX_FAULTS = 1000


@dataclass(frozen=True, slots=True)
class SentCommand:
    """A command and when the line finished carrying it."""

    command: MwiCommand
    at: float


@dataclass(frozen=True, slots=True)
class LampFault:
    """An MWI-error from the switch: ``station`` refused ``command`` (None: unsolicited)."""

    station: str
    cause: str
    at: float
    command: SentCommand | None

    def describe(self) -> str:
        """The fault in words, for logs and reports."""
        meaning = {
            "INV": "invalid station",
            "BLK": "blocked (lamp already in that state, or the change was refused)",
        }.get(self.cause, "unknown cause")
        if self.command is None:
            return (
                f"MWI-error {self.cause} ({meaning}) for station {self.station} "
                "that answers no recent command"
            )
        verb = self.command.command.verb
        delay = (self.at - self.command.at) * 1000
        return (
            f"{verb}:MWI {self.station} refused: {self.cause} ({meaning}), "
            f"{delay:.0f} ms after the command"
        )


class LampScheduler:
    """Which lamp command goes out next, and which command an MWI-error answers."""

    def __init__(self, *, error_window: float = ERROR_WINDOW) -> None:
        if error_window < 0:
            raise ValueError(f"MWI-error window must not be negative, got {error_window}")
        self.error_window = error_window
        self._pending: dict[str, bool] = {}
        self._order: deque[str] = deque()
        self._sent: dict[str, SentCommand] = {}
        self._faults: deque[LampFault] = deque(maxlen=MAX_FAULTS)

    def request(self, station: str, on: bool) -> None:
        """Ask for ``station``'s lamp to be set (``on``) or cleared; replaces what is pending."""
        MwiCommand(station, on).validate()
        if station not in self._pending:
            self._order.append(station)
        self._pending[station] = on

    def next_command(self) -> MwiCommand | None:
        """The next command to write (taken off the queue), or None when nothing is pending."""
        if not self._order:
            return None
        station = self._order.popleft()
        return MwiCommand(station, self._pending.pop(station))

    def sent(self, command: MwiCommand, now: float) -> None:
        """``command`` has been carried by the line at ``now``: MWI-errors may answer it."""
        self._sent[command.station] = SentCommand(command, now)

    def error(self, error: MwiError, now: float) -> LampFault:
        """Record an MWI-error received at ``now`` against the command it answers."""
        last = self._sent.get(error.station)
        answered = last if last is not None and now - last.at <= self.error_window else None
        fault = LampFault(error.station, error.cause, now, answered)
        self._faults.append(fault)
        return fault

    def pending(self, station: str) -> bool | None:
        """The state waiting to go out for ``station``, or None."""
        return self._pending.get(station)

    @property
    def backlog(self) -> int:
        """How many commands are waiting for the line."""
        return len(self._order)

    def last_sent(self, station: str) -> SentCommand | None:
        """The last command the line carried for ``station``."""
        return self._sent.get(station)

    @property
    def faults(self) -> tuple[LampFault, ...]:
        """The MWI-errors received (the latest :data:`MAX_FAULTS`), in order."""
        return tuple(self._faults)
