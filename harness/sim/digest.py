"""The digest challenge a simulated proxy puts in front of REGISTER or NOTIFY relay."""

from __future__ import annotations

import contextlib

from harness.sim.profiles import DigestChallengeNotify, DigestChallengeRegister
from harness.sip.auth import DigestChallenger, parse_auth_params
from harness.sip.builder import make_response
from harness.sip.message import Request, Response


class DigestGate:
    """Lets a request through once it carries valid credentials (RFC 3261 §22), with the
    passwords and the 401/407 status of one ``digest-challenge-*`` quirk."""

    def __init__(self, options: DigestChallengeRegister | DigestChallengeNotify) -> None:
        self._options = options
        self._challenger = DigestChallenger(options.realm, {}, proxy=options.status == 407)

    def refusal(self, request: Request) -> Response | None:
        """None when ``request`` may pass; else the challenge to answer it with."""
        challenger = self._challenger
        name = "Proxy-Authorization" if challenger.proxy else "Authorization"
        answer = request.header(name)
        if answer is not None:
            with contextlib.suppress(ValueError):
                username = parse_auth_params(answer)[1].get("username", "")
                challenger.users[username] = self._options.password_of(username)
                if challenger.verify(request) is not None:
                    return None
        return make_response(request, self._options.status, headers=[challenger.challenge()])
