"""Reading the voicemail server's status endpoint as a monitoring script would."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from harness.sip.transaction import Peer


async def get_status(address: Peer, path: str = "/status") -> tuple[int, Any]:
    """``GET path`` over HTTP/1.0: the status code and the JSON body."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {address[0]}\r\n\r\n".encode())
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode()
    assert "application/json" in head.decode().lower(), head
    return int(status_line.split(" ")[1]), json.loads(body)
