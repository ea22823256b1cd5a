"""The SIP core's error types."""

from __future__ import annotations


class SIPParseError(ValueError):
    """Bytes that are not a valid SIP message (or header, URI, address).

    ``offset`` is the byte offset of the problem within the input; ``reason`` says what is wrong.
    """

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"{reason} (at byte {offset})")
        self.offset = offset
        self.reason = reason


class MessageTooLargeError(SIPParseError):
    """A message longer than the receiver accepts (answered 413 when it can be)."""
