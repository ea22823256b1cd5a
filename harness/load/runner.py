"""A whole load run: the proxy and the voicemail server up, the population registered, the
calls offered (here or by agents), and the report with its convergence verdict.

The target is the embedded server (configured with one mailbox and one static peer per
subscriber, its spool read for the verdict) or a server at ``sip:host:port``; the proxy is the
simulator (told to forward every subscriber's calls to voicemail) or a proxy at
``sip:host:port`` (the phones answer its ringing 486, so it forwards as busy).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.core.mailbox import MailboxId
from harness.load.agents import ProgressSink, drive, run_agents
from harness.load.convergence import PhoneState, convergence_faults
from harness.load.generator import LoadOptions
from harness.load.metrics import Tally, report
from harness.load.population import Subscriber
from harness.sim.profiles import ProxyProfile
from harness.sip.transaction import Peer
from harness.targets import (
    EmbeddedTarget,
    ExternalProxy,
    ExternalTarget,
    MailboxEntry,
    PeerEntry,
    ProxyParty,
    SimulatedProxy,
    Target,
    sip_peer,
)

#: Seconds the run waits for the server to finish filing the last calls.
IDLE_WAIT = 30.0


@dataclass(frozen=True, slots=True)
class Topology:
    """Where the load goes: ``target`` (``embedded`` or ``sip:host:port``), ``proxy`` (``sim``,
    ``sip:host:port``, or ``none``: straight to the target with the convention's headers), and
    the execnet gateway specs of the agents (none: in this process)."""

    target: str = "embedded"
    proxy: str = "sim"
    gateways: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name, value, keywords in (
            ("target", self.target, ("embedded",)),
            ("proxy", self.proxy, ("sim", "none")),
        ):
            if value not in keywords:
                try:
                    sip_peer(value)
                except ValueError as error:
                    raise ValueError(f"--{name}: {error} or {' or '.join(keywords)}") from None


class NoProxy(ExternalProxy):
    """No proxy at all: calls go straight to the voicemail server (``--proxy none``)."""

    def __init__(self) -> None:
        # The server's peers need a proxy address; nothing listens on the discard port.
        super().__init__(("127.0.0.1", 9))
        self.name = "none"

    async def start(self, voicemail: Peer) -> None:
        """Calls are addressed to the voicemail server from now on."""
        self.address = voicemail


def subscribers(options: LoadOptions) -> list[Subscriber]:
    """The run's population: mailboxes ``first_box`` on, all with the run's PIN."""
    return [
        Subscriber(MailboxId(str(options.first_box + index), options.context), options.pin)
        for index in range(options.mailboxes)
    ]


def _parties(
    options: LoadOptions, topology: Topology, people: list[Subscriber]
) -> tuple[ProxyParty, Target]:
    mailboxes = {s.user: s.mailbox for s in people}
    proxy: ProxyParty
    target: Target
    if topology.proxy == "sim":
        proxy = SimulatedProxy(ProxyProfile(), mailboxes)
    elif topology.proxy == "none":
        proxy = NoProxy()
    else:
        proxy = ExternalProxy(sip_peer(topology.proxy))
    if topology.target == "embedded":
        target = EmbeddedTarget(
            [MailboxEntry(s.mailbox, s.pin) for s in people],
            [PeerEntry(s.user, s.mailbox) for s in people],
            host=options.host,
            # The server's defaults (100 calls, 50 subscriptions per host) would refuse what
            # the run offers: every phone of the population is on the generator's host.
            sip_general={
                "call-limit": str(max(options.concurrency * 2, 100)),
                "submaxperhost": str(max(options.mailboxes * 2, 50)),
            },
        )
    else:
        target = ExternalTarget(sip_peer(topology.target))
    return proxy, target


async def run_load(
    options: LoadOptions,
    topology: Topology,
    on_progress: ProgressSink | None = None,
    proxy_ready: Callable[[ProxyParty, Target], None] | None = None,
) -> dict[str, Any]:
    """Run the load; the report (the JSON contract of :func:`harness.load.metrics.report`)."""
    people = subscribers(options)
    proxy, target = _parties(options, topology, people)
    cpu = time.process_time()
    try:
        address = await proxy.bind()
        voicemail = await target.start(address)
        await proxy.start(voicemail)
        if isinstance(proxy, NoProxy):
            # The server's NOTIFYs go nowhere: there is nothing to settle.
            options = dataclasses.replace(options, direct=options.direct or "x-voicemail")
        else:
            await target.settle(IDLE_WAIT)
        if proxy_ready is not None:
            proxy_ready(proxy, target)
        result = await offer_load(
            options, proxy, target, people, gateways=topology.gateways, on_progress=on_progress
        )
    finally:
        await target.close()
        await proxy.close()
    if not topology.gateways:
        # In one process the generator's cost is shared with the server and the proxy.
        result["cpu_seconds"] = round(time.process_time() - cpu, 2)
    return result


async def offer_load(
    options: LoadOptions,
    proxy: ProxyParty,
    target: Target,
    people: Sequence[Subscriber],
    *,
    gateways: Sequence[str] = (),
    on_progress: ProgressSink | None = None,
) -> dict[str, Any]:
    """Offer the load through a running ``proxy`` into a running ``target`` for ``people``,
    wait for the server to file the last calls and judge convergence; the report."""
    forwarded = [s.user for s in people if proxy.forward_unconditionally(s.user)]
    try:
        tally, states = await _offer(options, proxy.address, people, gateways, on_progress)
        await target.wait_idle(IDLE_WAIT)
    finally:
        for user in forwarded:
            proxy.stop_forwarding_unconditionally(user)
    faults = convergence_faults(states, target.spool_reader, lamps=options.direct is None)
    return report(
        tally,
        rate_offered=options.rate,
        faults=faults,
        agents=len(gateways),
        cpu_seconds=tally.cpu_seconds,
    )


async def _offer(
    options: LoadOptions,
    proxy: tuple[str, int],
    people: Sequence[Subscriber],
    gateways: Sequence[str],
    on_progress: ProgressSink | None,
) -> tuple[Tally, dict[MailboxId, PhoneState]]:
    if gateways:
        return await asyncio.to_thread(run_agents, options, proxy, people, gateways, on_progress)

    def progress(tally: Tally, live: int) -> None:
        if on_progress is not None:
            on_progress(tally.attempted, tally.succeeded, sum(tally.failed.values()), live)

    return await drive(options, proxy, people, progress)
