"""Load spread over processes and hosts with execnet.

An agent is a Python interpreter execnet opened (``popen`` for a local process, ``ssh=host``
for another machine, where the harness must be installed in the interpreter execnet starts).
Each agent drives its share of the rate and the calls against its own share of the
subscribers, with its own SIP socket, and sends back its tally and its phones' last lamps;
:func:`run_agents` merges them. While it runs, an agent sends a progress line every second.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import execnet

from harness.core.mailbox import MailboxId
from harness.load.convergence import PhoneState
from harness.load.generator import Generator, LoadOptions
from harness.load.metrics import Tally
from harness.load.population import Population, Subscriber
from harness.media import event_loop
from harness.sip.transaction import Peer

#: Seconds between an agent's progress messages.
PROGRESS_INTERVAL = 1.0
#: The source execnet runs in each agent.
_AGENT_SOURCE = "import harness.load.agents as agents; agents.serve(channel)"

#: Told of progress: calls attempted, succeeded, failed, in progress (summed over agents).
ProgressSink = Callable[[int, int, int, int], None]


async def drive(
    options: LoadOptions,
    proxy: Peer,
    subscribers: Sequence[Subscriber],
    on_progress: Callable[[Tally, int], None] | None = None,
) -> tuple[Tally, dict[MailboxId, PhoneState]]:
    """Register ``subscribers``' phones at ``proxy``, offer the calls, settle; the tally and
    each mailbox's phone state."""
    population = Population(list(subscribers))
    generator = Generator(options, proxy, population, on_progress=on_progress)
    try:
        await generator.start()
        tally = await generator.run()
    finally:
        await generator.close()
    states = {
        s.mailbox: PhoneState(
            None if s.lamp is None else (s.lamp.new, s.lamp.old), s.new, s.old, s.base or 0
        )
        for s in population.subscribers.values()
    }
    return tally, states


def share(options: LoadOptions, index: int, count: int) -> LoadOptions:
    """Agent ``index``'s part of ``options`` among ``count`` agents: rate/count and its share
    of the calls (the first agents take one more when they do not divide evenly)."""
    calls = options.calls // count + (1 if index < options.calls % count else 0)
    return dataclasses.replace(
        options, rate=options.rate / count, calls=calls, seed=options.seed + index
    )


def serve(channel: Any) -> None:
    """An agent's main: receive a spec, drive it, send progress and then the result."""
    spec = channel.receive()
    options = LoadOptions(**spec["options"])
    subscribers = [
        Subscriber(MailboxId(box, context), pin) for box, context, pin in spec["subscribers"]
    ]
    last = [0.0]

    def progress(tally: Tally, live: int) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_INTERVAL:
            last[0] = now
            channel.send(
                {"progress": [tally.attempted, tally.succeeded, sum(tally.failed.values()), live]}
            )

    host, port = spec["proxy"]
    tally, states = event_loop.run(drive(options, (host, int(port)), subscribers, progress))
    channel.send(
        {
            "tally": tally.to_wire(),
            "states": [[m.box, m.context, state.to_wire()] for m, state in states.items()],
        }
    )


def run_agents(
    options: LoadOptions,
    proxy: Peer,
    subscribers: Sequence[Subscriber],
    gateways: Sequence[str],
    on_progress: ProgressSink | None = None,
) -> tuple[Tally, dict[MailboxId, PhoneState]]:
    """Drive the load from one agent per gateway spec (``popen``, ``ssh=host``…), each with
    its share of the rate, calls and subscribers; the merged tally and phone states.

    Blocks: run it in a thread from asyncio code."""
    group = execnet.Group()
    count = len(gateways)
    try:
        channels = []
        for index, spec in enumerate(gateways):
            gateway = group.makegateway(spec)
            channel = gateway.remote_exec(_AGENT_SOURCE)
            mine = subscribers[index::count]
            channel.send(
                {
                    "options": dataclasses.asdict(share(options, index, count)),
                    "proxy": list(proxy),
                    "subscribers": [[s.mailbox.box, s.mailbox.context, s.pin] for s in mine],
                }
            )
            channels.append(channel)
        return _collect(channels, on_progress)
    finally:
        group.terminate(timeout=10)


def _collect(
    channels: list[Any], on_progress: ProgressSink | None
) -> tuple[Tally, dict[MailboxId, PhoneState]]:
    """Wait for every agent's result, passing on the progress they send meanwhile."""
    merged = Tally()
    states: dict[MailboxId, PhoneState] = {}
    latest: dict[int, list[int]] = {}
    queue = execnet.MultiChannel(channels).make_receive_queue(endmarker=None)
    finished: set[int] = set()
    while len(finished) < len(channels):
        channel, message = queue.get()
        if message is None:
            if id(channel) in finished:
                continue
            raise RuntimeError(f"a load agent ended without its result: {channel.gateway.spec}")
        if "progress" in message:
            latest[id(channel)] = message["progress"]
            if on_progress is not None:
                totals = [sum(values) for values in zip(*latest.values(), strict=True)]
                on_progress(*totals)
            continue
        merged.merge(Tally.from_wire(message["tally"]))
        for box, context, wire in message["states"]:
            states[MailboxId(box, context)] = PhoneState.from_wire(wire)
        finished.add(id(channel))
    return merged, states
