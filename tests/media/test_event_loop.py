"""The loop media runs on: uvloop when installed, and the pacer keeps time on it."""

import asyncio
import importlib.util

import pytest

from harness.media import event_loop
from harness.media.pacer import Pacer, frames_of


async def _paced_frames() -> tuple[int, float]:
    sent: list[bytes] = []
    pacer = Pacer()
    loop = asyncio.get_running_loop()
    started = loop.time()
    end = await pacer.play("s", frames_of(bytes(1600)), sent.append, ssrc=1, pt=0)
    pacer.close()
    return end.sent, loop.time() - started


def test_run_uses_uvloop_exactly_when_it_is_installed() -> None:
    installed = importlib.util.find_spec("uvloop") is not None
    assert event_loop.loop_name() == ("uvloop" if installed else "asyncio")
    sent, elapsed = event_loop.run(_paced_frames())
    assert sent == 10
    assert 0.18 <= elapsed <= 0.5


def test_a_coroutine_that_fails_raises_from_run() -> None:
    async def fail() -> None:
        raise LookupError("no such mailbox")

    with pytest.raises(LookupError, match="no such mailbox"):
        event_loop.run(fail())
