"""Real third-party peers: skipped with the reason on a laptop that lacks them, failed under CI."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

import pytest


def _require(name: str) -> str:
    path = shutil.which(name)
    if path is not None:
        return path
    reason = f"{name} is not installed (.ci/run installs it)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; CI must have every peer")
    pytest.skip(reason)


@pytest.fixture
def require_peer() -> Callable[[str], str]:
    """``require_peer("sipp")`` gives the binary's path, or skips (fails under CI=true)."""
    return _require
