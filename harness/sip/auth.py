"""SIP digest authentication (RFC 3261 §22, RFC 2617, RFC 8760), both sides, sans-IO.

A client answers a 401/407 challenge with :func:`authorization`; a server issues challenges
with :class:`DigestChallenger` and checks the answers it gets. Nonces come from the caller
(``secrets`` in production, fixed values in tests), so nothing here reads a clock or a socket.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from harness.sip.message import Request, Response

_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


class AuthError(ValueError):
    """A challenge or credentials that cannot be used; the message says why."""


def parse_auth_params(value: str) -> tuple[str, dict[str, str]]:
    """Split ``Digest realm="x", nonce="y", qop="auth"`` into ("Digest", {param: value})."""
    scheme, _, rest = value.strip().partition(" ")
    params: dict[str, str] = {}
    index = 0
    while index < len(rest):
        while index < len(rest) and rest[index] in " ,\t":
            index += 1
        if index >= len(rest):
            break
        equals = rest.find("=", index)
        if equals == -1:
            raise AuthError(f"auth parameter without '=' in {value!r}")
        name = rest[index:equals].strip().lower()
        index = equals + 1
        if index < len(rest) and rest[index] == '"':
            end = index + 1
            chars: list[str] = []
            while end < len(rest) and rest[end] != '"':
                if rest[end] == "\\" and end + 1 < len(rest):
                    end += 1
                chars.append(rest[end])
                end += 1
            if end >= len(rest):
                raise AuthError(f"unterminated quoted value for {name!r} in {value!r}")
            params[name] = "".join(chars)
            index = end + 1
        else:
            end = rest.find(",", index)
            end = len(rest) if end == -1 else end
            params[name] = rest[index:end].strip()
            index = end
    return scheme, params


@dataclass(frozen=True, slots=True)
class Challenge:
    """A digest challenge from a WWW-Authenticate or Proxy-Authenticate header."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    proxy: bool = False

    @classmethod
    def from_response(cls, response: Response) -> Challenge:
        """The first usable digest challenge of a 401 or 407."""
        name = "Proxy-Authenticate" if response.status == 407 else "WWW-Authenticate"
        for value in response.header_values(name):
            scheme, params = parse_auth_params(value)
            if scheme.lower() != "digest":
                continue
            algorithm = params.get("algorithm", "MD5").upper()
            if algorithm not in _HASHES:
                continue
            if "realm" not in params or "nonce" not in params:
                raise AuthError(f"{name} lacks realm or nonce: {value!r}")
            qop = tuple(q.strip() for q in params.get("qop", "").split(",") if q.strip())
            return cls(
                realm=params["realm"],
                nonce=params["nonce"],
                algorithm=algorithm,
                qop=qop,
                opaque=params.get("opaque"),
                stale=params.get("stale", "").lower() == "true",
                proxy=response.status == 407,
            )
        raise AuthError(f"{response.status} carries no digest challenge this side can answer")

    def header(self) -> str:
        """The header value, as a server writes it."""
        parts = [f'realm="{self.realm}"', f'nonce="{self.nonce}"', f"algorithm={self.algorithm}"]
        if self.qop:
            parts.append(f'qop="{",".join(self.qop)}"')
        if self.opaque is not None:
            parts.append(f'opaque="{self.opaque}"')
        if self.stale:
            parts.append("stale=TRUE")
        return "Digest " + ", ".join(parts)


def _hash(algorithm: str, text: str) -> str:
    return _HASHES[algorithm](text.encode()).hexdigest()


def digest_response(
    challenge: Challenge,
    method: str,
    uri: str,
    username: str,
    password: str,
    *,
    cnonce: str = "",
    nonce_count: int = 1,
) -> str:
    """The ``response`` value: H(H(A1):nonce[:nc:cnonce:qop]:H(A2))."""
    ha1 = _hash(challenge.algorithm, f"{username}:{challenge.realm}:{password}")
    ha2 = _hash(challenge.algorithm, f"{method}:{uri}")
    if "auth" in challenge.qop:
        nc = f"{nonce_count:08x}"
        return _hash(challenge.algorithm, f"{ha1}:{challenge.nonce}:{nc}:{cnonce}:auth:{ha2}")
    return _hash(challenge.algorithm, f"{ha1}:{challenge.nonce}:{ha2}")


def authorization(
    challenge: Challenge,
    request: Request,
    username: str,
    password: str,
    *,
    cnonce: str | None = None,
    nonce_count: int = 1,
) -> tuple[str, str]:
    """The (header name, value) that answers ``challenge`` for ``request``."""
    cnonce = cnonce if cnonce is not None else secrets.token_hex(8)
    response = digest_response(
        challenge,
        request.method,
        request.uri,
        username,
        password,
        cnonce=cnonce,
        nonce_count=nonce_count,
    )
    parts = [
        f'username="{username}"',
        f'realm="{challenge.realm}"',
        f'nonce="{challenge.nonce}"',
        f'uri="{request.uri}"',
        f'response="{response}"',
        f"algorithm={challenge.algorithm}",
    ]
    if "auth" in challenge.qop:
        parts += ["qop=auth", f"nc={nonce_count:08x}", f'cnonce="{cnonce}"']
    if challenge.opaque is not None:
        parts.append(f'opaque="{challenge.opaque}"')
    name = "Proxy-Authorization" if challenge.proxy else "Authorization"
    return name, "Digest " + ", ".join(parts)


def with_credentials(
    request: Request, challenge: Challenge, username: str, password: str
) -> Request:
    """``request`` again, with a CSeq one higher and the answer to ``challenge``."""
    number, method = request.cseq
    name, value = authorization(challenge, request, username, password)
    return (
        request.without_header(name)
        .replace_header("CSeq", f"{number + 1} {method}")
        .with_header(name, value)
    )


@dataclass(slots=True)
class DigestChallenger:
    """The server side: issue challenges, check answers (one-time nonces)."""

    realm: str
    users: dict[str, str]
    proxy: bool = False
    algorithm: str = "MD5"
    _nonces: set[str] = field(default_factory=set)

    def challenge(self, nonce: str | None = None) -> tuple[str, str]:
        """A new (header name, value) challenge with a fresh nonce."""
        nonce = nonce or secrets.token_hex(16)
        self._nonces.add(nonce)
        header = Challenge(self.realm, nonce, self.algorithm, ("auth",)).header()
        return ("Proxy-Authenticate" if self.proxy else "WWW-Authenticate"), header

    def verify(self, request: Request) -> str | None:
        """The authenticated user of ``request``, or None when its credentials do not check."""
        name = "Proxy-Authorization" if self.proxy else "Authorization"
        value = request.header(name)
        if value is None:
            return None
        try:
            scheme, params = parse_auth_params(value)
        except AuthError:
            return None
        username = params.get("username", "")
        password = self.users.get(username)
        nonce = params.get("nonce", "")
        if scheme.lower() != "digest" or password is None or nonce not in self._nonces:
            return None
        challenge = Challenge(
            realm=params.get("realm", ""),
            nonce=nonce,
            algorithm=params.get("algorithm", "MD5").upper(),
            qop=(params["qop"],) if "qop" in params else (),
        )
        if challenge.realm != self.realm or challenge.algorithm not in _HASHES:
            return None
        expected = digest_response(
            challenge,
            request.method,
            params.get("uri", ""),
            username,
            password,
            cnonce=params.get("cnonce", ""),
            nonce_count=int(params.get("nc", "1"), 16) if "nc" in params else 1,
        )
        if not hmac.compare_digest(expected, params.get("response", "")):
            return None
        self._nonces.discard(nonce)
        return username
