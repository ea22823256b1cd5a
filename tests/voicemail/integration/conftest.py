"""A voicemail server with a simulated proxy and phones on loopback, driven only over SIP and RTP.

``bed = await make_bed(...)`` starts the parties; the helpers on :class:`Bed` leave messages,
call the menu and watch lamps the way a user would, and the spool is read for white-box checks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pytest

from harness.core.mailbox import MailboxId
from harness.core.mwi import Counts, LampCheck, LampExpectation
from harness.core.routing import Convention, Router
from harness.media.signal import speech_like
from harness.media.signature import find_message_codes, message_signature
from harness.media.wav import wav_bytes
from harness.sim.phone import Call, DtmfMode, Phone
from harness.sim.profiles import ProxyProfile
from harness.sim.proxy import SimProxy
from harness.sip.transport import WireMessage
from harness.targets import EmbeddedTarget, MailboxEntry, PeerEntry
from harness.voicemail.server import VoicemailServer

RETRIEVAL_NUMBER = "*97"


def coded_greeting(code: str) -> npt.NDArray[np.int16]:
    """A short greeting a caller can be heard to have heard: message code ``code``, a pause."""
    return np.concatenate((message_signature(code), np.zeros(800, dtype=np.int16)))


#: A sample above this level is sound, not silence or line noise.
_SOUND_LEVEL = 1000


@dataclass
class Bed:
    """The parties of one test."""

    proxy: SimProxy
    target: EmbeddedTarget
    phones: dict[str, Phone]
    wire: list[WireMessage]
    callers: dict[str, Phone] = field(default_factory=dict)

    @property
    def server(self) -> VoicemailServer:
        """The voicemail server under test."""
        assert self.target.server is not None
        return self.target.server

    def now(self) -> float:
        """The loop clock."""
        return asyncio.get_running_loop().time()

    async def caller(self, number: str = "+15551230000") -> Phone:
        """An outside caller (not registered)."""
        phone = self.callers.get(number)
        if phone is None:
            phone = Phone(number, self.proxy.address)
            phone.transport.subscribe(self.wire.append)
            await phone.start()
            self.callers[number] = phone
        return phone

    async def deposit(
        self,
        user: str,
        seconds: float = 1.0,
        *,
        caller: str = "+15551230000",
        signature: str | None = None,
        audio: npt.NDArray[np.int16] | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        wait_for_beep: bool = True,
        skip_greeting: bool = False,
        settle: bool = True,
    ) -> Call:
        """Call ``user`` (ringing unanswered), speak after the beep, hang up; the call.

        ``skip_greeting`` presses ``#`` as soon as the greeting starts, which skips it and
        ``vm-intro`` (a deposit then takes about a second plus the message). ``settle=False``
        returns once the caller has hung up, without waiting for every call on the server to
        end (for a deposit while another call is in progress).
        """
        phone = await self.caller(caller)
        call = await phone.dial(user, headers=headers)
        if skip_greeting:
            assert await self.wait_audio(call), "no greeting was heard"
            await call.send_dtmf("#")
        if wait_for_beep:
            assert await call.wait_for_prompt("beep"), call.heard_prompts()
            await call.wait_quiet(0.2)
        sound = audio if audio is not None else speech_like(seconds, f"{caller}->{user}")
        if signature is not None:
            sound = np.concatenate((message_signature(signature), sound))
        await call.play(sound)
        await call.hangup()
        if settle:
            await self.server.wait_idle()
        return call

    async def menu(self, user: str) -> Call:
        """Phone ``user`` calls the voicemail number."""
        return await self.phones[user].dial(RETRIEVAL_NUMBER)

    async def press(self, call: Call, *keys: str, dtmf: DtmfMode = "rfc2833") -> None:
        """Press each of ``keys`` once the menu has spoken and waits."""
        for key in keys:
            assert not call.ended.is_set(), f"the call ended before {key!r}"
            await call.wait_quiet()
            await call.send_dtmf(key, dtmf)

    async def finish(self, call: Call, timeout: float = 10.0) -> None:
        """Wait for the server to hang up (or hang up ourselves), then for it to settle."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(call.ended.wait(), timeout)
        await call.hangup()
        await self.server.wait_idle()

    async def lamp(
        self,
        user: str,
        waiting: bool,
        voice: tuple[int, int] | None = None,
        *,
        since: float,
        within: float = 5.0,
    ) -> LampCheck:
        """Wait for phone ``user``'s lamp to show ``waiting`` (and ``voice`` new/old)."""
        expect = LampExpectation(waiting, Counts(*voice) if voice else None, within)
        return await self.phones[user].wait_lamp(expect, since, start=self.now())

    def count(self, box: str, folder: str = "INBOX", context: str = "default") -> int:
        """White-box: messages in a spool folder."""
        return self.server.spool.count(MailboxId(box, context), folder)

    def put_greeting(
        self, box: str, kind: str, audio: npt.NDArray[np.int16], context: str = "default"
    ) -> None:
        """White-box: copy a greeting WAV into the spool, as an Asterisk admin does."""
        self.server.spool.save_greeting(MailboxId(box, context), kind, wav_bytes(audio))

    async def lamp_settled(self, user: str) -> float:
        """Wait for phone ``user``'s first NOTIFY (sent when it registers); the time after it."""
        check = await self.lamp(user, False, since=0.0)
        assert check.status == "met", check.detail
        return self.now()

    async def assert_nothing_left(self, user: str, since: float, quiet: float = 1.0) -> None:
        """No message in any folder of ``user``'s box, and for ``quiet`` seconds from now no
        NOTIFY since ``since`` on its phone: the lamp stays off."""
        counts = self.server.counts(MailboxId(user))
        assert (counts.new, counts.old, counts.urgent) == (0, 0, 0), counts
        box = self.target.spool / "default" / user
        assert not box.exists() or not list(box.rglob("msg*")), list(box.rglob("*"))
        lit = await self.lamp(user, True, since=since, within=quiet)
        assert lit.status == "failed", lit.detail
        assert self.phones[user].notifies_since(since) == []

    async def login(self, user: str, pin: str = "4321", *, dtmf: DtmfMode = "rfc2833") -> Call:
        """Phone ``user`` calls the voicemail number and answers ``vm-password`` with ``pin``."""
        call = await self.menu(user)
        assert await call.wait_for_prompt("vm-password"), call.heard_prompts()
        await self.press(call, pin + "#", dtmf=dtmf)
        return call

    async def hear(
        self, call: Call, name: str, *, after: int = 0, timeout: float = 15.0
    ) -> list[str]:
        """Wait until prompt ``name`` is heard after the first ``after`` prompts of the call;
        the prompts heard after those ``after`` (whether or not ``name`` came in time)."""
        deadline = self.now() + timeout
        while True:
            heard = call.heard_prompts()[after:]
            if name in heard or self.now() >= deadline or call.ended.is_set():
                return heard
            await asyncio.sleep(0.05)

    async def codes(
        self, call: Call, code: str, *, times: int = 1, timeout: float = 15.0
    ) -> list[str]:
        """Wait until message signature ``code`` has been heard ``times`` times; every
        message signature heard so far, in order (whether or not ``code`` came in time)."""
        deadline = self.now() + timeout
        while True:
            heard = find_message_codes(call.heard())
            if heard.count(code) >= times or self.now() >= deadline or call.ended.is_set():
                return heard
            await asyncio.sleep(0.05)

    async def wait_audio(self, call: Call, timeout: float = 10.0) -> bool:
        """Wait until the far end sends sound (not silence); False when ``timeout`` passed."""
        deadline = self.now() + timeout
        while self.now() < deadline and not call.ended.is_set():
            heard = call.heard()
            if heard.size and int(np.abs(heard.astype(np.int32)).max()) > _SOUND_LEVEL:
                return True
            await asyncio.sleep(0.02)
        return False

    async def hung_up_by_server(self, call: Call, timeout: float = 10.0) -> bool:
        """Wait for the server's BYE on ``call``; False when ``timeout`` passed first.

        Only the far end's BYE ends a call the phone has not hung up itself.
        """
        try:
            await asyncio.wait_for(call.ended.wait(), timeout)
        except TimeoutError:
            return False
        return True


