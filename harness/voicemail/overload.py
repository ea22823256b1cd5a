"""Admission under load: refuse new calls (503, Retry-After) before admitted ones suffer.

One asyncio thread carries every call's media. When it is late running its callbacks, every
call's packets are late: so the measure is the event loop's lag, probed a few times a second
(how much later than asked a timer ran; with a playback process reading the calls' sockets, or
how long after they were read the loop took their packets, whichever is later). While the lag
of the last second exceeded ``max_lag`` at ``late_probes`` probes or more, new calls are
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

    ``max_lag``: seconds a timer may run late; ``late_probes``: how many probes within
    ``window`` seconds must have run later than that before new calls are refused;
    ``interval``: seconds between two probes of the loop.
    """

    max_lag: float = 0.1
    window: float = 1.0
    interval: float = 0.05
    late_probes: int = 2

    def __post_init__(self) -> None:
        for name in ("max_lag", "window", "interval", "late_probes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"overload {name} must be positive, got {getattr(self, name)}")


class Overload:
    """The loop's recent lag and whether a new call may come in."""

    def __init__(self, policy: OverloadPolicy) -> None:
        self.policy = policy
        self.refused = 0
        self._probes: deque[tuple[float, float]] = deque()  # (when, lag), oldest first

    def probe(self, expected: float, now: float) -> None:
        """A timer asked for ``expected`` ran at ``now``."""
        self._probes.append((now, max(0.0, now - expected)))
        self._forget(now)

    def lag(self, now: float) -> float:
        """The worst lag seen over the last window (0 when nothing was probed in it)."""
        self._forget(now)
        return max((lag for _, lag in self._probes), default=0.0)

    def late(self, now: float) -> int:
        """How many probes of the last window ran later than ``max_lag``."""
        self._forget(now)
        return sum(1 for _, lag in self._probes if lag > self.policy.max_lag)

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
