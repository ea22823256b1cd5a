"""Where a call's RTP goes: the caller's SDP address, resolved once, off the event loop.

An SDP ``c=`` line may name a host instead of an address (RFC 4566 §5.7). Handing the name to
the socket would resolve it for every packet, through the system resolver, on the event loop:
a caller naming a slow or silent DNS zone would stall every call. The name is resolved once per
offer, in the resolver's thread pool, within a deadline; a name that does not resolve in time
refuses the offer (488) instead.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

#: Seconds a host name in SDP may take to resolve before the offer is refused.
RESOLVE_TIMEOUT = 2.0


class MediaAddressError(ValueError):
    """The SDP's media address cannot be used; the message names the address and why."""


async def media_peer(
    host: str, port: int, *, family: int = socket.AF_INET, timeout: float = RESOLVE_TIMEOUT
) -> tuple[str, int]:
    """``(address, port)`` to send RTP to: ``host`` itself when it is an address literal, else
    its first address of ``family``. Raises :class:`MediaAddressError`."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return host, port
    loop = asyncio.get_running_loop()
    try:
        found = await asyncio.wait_for(
            loop.getaddrinfo(host, port, family=family, type=socket.SOCK_DGRAM), timeout
        )
    except TimeoutError:
        raise MediaAddressError(f"c= host {host} did not resolve within {timeout:g} s") from None
    except OSError as error:
        raise MediaAddressError(f"c= host {host} does not resolve ({error})") from None
    if not found:
        raise MediaAddressError(f"c= host {host} has no address")
    return str(found[0][4][0]), port
