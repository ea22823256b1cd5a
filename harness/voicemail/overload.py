"""Admission under load: refuse new calls (503, Retry-After) before admitted ones suffer.

One asyncio thread carries every call's media. When it is late running its callbacks, every
call's packets are late: so the measure is the event loop's lag, probed a few times a second
(how much later than asked a timer ran). With a playback process reading the calls' sockets,
a loop that falls behind leaves their packets waiting while its timers may still run on time:
so how long after they were read the loop took them counts too, against its own, looser bound
(the packets keep the time they were read, so a late loop shifts no recording: it delays what
a caller's keys do, and only a backlog of a second loses the end of a message to its BYE).
While the last second held ``late_probes`` probes or more over either bound, new calls are
answered 503; calls already admitted go on. One late probe alone is a pause, not a saturated
loop (a full garbage collection, which holds the loop a hundred milliseconds or so on a busy
server, then lets it run on time): it refuses no one. Sans-IO: the server feeds probes and asks
with the current time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OverloadPolicy:
    """When the server stops admitting calls.

    ``max_lag``: seconds a timer may run late; ``max_receive_lag``: seconds after they were
    read the loop may take the callers' packets; ``late_probes``: how many probes within
    ``window`` seconds must have been later than either before new calls are refused;
    ``interval``: seconds between two probes of the loop.
    """

    max_lag: float = 0.1
    max_receive_lag: float = 0.3
    window: float = 1.0
    interval: float = 0.05
    late_probes: int = 2

    def __post_init__(self) -> None:
        for name in ("max_lag", "max_receive_lag", "window", "interval", "late_probes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"overload {name} must be positive, got {getattr(self, name)}")


class Overload:
    """The loop's recent lag and whether a new call may come in."""

    def __init__(self, policy: OverloadPolicy) -> None:
        self.policy = policy
        self.refused = 0
        # (when, the timer's lag, the callers' packets' lag), oldest first
        self._probes: deque[tuple[float, float, float]] = deque()

    def probe(self, expected: float, now: float, receive_lag: float = 0.0) -> None:
        """A timer asked for ``expected`` ran at ``now``; the loop took the callers' latest
        packets ``receive_lag`` seconds after they were read."""
        self._probes.append((now, max(0.0, now - expected), receive_lag))
        self._forget(now)

    def lag(self, now: float) -> float:
        """The worst timer lag seen over the last window (0 when nothing was probed in it)."""
        self._forget(now)
        return max((lag for _, lag, _ in self._probes), default=0.0)

    def late(self, now: float) -> int:
        """How many probes of the last window were over ``max_lag`` or ``max_receive_lag``."""
        self._forget(now)
        policy = self.policy
        return sum(
            1
            for _, lag, receive_lag in self._probes
            if lag > policy.max_lag or receive_lag > policy.max_receive_lag
        )

    def admit(self, now: float) -> bool:
        """Whether a new call may be taken at ``now``; counts the refusals."""
        if self.late(now) < self.policy.late_probes:
            return True
        self.refused += 1
        return False

    def _forget(self, now: float) -> None:
        horizon = now - self.policy.window
        probes = self._probes
        while probes and probes[0][0] < horizon:
            probes.popleft()
