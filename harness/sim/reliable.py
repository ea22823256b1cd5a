"""Reliable provisional responses of the simulated proxy's own (RFC 3262, the ``100rel`` quirk).

The caller gets a ``180 Ringing`` with ``Require: 100rel`` and an ``RSeq``, retransmitted on
T1, doubling, until its PRACK arrives (which is answered here) or the final response goes out.
"""

from __future__ import annotations

import asyncio

from harness.sim.inbound import Inbound
from harness.sim.relay import Relay
from harness.sip.address import Address
from harness.sip.builder import make_response
from harness.sip.message import Request
from harness.sip.transaction import ServerTransaction


class ReliableProvisionals:
    """Sends the proxy's reliable provisional responses and takes their PRACKs."""

    def __init__(self, relay: Relay) -> None:
        self._relay = relay

    def send(self, inbound: Inbound, status: int) -> None:
        """A provisional response of the proxy's own, sent reliably."""
        relay = self._relay
        inbound.rseq += 1
        response = make_response(
            inbound.request,
            status,
            to_tag=inbound.to_tag,
            contact=Address(relay.transport.contact()),
            headers=[("Require", "100rel"), ("RSeq", str(inbound.rseq))],
        )
        inbound.unacked = response
        relay.send_response(inbound.transaction, response)
        self._arm(inbound, relay.transport.layer.timers.t1)

    def _arm(self, inbound: Inbound, interval: float) -> None:
        loop = asyncio.get_running_loop()
        inbound.retransmit = loop.call_later(interval, self._retransmit, inbound, interval)

    def _retransmit(self, inbound: Inbound, interval: float) -> None:
        """RFC 3262 §3: T1, doubling, until the PRACK (or the final response), at most 64*T1."""
        inbound.retransmit = None
        if inbound.unacked is None or inbound.final_sent:
            return
        if interval * 2 > self._relay.transport.layer.timers.timeout:
            return
        self._relay.send_response(inbound.transaction, inbound.unacked)
        self._arm(inbound, interval * 2)

    def prack(self, request: Request, transaction: ServerTransaction) -> None:
        """Answer a PRACK of one of the proxy's reliable provisional responses."""
        parts = (request.header("RAck") or "").split()
        for inbound in self._relay.calls.values():
            unacked = inbound.unacked
            if unacked is None or inbound.request.call_id != request.call_id:
                continue
            number, method = inbound.request.cseq
            if parts == [unacked.header("RSeq"), str(number), method]:
                inbound.unacked = None
                stop(inbound)
                self._relay.respond(transaction, request, 200)
                return
        self._relay.respond(transaction, request, 481, "Call/Transaction Does Not Exist")


def stop(inbound: Inbound) -> None:
    """Stop retransmitting ``inbound``'s reliable provisional response."""
    if inbound.retransmit is not None:
        inbound.retransmit.cancel()
        inbound.retransmit = None
