"""Subscribed MWI through the proxy (RFC 6665, ``message-summary``): set-up, refresh, expiry,
teardown, a change while subscribed, and a subscriber that no longer knows its subscription.

Short subscriptions come from sip.conf ``[general]`` ``subminexpiry``/``submaxexpiry``.
"""

from __future__ import annotations

import asyncio

from harness.core.mwi import parse_summary
from harness.sim.phone import ReceivedNotify, Subscription
from harness.sip.address import Address
from harness.sip.message import parse_message
from harness.sip.via import Via
from tests.voicemail.integration.conftest import Bed, BedFactory
from tests.voicemail.integration.restart import restart

#: Subscriptions of at most two seconds, as sip.conf allows them.
SHORT = {"subminexpiry": "2", "submaxexpiry": "2", "defaultexpiry": "2"}


def voice(notify: ReceivedNotify) -> str:
    """The NOTIFY's counts as ``new/old``."""
    counts = parse_summary(notify.request.body).voice
    assert counts is not None, notify.request.body
    return f"{counts.new}/{counts.old}"


def in_dialog(notify: ReceivedNotify, subscription: Subscription) -> bool:
    """Whether ``notify`` belongs to ``subscription``'s dialog (Call-ID and both tags)."""
    dialog = subscription.dialog
    assert dialog is not None
    to = Address.parse(notify.request.header("To") or "")
    sender = Address.parse(notify.request.header("From") or "")
    return (notify.request.call_id, to.tag, sender.tag) == dialog.id


async def subscribed(bed: Bed, expires: int = 600) -> tuple[Subscription, ReceivedNotify]:
    """Phone 2000's accepted subscription and its first NOTIFY."""
    subscription = await bed.phones["2000"].subscribe(expires)
    assert subscription.response is not None
    assert subscription.response.status == 200, subscription.response.status
    first = await subscription.wait_notify(0)
    assert first is not None, "no NOTIFY after the 200"
    return subscription, first


async def wait_unsubscribed(bed: Bed, timeout: float = 5.0) -> None:
    """White-box: wait until the server holds no subscription."""
    subscriptions = bed.server.subscriptions
    assert subscriptions is not None
    deadline = bed.now() + timeout
    while subscriptions.active() and bed.now() < deadline:
        await asyncio.sleep(0.02)
    assert not subscriptions.active(), subscriptions.active()


async def test_a_subscribe_is_accepted_then_notified_with_the_mailbox_state(
    make_bed: BedFactory,
) -> None:
    bed = await make_bed()
    await restart(bed, messages={"2000": {"INBOX": 2, "Old": 1}})
    subscription, first = await subscribed(bed, 600)
    assert subscription.response is not None
    assert subscription.response.header("Expires") == "600"
    state, _, expires = (first.subscription_state or "").partition(";expires=")
    assert state == "active", first.subscription_state
    assert 598 <= int(expires) <= 600, first.subscription_state
    assert first.request.header("Event") == "message-summary"
    assert first.request.body.startswith(b"Messages-Waiting: yes\r\n")
    assert voice(first) == "2/1"
    assert in_dialog(first, subscription)
    # It came through the proxy (its Via on top), following the Record-Route of the 200.
    top = Via.parse(first.request.header_values("Via")[0])
    assert (top.host, top.port) == bed.proxy.address
    # 200 first, then the NOTIFY, as the server sent them.
    sent = [
        parse_message(record.data)
        for record in bed.wire
        if record.direction == "out"
        and record.local == bed.server.address
        and subscription.request.call_id.encode() in record.data
    ]
    assert [getattr(m, "status", None) or getattr(m, "method", None) for m in sent][:2] == [
        200,
        "NOTIFY",
    ]


async def test_a_subscribe_below_subminexpiry_is_refused_with_423(make_bed: BedFactory) -> None:
    bed = await make_bed()
    await restart(bed, sip_general=SHORT)
    subscription = await bed.phones["2000"].subscribe(1)
    assert subscription.response is not None
    assert subscription.response.status == 423
    assert subscription.response.header("Min-Expires") == "2"
    assert subscription.dialog is None


