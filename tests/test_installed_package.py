"""vmharness as a tool: a built wheel installed into a fresh venv works outside the checkout,
with the scenario library, the proxy profiles and the report templates inside it; and the
nightly jobs of ``examples/ci/`` do what they say, by their own commands."""

from __future__ import annotations

import contextlib
import http.server
import io
import os
import shutil
import site
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
#: What a build reads: the package (the library is a link in it to scenarios/) and its metadata.
SOURCES = ("pyproject.toml", "README.md", "harness", "scenarios")
EXAMPLES = ROOT / "examples" / "ci"
SCENARIO = "mwi/subscribe-through-sbc.yaml"  # a shipped proxy profile, a phone, a deposit


def _run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout


def _copy_sources(tmp_path: Path) -> Path:
    """A copy of what a build reads (the checkout stays clean of build output)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(origin, source / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(origin, source / name)
    return source


def _build_wheel(tmp_path: Path) -> Path:
    """The wheel of a copy of the source tree."""
    source = _copy_sources(tmp_path)
    dist = tmp_path / "dist"
    # No build isolation: the dev venv's setuptools builds it offline, in a few seconds.
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", dist, source, cwd=tmp_path)  # fmt: skip
    (wheel,) = dist.glob("vmharness-*.whl")
    return wheel


def _empty_venv(tmp_path: Path) -> Path:
    """A new venv whose dependencies (and pip) come from this venv: a path entry, not an
    installation, so nothing of this checkout is importable there."""
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    (purelib,) = (venv / "lib").glob("python3*/site-packages")
    (purelib / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return venv


def _fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    """A new venv holding the wheel."""
    venv = _empty_venv(tmp_path)
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
    assert f"PASSED  scenarios/{SCENARIO}  " in output
    assert "Scenarios \u00d7 parties" in (work / "report" / "index.html").read_text()

    _run(venv / "bin" / "vmharness", "library", "copy", "mine", cwd=work)
    assert (work / "mine" / SCENARIO).is_file()


class GitLab(http.server.BaseHTTPRequestHandler):
    """GitLab's job-artifacts API, as the fetch command asks it: the last successful job's
    artifacts as a zip, or 404 before the first night."""

    archive: bytes | None = None
    asked: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        GitLab.asked.append((self.path, self.headers.get("JOB-TOKEN")))
        body = GitLab.archive
        self.send_response(404 if body is None else 200)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args: object) -> None:
        """Quiet."""


@dataclass(frozen=True)
class Job:
    """The commands of a nightly job, where it keeps its results, and how the next night
    finds them (what the CI service does between nights)."""

    commands: list[str]
    kept: Path
    shell: list[str]
    publish: Callable[[Path], None]
    environment: dict[str, str] = field(default_factory=dict)

    def night(self, source: Path, environment: dict[str, str]) -> list[str]:
        """Run every command in ``source`` as the CI would; their outputs."""
        environment = {**environment, **self.environment}
        return [
            _run(*self.shell, command, cwd=source, env=environment) for command in self.commands
        ]


def _github_job(source: Path, stack: contextlib.ExitStack) -> Job:
    workflow = yaml.safe_load((EXAMPLES / "github-nightly.yml").read_text())
    steps = workflow["jobs"]["nightly"]["steps"]
    fetch = next(step for step in steps if "download-artifact" in step.get("uses", ""))
    keep = next(step for step in steps if "upload-artifact" in step.get("uses", ""))

    def publish(kept: Path) -> None:
        # The download action puts the kept folder's files straight into its path.
        shutil.copytree(kept, source / fetch["with"]["path"])

    return Job(
        commands=[step["run"] for step in steps if "run" in step],
        kept=source / keep["with"]["path"],
        shell=["bash", "-e", "-c"],  # a step's default shell on GitHub
        publish=publish,
    )


def _gitlab_job(source: Path, stack: contextlib.ExitStack) -> Job:
    job = yaml.safe_load((EXAMPLES / "gitlab-nightly.yml").read_text())["nightly"]
    (kept,) = job["artifacts"]["paths"]
    assert job["artifacts"]["reports"]["junit"].startswith(kept)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), GitLab)
    stack.enter_context(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack.callback(server.shutdown)
    GitLab.archive, GitLab.asked = None, []

    def publish(folder: Path) -> None:
        # GitLab zips a job's artifacts with their paths in the project.
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for path in folder.rglob("*"):
                archive.write(path, path.relative_to(source).as_posix())
        GitLab.archive = buffer.getvalue()

    return Job(
        commands=[*job["before_script"], *job["script"]],
        kept=source / kept,
        shell=["sh", "-e", "-c"],
        publish=publish,
        environment={
            "CI_API_V4_URL": f"http://127.0.0.1:{server.server_address[1]}/api/v4",
            "CI_JOB_TOKEN": "token-of-the-job",
            "CI_PROJECT_ID": "7",
            "CI_COMMIT_REF_NAME": "main",
            "CI_JOB_NAME": "nightly",
        },
    )


@pytest.mark.parametrize("job_of", [_github_job, _gitlab_job], ids=["github", "gitlab"])
def test_the_nightly_examples_install_run_keep_and_compare(
    tmp_path: Path, job_of: Callable[[Path, contextlib.ExitStack], Job]
) -> None:
    source = _copy_sources(tmp_path)
    with contextlib.ExitStack() as stack:
        _two_nights(source, job_of(source, stack), tmp_path)


def _two_nights(source: Path, job: Job, tmp_path: Path) -> None:
    venv = _empty_venv(tmp_path)
    environment = {
        **os.environ,
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "CI": "true",
        "VMHARNESS_PROXY": "simulator",
        "VMHARNESS_VOICEMAIL_PORT": "0",
        "VMHARNESS_SCENARIOS": SCENARIO,
        # Offline: the package's dependencies are already there (see _empty_venv), and pip
        # builds with the setuptools it finds (this variable's 0 means "no isolation").
        "PIP_NO_DEPS": "1",
        "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0",
    }
    environment.pop("VIRTUAL_ENV", None)

    first = job.night(source, environment)[-1]
    assert "no baseline at" in first
    assert "1 passed, 0 failed, 0 skipped" in first
    assert (job.kept / "index.html").is_file()
    assert (job.kept / "junit.xml").is_file()
    assert len(list((job.kept / "pcap").glob("*.pcap"))) == 1

    job.publish(job.kept)  # the CI service keeps the night's results for the next
    shutil.rmtree(job.kept)
    second = job.night(source, environment)[-1]
    assert "0 newly failing, 0 newly passing" in second
    assert "Since the baseline" in (job.kept / "index.html").read_text()
    if job.environment:  # GitLab: the fetch asked for the last successful job's artefacts
        path = "/api/v4/projects/7/jobs/artifacts/main/download?job=nightly"
        assert GitLab.asked == [(path, "token-of-the-job")] * 2