BedFactory = Callable[..., Awaitable[Bed]]


@pytest.fixture
async def make_bed() -> AsyncIterator[BedFactory]:
    """Start a bed: ``await make_bed(mailboxes={"2000": "4321"}, phones=["2000"], ...)``.

    ``general`` adds voicemail.conf ``[general]`` options; ``convention`` picks the proxy's;
    ``dtmf`` gives a phone's sip.conf ``dtmfmode``; ``register`` registers the phones first;
    ``chain`` is the server's routing chain (conventions in order; default: the Router's).
    """
    beds: list[Bed] = []

    async def make(
        mailboxes: dict[str, str] | None = None,
        phones: Iterable[str] = ("2000",),
        *,
        general: dict[str, str] | None = None,
        convention: str = "x-voicemail",
        dtmf: dict[str, str] | None = None,
        register: bool = True,
        no_answer_timeout: float = 0.3,
        chain: tuple[str, ...] | None = None,
    ) -> Bed:
        boxes = {MailboxId.parse(box): pin for box, pin in (mailboxes or {"2000": "4321"}).items()}
        wire: list[WireMessage] = []
        users = list(phones)
        # The phones register after the server started: the REGISTER copied to it (off by
        # default, as chan_sip gets none) is what brings them their lamp state.
        profile = ProxyProfile(
            convention=Convention(convention),
            no_answer_timeout=no_answer_timeout,
            replicate_register=True,
        )
        mapping = {user: MailboxId(user) for user in users}
        proxy = SimProxy(("127.0.0.1", 9), profile, mailboxes=mapping)
        proxy.transport.subscribe(wire.append)
        await proxy.start()
        target = EmbeddedTarget(
            [MailboxEntry(box, pin) for box, pin in boxes.items()],
            [PeerEntry(user, mapping[user], (dtmf or {}).get(user, "rfc2833")) for user in users],
            router=Router() if chain is None else Router.of(chain),
            general=general,
        )
        bed = Bed(proxy, target, {}, wire)
        beds.append(bed)
        proxy.voicemail = await target.start(proxy.address)
        bed.server.transport.subscribe(wire.append)
        for user in users:
            phone = Phone(user, proxy.address)
            phone.transport.subscribe(wire.append)
            await phone.start()
            bed.phones[user] = phone
            if register:
                assert (await phone.register()).status == 200
        return bed

    yield make
    for bed in beds:
        for phone in [*bed.phones.values(), *bed.callers.values()]:
            await phone.close()
        await bed.target.close()
        await bed.proxy.close()