async def test_a_refresh_extends_the_subscription(make_bed: BedFactory) -> None:
    bed = await make_bed()
    await restart(bed, sip_general=SHORT)
    subscription, _ = await subscribed(bed, 2)
    await asyncio.sleep(1.0)  # half-way through the two seconds granted
    refreshed_at = bed.now()
    response = await subscription.refresh(2)
    assert (response.status, response.header("Expires")) == (200, "2")
    again = await subscription.wait_notify(1)
    assert again is not None
    assert again.subscription_state == "active;expires=2"
    assert in_dialog(again, subscription)
    # It ends two seconds after the refresh, not two seconds after the first SUBSCRIBE.
    ended = await subscription.wait_notify(2, timeout=4.0)
    assert ended is not None, "the refreshed subscription never ended"
    assert ended.subscription_state == "terminated;reason=timeout"
    assert 1.9 <= ended.at - refreshed_at <= 3.0, ended.at - refreshed_at


async def test_a_subscription_that_is_not_refreshed_expires(make_bed: BedFactory) -> None:
    bed = await make_bed()
    await restart(bed, sip_general=SHORT)
    # Asked for an hour, granted what submaxexpiry allows.
    subscription = await bed.phones["2000"].subscribe(3600)
    assert subscription.response is not None
    assert (subscription.response.status, subscription.response.header("Expires")) == (200, "2")
    first = await subscription.wait_notify(0)
    assert first is not None
    assert first.subscription_state == "active;expires=2"
    ended = await subscription.wait_notify(1, timeout=4.0)
    assert ended is not None, "the subscription never expired"
    assert ended.subscription_state == "terminated;reason=timeout"
    assert 1.9 <= ended.at - first.at <= 3.0, ended.at - first.at
    assert in_dialog(ended, subscription)
    assert subscription.terminated
    assert (await subscription.refresh(2)).status == 481


async def test_an_unsubscribe_is_answered_with_terminated(make_bed: BedFactory) -> None:
    bed = await make_bed()
    await restart(bed, messages={"2000": {"INBOX": 1}})
    subscription, _ = await subscribed(bed)
    response = await subscription.unsubscribe()
    assert (response.status, response.header("Expires")) == (200, "0")
    final = await subscription.wait_notify(1)
    assert final is not None, "no NOTIFY after the unsubscribe"
    assert final.subscription_state == "terminated;reason=timeout"
    assert voice(final) == "1/0"
    assert in_dialog(final, subscription)
    assert (await subscription.refresh(600)).status == 481


async def test_a_deposit_while_subscribed_is_notified_in_the_dialog(make_bed: BedFactory) -> None:
    bed = await make_bed()
    subscription, first = await subscribed(bed)
    assert voice(first) == "0/0"
    await bed.deposit("2000", skip_greeting=True)
    change = await subscription.wait_notify(1)
    assert change is not None, "no NOTIFY in the subscription after the deposit"
    assert (change.subscription_state or "").startswith("active;expires=")
    assert voice(change) == "1/0"
    assert change.request.body.startswith(b"Messages-Waiting: yes\r\n")
    assert in_dialog(change, subscription)
    assert change.request.cseq[0] > first.request.cseq[0]


async def test_a_481_from_the_phone_ends_the_subscription(make_bed: BedFactory) -> None:
    bed = await make_bed()
    subscription, _ = await subscribed(bed)
    subscription.forget()  # the phone restarted and lost its subscriptions
    await bed.deposit("2000", skip_greeting=True)
    refused = await subscription.wait_notify(1)
    assert refused is not None
    assert refused.status == 481
    await wait_unsubscribed(bed)
    # The server has let go: the old dialog is unknown to it now.
    assert (await subscription.refresh(600)).status == 481


async def test_a_submaxexpiry_below_defaultexpiry_still_serves(make_bed: BedFactory) -> None:
    bed = await make_bed()
    # defaultexpiry is left at 120, above the subscription ceiling.
    await restart(bed, sip_general={"submaxexpiry": "60"})
    subscription = await bed.phones["2000"].subscribe(3600)
    assert subscription.response is not None
    assert (subscription.response.status, subscription.response.header("Expires")) == (200, "60")
