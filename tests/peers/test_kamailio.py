"""Kamailio, a real proxy, in front of the embedded voicemail server: forwarding and MWI relay."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.core.mailbox import MailboxId
from harness.core.mwi import Counts, LampExpectation
from harness.core.routing import Convention, Router
from harness.media.signal import speech_like
from harness.peers.kamailio import (
    KAMAILIO_BINARY,
    Kamailio,
    KamailioConvention,
    KamailioError,
)
from harness.sim.phone import AnswerMode, Phone
from harness.sip.builder import new_request
from harness.sip.message import Request, Response, parse_message
from harness.sip.transport import WireMessage
from harness.targets import EmbeddedTarget, MailboxEntry, PeerEntry

OWNER = MailboxId("2000", "default")
ABSENT = MailboxId("2001", "default")
CALLER = "+15551230000"
#: The no-answer timer; short so each test takes a few seconds.
RING_SECONDS = 1.0


@pytest.fixture
def kamailio_present(require_peer: Callable[..., str]) -> None:
    # /usr/sbin, where Debian puts it, is not on every user's PATH.
    if shutil.which("kamailio") is None:
        require_peer("kamailio", KAMAILIO_BINARY)


pytestmark = pytest.mark.usefixtures("kamailio_present")


@dataclass
class Bed:
    """Kamailio with the embedded voicemail server behind it, one phone and one caller."""

    kamailio: Kamailio
    target: EmbeddedTarget
    #: 2000, registered at Kamailio.
    phone: Phone
    #: An outside caller, not registered.
    caller: Phone
    wire: list[WireMessage]
    #: The prompts the caller heard before the beep of the last message left.
    heard: list[str] = field(default_factory=list)

    def requests(self, party: str, direction: str, method: str) -> list[Request]:
        """Requests of ``method`` the party sent ("out") or received ("in")."""
        return [
            message
            for record in self.wire
            if record.party == party and record.direction == direction
            for message in [parse_message(record.data)]
            if isinstance(message, Request) and message.method == method
        ]

    def responses(self, party: str, direction: str, method: str) -> list[Response]:
        """Responses to ``method`` the party sent ("out") or received ("in")."""
        return [
            message
            for record in self.wire
            if record.party == party and record.direction == direction
            for message in [parse_message(record.data)]
            if isinstance(message, Response) and message.cseq[1] == method
        ]


@asynccontextmanager
async def kamailio_bed(
    log_dir: Path,
    convention: KamailioConvention = Convention.X_VOICEMAIL,
    answer_mode: AnswerMode = "no-answer",
) -> AsyncIterator[Bed]:
    wire: list[WireMessage] = []
    kamailio = Kamailio(
        convention=convention, no_answer_timeout=RING_SECONDS, reply_timeout=2.0, log_dir=log_dir
    )
    target = EmbeddedTarget(
        [MailboxEntry(OWNER, "4321"), MailboxEntry(ABSENT, "4321")],
        [PeerEntry("2000", OWNER), PeerEntry("2001", ABSENT)],
    )
    # The voicemail server learns Kamailio's address first, Kamailio then learns the server's.
    kamailio.voicemail = await target.start(kamailio.address)
    assert target.server is not None
    target.server.transport.subscribe(wire.append)
    phone = Phone("2000", kamailio.address, answer_mode=answer_mode)
    caller = Phone(CALLER, kamailio.address)
    try:
        async with kamailio:
            for party in (phone, caller):
                party.transport.subscribe(wire.append)
                await party.start()
            assert (await phone.register()).status == 200
            # The server's start-up NOTIFYs went out before Kamailio listened: let their
            # retransmissions be answered, so each test sees only the traffic it causes.
            await settled(target)
            yield Bed(kamailio, target, phone, caller, wire)
    finally:
        for party in (caller, phone):
            await party.close()
        await target.close()


async def settled(target: EmbeddedTarget, within: float = 10.0) -> None:
    """Wait until the server has no NOTIFY waiting or in flight."""
    assert target.server is not None
    notifier = target.server.notifier
    assert notifier is not None
    for _ in range(round(within / 0.01)):
        if notifier.pending() == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"NOTIFYs still pending after {within:g} s")


async def leave_message(
    bed: Bed, user: str, *, greeting: str | None = None, headers: tuple[tuple[str, str], ...] = ()
) -> float:
    """Call ``user`` from the outside caller and leave half a second; when it was answered.

    The caller skips the greeting with ``#`` once it has heard the ``greeting`` prompt (at once
    when None), then speaks after the beep, as a caller does.
    """
    loop = asyncio.get_running_loop()
    call = await bed.caller.dial(user, headers=headers)
    answered = loop.time()
    if greeting is not None:
        assert await call.wait_for_prompt(greeting, 10.0), f"heard {call.heard_prompts()}"
    await call.send_dtmf("#")
    assert await call.wait_for_prompt("beep", 10.0), f"no beep; heard {call.heard_prompts()}"
    await call.wait_quiet(0.2)
    bed.heard = call.heard_prompts()
    await call.play(speech_like(0.5, "deposit"))
    await call.hangup()
    assert bed.target.server is not None
    await bed.target.server.wait_idle()
    return answered


async def lamp_lit(bed: Bed, since: float) -> None:
    """The phone's lamp shows one new message, from a NOTIFY received after ``since``."""
    now = asyncio.get_running_loop().time()
    check = await bed.phone.wait_lamp(LampExpectation(True, Counts(1, 0), 5.0), since, now)
    assert check.status == "met", check.detail


