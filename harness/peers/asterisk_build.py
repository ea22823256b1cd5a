"""Asterisk built from its release tarball once, into a cache outside any checkout.

Debian 12 packages no Asterisk, so the harness builds the release it follows (18.26.4: chan_sip,
app_voicemail, res_smdi) from the unmodified source tarball, with only the modules a voicemail
server needs. The result lives in ``$VMHARNESS_CACHE`` (``~/.cache/vmharness`` by default) under a
directory named after a key: a hash of the tarball and of the recipe below. While the key matches
the build is reused; a change of either builds a fresh one beside it.

Run ``python -m harness.peers.asterisk_build`` (``.ci/run`` does) to build or find the cache; it
prints the prefix. :func:`cached_asterisk` finds a finished build without building.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

VERSION = "18.26.4"
TARBALL_NAME = f"asterisk-{VERSION}.tar.xz"

#: ``configure`` options: no bundled pjproject (chan_pjsip is not built) nor jansson, no XML docs.
CONFIGURE_OPTIONS = (
    "--without-pjproject-bundled",
    "--without-pjproject",
    "--with-jansson-bundled=no",
    "--disable-xmldoc",
)

#: The modules built: everything else is disabled. chan_sip needs res_http_websocket to load,
#: app_stack needs res_agi, and without a timing module Asterisk 18 crashes at the first DTMF
#: of a VoiceMailMain menu.
MODULES = (
    *("chan_sip", "app_voicemail", "res_smdi", "pbx_config", "app_dial", "app_playback"),
    *("app_echo", "res_rtp_asterisk", "codec_ulaw", "codec_alaw", "codec_a_mu", "codec_gsm"),
    *("codec_resample", "format_wav", "format_wav_gsm", "format_pcm", "format_gsm"),
    *("format_sln", "func_callerid", "func_channel", "func_strings", "func_logic", "func_cut"),
    *("func_global", "func_dialplan", "func_timeout", "app_stack", "app_exec", "app_system"),
    *("app_verbose", "app_senddtmf", "app_read", "res_musiconhold", "res_crypto"),
    *("res_http_websocket", "res_agi", "res_timing_timerfd", "res_timing_pthread"),
    *("bridge_simple", "bridge_native_rtp", "chan_bridge_media"),
)

#: The Debian packages the build needs (the sounds are what the built server plays).
BUILD_PACKAGES = (
    *("build-essential", "libjansson-dev", "libedit-dev", "libxml2-dev", "libsqlite3-dev"),
    *("uuid-dev", "libssl-dev", "asterisk-core-sounds-en-wav"),
)

#: Marks a finished build: a directory without it is a build that was interrupted.
_COMPLETE = ".complete"


class AsteriskBuildError(RuntimeError):
    """The tarball is missing, or a build step failed."""


def cache_root() -> Path:
    """Where builds are cached: ``$VMHARNESS_CACHE``, else ``~/.cache/vmharness``."""
    configured = os.environ.get("VMHARNESS_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "vmharness"


def find_tarball(start: Path | None = None) -> Path | None:
    """The source tarball: ``$VMHARNESS_ASTERISK_SOURCE``, else ``shared/vendor/`` beside the
    checkout or one of its ancestors (where the project keeps vendored sources)."""
    configured = os.environ.get("VMHARNESS_ASTERISK_SOURCE")
    if configured:
        return Path(configured)
    here = (start or Path(__file__)).resolve()
    for directory in here.parents:
        candidate = directory / "shared" / "vendor" / TARBALL_NAME
        if candidate.is_file():
            return candidate
    return None


def recipe() -> str:
    """The build recipe as text, so a change of options or modules changes the key."""
    return "\n".join([VERSION, *CONFIGURE_OPTIONS, *MODULES])


def build_key(tarball: Path) -> str:
    """A short hash of the tarball's bytes and the recipe."""
    digest = hashlib.sha256()
    with tarball.open("rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    digest.update(recipe().encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class AsteriskInstall:
    """A finished build: the prefix ``make install`` wrote to."""

    prefix: Path

    @property
    def binary(self) -> Path:
        """The ``asterisk`` executable."""
        return self.prefix / "sbin" / "asterisk"

    @property
    def modules(self) -> Path:
        """Where the loadable modules are."""
        return self.prefix / "lib" / "asterisk" / "modules"


def install_dir(tarball: Path) -> Path:
    """Where the build of ``tarball`` with this recipe is (or will be) cached."""
    return cache_root() / f"asterisk-{VERSION}-{build_key(tarball)}"


def cached_asterisk(tarball: Path | None = None) -> AsteriskInstall | None:
    """The finished build for the current tarball and recipe, or None (nothing is built)."""
    source = tarball or find_tarball()
    if source is None or not source.is_file():
        return None
    prefix = install_dir(source)
    return AsteriskInstall(prefix) if (prefix / _COMPLETE).is_file() else None


def _run(command: list[str], cwd: Path, log: Path) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        result = subprocess.run(command, check=False, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise AsteriskBuildError(
            f"`{' '.join(command)}` failed with status {result.returncode} in {cwd}; "
            f"log {log}:\n{tail}"
        )


def _compile(tarball: Path, prefix: Path, jobs: int, log: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="asterisk-build-", dir=prefix.parent) as scratch:
        work = Path(scratch)
        _run(["tar", "-xJf", str(tarball), "-C", str(work)], work, log)
        source = work / f"asterisk-{VERSION}"
        if not source.is_dir():
            raise AsteriskBuildError(f"{tarball} holds no asterisk-{VERSION}/ directory")
        _run(["./configure", f"--prefix={prefix}", *CONFIGURE_OPTIONS], source, log)
        _run(["make", "menuselect.makeopts"], source, log)
        select = "menuselect/menuselect"
        _run([select, "--disable-all", "menuselect.makeopts"], source, log)
        for module in MODULES:
            _run([select, "--enable", module, "menuselect.makeopts"], source, log)
        _run(["make", f"-j{jobs}"], source, log)
        _run(["make", "install"], source, log)


def build(tarball: Path, *, jobs: int = 2, quiet: bool = False) -> AsteriskInstall:
    """The cached build of ``tarball``, building it first when the key has none.

    A lock beside the cache keeps two builds of the same key from racing; an interrupted build
    (no completion mark) is removed and started again.
    """
    if not tarball.is_file():
        raise AsteriskBuildError(f"Asterisk source {tarball} not found")
    prefix = install_dir(tarball)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with (prefix.parent / f"{prefix.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (prefix / _COMPLETE).is_file():
            return AsteriskInstall(prefix)
        shutil.rmtree(prefix, ignore_errors=True)
        prefix.mkdir()
        log = prefix.parent / f"{prefix.name}.log"
        log.write_text("")
        if not quiet:
            print(f"building Asterisk {VERSION} into {prefix} (log {log})", file=sys.stderr)
        _compile(tarball, prefix, jobs, log)
        (prefix / _COMPLETE).write_text(recipe() + "\n")
    return AsteriskInstall(prefix)


def main(argv: list[str] | None = None) -> int:
    """Build (or find) the cached Asterisk and print its prefix."""
    parser = argparse.ArgumentParser(
        prog="python -m harness.peers.asterisk_build",
        description=f"Build Asterisk {VERSION} once into {cache_root()} and print its prefix.",
    )
    parser.add_argument("--source", type=Path, help=f"the {TARBALL_NAME} to build")
    parser.add_argument("--jobs", type=int, default=2, help="parallel make jobs (default 2)")
    parser.add_argument(
        "--packages", action="store_true", help="print the Debian packages the build needs"
    )
    args = parser.parse_args(argv)
    if args.packages:
        print(" ".join(BUILD_PACKAGES))
        return 0
    tarball = args.source or find_tarball()
    if tarball is None:
        print(
            f"{TARBALL_NAME} not found: give --source or set VMHARNESS_ASTERISK_SOURCE",
            file=sys.stderr,
        )
        return 2
    try:
        install = build(tarball, jobs=args.jobs)
    except AsteriskBuildError as error:
        print(error, file=sys.stderr)
        return 1
    print(install.prefix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
