"""A live recording's payload laid on the receiver's sample timeline, handed on as it settles.

Packets arrive a little out of order; each payload is written where its place on the timeline
(from :attr:`RtpReceiver.last_offset`) says, gaps hold silence, and once the caller's audio
has moved on past a point, everything before it is taken out in order (to be journalled) and
forgotten. What is held is only the unsettled stretch: memory stays flat however long the
call. Sans-IO; one byte per sample, as G.711.
"""

from __future__ import annotations


class Timeline:
    """Payload bytes from sample ``start`` on; what lies before :attr:`settled` is gone.

    The recording begins (:attr:`begin`) ``margin`` samples before the first payload put, if
    that lies after ``start``: a caller who sent no audio since (only keys, or nothing) is not
    recorded as silence until they speak, as a recorder taking the frames it receives would
    not; the margin keeps packets reordered around the first one.
    """

    def __init__(self, start: int, silence: int, margin: int = 160) -> None:
        self.begin = start
        self.margin = margin
        self.settled = start
        self.silence = silence
        self._anchored = False
        self.late = 0  # bytes that arrived for a stretch already taken out
        self._pending = bytearray()

    @property
    def end(self) -> int:
        """The sample after the furthest payload put so far."""
        return self.settled + len(self._pending)

    def put(self, offset: int, payload: bytes) -> None:
        """Lay ``payload`` at sample ``offset``; the part before :attr:`settled` is dropped."""
        if not self._anchored:
            self._anchored = True
            if offset - self.margin > self.settled and not self._pending:
                self.begin = self.settled = offset - self.margin
        skip = self.settled - offset
        if skip > 0:
            self.late += min(skip, len(payload))
            payload = payload[skip:]
            offset = self.settled
            if not payload:
                return
        start = offset - self.settled
        pending = self._pending
        if start == len(pending):
            pending += payload  # the usual case: the next frame, in order
            return
        stop = start + len(payload)
        if stop > len(pending):
            pending.extend(bytes([self.silence]) * (stop - len(pending)))
        pending[start:stop] = payload

    def take(self, until: int) -> bytes:
        """The bytes from :attr:`settled` up to sample ``until`` (silence where nothing came),
        removed: later payloads for that stretch count as ``late``."""
        count = until - self.settled
        if count <= 0:
            return b""
        pending = self._pending
        if count > len(pending):
            pending.extend(bytes([self.silence]) * (count - len(pending)))
        taken = bytes(pending[:count])
        del pending[:count]
        self.settled = until
        return taken
