"""A voicemail server behind the simulated proxy with a given profile, and phones, on loopback.

``bed = await sim_bed(profile)`` starts the parties (the :class:`Bed` of the voicemail
integration tests: deposit, lamp and wire helpers); :func:`on_wire` picks what one party sent
or received out of the shared wire log.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Literal

import pytest

from harness.core.mailbox import MailboxId
from harness.core.routing import Router
from harness.sim.phone import Phone
from harness.sim.profiles import ProxyProfile, load_profile
from harness.sim.proxy import SimProxy
from harness.sip.message import Message, Request, Response, parse_message
from harness.sip.transaction import Peer
from harness.sip.transport import WireMessage
from harness.targets import EmbeddedTarget, MailboxEntry, PeerEntry
from tests.voicemail.integration.conftest import Bed

SimBedFactory = Callable[..., Awaitable[Bed]]


def on_wire(
    bed: Bed,
    party: str,
    direction: Literal["in", "out"],
    *,
    method: str | None = None,
    status: int | None = None,
    peer: Peer | None = None,
) -> list[tuple[WireMessage, Message]]:
    """What ``party`` ("proxy", "voicemail", "phone 2000"…) sent or received (to or from
    ``peer`` only, when given), parsed: without ``status`` the requests (of ``method``), with
    it the responses of that status (to ``method``)."""
    found: list[tuple[WireMessage, Message]] = []
    for record in bed.wire:
        if record.party != party or record.direction != direction or record.error:
            continue
        if peer is not None and record.remote != peer:
            continue
        message = parse_message(record.data)
        if isinstance(message, Request):
            if status is not None or (method is not None and message.method != method):
                continue
        elif isinstance(message, Response):
            if status is None or message.status != status:
                continue
            if method is not None and message.cseq[1] != method:
                continue
        found.append((record, message))
    return found


def requests(
    bed: Bed,
    party: str,
    direction: Literal["in", "out"],
    method: str,
    *,
    peer: Peer | None = None,
) -> list[Request]:
    """The ``method`` requests ``party`` sent or received (to or from ``peer``), parsed."""
    return [
        message
        for _, message in on_wire(bed, party, direction, method=method, peer=peer)
        if isinstance(message, Request)
    ]


def raw_to_voicemail(bed: Bed, method: str) -> list[bytes]:
    """The bytes of each ``method`` request the proxy sent the voicemail server."""
    return [
        record.data
        for record, _ in on_wire(bed, "proxy", "out", method=method, peer=bed.server.address)
    ]


@pytest.fixture
async def sim_bed() -> AsyncIterator[SimBedFactory]:
    """Start a bed: ``await sim_bed(profile, users=["2000"], passwords={...})``.

    ``profile`` is a ProxyProfile or the name of a shipped one; ``passwords`` gives phones a
    password; ``peer_options`` adds sip.conf lines to every phone's peer; ``tcp`` makes the
    server listen on TCP too; ``register`` registers the phones first; ``chain`` is the server's
    routing chain (default: the Router's); ``general`` adds voicemail.conf ``[general]``
    options; ``dtmf`` is every phone's sip.conf ``dtmfmode``.
    """
    beds: list[Bed] = []

    async def make(
        profile: ProxyProfile | str = "generic",
        *,
        users: Iterable[str] = ("2000",),
        passwords: Mapping[str, str] | None = None,
        peer_options: tuple[tuple[str, str], ...] = (),
        tcp: bool = False,
        register: bool = True,
        no_answer_timeout: float = 0.3,
        chain: tuple[str, ...] | None = None,
        general: dict[str, str] | None = None,
        dtmf: str = "rfc2833",
    ) -> Bed:
        chosen = load_profile(profile) if isinstance(profile, str) else profile
        # The phones register after the server started: the REGISTER copied to it (off by
        # default, as chan_sip gets none) is what brings them their lamp state.
        chosen = dataclasses.replace(
            chosen, no_answer_timeout=no_answer_timeout, replicate_register=True
        )
        users = list(users)
        mapping = {user: MailboxId(user) for user in users}
        proxy = SimProxy(("127.0.0.1", 9), chosen, mailboxes=mapping)
        wire: list[WireMessage] = []
        proxy.transport.subscribe(wire.append)
        await proxy.start()
        target = EmbeddedTarget(
            [MailboxEntry(MailboxId(user), "4321") for user in users],
            [PeerEntry(user, mapping[user], dtmf, peer_options) for user in users],
            router=Router() if chain is None else Router.of(chain),
            general=general,
            tcp=tcp,
        )
        bed = Bed(proxy, target, {}, wire)
        beds.append(bed)
        proxy.voicemail = await target.start(proxy.address)
        bed.server.transport.subscribe(wire.append)
        for user in users:
            phone = Phone(user, proxy.address, password=(passwords or {}).get(user))
            phone.transport.subscribe(wire.append)
            await phone.start()
            bed.phones[user] = phone
            if register:
                response = await phone.register()
                assert response.status == 200, f"{user}: {response.status} {response.reason}"
        return bed

    yield make
    for bed in beds:
        for phone in [*bed.phones.values(), *bed.callers.values()]:
            await phone.close()
        await bed.target.close()
        await bed.proxy.close()


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Whether ``condition`` holds within ``timeout`` seconds (polled)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def statuses(bed: Bed, party: str, method: str) -> list[int]:
    """The statuses of the responses to ``method`` that ``party`` received, in order."""
    found: list[int] = []
    for record in bed.wire:
        if record.party != party or record.direction != "in" or record.error:
            continue
        message = parse_message(record.data)
        if isinstance(message, Response) and message.cseq[1] == method:
            found.append(message.status)
    return found
