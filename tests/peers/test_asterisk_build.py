"""The Asterisk build cache: one build per tarball and recipe, found again without building."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from harness.peers import asterisk_build
from harness.peers.asterisk_build import (
    AsteriskBuildError,
    build,
    build_key,
    cached_asterisk,
    find_tarball,
    install_dir,
)


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("VMHARNESS_CACHE", str(root))
    return root


def _tarball(path: Path, member: str = "README") -> Path:
    source = path.parent / member
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("not Asterisk")
    with tarfile.open(path, "w:xz") as archive:
        archive.add(source, arcname=member)
    return path


def test_the_key_follows_the_tarball_and_the_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _tarball(tmp_path / "a" / "asterisk.tar.xz", "one")
    second = _tarball(tmp_path / "b" / "asterisk.tar.xz", "two")
    key = build_key(first)
    assert build_key(first) == key
    assert build_key(second) != key
    monkeypatch.setattr(asterisk_build, "MODULES", (*asterisk_build.MODULES, "app_queue"))
    assert build_key(first) != key


def test_only_a_finished_build_is_found(tmp_path: Path, cache: Path) -> None:
    tarball = _tarball(tmp_path / "asterisk.tar.xz")
    prefix = install_dir(tarball)
    assert prefix.parent == cache
    assert prefix.name.startswith("asterisk-18.26.4-")
    prefix.mkdir(parents=True)
    # An interrupted build left its directory but no completion mark.
    assert cached_asterisk(tarball) is None
    (prefix / ".complete").write_text("")
    found = cached_asterisk(tarball)
    assert found is not None
    assert found.binary == prefix / "sbin" / "asterisk"


def test_a_tarball_without_the_release_fails_naming_it(tmp_path: Path) -> None:
    tarball = _tarball(tmp_path / "asterisk.tar.xz")
    with pytest.raises(AsteriskBuildError, match=r"holds no asterisk-18\.26\.4/ directory"):
        build(tarball, quiet=True)
    assert cached_asterisk(tarball) is None


def test_the_source_is_named_or_found_beside_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vendored = tmp_path / "shared" / "vendor" / "asterisk-18.26.4.tar.xz"
    vendored.parent.mkdir(parents=True)
    vendored.write_bytes(b"")
    checkout = tmp_path / "work" / "checkout" / "harness" / "peers" / "asterisk_build.py"
    assert find_tarball(checkout) == vendored
    monkeypatch.setenv("VMHARNESS_ASTERISK_SOURCE", "/elsewhere/asterisk.tar.xz")
    assert find_tarball(checkout) == Path("/elsewhere/asterisk.tar.xz")
