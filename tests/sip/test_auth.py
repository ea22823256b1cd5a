"""Digest authentication: the RFC 2617 example, client and server sides together."""

from __future__ import annotations

import pytest

from harness.sip.auth import (
    AuthError,
    Challenge,
    DigestChallenger,
    authorization,
    digest_response,
    parse_auth_params,
    with_credentials,
)
from harness.sip.builder import make_response, new_request
from harness.sip.message import Request, parse_message


def test_rfc_2617_example_response() -> None:
    challenge = Challenge(
        realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        qop=("auth", "auth-int"),
        opaque="5ccc069c403ebaf9f0171e9517f40e41",
    )
    response = digest_response(
        challenge,
        "GET",
        "/dir/index.html",
        "Mufasa",
        "Circle Of Life",
        cnonce="0a4f113b",
        nonce_count=1,
    )
    assert response == "6629fae49393a05397450978507c4ef1"


def test_parse_params_handles_quotes_commas_and_escapes() -> None:
    scheme, params = parse_auth_params(
        'Digest realm="a, b", nonce="x\\"y", qop="auth,auth-int", algorithm=MD5, stale=TRUE'
    )
    assert scheme == "Digest"
    assert params == {
        "realm": "a, b",
        "nonce": 'x"y',
        "qop": "auth,auth-int",
        "algorithm": "MD5",
        "stale": "TRUE",
    }


def test_unterminated_quote_is_an_error() -> None:
    with pytest.raises(AuthError, match="unterminated"):
        parse_auth_params('Digest realm="open')


def register() -> Request:
    return new_request(
        "REGISTER",
        "sip:127.0.0.1:5060",
        from_address="<sip:2000@127.0.0.1:5060>",
        to_address="<sip:2000@127.0.0.1:5060>",
        local=("127.0.0.1", 5070),
    )


@pytest.mark.parametrize("proxy", [False, True])
def test_a_challenge_answered_with_the_right_password_is_accepted(proxy: bool) -> None:
    server = DigestChallenger("vmharness", {"2000": "s3cret"}, proxy=proxy)
    request = register()
    header = server.challenge(nonce="abc123")
    challenge_response = make_response(request, 407 if proxy else 401, headers=[header])
    # Through the codec, as a real client would read it.
    wire = parse_message(challenge_response.to_bytes())
    assert not isinstance(wire, Request)
    challenge = Challenge.from_response(wire)
    answered = with_credentials(request, challenge, "2000", "s3cret")
    assert answered.cseq == (2, "REGISTER")
    assert server.verify(parse_message(answered.to_bytes())) == "2000"  # type: ignore[arg-type]


def test_a_wrong_password_or_a_replayed_nonce_is_refused() -> None:
    server = DigestChallenger("vmharness", {"2000": "s3cret"})
    request = register()
    challenge = Challenge.from_response(make_response(request, 401, headers=[server.challenge()]))
    assert server.verify(with_credentials(request, challenge, "2000", "wrong")) is None
    good = with_credentials(request, challenge, "2000", "s3cret")
    assert server.verify(good) == "2000"
    assert server.verify(good) is None  # the nonce was used


def test_unknown_user_and_missing_header_are_refused() -> None:
    server = DigestChallenger("vmharness", {"2000": "s3cret"})
    request = register()
    assert server.verify(request) is None
    challenge = Challenge.from_response(make_response(request, 401, headers=[server.challenge()]))
    name, value = authorization(challenge, request, "9999", "s3cret")
    assert server.verify(request.with_header(name, value)) is None


def test_sha256_challenge_is_answered_with_sha256() -> None:
    server = DigestChallenger("vmharness", {"2000": "pw"}, algorithm="SHA-256")
    request = register()
    challenge = Challenge.from_response(make_response(request, 401, headers=[server.challenge()]))
    assert challenge.algorithm == "SHA-256"
    answered = with_credentials(request, challenge, "2000", "pw")
    assert "algorithm=SHA-256" in (answered.header("Authorization") or "")
    assert server.verify(answered) == "2000"


def test_a_challenge_without_digest_cannot_be_answered() -> None:
    request = register()
    response = make_response(request, 401, headers=[("WWW-Authenticate", 'Basic realm="x"')])
    with pytest.raises(AuthError, match="no digest challenge"):
        Challenge.from_response(response)
