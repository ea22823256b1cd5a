"""The bounds on what a stranger can make the voicemail server hold, read from sip.conf.

Every call holds an RTP socket, a flow and its audio; every subscription a NOTIFY per change;
every TCP connection a buffer. The bounds use chan_sip's words where it has one
(``call-limit``, ``tcpauthtimeout``, ``tcpauthlimit``) and are answered as it answers: 503
with Retry-After for a call or subscription beyond them, a closed connection for TCP.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.sip.transport import TcpLimits
from harness.voicemail.conf.sip_conf import SipGeneral

#: Seconds a caller refused for a full server is told to wait (Retry-After).
RETRY_AFTER = 30
#: The most audio one call may deliver (bytes of G.711, one a sample): an hour.
MAX_CALL_AUDIO = 8000 * 3600
#: The most SIP transactions in progress at once: not yet answered finally, or re-sending an
#: INVITE's final until its ACK. Completed ones (held up to 64*T1 only to answer
#: retransmissions) are bounded apart, by ``harness.sip.transaction.MAX_COMPLETED``.
MAX_TRANSACTIONS = 5000
#: The longest SIP message accepted over TCP (head, body); longer ones are answered 413.
MAX_HEAD = 16 * 1024
MAX_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """The server's bounds, as sip.conf's ``[general]`` sets them."""

    call_limit: int
    subscriptions_per_mailbox: int
    subscriptions_per_host: int
    tcp: TcpLimits
    transactions: int = MAX_TRANSACTIONS

    @classmethod
    def from_sip(cls, general: SipGeneral) -> ServerLimits:
        """The bounds ``[general]`` of sip.conf sets (its defaults where it says nothing)."""
        return cls(
            call_limit=general.call_limit,
            subscriptions_per_mailbox=general.submaxpermailbox,
            subscriptions_per_host=general.submaxperhost,
            tcp=TcpLimits(
                idle_timeout=float(general.tcpauthtimeout),
                max_connections=general.tcpauthlimit,
                max_head=MAX_HEAD,
                max_body=MAX_BODY,
            ),
        )
