"""A running server reads its mailboxes and peers again from the database, without a restart:
a mailbox added gets its lamp state, a mailbox removed keeps its spool, a reload that fails
keeps the running configuration and says why, and a PIN changed from the menu goes back into
the database row it came from."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from harness.core.mailbox import MailboxId
from harness.core.mwi import MessageSummary, parse_summary
from harness.sip.builder import make_response
from harness.sip.message import Request
from harness.sip.transaction import Peer, ServerTransaction
from harness.sip.transport import SipTransport
from harness.voicemail import pins
from harness.voicemail.conf.server_config import load_config
from harness.voicemail.server import VoicemailServer
from tests.voicemail.integration.restart import store_messages
from tests.voicemail.realtime.conftest import Database

VOICEMAIL_CONF = "[general]\nformat=wav\n"


class Proxy:
    """Where the peers' ``host=`` points: answers every NOTIFY 200 and keeps what it said."""

    def __init__(self) -> None:
        self.transport = SipTransport(party="proxy")
        self.transport.handler = self._on_request
        self.notified: dict[str, MessageSummary] = {}
        self.arrived = asyncio.Event()

    async def _on_request(
        self, request: Request, transaction: ServerTransaction | None, source: Peer
    ) -> None:
        if transaction is None:
            return
        self.transport.respond(transaction, make_response(request, 200))
        if request.method == "NOTIFY":
            user = request.uri.split("@")[0].removeprefix("sip:")
            self.notified[user] = parse_summary(request.body)
            self.arrived.set()

    async def lamp(self, user: str, within: float = 5.0) -> MessageSummary:
        """The last NOTIFY for ``user``, waiting for one to arrive."""
        deadline = asyncio.get_running_loop().time() + within
        while user not in self.notified:
            self.arrived.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            assert remaining > 0, f"no NOTIFY for {user}; got {sorted(self.notified)}"
            await asyncio.wait_for(self.arrived.wait(), remaining)
        return self.notified[user]


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    """A proxy on loopback."""
    party = Proxy()
    await party.transport.start()
    yield party
    await party.transport.close()


def add_peer(database: Database, number: int, box: str, proxy: Peer) -> None:
    database.execute(
        "INSERT INTO sippeers (id, name, type, host, port, defaultuser, mailbox) "
        "VALUES (?, ?, 'peer', ?, ?, ?, ?)",
        (number, box, proxy[0], proxy[1], box, f"{box}@default"),
    )


def add_mailbox(database: Database, number: int, box: str, pin: str) -> None:
    database.execute(
        "INSERT INTO voicemail (uniqueid, context, mailbox, password, fullname) "
        "VALUES (?, 'default', ?, ?, 'Someone')",
        (number, box, pin),
    )


async def served(database: Database, tmp_path: Path, proxy: Proxy) -> VoicemailServer:
    database.create("voicemail", "voicemail")
    database.create("peers", "sippeers")
    add_mailbox(database, 1, "2000", "1234")
    add_peer(database, 1, "2000", proxy.transport.local)
    directory = database.configure(
        tmp_path / "etc", {"voicemail.conf": "voicemail", "sip.conf": "sippeers"}
    )
    (directory / "voicemail.conf").write_text(VOICEMAIL_CONF)
    server = VoicemailServer(load_config(directory), tmp_path / "spool", port=0, status_port=0)
    await server.start()
    return server


async def test_a_mailbox_added_in_the_database_gets_its_lamp_on_reload(
    database: Database, tmp_path: Path, proxy: Proxy
) -> None:
    server = await served(database, tmp_path, proxy)
    try:
        assert not (await proxy.lamp("2000")).waiting
        # Messages restored for a subscriber the database does not have yet.
        store_messages(tmp_path / "spool", {"2001": {"INBOX": 2}})
        add_mailbox(database, 2, "2001", "5555")
        add_peer(database, 2, "2001", proxy.transport.local)
        assert server.status_port is not None
        status, answer = await post_reload(("127.0.0.1", server.status_port))
        assert status == 200
        assert answer["ok"] is True
        assert answer["added"] == ["2001@default"]
        assert answer["peers_added"] == ["2001"]
        lamp = await proxy.lamp("2001")
        assert lamp.waiting
        assert lamp.voice is not None
        assert (lamp.voice.new, lamp.voice.old) == (2, 0)
    finally:
        await server.close()


async def test_a_mailbox_removed_keeps_its_spool_and_is_no_longer_served(
    database: Database, tmp_path: Path, proxy: Proxy
) -> None:
    server = await served(database, tmp_path, proxy)
    try:
        store_messages(tmp_path / "spool", {"2000": {"INBOX": 1}})
        database.execute("DELETE FROM voicemail WHERE mailbox = ?", ("2000",))
        outcome = await server.reload()
        assert outcome.ok
        assert outcome.change is not None
        assert outcome.change.removed == (MailboxId("2000", "default"),)
        assert server.config.mailbox(MailboxId("2000", "default")) is None
        inbox = tmp_path / "spool" / "default" / "2000" / "INBOX"
        assert sorted(path.name for path in inbox.iterdir()) == ["msg0000.txt", "msg0000.wav"]
    finally:
        await server.close()


async def test_a_failed_reload_keeps_the_running_configuration_and_says_why(
    database: Database, tmp_path: Path, proxy: Proxy
) -> None:
    server = await served(database, tmp_path, proxy)
    try:
        database.execute("DROP TABLE voicemail")
        assert server.status_port is not None
        status, answer = await post_reload(("127.0.0.1", server.status_port))
        assert status == 409
        assert answer["ok"] is False
        assert answer["message"].startswith(
            "reload failed, the running configuration stays: extconfig.conf:2: voicemail.conf: "
        )
        assert "voicemail" in answer["message"]
        assert server.config.mailbox(MailboxId("2000", "default")) is not None
    finally:
        await server.close()


@pytest.mark.parametrize("layout", ["voicemail", "static"])
async def test_a_pin_changed_from_the_menu_is_written_into_its_row(
    database: Database, tmp_path: Path, layout: str
) -> None:
    if layout == "voicemail":
        database.create("voicemail", "voicemail")
        add_mailbox(database, 1, "2000", "1234")
    else:
        database.create("static", "voicemail")
        database.add_file("voicemail", "voicemail.conf", "[default]\n2000 => 1234,Alice,a@b.c\n")
    directory = database.configure(tmp_path / "etc", {"voicemail.conf": "voicemail"})
    config = load_config(directory)
    box = config.mailbox(MailboxId("2000", "default"))
    assert box is not None
    pins.change_pin(
        box,
        "9876",
        tmp_path / "spool",
        "voicemailconf",
        config_dir=directory,
        extconfig=config.extconfig,
    )
    again = load_config(directory).mailbox(MailboxId("2000", "default"))
    assert again is not None
    assert again.login_pin == "9876"
    assert (again.full_name, again.email) == (box.full_name, box.email)
    # The row now says something else than what ``box`` was loaded with: nothing is written.
    with pytest.raises(pins.PinChangeError, match="no longer has the PIN it was loaded with"):
        pins.change_pin(
            box,
            "1111",
            tmp_path / "spool",
            "voicemailconf",
            config_dir=directory,
            extconfig=config.extconfig,
        )


async def post_reload(address: Peer) -> tuple[int, dict[str, Any]]:
    """``POST /reload`` as ``vmharness reload`` sends it."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(b"POST /reload HTTP/1.0\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)
