"""Quirks of the MWI relay: what the proxy answers the voicemail server's NOTIFYs, and whether
the phone ever gets them."""

from __future__ import annotations

import asyncio

import pytest

from harness.sim.profiles import ProxyProfile
from harness.sip.auth import parse_auth_params
from tests.sim.conftest import SimBedFactory, eventually, requests, statuses


@pytest.mark.parametrize(("options", "expected"), [(None, 404), ({"status": 480}, 480)])
async def test_notify_for_an_unregistered_user_gets_the_configured_status(
    sim_bed: SimBedFactory, options: dict[str, int] | None, expected: int
) -> None:
    profile = ProxyProfile().with_quirks({"notify-unregistered": options})
    bed = await sim_bed(profile, register=False)
    assert await eventually(lambda: statuses(bed, "voicemail", "NOTIFY") != [])
    assert statuses(bed, "voicemail", "NOTIFY") == [expected]


async def test_notify_481_rejects_the_relay_and_the_phone_stays_dark(
    sim_bed: SimBedFactory,
) -> None:
    bed = await sim_bed("notify-481")
    assert await eventually(lambda: len(statuses(bed, "voicemail", "NOTIFY")) >= 2)
    assert set(statuses(bed, "voicemail", "NOTIFY")) == {481}
    assert requests(bed, "phone 2000", "in", "NOTIFY") == []
    # A subscription's own NOTIFYs still pass (in_dialog: no).
    subscription = await bed.phones["2000"].subscribe()
    assert subscription.response is not None
    assert subscription.response.status == 200
    assert await subscription.wait_notify(0) is not None


async def test_notify_reject_in_dialog_also_rejects_subscription_notifies(
    sim_bed: SimBedFactory,
) -> None:
    profile = ProxyProfile().with_quirks({"notify-reject": {"status": 403, "in_dialog": True}})
    bed = await sim_bed(profile)
    subscription = await bed.phones["2000"].subscribe()
    assert subscription.response is not None
    assert subscription.response.status == 200
    assert await subscription.wait_notify(0, timeout=1.0) is None
    assert await eventually(lambda: statuses(bed, "voicemail", "NOTIFY").count(403) >= 3)


async def test_drops_notify_answers_ok_and_relays_nothing(sim_bed: SimBedFactory) -> None:
    bed = await sim_bed("drops-notify")
    since = bed.now()
    await bed.deposit("2000", 0.5, skip_greeting=True)
    assert bed.count("2000") == 1
    check = await bed.lamp("2000", True, (1, 0), since=since, within=1.0)
    assert check.status == "failed"
    assert requests(bed, "phone 2000", "in", "NOTIFY") == []
    assert set(statuses(bed, "voicemail", "NOTIFY")) == {200}


async def test_notify_drop_without_an_answer_leaves_the_server_retransmitting(
    sim_bed: SimBedFactory,
) -> None:
    bed = await sim_bed(ProxyProfile().with_quirks({"notify-drop": {"answer": "nothing"}}))
    await asyncio.sleep(1.0)
    sent = requests(bed, "voicemail", "out", "NOTIFY")
    assert len(sent) >= 2
    assert len({notify.call_id for notify in sent}) < len(sent), "no retransmission"
    assert statuses(bed, "voicemail", "NOTIFY") == []
    assert requests(bed, "phone 2000", "in", "NOTIFY") == []


@pytest.mark.parametrize(
    ("status", "header"), [(407, "Proxy-Authorization"), (401, "Authorization")]
)
async def test_a_challenged_notify_is_answered_with_the_peers_secret(
    sim_bed: SimBedFactory, status: int, header: str
) -> None:
    profile = ProxyProfile().with_quirks(
        {"digest-challenge-notify": {"status": status, "password": "s3cret"}}
    )
    bed = await sim_bed(profile, peer_options=(("secret", "s3cret"),))
    await bed.lamp_settled("2000")
    sent = requests(bed, "voicemail", "out", "NOTIFY")
    answered = [notify for notify in sent if notify.has(header)]
    assert answered, "the server never answered the challenge"
    _, params = parse_auth_params(answered[-1].header(header) or "")
    assert (params["username"], params["realm"]) == ("2000", "sim-proxy")
    assert status in statuses(bed, "voicemail", "NOTIFY")
    assert await eventually(lambda: 200 in statuses(bed, "voicemail", "NOTIFY"))
    # Only NOTIFYs that carried credentials were relayed.
    relayed = requests(bed, "phone 2000", "in", "NOTIFY")
    assert relayed
    assert all(notify.has(header) for notify in relayed)


@pytest.mark.parametrize("secret", [None, "wrong"])
async def test_a_challenged_notify_without_the_right_secret_never_reaches_the_phone(
    sim_bed: SimBedFactory, secret: str | None
) -> None:
    profile = ProxyProfile().with_quirks({"digest-challenge-notify": {"password": "s3cret"}})
    options = () if secret is None else (("secret", secret),)
    bed = await sim_bed(profile, peer_options=options)
    assert await eventually(lambda: statuses(bed, "voicemail", "NOTIFY").count(407) >= 2)
    await asyncio.sleep(0.3)
    assert set(statuses(bed, "voicemail", "NOTIFY")) == {407}
    assert requests(bed, "phone 2000", "in", "NOTIFY") == []
