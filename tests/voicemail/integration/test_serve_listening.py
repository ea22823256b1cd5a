"""``vmharness serve`` listens where sip.conf says: ``bindaddr``, ``bindport``, ``tcpenable``,
``tlsenable`` with ``tlscertfile``/``tlsprivatekey``; and it will not start without a sip.conf
(so no peer would get MWI) unless told ``--no-sip-conf``.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from harness.peers.kamailio import free_port
from tests.voicemail.integration.test_serve import (
    STANDALONE_SIP_CONF,
    VOICEMAIL_CONF,
    run_serve,
    write_config,
)

Start = Callable[..., Awaitable[list[str]]]


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    """Start ``vmharness serve --config … --spool …`` with ``options``; the first ``lines``
    lines it prints."""
    processes: list[asyncio.subprocess.Process] = []

    async def run(config: Path, *options: str, lines: int = 1) -> list[str]:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "harness.cli", "serve", "--config", str(config)),
            *("--spool", str(tmp_path / "spool"), *options),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        processes.append(process)
        assert process.stdout is not None
        printed = []
        for _ in range(lines):
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            printed.append(line.decode().strip())
        return printed

    yield run
    for process in processes:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 15)


def _options(host: str, port: int, transport: str) -> bytes:
    return (
        f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} 127.0.0.1:5999;branch=z9hG4bK-listening-1\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:probe@127.0.0.1>;tag=probe\r\n"
        f"To: <sip:{host}:{port}>\r\n"
        "Call-ID: listening-probe\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


async def _ask(host: str, port: int, context: ssl.SSLContext | None = None) -> str:
    """Send OPTIONS over TCP (or TLS with ``context``); the status line of the answer."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context), 10)
    try:
        writer.write(_options(host, port, "TLS" if context else "TCP"))
        await writer.drain()
        return (await asyncio.wait_for(reader.readline(), 10)).decode().strip()
    finally:
        writer.close()


def test_without_a_sip_conf_serve_refuses_to_start(tmp_path: Path) -> None:
    config = write_config(tmp_path / "etc", files={"sip.conf": None})
    result = run_serve(config, tmp_path / "spool")
    assert result.returncode == 2, result
    [line] = result.stderr.splitlines()
    assert line.startswith("vmharness serve: sip.conf: not found in "), line
    assert "--no-sip-conf" in line


async def test_no_sip_conf_starts_it_anyway(tmp_path: Path, start: Start) -> None:
    config = write_config(tmp_path / "etc", files={"sip.conf": None})
    [line] = await start(config, "--port", "0", "--no-sip-conf")
    assert line.startswith("voicemail server listening on 127.0.0.1:"), line


async def test_bindaddr_bindport_and_tcpenable_are_served(tmp_path: Path, start: Start) -> None:
    port = free_port("127.0.0.1")
    sip_conf = STANDALONE_SIP_CONF.replace(
        "[general]\n", f"[general]\nbindaddr=127.0.0.1\nbindport={port}\ntcpenable=yes\n"
    )
    config = write_config(tmp_path / "etc", files={"sip.conf": sip_conf})
    printed = await start(config, lines=2)
    assert printed[0].startswith(f"voicemail server listening on 127.0.0.1:{port} "), printed
    assert printed[1] == f"SIP over TCP on 127.0.0.1:{port}"
    assert await _ask("127.0.0.1", port) == "SIP/2.0 200 OK"


def _self_signed(directory: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: no certificate for the TLS test")
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "vm.key",
            "-out",
            "vm.crt",
        ],
        check=True,
        capture_output=True,
        cwd=directory,
    )


async def test_tlsenable_serves_sip_over_tls_with_the_configured_certificate(
    tmp_path: Path, start: Start
) -> None:
    directory = tmp_path / "etc"
    directory.mkdir()
    _self_signed(directory)
    tls_port = free_port("127.0.0.1")
    sip_conf = STANDALONE_SIP_CONF.replace(
        "[general]\n",
        f"[general]\ntlsenable=yes\ntlsbindaddr=127.0.0.1:{tls_port}\n"
        "tlscertfile=vm.crt\ntlsprivatekey=vm.key\n",
    )
    config = write_config(directory, files={"sip.conf": sip_conf})
    printed = await start(config, "--port", "0", lines=2)
    assert printed[1] == f"SIP over TLS on 127.0.0.1:{tls_port}", printed
    client = ssl.create_default_context(cafile=directory / "vm.crt")
    client.check_hostname = False
    assert await _ask("127.0.0.1", tls_port, client) == "SIP/2.0 200 OK"


def test_a_missing_certificate_is_named_with_its_line(tmp_path: Path) -> None:
    sip_conf = STANDALONE_SIP_CONF.replace(
        "[general]\n", "[general]\ntlsenable=yes\ntlscertfile=missing.crt\n"
    )
    config = write_config(tmp_path / "etc", files={"sip.conf": sip_conf})
    result = run_serve(config, tmp_path / "spool")
    assert result.returncode == 2, result
    assert result.stderr.startswith("vmharness serve: sip.conf:3: tlscertfile: no such file")


def test_a_mailbox_without_a_pin_is_refused_at_load(tmp_path: Path) -> None:
    conf = VOICEMAIL_CONF + "2002 => ,Carol\n"
    config = write_config(tmp_path / "etc", files={"voicemail.conf": conf})
    result = run_serve(config, tmp_path / "spool")
    assert result.returncode == 2, result
    assert result.stderr.splitlines() == [
        "vmharness serve: voicemail.conf:7: mailbox 2002@default has no PIN, so anyone could "
        "log in to it: give it one, or write allowemptypin=yes in [general]"
    ]


async def test_allowemptypin_lets_it_load(tmp_path: Path, start: Start) -> None:
    conf = VOICEMAIL_CONF.replace("[general]\n", "[general]\nallowemptypin=yes\n")
    config = write_config(tmp_path / "etc", files={"voicemail.conf": conf + "2002 => ,Carol\n"})
    [line] = await start(config, "--port", "0")
    assert line.startswith("voicemail server listening on "), line
