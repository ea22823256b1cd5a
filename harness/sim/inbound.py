"""An INVITE the simulated proxy is handling, as its parts share it until the final response."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from harness.sip.builder import new_tag
from harness.sip.message import Request, Response
from harness.sip.transaction import ClientTransaction, Peer, ServerTransaction
from harness.sip.transport import TransportName

#: A client transaction forwarding an INVITE: to CANCEL it where it went.
Branch = tuple[ClientTransaction, Peer, TransportName]


@dataclass(slots=True)
class Inbound:
    """An INVITE from a caller that the proxy is handling, until its final response."""

    request: Request
    transaction: ServerTransaction
    #: The To tag of the responses the proxy itself sends in this call.
    to_tag: str = field(default_factory=new_tag)
    #: Client transactions forwarding it, to CANCEL when the caller does.
    branches: list[Branch] = field(default_factory=list)
    cancelled: bool = False
    final_sent: bool = False
    rseq: int = 0
    #: The reliable provisional response waiting for its PRACK (100rel).
    unacked: Response | None = None
    retransmit: asyncio.TimerHandle | None = None
