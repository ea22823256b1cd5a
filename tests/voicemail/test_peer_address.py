"""Host names from peers are resolved once, off the event loop, within a deadline."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from harness.voicemail.peer_address import PeerAddressError, resolve_peer


async def test_an_address_literal_is_used_as_it_is() -> None:
    assert await resolve_peer("192.0.2.7", 4000) == ("192.0.2.7", 4000)
    assert await resolve_peer("[2001:db8::1]", 5060) == ("2001:db8::1", 5060)


async def test_a_host_name_is_resolved_to_an_address() -> None:
    assert await resolve_peer("localhost", 4000) == ("127.0.0.1", 4000)


async def test_a_resolver_that_hangs_gives_up_at_the_deadline_and_the_loop_runs_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()

    async def silent_dns(*_: Any, **__: Any) -> list[Any]:
        await asyncio.sleep(60)
        return []

    monkeypatch.setattr(loop, "getaddrinfo", silent_dns)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.ensure_future(ticker())
    started = time.monotonic()
    with pytest.raises(PeerAddressError, match=r"subscriber host slow\.example did not resolve"):
        await resolve_peer("slow.example", 5060, what="subscriber host", timeout=0.3)
    task.cancel()
    assert time.monotonic() - started < 1
    assert ticks >= 10  # the loop kept serving while the name was looked up
