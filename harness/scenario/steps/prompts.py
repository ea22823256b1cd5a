"""What a caller hears: how long steps wait for prompts, and how heard prompts are checked."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from harness.scenario.step import StepFailed
from harness.sim.phone import Call

#: Seconds a deposit waits for the beep, a retrieval for each menu, and for the server's BYE.
BEEP_TIMEOUT = 20.0
MENU_TIMEOUT = 15.0
HANGUP_TIMEOUT = 10.0


def in_order(expected: Sequence[str], heard: Sequence[str]) -> bool:
    """Whether ``expected`` occurs in ``heard`` in order (other prompts may come between)."""
    remaining = iter(heard)
    return all(any(name == item for item in remaining) for name in expected)


def check_prompts(expected: Sequence[str] | None, heard: Sequence[str], who: str) -> None:
    """StepFailed unless ``who`` heard ``expected`` in order (None: nothing to check)."""
    if expected is not None and not in_order(expected, heard):
        raise StepFailed(
            f"{who} expected to hear {', '.join(expected)} in that order; it heard "
            f"{', '.join(heard) or 'no prompt'}"
        )


async def first_prompt(call: Call) -> None:
    """Wait until the call hears its first prompt (or MENU_TIMEOUT passes)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + MENU_TIMEOUT
    while not call.heard_prompts() and not call.ended.is_set() and loop.time() < deadline:
        await asyncio.sleep(0.05)
