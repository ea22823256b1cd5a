"""A throwaway PostgreSQL cluster: ``initdb`` into a private directory, ``pg_ctl`` to start it
listening on a Unix socket there only (no TCP port), stopped and removed afterwards.

PostgreSQL refuses to run as root; when the harness runs as root the cluster is made and run as
the ``postgres`` user the Debian package creates, in a directory handed to that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["BINARIES", "PostgresCluster", "binaries"]

#: Where Debian's ``postgresql-<version>`` packages put initdb and pg_ctl (not on PATH).
BINARIES = Path("/usr/lib/postgresql")
#: The database each cluster creates for its user.
DATABASE = "asterisk"
_START_TIMEOUT = 30


def binaries() -> Path | None:
    """The directory holding initdb and pg_ctl of the newest PostgreSQL installed, or None."""
    found = sorted(
        (path for path in BINARIES.glob("*/bin") if (path / "initdb").is_file()),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    return None if initdb is None else Path(initdb).parent


class PostgresCluster:
    """A cluster for one run; :attr:`params` are libpq's connection parameters for it."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        self.root = Path()
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self._run_as: int | None = None

    @property
    def socket_dir(self) -> Path:
        """The directory holding the server's Unix socket (libpq's ``host``)."""
        return self.root / "socket"

    @property
    def params(self) -> dict[str, str]:
        """libpq parameters reaching the cluster's database as its superuser."""
        return {"host": str(self.socket_dir), "dbname": DATABASE, "user": self.user}

    def conninfo(self, database: str = DATABASE) -> str:
        """A libpq connection string reaching ``database`` as the cluster's superuser."""
        params = {**self.params, "dbname": database}
        return " ".join(f"{name}={_quoted(value)}" for name, value in params.items())

    def start(self) -> None:
        """Make the cluster and start it; RuntimeError with PostgreSQL's words if it fails."""
        self._directory = tempfile.TemporaryDirectory(prefix="vmharness-pg-")
        self.root = Path(self._directory.name)
        self.socket_dir.mkdir()
        if os.getuid() == 0:
            account = pwd.getpwnam("postgres")
            self._run_as, self.user = account.pw_uid, account.pw_name
            for path in (self.root, self.socket_dir):
                os.chown(path, account.pw_uid, account.pw_gid)
        data = self.root / "data"
        self._run("initdb", "-D", str(data), "-U", self.user, "--auth=trust", "-E", "UTF8")
        options = f"-k {self.socket_dir} -c listen_addresses='' -F"
        self._run(
            "pg_ctl",
            "-D",
            str(data),
            "-l",
            str(self.root / "log"),
            "-o",
            options,
            "-w",
            "-t",
            str(_START_TIMEOUT),
            "start",
        )
        self._run("createdb", "-h", str(self.socket_dir), "-U", self.user, DATABASE)

    def stop(self) -> None:
        """Stop the server and remove the cluster."""
        if self._directory is None:
            return
        with contextlib.suppress(RuntimeError):
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        self._directory.cleanup()
        self._directory = None

    def _run(self, program: str, *arguments: str) -> None:
        command = [str(self.bindir / program), *arguments]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            user=self._run_as,
            cwd=self.root,
            timeout=_START_TIMEOUT + 30,
        )
        if done.returncode != 0:
            log = self.root / "log"
            tail = log.read_text(errors="replace")[-800:] if log.is_file() else ""
            raise RuntimeError(f"{program} failed: {done.stderr.strip()} {tail}".strip())

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _quoted(value: str) -> str:
    """``value`` as a libpq connection string writes it: single-quoted, \\ and ' escaped."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"
