"""Forking to every contact of a user, and the CANCELs that end the other branches."""

from __future__ import annotations

import asyncio

from harness.sim.phone import Phone
from harness.sim.profiles import ProxyProfile
from harness.sip import sdp
from harness.sip.address import Address
from harness.sip.builder import make_cancel, make_response, new_request, new_tag
from harness.sip.message import Request, Response
from harness.sip.transaction import Peer, ServerTransaction
from harness.sip.transport import SipTransport
from harness.sip.uri import URI
from tests.sim.conftest import SimBedFactory, eventually, requests
from tests.voicemail.integration.conftest import Bed


async def second_phone(bed: Bed, user: str) -> Phone:
    """Another phone registered for ``user`` (a desk phone and a softphone)."""
    phone = Phone(user, bed.proxy.address)
    phone.transport.party = f"phone {user} (second)"
    phone.transport.subscribe(bed.wire.append)
    await phone.start()
    bed.callers[f"{user} (second)"] = phone
    assert (await phone.register()).status == 200
    return phone


class AnsweringPhone:
    """A phone that takes every call at once (the simulated Phone never answers)."""

    def __init__(self, user: str, proxy: Peer) -> None:
        self.user = user
        self.proxy = proxy
        self.transport = SipTransport(party=f"answering {user}")
        self.transport.handler = self._on_request

    async def start(self, bed: Bed) -> None:
        self.transport.subscribe(bed.wire.append)
        await self.transport.start()
        aor = Address(URI(scheme="sip", user=self.user, host=self.proxy[0], port=self.proxy[1]))
        register = new_request(
            "REGISTER",
            URI(scheme="sip", host=self.proxy[0], port=self.proxy[1]),
            from_address=aor,
            to_address=aor,
            local=self.transport.local,
            contact=Address(self.transport.contact(self.user)),
        )
        assert (await self.transport.request(register, self.proxy)).status == 200

    async def _on_request(
        self, request: Request, transaction: ServerTransaction | None, source: Peer
    ) -> None:
        if transaction is None:
            return
        if request.method != "INVITE":
            self.transport.respond(transaction, make_response(request, 200))
            return
        answer, _ = sdp.answer(sdp.parse(request.body), self.transport.host, 40000)
        self.transport.respond(
            transaction,
            make_response(
                request,
                200,
                to_tag=new_tag(),
                contact=Address(self.transport.contact(self.user)),
                body=bytes(answer),
                content_type="application/sdp",
            ),
        )


async def test_fork_rings_every_contact_and_cancels_them_for_voicemail(
    sim_bed: SimBedFactory,
) -> None:
    bed = await sim_bed(ProxyProfile(quirks=("fork",)))
    other = await second_phone(bed, "2000")
    await bed.deposit("2000", 0.5, skip_greeting=True)
    assert bed.count("2000") == 1
    for party in ("phone 2000", "phone 2000 (second)"):
        assert len(requests(bed, party, "in", "INVITE")) == 1, party
        assert len(requests(bed, party, "in", "CANCEL")) == 1, party
    assert other.transport.local != bed.phones["2000"].transport.local


async def test_without_fork_only_the_latest_contact_rings(sim_bed: SimBedFactory) -> None:
    bed = await sim_bed()
    await second_phone(bed, "2000")
    await bed.deposit("2000", 0.5, skip_greeting=True)
    assert requests(bed, "phone 2000", "in", "INVITE") == []
    assert len(requests(bed, "phone 2000 (second)", "in", "INVITE")) == 1


async def test_fork_cancels_the_other_branch_when_one_answers(sim_bed: SimBedFactory) -> None:
    bed = await sim_bed(ProxyProfile(quirks=("fork",)), no_answer_timeout=3.0)
    answering = AnsweringPhone("2000", bed.proxy.address)
    await answering.start(bed)
    try:
        caller = await bed.caller()
        call = await caller.dial("2000")
        assert call.response.status == 200
        assert await eventually(lambda: requests(bed, "phone 2000", "in", "CANCEL") != [])
        assert requests(bed, "answering 2000", "in", "CANCEL") == []
        await call.hangup()
        assert len(requests(bed, "answering 2000", "in", "BYE")) == 1
        assert requests(bed, "voicemail", "in", "INVITE") == []
    finally:
        await answering.transport.close()


async def test_fork_relays_a_notify_to_every_phone_of_the_user(sim_bed: SimBedFactory) -> None:
    bed = await sim_bed(ProxyProfile(quirks=("fork",)))
    other = await second_phone(bed, "2000")
    since = bed.now()
    await bed.deposit("2000", 0.5, skip_greeting=True)
    check = await bed.lamp("2000", True, (1, 0), since=since)
    assert check.status == "met", check.detail
    assert await eventually(lambda: other.lamp.on)


async def test_a_caller_who_gives_up_while_it_rings_gets_487_and_no_voicemail(
    sim_bed: SimBedFactory,
) -> None:
    bed = await sim_bed(ProxyProfile(quirks=("fork",)), no_answer_timeout=3.0)
    await second_phone(bed, "2000")
    caller = SipTransport(party="caller")
    caller.subscribe(bed.wire.append)
    await caller.start()
    try:
        target = URI(
            scheme="sip", user="2000", host=bed.proxy.address[0], port=bed.proxy.address[1]
        )
        invite = new_request(
            "INVITE",
            target,
            from_address=Address(target.with_user("3000")),
            to_address=Address(target),
            local=caller.local,
        )
        rang = asyncio.Event()

        def provisional(response: Response) -> None:
            if response.status == 180:
                rang.set()

        client, final = caller.start_request(invite, bed.proxy.address, provisional=provisional)
        await asyncio.wait_for(rang.wait(), 2.0)
        caller.start_request(make_cancel(client.request), bed.proxy.address)
        response = await asyncio.wait_for(final, 3.0)
        assert response.status == 487
        for party in ("phone 2000", "phone 2000 (second)"):
            assert len(requests(bed, party, "in", "CANCEL")) == 1, party
        assert requests(bed, "voicemail", "in", "INVITE") == []
    finally:
        await caller.close()
