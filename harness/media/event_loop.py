"""The event loop real-time media runs on: uvloop when it is installed, else asyncio's own.

A server or load generator moving tens of thousands of RTP packets a second spends a fifth of
its time in the loop itself; uvloop (libuv) cuts that share several times over. It is an
optional extra (``pip install vmharness[fast]``): everything works without it, only slower.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's ``new_event_loop`` if uvloop is installed, else None (asyncio's default)."""
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def loop_name() -> str:
    """``uvloop`` or ``asyncio``: what :func:`run` will use, for logs and reports."""
    return "asyncio" if loop_factory() is None else "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on the fastest loop available."""
    factory = loop_factory()
    if factory is None:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
