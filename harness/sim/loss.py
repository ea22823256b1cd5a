"""A lossy link in front of the simulated proxy: the first requests of a kind never arrive."""

from __future__ import annotations

from harness.sim.profiles import DropFirst
from harness.sip.message import Request
from harness.sip.transport import Drop, Pass, Verdict, WireEvent


class LossyLink:
    """A :class:`~harness.sip.transport.WireHook` that drops the first ``count`` requests
    received of each method the ``drop-first`` quirk names; the senders' retransmissions get
    through."""

    def __init__(self, drop: DropFirst) -> None:
        self._drop = drop
        self._dropped: dict[str, int] = {}

    def __call__(self, event: WireEvent) -> Verdict:
        """Drop an incoming request while its method's count lasts; pass everything else."""
        message = event.message
        if event.direction != "in" or not isinstance(message, Request):
            return Pass()
        if not self._drop.drops(message.method):
            return Pass()
        seen = self._dropped.get(message.method, 0)
        if seen >= self._drop.count:
            return Pass()
        self._dropped[message.method] = seen + 1
        return Drop(
            f"dropped on purpose (drop-first: {message.method} {seen + 1} of {self._drop.count})"
        )
