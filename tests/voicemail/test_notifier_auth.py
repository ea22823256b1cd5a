"""A NOTIFY the proxy challenges is sent again with the peer's credentials (sans-IO)."""

from __future__ import annotations

import pytest

from harness.core.mailbox import MailboxId
from harness.core.mwi import MailboxCounts, summary_for
from harness.sip.auth import DigestChallenger
from harness.sip.builder import make_response, new_via
from harness.sip.message import Request
from harness.sip.uri import URI
from harness.voicemail.notifier import MwiTarget, authorized_notify, build_notify

PROXY = ("192.0.2.1", 5060)
VOICEMAIL = ("192.0.2.10", 5080)


def target(secret: str | None) -> MwiTarget:
    return MwiTarget(
        name="2000",
        mailboxes=(MailboxId("2000"),),
        uri=URI(scheme="sip", user="2000", host=PROXY[0], port=PROXY[1]),
        destination=PROXY,
        username="2000",
        secret=secret,
    )


def notify(peer: MwiTarget) -> Request:
    summary = summary_for([MailboxCounts(1, 0, 0)])
    return build_notify(peer, summary, VOICEMAIL)


@pytest.mark.parametrize("proxy", [True, False])
def test_the_challenge_is_answered_with_the_peers_secret(proxy: bool) -> None:
    peer = target("s3cret")
    sent = notify(peer)
    challenger = DigestChallenger("sim", {"2000": "s3cret"}, proxy=proxy)
    status = 407 if proxy else 401
    challenge = make_response(sent, status, headers=[challenger.challenge()])
    again = authorized_notify(sent, challenge, peer, new_via(VOICEMAIL))
    assert again is not None
    assert challenger.verify(again) == "2000"
    assert again.cseq == (sent.cseq[0] + 1, "NOTIFY")
    assert again.call_id == sent.call_id
    assert again.vias()[0].branch != sent.vias()[0].branch
    assert again.body == sent.body


def test_without_a_secret_or_a_challenge_there_is_nothing_to_send() -> None:
    sent = notify(target(None))
    challenger = DigestChallenger("sim", {})
    challenge = make_response(sent, 401, headers=[challenger.challenge()])
    assert authorized_notify(sent, challenge, target(None), new_via(VOICEMAIL)) is None
    refused = make_response(sent, 404)
    assert authorized_notify(sent, refused, target("s3cret"), new_via(VOICEMAIL)) is None
    bare = make_response(sent, 407)  # no Proxy-Authenticate to answer
    assert authorized_notify(sent, bare, target("s3cret"), new_via(VOICEMAIL)) is None
