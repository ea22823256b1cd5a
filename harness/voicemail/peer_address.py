"""Where a stranger's host names lead: resolved once, off the event loop, within a deadline.

An SDP ``c=`` line may name a host instead of an address (RFC 4566 §5.7), and so may a
subscriber's Contact. Handing the name to a UDP socket would resolve it for every packet,
through the system resolver, on the event loop: a peer naming a slow or silent DNS zone would
stall every call. The name is resolved once (per offer, per NOTIFY transaction) in the
resolver's thread pool within a deadline; a name that does not resolve in time refuses the
offer (488) or fails the NOTIFY instead. With ``names=False`` (sip.conf's
``sdphostnames=refuse``) a name is refused outright, before any resolver is asked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

#: Seconds a host name may take to resolve before it is given up.
RESOLVE_TIMEOUT = 2.0


class PeerAddressError(ValueError):
    """A peer's address cannot be used; the message names the address and why."""


async def resolve_peer(
    host: str,
    port: int,
    *,
    what: str = "c= host",
    family: int = socket.AF_INET,
    timeout: float = RESOLVE_TIMEOUT,
    names: bool = True,
) -> tuple[str, int]:
    """``(address, port)`` to send to: ``host`` itself when it is an address literal, else its
    first address of ``family`` (unless ``names`` is false: then a host name is refused).
    Raises :class:`PeerAddressError` naming ``what`` it was."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return host.strip("[]"), port
    if not names:
        raise PeerAddressError(f"{what} {host} is a host name (sdphostnames=refuse)")
    loop = asyncio.get_running_loop()
    try:
        found = await asyncio.wait_for(
            loop.getaddrinfo(host, port, family=family, type=socket.SOCK_DGRAM), timeout
        )
    except TimeoutError:
        raise PeerAddressError(f"{what} {host} did not resolve within {timeout:g} s") from None
    except OSError as error:
        raise PeerAddressError(f"{what} {host} does not resolve ({error})") from None
    if not found:
        raise PeerAddressError(f"{what} {host} has no address")
    return str(found[0][4][0]), port
