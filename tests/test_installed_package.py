"""vmharness as a tool: a built wheel installed into a fresh venv works outside the checkout,
with the scenario library, the proxy profiles and the report templates inside it."""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: What a build reads: the package (the library is a link in it to scenarios/) and its metadata.
SOURCES = ("pyproject.toml", "README.md", "harness", "scenarios")
SCENARIO = "mwi/subscribe-through-sbc.yaml"  # a shipped proxy profile, a phone, a deposit


def _run(*command: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout


def _build_wheel(tmp_path: Path) -> Path:
    """The wheel of a copy of the source tree (the checkout stays clean of build output)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(origin, source / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(origin, source / name)
    dist = tmp_path / "dist"
    # No build isolation: the dev venv's setuptools builds it offline, in a few seconds.
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", dist, source, cwd=tmp_path)  # fmt: skip
    (wheel,) = dist.glob("vmharness-*.whl")
    return wheel


def _fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    """A new venv holding the wheel; its dependencies come from this venv (a path entry, not
    an installation: nothing of this checkout is importable there)."""
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    (purelib,) = (venv / "lib").glob("python3*/site-packages")
    (purelib / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q",
         "--no-deps", "--no-index", wheel, cwd=tmp_path)  # fmt: skip
    return venv


def test_the_wheel_runs_a_shipped_scenario_outside_the_checkout(tmp_path: Path) -> None:
    venv = _fresh_venv(tmp_path, _build_wheel(tmp_path))
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run(venv / "bin" / "python", "-c", "import harness; print(harness.__file__)", cwd=work)
    assert Path(where.strip()).is_relative_to(venv)

    listing = _run(venv / "bin" / "vmharness", "library", "list", cwd=work)
    assert listing.splitlines()[0].startswith(str(venv))
    for folder in ("deposit", "retrieve", "mwi", "smdi", "quirks", "load"):
        assert f"  {folder}/" in listing
    shipped = sum(1 for line in listing.splitlines() if line.startswith("  "))
    assert shipped == len(list((ROOT / "scenarios").rglob("*.yaml")))

    output = _run(
        venv / "bin" / "vmharness", "run", "--library", SCENARIO, "--report", "report", "-j", "1",
        cwd=work,
    )  # fmt: skip
    assert "1 passed, 0 failed, 0 skipped" in output
    assert "Scenarios \u00d7 parties" in (work / "report" / "index.html").read_text()

    _run(venv / "bin" / "vmharness", "library", "copy", "mine", cwd=work)
    assert (work / "mine" / SCENARIO).is_file()
