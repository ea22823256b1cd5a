"""A profile resolved once into the typed behaviour the proxy's parts read, and the lossy link
the drop-first quirk puts in front of the proxy."""

from __future__ import annotations

import pytest

from harness.core.routing import Convention
from harness.sim.behaviour import ProxyBehaviour
from harness.sim.loss import LossyLink
from harness.sim.profiles import (
    Delay,
    DigestChallengeNotify,
    DropFirst,
    NotifyReject,
    ProxyProfile,
    SessionTimer,
    StripXHeaders,
    load_profile,
    shipped_profiles,
)
from harness.sip.builder import make_response, new_request
from harness.sip.message import Request
from harness.sip.transport import Drop, Pass, WireEvent, WireStyle


def test_a_plain_profile_is_a_plain_proxy() -> None:
    behaviour = ProxyBehaviour.of(ProxyProfile())

    assert behaviour.convention is Convention.X_VOICEMAIL
    assert behaviour.wire == WireStyle()
    assert behaviour.record_route
    assert not (behaviour.b2bua)
    assert not (behaviour.fork)
    assert not (behaviour.reliable_ringing)
    assert behaviour.voicemail_transport == "UDP"
    assert behaviour.notify_unregistered == 404
    assert behaviour.delay_for("INVITE") == 0.0
    assert not behaviour.strips("X-Voicemail-Mailbox")
    assert behaviour.retrieval_users == frozenset({"*97"})


def test_every_quirk_becomes_a_field() -> None:
    profile = ProxyProfile(convention=Convention.DIVERSION, no_answer_timeout=1.5).with_quirks(
        "compact-headers",
        "lower-case-headers",
        {"folded-headers": {"width": 40}},
        "no-record-route",
        "b2bua",
        "tcp-to-voicemail",
        "fork",
        "100rel",
        {"session-timer": {"interval": 3}},
        {"strip-x-headers": {"keep": ["X-Keep"]}},
        {"rewrite-request-uri": {"user": "pilot"}},
        {"notify-unregistered": {"status": 480}},
        {"notify-reject": {"status": 403}},
        "digest-challenge-notify",
        {"drop-first": {"methods": ["NOTIFY"], "count": 2}},
        {"delay": {"seconds": 0.5, "methods": ["INVITE"]}},
    )

    behaviour = ProxyBehaviour.of(profile)

    assert behaviour.convention is Convention.DIVERSION
    assert behaviour.wire == WireStyle(compact=True, header_case="lower", fold_at=40)
    assert not behaviour.record_route
    assert behaviour.b2bua
    assert behaviour.fork
    assert behaviour.reliable_ringing
    assert behaviour.voicemail_transport == "TCP"
    assert behaviour.session_timer == SessionTimer(interval=3)
    assert behaviour.strip_x_headers == StripXHeaders(keep=("X-Keep",))
    assert behaviour.strips("X-Voicemail-Mailbox")
    assert not behaviour.strips("x-keep")
    assert behaviour.pilot_user == "pilot"
    assert behaviour.notify_unregistered == 480
    assert behaviour.notify_reject == NotifyReject(status=403)
    assert behaviour.notify_challenge == DigestChallengeNotify()
    assert behaviour.register_challenge is None
    assert behaviour.drop_first == DropFirst(methods=("NOTIFY",), count=2)
    assert behaviour.delay == Delay(seconds=0.5, methods=("INVITE",))
    assert behaviour.delay_for("invite") == 0.5
    assert behaviour.delay_for("BYE") == 0.0
    assert behaviour.no_answer_timeout == 1.5


@pytest.mark.parametrize("name", sorted(shipped_profiles()))
def test_every_shipped_profile_resolves(name: str) -> None:
    profile = load_profile(name)

    behaviour = ProxyBehaviour.of(profile)

    assert behaviour.convention == profile.convention
    assert behaviour.b2bua == ("b2bua" in profile.quirks)


def request(method: str) -> Request:
    return new_request(
        method,
        "sip:2000@192.0.2.1",
        from_address="<sip:1000@192.0.2.1>",
        to_address="<sip:2000@192.0.2.1>",
        local=("192.0.2.2", 5060),
    )


def arriving(method: str) -> WireEvent:
    message = request(method)
    return WireEvent("in", message, message.to_bytes(), ("192.0.2.2", 5060), "UDP")


def test_lossy_link_drops_the_first_requests_of_a_method() -> None:
    link = LossyLink(DropFirst(methods=("INVITE",), count=2))

    verdicts = [link(arriving("INVITE")) for _ in range(3)]

    assert verdicts == [
        Drop("dropped on purpose (drop-first: INVITE 1 of 2)"),
        Drop("dropped on purpose (drop-first: INVITE 2 of 2)"),
        Pass(),
    ]
    assert link(arriving("BYE")) == Pass()


def test_lossy_link_lets_responses_and_outgoing_messages_pass() -> None:
    link = LossyLink(DropFirst(methods=("*",)))
    invite = request("INVITE")
    response = make_response(invite, 200)

    assert link(WireEvent("in", response, response.to_bytes(), ("h", 1), "UDP")) == Pass()
    assert link(WireEvent("out", invite, invite.to_bytes(), ("h", 1), "UDP")) == Pass()
    assert isinstance(link(arriving("OPTIONS")), Drop)
