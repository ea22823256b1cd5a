"""Fixtures every test area shares.

Real third-party peers (SIPp, Kamailio, tshark, Chromium, the Allure generator, the PJSUA2
Python module): a test that needs one is skipped with the reason on a laptop that lacks it, and
failed under CI, which must have every peer (``.ci/run`` installs them).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

RequirePeer = Callable[..., str]
RequireModule = Callable[..., str]


def _require(name: str, path: Path | None = None) -> str:
    found = shutil.which(name) if path is None else (str(path) if path.is_file() else None)
    if found is not None:
        return found
    where = f" at {path}" if path is not None else ""
    reason = f"{name} is not installed{where} (.ci/run installs it)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; CI must have every peer")
    pytest.skip(reason)


def _require_module(name: str, distribution: str | None = None) -> str:
    spec = importlib.util.find_spec(name)
    if spec is not None:
        return spec.origin or name
    reason = (
        f"Python module {name} is not installed "
        f"(pip install {distribution or name}; the dev extras have it)"
    )
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; CI must have every peer")
    pytest.skip(reason)


@pytest.fixture
def require_peer() -> RequirePeer:
    """``require_peer("sipp")`` gives the binary's path, or skips (fails under CI=true).

    ``require_peer("allure", path)`` looks for the program at ``path`` instead of on PATH.
    """
    return _require


@pytest.fixture
def require_module() -> RequireModule:
    """``require_module("pjsua2", "pjsua2-python")`` gives where the module would be loaded
    from, without importing it, or skips (fails under CI=true) naming the package to install.
    """
    return _require_module


@pytest.fixture(scope="session")
def require_sounds() -> Path:
    """The installed Asterisk sound files (``asterisk-core-sounds-en-wav``), or a skip (a
    failure under CI=true)."""
    from harness.media.recognition import sounds_directory  # noqa: PLC0415

    directory = sounds_directory()
    if directory is not None:
        return directory
    reason = (
        "Asterisk's sound files are not installed (apt-get install asterisk-core-sounds-en-wav)"
    )
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; CI must have every peer")
    pytest.skip(reason)
