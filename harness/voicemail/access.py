"""Who may SUBSCRIBE to a mailbox's counts or REGISTER with the server, and where NOTIFYs may go.

Only the configured proxy and peers may: a request is accepted from an address that is the
static ``host=`` of a sip.conf peer, or that a peer's ``permit=``/``deny=`` lines admit (chan_sip's
ACL: rules in order, the last that matches decides, no rule means "any"), and only when that
peer's ACL admits it too. Everything else is answered 403, so a stranger on the network learns
nothing about which mailboxes exist and cannot make the server send NOTIFYs to a third party
(a SUBSCRIBE whose NOTIFYs would go to an address no peer entry allows is refused as well).

A request is a peer's own when it comes from the peer's ``host=`` and ``port=`` — from any port
with ``insecure=port``, as chan_sip matches peers (a proxy whose TCP connections come from
passing ports needs it). A peer with a ``secret=`` must also answer a digest challenge with
that secret, from its own host as from anywhere else its ACL admits: always for a SUBSCRIBE or
REGISTER, and for an INVITE unless ``insecure=invite`` (chan_sip's rules).

Host names in ``host=`` are resolved once, when the server starts (:func:`resolve_hosts`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from harness.sip.address import Address
from harness.sip.errors import SIPParseError
from harness.voicemail.conf.sip_conf import SipPeer

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class PeerAccess:
    """What one peer entry allows: its addresses, its ACL."""

    name: str
    addresses: frozenset[str]
    acl: tuple[tuple[bool, Network], ...]
    #: The peer's ``secret=`` and the user name that goes with it.
    secret: str | None = None
    username: str = ""
    #: The peer's ``port=``, which its requests must come from unless ``insecure=port``.
    port: int = 5060
    #: ``insecure=`` words: ``port`` (any source port), ``invite`` (no INVITE challenge).
    insecure: frozenset[str] = frozenset()

    def admits(self, address: str) -> bool:
        """Whether the peer's ACL lets ``address`` in (the last matching rule decides)."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        allowed = True
        for permit, network in self.acl:
            if ip.version == network.version and ip in network:
                allowed = permit
        return allowed

    def at_host(self, address: str, port: int | None = None) -> bool:
        """Whether ``address`` (and ``port``, unless None or ``insecure=port``) is the peer's
        own ``host=`` (and ``port=``), and its ACL lets it in."""
        any_port = port is None or "port" in self.insecure or port == self.port
        return address in self.addresses and any_port and self.admits(address)

    def is_from(self, address: str, port: int | None = None) -> bool:
        """Whether ``address`` is this peer: its static host (and port), or any address its
        explicit ``permit=`` admits (a dynamic peer's phones)."""
        if self.at_host(address, port):
            return True
        return any(permit for permit, _ in self.acl) and self.admits(address)

    @property
    def needs_digest(self) -> bool:
        """Whether the peer's SUBSCRIBEs and REGISTERs must prove its secret: it has one
        (chan_sip challenges them from any address, whatever ``insecure=`` says)."""
        return self.secret is not None

    @property
    def challenges_invite(self) -> bool:
        """Whether the peer's INVITEs must prove its secret: it has one and no
        ``insecure=invite`` (chan_sip challenges its own peers' INVITEs)."""
        return self.secret is not None and "invite" not in self.insecure


@dataclass(frozen=True, slots=True)
class Access:
    """Every peer entry's access, and the decisions drawn from them."""

    peers: tuple[PeerAccess, ...]

    @classmethod
    def from_peers(
        cls, peers: Iterable[SipPeer], resolved: Mapping[str, frozenset[str]] | None = None
    ) -> Access:
        """From sip.conf's peers; ``resolved`` maps host names to their addresses."""
        known = resolved or {}
        entries = []
        for peer in peers:
            addresses: frozenset[str] = frozenset()
            if peer.host is not None and not peer.dynamic:
                addresses = known.get(peer.host, frozenset({peer.host}))
            username = peer.defaultuser or peer.name
            entries.append(
                PeerAccess(
                    peer.name,
                    addresses,
                    peer.acl,
                    peer.secret,
                    username,
                    port=peer.port,
                    insecure=peer.insecure,
                )
            )
        return cls(tuple(entries))

    def peer_at(self, address: str, port: int | None = None) -> PeerAccess | None:
        """The first peer entry ``address`` (from ``port``, when given) belongs to, or None
        for a stranger."""
        return next((peer for peer in self.peers if peer.is_from(address, port)), None)

    def credentials(self) -> dict[str, str]:
        """User name to secret, of every peer with a secret (for the digest challenge)."""
        return {peer.username: peer.secret for peer in self.peers if peer.secret is not None}

    def allows(self, address: str) -> bool:
        """Whether a request from ``address`` (or a NOTIFY to it) is allowed."""
        return self.peer_at(address) is not None


def resolve_hosts(peers: Iterable[SipPeer]) -> dict[str, frozenset[str]]:
    """Each peer host name's addresses (blocking: once, at start-up, off the event loop).

    A name that does not resolve maps to no address, so it admits nobody."""
    found: dict[str, frozenset[str]] = {}
    for peer in peers:
        host = peer.host
        if host is None or peer.dynamic or host in found:
            continue
        try:
            ipaddress.ip_address(host)
            continue
        except ValueError:
            pass
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
        except OSError:
            found[host] = frozenset()
            continue
        found[host] = frozenset(str(info[4][0]) for info in infos)
    return found


def notify_hop(contact: str | None, record_routes: Iterable[str]) -> str | None:
    """The host a subscription's NOTIFYs would be sent to: the first Record-Route's (the
    proxy's, when one stays on the path), else the Contact's; None when it cannot be read."""
    first = next(iter(record_routes), None)
    text = first if first is not None else contact
    if text is None:
        return None
    try:
        host = Address.parse(text.split(",")[0]).uri.host
    except SIPParseError:
        return None
    return host.strip("[]") or None