async def test_no_answer_forwards_and_the_lamp_lights_through_kamailio(tmp_path: Path) -> None:
    async with kamailio_bed(tmp_path) as bed:
        dialled = asyncio.get_running_loop().time()
        answered = await leave_message(bed, "2000")
        assert answered - dialled >= RING_SECONDS * 0.9, "voicemail answered before the ring timer"
        # The phone rang and was cancelled when the timer fired.
        assert bed.requests("phone 2000", "in", "INVITE")
        assert bed.requests("phone 2000", "in", "CANCEL")
        [forwarded] = bed.requests("voicemail", "in", "INVITE")
        assert forwarded.header("X-Voicemail-Mailbox") == "2000"
        assert forwarded.header("X-Voicemail-Context") == "default"
        assert bed.target.server is not None
        [message] = bed.target.server.spool.messages(OWNER)
        assert message.info.callerid == CALLER
        # BYE went through Kamailio's record-route to the server, which then stored the message.
        assert bed.requests("voicemail", "in", "BYE")

        await lamp_lit(bed, answered)
        notify = bed.phone.notifies[-1].request
        # Relayed, not sent directly: Kamailio's Via is on top of the server's.
        top, server_via = notify.vias()[:2]
        assert (top.host, top.port) == bed.kamailio.address
        assert (server_via.host, server_via.port) == bed.target.server.address
        assert b"Voice-Message: 1/0 (0/0)\r\n" in notify.body
        assert bed.phone.notifies[-1].status == 200


@pytest.mark.parametrize("mode", ["busy", "unavailable"])
async def test_a_refusing_phone_forwards_at_once(tmp_path: Path, mode: AnswerMode) -> None:
    async with kamailio_bed(tmp_path, answer_mode=mode) as bed:
        dialled = asyncio.get_running_loop().time()
        answered = await leave_message(bed, "2000")
        assert answered - dialled < RING_SECONDS, "the call waited for the no-answer timer"
        assert bed.responses("phone 2000", "out", "INVITE")[-1].status == (
            486 if mode == "busy" else 480
        )
        [forwarded] = bed.requests("voicemail", "in", "INVITE")
        assert forwarded.header("X-Voicemail-Mailbox") == "2000"
        assert bed.target.server is not None
        assert len(bed.target.server.spool.messages(OWNER)) == 1
        await lamp_lit(bed, answered)


