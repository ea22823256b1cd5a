"""NOTIFY retries: while the proxy is down the server keeps trying, coalescing what it has to say,
so the phone ends with the latest state once the proxy is back; a 404 is an answer, not retried.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from harness.core.mwi import parse_summary
from harness.media.signal import speech_like
from harness.sim.phone import Call, Phone
from harness.sim.proxy import SimProxy
from harness.sip.message import Request, Response, parse_message
from harness.sip.transaction import Timers
from tests.voicemail.integration.conftest import Bed, BedFactory

#: The server's SIP timers, compressed: a NOTIFY nobody answers fails after 64*T1 = 1.28 s
#: instead of 32 s, so a test sees several attempts while the proxy is down.
FAST = Timers(t1=0.02)


def notify_counts(bed: Bed) -> list[str]:
    """The counts each NOTIFY transaction carried, in the order they started."""
    return [counts for _, counts in sorted(notify_attempts(bed).values())]


def notify_starts(bed: Bed) -> list[float]:
    """When each NOTIFY transaction started (monotonic clock)."""
    return [at for at, _ in notify_attempts(bed).values()]


def notify_attempts(bed: Bed) -> dict[str, tuple[float, str]]:
    """White-box: each NOTIFY transaction the server started (by Call-ID), with when it was
    first sent (monotonic clock) and the counts it carried, ``new/old``."""
    attempts: dict[str, tuple[float, str]] = {}
    for record in bed.wire:
        if record.direction != "out" or record.local != bed.server.address:
            continue
        message = parse_message(record.data)
        if not isinstance(message, Request) or message.method != "NOTIFY":
            continue
        if message.call_id not in attempts:
            counts = parse_summary(message.body).voice
            assert counts is not None
            attempts[message.call_id] = (record.monotonic, f"{counts.new}/{counts.old}")
    return attempts


async def recording(bed: Bed, caller: str) -> Call:
    """A caller leaving a message for 2000, recording when this returns (hang up to store it).

    It calls the server itself, not through the proxy, as a trunk from another switch does:
    the server's MWI still goes to each peer's ``host=``, the proxy.
    """
    phone = Phone(caller, bed.server.address)
    phone.transport.subscribe(bed.wire.append)
    await phone.start()
    bed.callers[caller] = phone
    call = await phone.dial("2000")
    assert await bed.wait_audio(call), "no greeting was heard"
    await call.send_dtmf("#")
    assert await call.wait_for_prompt("beep"), call.heard_prompts()
    await call.wait_quiet(0.2)
    await call.play(speech_like(0.5, caller))
    return call


async def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def restart_proxy(bed: Bed, old: SimProxy) -> None:
    """A new proxy on the old one's port, with its registrations (a proxy keeps them in a
    database across restarts)."""
    proxy = SimProxy(bed.server.address, old.profile, host=old.address[0], port=old.address[1])
    proxy.mailboxes = dict(old.mailboxes)
    proxy.bindings = dict(old.bindings)
    proxy.transport.subscribe(bed.wire.append)
    await proxy.start()
    bed.proxy = proxy


async def test_the_phone_gets_the_latest_state_once_the_proxy_is_back(
    make_bed: BedFactory,
) -> None:
    bed = await make_bed()
    await bed.lamp_settled("2000")
    bed.server.transport.layer.timers = FAST
    old = bed.proxy
    await old.close()

    first, second = await asyncio.gather(
        recording(bed, "+15551230001"), recording(bed, "+15551230002")
    )
    await first.hangup()
    await wait_for(lambda: "1/0" in notify_counts(bed), "the NOTIFY of the first message")
    # The second message arrives while that NOTIFY is still unanswered.
    await second.hangup()
    await bed.server.wait_idle()
    assert bed.count("2000") == 2
    # Wait until every NOTIFY sent so far has failed (its transaction is over): only a retry
    # started after this can reach the phone once the proxy is back.
    await wait_for(
        lambda: time.monotonic() > max(notify_starts(bed)) + FAST.timeout + 0.05,
        "the NOTIFYs to the stopped proxy to fail",
    )
    tried = notify_attempts(bed)

    since = bed.now()
    await restart_proxy(bed, old)
    check = await bed.lamp("2000", True, (2, 0), since=since, within=8.0)
    assert check.status == "met", check.detail
    await asyncio.sleep(0.5)  # room for an outdated NOTIFY to follow, which must not come
    got = bed.phones["2000"].notifies_since(since)
    assert [n.request.body.splitlines()[-1] for n in got] == [b"Voice-Message: 2/0 (0/0)"]
    assert got[0].request.call_id not in tried, "a NOTIFY of before the restart got through"


async def test_a_404_from_the_proxy_is_not_retried(make_bed: BedFactory) -> None:
    bed = await make_bed(register=False)
    # The start-up NOTIFY reaches the proxy, which has no phone registered for it.

    def answers() -> list[int]:
        return [
            message.status
            for message in (
                parse_message(m.data)
                for m in bed.wire
                if m.direction == "in" and m.local == bed.server.address
            )
            if isinstance(message, Response)
        ]

    await wait_for(lambda: bool(answers()), "the answer to the start-up NOTIFY")
    assert answers() == [404]
    await asyncio.sleep(1.5)  # past the first retry delay (1 s) of a NOTIFY that failed
    assert len(notify_attempts(bed)) == 1, notify_attempts(bed)
    assert bed.server.notifier is not None
    assert bed.server.notifier.pending() == 0
