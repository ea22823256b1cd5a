"""Fixtures every test area shares.

Real third-party peers (SIPp, Kamailio, tshark, Chromium, the Allure generator): a test that
needs one is skipped with the reason on a laptop that lacks it, and failed under CI, which must
have every peer (``.ci/run`` installs them).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

RequirePeer = Callable[..., str]


def _require(name: str, path: Path | None = None) -> str:
    found = shutil.which(name) if path is None else (str(path) if path.is_file() else None)
    if found is not None:
        return found
    where = f" at {path}" if path is not None else ""
    reason = f"{name} is not installed{where} (.ci/run installs it)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; CI must have every peer")
    pytest.skip(reason)


@pytest.fixture
def require_peer() -> RequirePeer:
    """``require_peer("sipp")`` gives the binary's path, or skips (fails under CI=true).

    ``require_peer("allure", path)`` looks for the program at ``path`` instead of on PATH.
    """
    return _require