async def test_a_call_to_an_unregistered_user_goes_to_its_mailbox(tmp_path: Path) -> None:
    async with kamailio_bed(tmp_path) as bed:
        # A caller naming another mailbox itself is ignored: only the proxy names it.
        await leave_message(bed, "2001", headers=(("X-Voicemail-Mailbox", "2000"),))
        [forwarded] = bed.requests("voicemail", "in", "INVITE")
        assert forwarded.header_values("X-Voicemail-Mailbox") == ["2001"]
        assert bed.target.server is not None
        assert len(bed.target.server.spool.messages(ABSENT)) == 1
        assert bed.target.server.spool.messages(OWNER) == []
        assert not bed.requests("phone 2000", "in", "INVITE")


async def test_notify_for_an_unregistered_user_is_answered_404_by_kamailio(
    tmp_path: Path,
) -> None:
    async with kamailio_bed(tmp_path) as bed:
        server = bed.target.server
        assert server is not None
        bed.wire.clear()
        server.mailbox_changed(ABSENT)
        answers: list[Response] = []
        for _ in range(200):
            sent = [n for n in bed.requests("voicemail", "out", "NOTIFY") if "2001@" in n.uri]
            answers = [
                response
                for response in bed.responses("voicemail", "in", "NOTIFY")
                if sent and response.call_id == sent[0].call_id
            ]
            if answers:
                break
            await asyncio.sleep(0.01)
        assert answers, "Kamailio did not answer the NOTIFY for 2001"
        assert answers[0].status == 404
        assert answers[0].header("Server") == bed.kamailio.server_header
        # A 4xx is final: the server does not retry it.
        await settled(bed.target, within=1.0)


async def test_only_the_voicemail_server_may_send_message_summaries(tmp_path: Path) -> None:
    async with kamailio_bed(tmp_path) as bed:
        forged = new_request(
            "NOTIFY",
            f"sip:2000@{bed.kamailio.host}:{bed.kamailio.port}",
            from_address=bed.caller.aor,
            to_address=f"<sip:2000@{bed.kamailio.host}:{bed.kamailio.port}>",
            local=bed.caller.transport.local,
            headers=[("Event", "message-summary")],
            body=b"Messages-Waiting: yes\r\nVoice-Message: 9/0 (0/0)\r\n",
            content_type="application/simple-message-summary",
        )
        answer = await bed.caller.transport.request(forged, bed.kamailio.address)
        assert answer.status == 403
        relayed = bed.requests("phone 2000", "in", "NOTIFY")
        assert not [notify for notify in relayed if b"9/0" in notify.body]


@pytest.mark.parametrize(
    ("user", "mode", "reason"),
    [
        ("2000", "no-answer", "no-answer"),
        ("2000", "busy", "user-busy"),
        ("2000", "unavailable", "unavailable"),
        ("2001", "no-answer", "unavailable"),
    ],
)
async def test_diversion_variant_names_the_mailbox_and_the_reason(
    tmp_path: Path, user: str, mode: AnswerMode, reason: str
) -> None:
    async with kamailio_bed(tmp_path, Convention.DIVERSION, mode) as bed:
        if reason in ("user-busy", "no-answer"):
            # The server resolves the reason: the busy greeting for user-busy only. (Listening
            # to the greeting takes seconds: the other reasons sound like no-answer.)
            greeting, other = "vm-isunavail", "vm-isonphone"
            if reason == "user-busy":
                greeting, other = other, greeting
            await leave_message(bed, user, greeting=greeting)
            assert other not in bed.heard
        else:
            await leave_message(bed, user)
        [forwarded] = bed.requests("voicemail", "in", "INVITE")
        host, port = bed.kamailio.address
        assert forwarded.header("Diversion") == (
            f"<sip:{user}@{host}:{port}>;reason={reason};counter=1"
        )
        assert forwarded.header("X-Voicemail-Mailbox") is None
        resolution = Router().resolve(forwarded)
        assert resolution is not None
        assert (resolution.convention, resolution.reason) == ("diversion", reason)
        assert bed.target.server is not None
        [message] = bed.target.server.spool.messages(MailboxId(user))
        assert message.info.rdnis == user


