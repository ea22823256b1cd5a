"""Only the configured proxy and peers may SUBSCRIBE to a mailbox's counts or REGISTER.

A stranger (here: loopback address 127.0.0.2, while the peers' host= is 127.0.0.1) gets 403
whatever mailbox it names, so it learns neither the counts nor which mailboxes exist; a
SUBSCRIBE whose NOTIFYs would go to an address no peer allows is refused too (no reflection).
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness.sip.auth import Challenge, with_credentials
from harness.sip.builder import new_request
from harness.sip.transport import SipTransport
from harness.sip.uri import URI
from harness.voicemail.access import Access
from harness.voicemail.conf.server_config import load_config
from harness.voicemail.conf.sip_conf import SipPeer
from harness.voicemail.server import VoicemailServer
from tests.voicemail.integration.test_serve import STANDALONE_SIP_CONF, write_config


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[VoicemailServer]:
    sip_conf = STANDALONE_SIP_CONF + "\n[phones]\ntype=friend\nhost=dynamic\n"
    sip_conf += "deny=0.0.0.0/0.0.0.0\npermit=127.0.0.64/255.255.255.192\n"
    sip_conf += "\n[desk]\ntype=friend\nhost=dynamic\ndefaultuser=desk\nsecret=s3cret\n"
    sip_conf += "deny=0.0.0.0/0.0.0.0\npermit=127.0.0.128/25\n"
    config = load_config(write_config(tmp_path / "etc", files={"sip.conf": sip_conf}))
    running = VoicemailServer(config, tmp_path / "spool", port=0)
    await running.start()
    yield running
    await running.close()


async def _send(
    server: VoicemailServer,
    method: str,
    user: str,
    *,
    source: str = "127.0.0.1",
    contact_host: str | None = None,
    password: str | None = None,
) -> int:
    client = SipTransport(host=source, party="client")
    await client.start()
    try:
        host, port = server.address
        target = URI(scheme="sip", user=user, host=host, port=port)
        contact = f"<sip:{user}@{contact_host or client.host}:{client.port}>"
        headers = [("Event", "message-summary"), ("Expires", "60")] if method == "SUBSCRIBE" else []
        request = new_request(
            method,
            target,
            from_address=f"<sip:{user}@{client.host}>",
            to_address=f"<{target}>",
            local=client.local,
            contact=contact,
            headers=headers,
        )
        response = await client.request(request, server.address)
        if response.status == 401 and password is not None:
            challenge = Challenge.from_response(response)
            retry = with_credentials(request, challenge, "desk", password)
            retry = retry.replace_header("Via", str(client.via()))
            response = await client.request(retry, server.address)
        return response.status
    finally:
        await client.close()


@pytest.mark.parametrize("user", ["2000", "7777"])
async def test_a_stranger_is_refused_whatever_mailbox_it_names(
    server: VoicemailServer, user: str
) -> None:
    assert await _send(server, "SUBSCRIBE", user, source="127.0.0.2") == 403
    assert await _send(server, "REGISTER", user, source="127.0.0.2") == 403


async def test_the_proxy_may_subscribe_and_register(server: VoicemailServer) -> None:
    assert await _send(server, "SUBSCRIBE", "2000") == 200
    assert await _send(server, "REGISTER", "2000") == 200


async def test_a_permit_line_admits_its_network(server: VoicemailServer) -> None:
    assert await _send(server, "SUBSCRIBE", "2000", source="127.0.0.65") == 200


async def test_a_peer_with_a_secret_must_prove_it_from_an_address_its_acl_admits(
    server: VoicemailServer,
) -> None:
    assert await _send(server, "SUBSCRIBE", "2000", source="127.0.0.129") == 401
    wrong = await _send(server, "SUBSCRIBE", "2000", source="127.0.0.129", password="guess")
    assert wrong == 401
    right = await _send(server, "SUBSCRIBE", "2000", source="127.0.0.129", password="s3cret")
    assert right == 200
    assert await _send(server, "REGISTER", "2000", source="127.0.0.129", password="s3cret") == 200


async def test_notifies_to_an_address_no_peer_allows_are_refused(
    server: VoicemailServer,
) -> None:
    status = await _send(server, "SUBSCRIBE", "2000", contact_host="192.0.2.7")
    assert status == 403
    assert server.subscriptions is not None
    assert server.subscriptions.active() == []


def test_the_last_matching_acl_rule_decides() -> None:
    peer = SipPeer(
        name="office",
        host="dynamic",
        acl=(
            (False, ipaddress.ip_network("0.0.0.0/0")),
            (True, ipaddress.ip_network("10.0.0.0/8")),
            (False, ipaddress.ip_network("10.9.0.0/16")),
        ),
    )
    access = Access.from_peers([peer])
    assert access.allows("10.1.2.3")
    assert not access.allows("10.9.1.1")
    assert not access.allows("192.0.2.1")
    assert not access.allows("not-an-address")


#: An offer the server can answer: the INVITE is taken once it is let in.
OFFER = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


async def _peer_server(tmp_path: Path, insecure: str | None) -> VoicemailServer:
    """A server whose one peer, the proxy at 127.0.0.1:5070, has a secret."""
    sip_conf = "[general]\nuseragent=vmharness\n\n[proxy]\ntype=peer\nhost=127.0.0.1\n"
    sip_conf += "port=5070\ndefaultuser=desk\nsecret=s3cret\nmailbox=2000@default\n"
    if insecure is not None:
        sip_conf += f"insecure={insecure}\n"
    config = load_config(write_config(tmp_path / "etc", files={"sip.conf": sip_conf}))
    running = VoicemailServer(config, tmp_path / "spool", port=0)
    await running.start()
    return running


async def _invite(server: VoicemailServer, password: str | None = None) -> int:
    """INVITE mailbox 2000 from 127.0.0.1 (not from port 5070); the final status."""
    client = SipTransport(host="127.0.0.1", party="client")
    await client.start()
    try:
        host, port = server.address
        target = URI(scheme="sip", user="2000", host=host, port=port)
        request = new_request(
            "INVITE",
            target,
            from_address=f"<sip:+15551230000@{client.host}>",
            to_address=f"<{target}>",
            local=client.local,
            contact=f"<sip:caller@{client.host}:{client.port}>",
            body=OFFER,
            content_type="application/sdp",
        )
        response = await client.request(request, server.address)
        if response.status == 401 and password is not None:
            challenge = Challenge.from_response(response)
            retry = with_credentials(request, challenge, "desk", password)
            retry = retry.replace_header("Via", str(client.via())).replace_header(
                "CSeq", "2 INVITE"
            )
            response = await client.request(retry, server.address)
        return response.status
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("insecure", "subscribe"), [(None, 403), ("port", 200), ("port,invite", 200)]
)
async def test_insecure_port_matches_the_peer_by_address_whatever_the_port(
    tmp_path: Path, insecure: str | None, subscribe: int
) -> None:
    """Without insecure=port a request must come from the peer's host and port to be its."""
    server = await _peer_server(tmp_path, insecure)
    try:
        assert await _send(server, "SUBSCRIBE", "2000", password="s3cret") == subscribe
        assert await _send(server, "REGISTER", "2000", password="s3cret") == subscribe
    finally:
        await server.close()


@pytest.mark.parametrize("insecure", ["port", "port,invite"])
async def test_a_peer_with_a_secret_must_prove_it_from_its_own_host_too(
    tmp_path: Path, insecure: str
) -> None:
    """As chan_sip: SUBSCRIBE and REGISTER are challenged whatever the address and
    ``insecure=`` (``invite`` spares INVITEs only)."""
    server = await _peer_server(tmp_path, insecure)
    try:
        for method in ("SUBSCRIBE", "REGISTER"):
            assert await _send(server, method, "2000") == 401
            assert await _send(server, method, "2000", password="guess") == 401
            assert await _send(server, method, "2000", password="s3cret") == 200
    finally:
        await server.close()


async def test_an_invite_from_a_peer_with_a_secret_is_challenged_unless_insecure_invite(
    tmp_path: Path,
) -> None:
    server = await _peer_server(tmp_path, "port")
    try:
        assert await _invite(server) == 401
        assert await _invite(server, password="guess") == 401
        assert await _invite(server, password="s3cret") == 200
    finally:
        await server.close()
    server = await _peer_server(tmp_path / "invite", "port,invite")
    try:
        assert await _invite(server) == 200
    finally:
        await server.close()
