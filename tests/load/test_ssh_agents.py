"""A load agent on "another machine": execnet's ssh gateway through a real OpenSSH server.

A private ``sshd`` listens on loopback with its own host key and lets in one generated key;
the agent is reached the way a user reaches a load host, through an ssh config entry named in
the gateway spec (``ssh=HOST//ssh_config=FILE//python=…``).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.cli import main

#: Seconds sshd may take to listen.
START_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _keygen(ssh_keygen: str, path: Path) -> None:
    subprocess.run(
        [ssh_keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def ssh_host(require_peer: Callable[..., str], tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A running sshd on loopback: the host name to give ssh and the ssh config that reaches
    it with a key of its own."""
    sshd = require_peer("sshd", Path("/usr/sbin/sshd"))
    ssh_keygen = require_peer("ssh-keygen")
    require_peer("ssh")
    host_key, user_key = tmp_path / "host_key", tmp_path / "user_key"
    _keygen(ssh_keygen, host_key)
    _keygen(ssh_keygen, user_key)
    authorized = tmp_path / "authorized_keys"
    authorized.write_text(Path(f"{user_key}.pub").read_text())
    authorized.chmod(0o600)
    port = _free_port()
    server_config = tmp_path / "sshd_config"
    server_config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
        f"AuthorizedKeysFile {authorized}\nPidFile {tmp_path / 'sshd.pid'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nPermitRootLogin prohibit-password\n"
    )
    client_config = tmp_path / "ssh_config"
    client_config.write_text(
        f"Host load-host\n  HostName 127.0.0.1\n  Port {port}\n  IdentityFile {user_key}\n"
        "  IdentitiesOnly yes\n  BatchMode yes\n  StrictHostKeyChecking no\n"
        "  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
    )
    if os.geteuid() == 0:
        # Run as root, sshd wants the directory its service would have made (it chroots there).
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    process = subprocess.Popen(
        [sshd, "-D", "-e", "-f", str(server_config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                assert process.stderr is not None
                pytest.fail(f"sshd did not listen on {port}: {process.stderr.read().decode()}")
            time.sleep(0.05)
        yield "load-host", client_config
    finally:
        process.terminate()
        process.wait(10)


def test_an_agent_reached_over_ssh_drives_its_share_and_the_lamps_converge(
    ssh_host: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host, config = ssh_host
    spec = f"ssh={host}//ssh_config={config}//python={sys.executable}"
    out = tmp_path / "load.json"
    status = main(
        [
            "load", "--rate", "10", "--calls", "20", "--mailboxes", "20", "--talk", "0.5",
            "--skip-greeting", "--subscribe", "--agents", "1", "--gateway", spec,
            "--json", str(out),
        ]
    )  # fmt: skip
    result = json.loads(out.read_text())
    assert status == 0, (result["failed"], result["convergence_faults"])
    assert result["agents"] == 2
    assert result["succeeded"] == 20
    assert result["converged"]
    assert json.loads(capsys.readouterr().out) == result