@pytest.mark.parametrize("convention", ["x-voicemail", "diversion"])
async def test_the_retrieval_number_reaches_the_callers_own_mailbox(
    tmp_path: Path, convention: KamailioConvention
) -> None:
    async with kamailio_bed(tmp_path, convention) as bed:
        call = await bed.phone.dial("*97")
        # The menu knows the mailbox: it asks for the PIN only, not for a mailbox number.
        assert await call.wait_for_prompt("vm-password", 10.0), f"heard {call.heard_prompts()}"
        assert "vm-login" not in call.heard_prompts()
        await call.hangup()
        [forwarded] = bed.requests("voicemail", "in", "INVITE")
        assert forwarded.uri.startswith("sip:*97@")
        routed = Router().classify(forwarded)
        assert routed.kind == "retrieve"
        assert routed.resolution is not None
        assert routed.resolution.mailbox == OWNER
        if convention is Convention.X_VOICEMAIL:
            assert forwarded.header("X-Voicemail-Mailbox") == "2000"


async def test_message_summary_subscriptions_go_to_the_voicemail_server(tmp_path: Path) -> None:
    async with kamailio_bed(tmp_path) as bed:
        phone = bed.phone

        def subscribe(event: str) -> Request:
            return new_request(
                "SUBSCRIBE",
                f"sip:2000@{bed.kamailio.host}:{bed.kamailio.port}",
                from_address=phone.aor,
                to_address=phone.aor,
                local=phone.transport.local,
                headers=[("Event", event), ("Expires", "60")],
            )

        request = subscribe("message-summary")
        answer = await phone.transport.request(request, bed.kamailio.address)
        [arrived] = bed.requests("voicemail", "in", "SUBSCRIBE")
        assert arrived.header("Event") == "message-summary"
        host, port = bed.kamailio.address
        assert f"sip:{host}:{port};lr" in (arrived.header("Record-Route") or "")
        assert answer.status == 200
        # The subscription's NOTIFY follows the record-routed path back through Kamailio.
        for _ in range(200):
            if any(n.request.call_id == request.call_id for n in phone.notifies):
                break
            await asyncio.sleep(0.01)
        [notify] = [n.request for n in phone.notifies if n.request.call_id == request.call_id]
        top = notify.vias()[0]
        assert (top.host, top.port) == bed.kamailio.address
        assert b"Messages-Waiting: no" in notify.body

        refused = await phone.transport.request(subscribe("presence"), bed.kamailio.address)
        assert refused.status == 489
        assert len(bed.requests("voicemail", "in", "SUBSCRIBE")) == 1


async def test_instances_run_side_by_side_and_stop_cleanly(tmp_path: Path) -> None:
    first = Kamailio(("127.0.0.1", 9), log_dir=tmp_path / "first")
    second = Kamailio(("127.0.0.1", 9), log_dir=tmp_path / "second")
    assert first.address != second.address
    async with first, second:
        assert first.ctl_socket != second.ctl_socket
        assert first.ctl_socket.exists()
        assert second.ctl_socket.exists()
        assert first.server_header.startswith("kamailio (")
        pids = (first.pid, second.pid)
    assert None not in pids
    for pid in pids:
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert first.returncode == 0
    assert "Listening on" in (tmp_path / "first" / "kamailio.log").read_text()


async def test_a_config_kamailio_rejects_fails_start_with_its_log(tmp_path: Path) -> None:
    broken = tmp_path / "broken.cfg"
    broken.write_text('#!KAMAILIO\nloadmodule "no_such_module.so"\nrequest_route { exit; }\n')
    kamailio = Kamailio(("127.0.0.1", 9), config=broken, log_dir=tmp_path)
    with pytest.raises(KamailioError, match="exited with status") as failed:
        await kamailio.start()
    assert "no_such_module" in str(failed.value)
    assert kamailio.pid is None
