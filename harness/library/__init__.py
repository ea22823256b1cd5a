"""The scenario library that ships with vmharness: the ``scenarios/`` folder of the source tree,
installed as package data so ``vmharness run --library`` works wherever the package is installed.

In a checkout, ``harness/library/scenarios`` is a link to the top-level ``scenarios/`` folder
(where the library is written and reviewed); a built wheel holds a copy of every file under it,
so a new folder of scenarios ships without a change here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

#: The shipped library's folder.
LIBRARY = Path(__file__).resolve().parent / "scenarios"


def library_path() -> Path:
    """Where the shipped library is; FileNotFoundError when the installation lacks it."""
    if not LIBRARY.is_dir():
        raise FileNotFoundError(f"{LIBRARY}: the scenario library is not installed")
    return LIBRARY


def library_files() -> list[Path]:
    """Every scenario file of the library, relative to it, by folder then name."""
    root = library_path()
    return sorted(path.relative_to(root) for path in root.rglob("*.yaml"))


def copy_library(destination: Path) -> Path:
    """Copy the library into ``destination`` (which must not exist yet, or be empty), to edit
    or extend; returns ``destination``. FileExistsError when it holds files already."""
    if destination.exists() and any(destination.iterdir()):
        raise FileExistsError(f"{destination}: not empty; give a new or empty directory")
    shutil.copytree(library_path(), destination, dirs_exist_ok=True)
    return destination
