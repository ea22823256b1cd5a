"""PJSUA2, a real SIP phone stack, as a phone of a run, driven from asyncio.

The phone lives in a child process (:mod:`harness.peers.pjsua_phone`): PJSUA2's threads and
callbacks stay out of the asyncio loop, and a crash or hang of the library costs a process,
not the run. :class:`PjsuaPhone` starts it, sends it commands as JSON lines and collects what it
reports: its registration, the message-waiting lamp (from unsolicited NOTIFYs, or subscribed
with ``subscribe=True``), calls and their media.

What a call hears is recorded by the phone to a WAV file that this side reads while it grows,
so a test can wait for the voicemail server's prompts (:meth:`PjsuaCall.heard_prompts`) or a
message's signature, and answer with RFC 2833 digits as a caller would. PJSUA2 sends next to nothing
while nothing plays into a call, digits included: :meth:`PjsuaCall.send_dtmf` plays a second of
looped silence first if nothing is playing.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import signal
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt

from harness.media.hearing import Hearing
from harness.media.recognition import installed_index
from harness.media.signature import find_message_codes
from harness.media.wav import write_wav
from harness.sip.transaction import Peer

#: What the phone does with an incoming call: ring until the caller gives up, or answer 486.
IncomingPolicy = Literal["ring", "busy"]

_LOG_TAIL = 3000
_POLL_SECONDS = 0.05
_RATE = 8000


class PjsuaError(RuntimeError):
    """The PJSUA2 phone is missing, refused a command, died, or did not do something in time."""


def pjsua2_available() -> bool:
    """Whether the ``pjsua2`` module (PyPI ``pjsua2-python``) can be imported here."""
    return importlib.util.find_spec("pjsua2") is not None


@dataclass(frozen=True, slots=True)
class MwiState:
    """One message-summary NOTIFY as the phone saw it."""

    #: ``Messages-Waiting``: the lamp; None when the body had no such line.
    waiting: bool | None
    #: The ``Voice-Message`` value, e.g. ``1/0 (0/0)``.
    voice: str | None
    body: str

    @property
    def counts(self) -> tuple[int, int] | None:
        """New and old voice messages, when the body says."""
        if self.voice is None:
            return None
        new, _, rest = self.voice.partition("/")
        old = rest.split()[0] if rest.split() else ""
        if not (new.strip().isdigit() and old.isdigit()):
            return None
        return int(new), int(old)


def _wav_samples(data: bytes) -> npt.NDArray[np.int16]:
    """The samples of a 16-bit mono WAV file that may still be being written."""
    start = data.find(b"data", 12, 200)
    if start < 0:
        return np.zeros(0, dtype=np.int16)
    body = data[start + 8 :]
    return np.frombuffer(body[: len(body) - len(body) % 2], dtype="<i2").astype(np.int16)


class PjsuaCall:
    """A call of a :class:`PjsuaPhone`; made by :meth:`PjsuaPhone.dial`."""

    def __init__(self, phone: PjsuaPhone, key: int) -> None:
        self.phone = phone
        self.key = key
        self.recording: Path | None = None
        self._hearing = Hearing(installed_index())
        self._hearing_samples = 0

    # -- what the phone reported ---------------------------------------------------------------

    def _events(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.phone.events if e["event"] == kind and e.get("call") == self.key]

    @property
    def states(self) -> list[str]:
        """The call's states so far, as PJSUA2 names them (CALLING, EARLY, CONFIRMED, ...)."""
        return [event["state"] for event in self._events("call")]

    @property
    def status(self) -> int | None:
        """The last SIP status code the call saw."""
        events = self._events("call")
        return int(events[-1]["code"]) if events else None

    @property
    def released(self) -> bool:
        """Whether the call is over and its recording closed."""
        return bool(self._events("released"))

    async def wait_confirmed(self, timeout: float = 10.0) -> None:
        """Wait until the call is answered and its audio flows; PjsuaError if it ends first."""
        await self.phone.wait_for(
            lambda: bool(self._events("media")) or self.released,
            timeout,
            f"call {self.key} to be answered",
        )
        if not self._events("media"):
            raise PjsuaError(f"call {self.key} ended unanswered: states {self.states}")

    async def wait_released(self, timeout: float = 10.0) -> None:
        """Wait until the call is over (either side hung up) and its recording is closed."""
        await self.phone.wait_for(lambda: self.released, timeout, f"call {self.key} to end")

    # -- media ---------------------------------------------------------------------------------

    async def play(self, path: Path, *, loop: bool = False) -> float:
        """Play a WAV file into the call in place of what played before; its length in s."""
        seconds = await self.phone.command("play", call=self.key, path=str(path), loop=loop)
        return float(seconds)

    async def play_to_end(self, path: Path, *, timeout: float | None = None) -> None:
        """Play a WAV file and wait until it has been played."""
        seen = len(self._events("played"))
        seconds = await self.play(path)
        await self.phone.wait_for(
            lambda: len(self._events("played")) > seen,
            timeout or seconds + 5.0,
            f"{path.name} to play in call {self.key}",
        )

    async def record(self, path: Path) -> None:
        """Record what the call hears to ``path`` (16-bit, 8 kHz WAV) until it ends."""
        await self.phone.command("record", call=self.key, path=str(path))
        self.recording = path

    def heard(self) -> npt.NDArray[np.int16]:
        """What the call has heard so far (recorded; a quarter second may still be buffered)."""
        if self.recording is None:
            raise PjsuaError(f"call {self.key} is not being recorded: record() it first")
        try:
            return _wav_samples(self.recording.read_bytes())
        except FileNotFoundError:
            return np.zeros(0, dtype=np.int16)

    def heard_prompts(self) -> list[str]:
        """The voicemail prompts heard so far, in order."""
        heard = self.heard()
        if self._hearing_samples > heard.size:
            # The recording was restarted: hear it afresh.
            self._hearing = Hearing(installed_index())
        self._hearing_samples = heard.size
        return self._hearing.prompts(heard, final=self.released)

    async def wait_for_prompt(self, name: str, timeout: float = 15.0, *, count: int = 1) -> None:
        """Wait until prompt ``name`` has been heard ``count`` times; PjsuaError naming what
        was heard if it is not."""
        await self._wait_heard(
            lambda: self.heard_prompts().count(name) >= count, timeout, f"prompt {name!r}"
        )

    async def wait_for_code(self, code: str, timeout: float = 15.0) -> None:
        """Wait until a message carrying signature ``code`` has been heard."""
        await self._wait_heard(
            lambda: code in find_message_codes(self.heard()), timeout, f"message {code!r}"
        )

    async def _wait_heard(self, heard: Callable[[], bool], timeout: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not heard():
            if loop.time() > deadline:
                raise PjsuaError(
                    f"call {self.key} did not hear {what} within {timeout:g} s; "
                    f"heard prompts {self.heard_prompts()}, states {self.states}"
                )
            # Released: the recording is complete, so one last look decides.
            if self.released and not heard():
                raise PjsuaError(
                    f"call {self.key} ended before {what} was heard; "
                    f"heard prompts {self.heard_prompts()}, states {self.states}"
                )
            await asyncio.sleep(_POLL_SECONDS)

    async def send_dtmf(self, digits: str) -> None:
        """Send ``digits`` as RFC 2833 events (with silence playing if nothing else is)."""
        if not self._events("media"):
            raise PjsuaError(f"call {self.key} has no audio to send {digits!r} on")
        if not self.phone.playing(self.key):
            await self.play(self.phone.silence(), loop=True)
        await self.phone.command("dtmf", call=self.key, digits=digits)

    async def hangup(self, timeout: float = 5.0) -> None:
        """Hang up (BYE, or CANCEL before an answer) and wait until the call is released."""
        if not self.released:
            await self.phone.command("hangup", call=self.key)
        await self.wait_released(timeout)


class PjsuaPhone:
    """A PJSUA2 phone registered as ``user`` at ``proxy``, in its own process.

    ``incoming`` says what it does when called; ``subscribe`` makes it SUBSCRIBE to
    message-summary (the lamp then also comes from the subscription's NOTIFYs). Its PJSIP log
    (with every SIP message) goes to :attr:`log_path`.
    """

    def __init__(
        self,
        user: str,
        proxy: Peer,
        *,
        host: str = "127.0.0.1",
        incoming: IncomingPolicy = "ring",
        subscribe: bool = False,
        log_dir: Path | None = None,
        python: str | None = None,
        start_timeout: float = 10.0,
        command_timeout: float = 5.0,
    ) -> None:
        if not user or any(char in user for char in ' <>@:;"\r\n'):
            raise ValueError(f"user {user!r} is not a plain SIP user name")
        if incoming not in ("ring", "busy"):
            raise ValueError(f"incoming must be 'ring' or 'busy', not {incoming!r}")
        self.user = user
        self.proxy = proxy
        self.host = host
        self.incoming: IncomingPolicy = incoming
        self.subscribe = subscribe
        self.python = python or sys.executable
        self.start_timeout = start_timeout
        self.command_timeout = command_timeout
        self._directory = tempfile.TemporaryDirectory(prefix="vmharness-pjsua-")
        self.work_dir = Path(self._directory.name)
        self.log_path = (log_dir or self.work_dir) / f"pjsua-{user}.log"
        #: Everything the phone reported, in order (JSON objects with an "event" key).
        self.events: list[dict[str, Any]] = []
        self.address: str | None = None
        self.version: str | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()
        self._replies: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 1
        self._silence: Path | None = None
        self._players: dict[int, bool] = {}

    @property
    def aor(self) -> str:
        """The phone's address of record at the proxy."""
        host, port = self.proxy
        return f"sip:{self.user}@{host}:{port}"

    @property
    def pid(self) -> int | None:
        """The child process's PID while it runs."""
        if self._process is None or self._process.returncode is not None:
            return None
        return self._process.pid

    @property
    def mwi(self) -> list[MwiState]:
        """Every message-summary NOTIFY the phone received, in order."""
        return [
            MwiState(event["waiting"], event["voice"], event["body"])
            for event in self.events
            if event["event"] == "mwi"
        ]

    @property
    def calls_received(self) -> list[str]:
        """Who called the phone (their URIs), in order; each was rung out or refused."""
        return [event["remote"] for event in self.events if event["event"] == "incoming"]

    @property
    def lamp(self) -> bool | None:
        """The lamp as the last NOTIFY left it (None before any)."""
        states = self.mwi
        return states[-1].waiting if states else None

    def log_text(self) -> str:
        """The phone's log so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- life cycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Start the phone's process and wait until it is ready (not yet registered)."""
        if self._process is not None:
            raise PjsuaError("this phone was already started")
        if not pjsua2_available():
            raise PjsuaError("the pjsua2 module is not installed (PyPI: pjsua2-python)")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self._process = await asyncio.create_subprocess_exec(
                self.python,
                "-m",
                "harness.peers.pjsua_phone",
                self.host,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        self._reader = asyncio.create_task(self._read(self._process))
        try:
            ready = await self.wait_event("ready", self.start_timeout)
        except BaseException:
            await self.close()
            raise
        self.address, self.version = ready["address"], ready["version"]

    async def register(self, expires: int = 600, timeout: float = 5.0) -> int:
        """REGISTER at the proxy; the final status code (200 when it worked)."""
        seen = self._count("registration")
        host, port = self.proxy
        await self.command(
            "register",
            user=self.user,
            proxy=f"{host}:{port}",
            expires=expires,
            subscribe=self.subscribe,
            incoming=self.incoming,
        )
        event = await self.wait_event("registration", timeout, after=seen)
        return int(event["code"])

    async def dial(self, number: str, *, record: Path | None = None) -> PjsuaCall:
        """Call ``number`` at the proxy (``sip:<number>@<proxy>``); recording to ``record``
        from the start when given."""
        host, port = self.proxy
        key = await self.command("dial", uri=f"sip:{number}@{host}:{port}")
        call = PjsuaCall(self, int(key))
        if record is not None:
            await call.record(record)
        return call

    async def wait_lamp(self, waiting: bool, *, after: int = 0, timeout: float = 10.0) -> MwiState:
        """The first NOTIFY from index ``after`` of :attr:`mwi` on that shows the lamp as
        ``waiting``; PjsuaError listing the NOTIFYs seen when none does in time."""

        def found() -> MwiState | None:
            return next((s for s in self.mwi[after:] if s.waiting is waiting), None)

        await self.wait_for(
            lambda: found() is not None,
            timeout,
            f"a NOTIFY with the lamp {'on' if waiting else 'off'} (seen: {self.mwi[after:]})",
        )
        state = found()
        assert state is not None
        return state

    async def close(self, timeout: float = 5.0) -> None:
        """Stop the phone: it hangs up, unregisters and destroys PJSUA2; killed by PID if it
        does not exit within ``timeout``."""
        process = self._process
        if process is None:
            self._directory.cleanup()
            return
        if process.returncode is None:
            with contextlib.suppress(PjsuaError, ConnectionError):
                await self.command("quit")
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                for sent in (signal.SIGTERM, signal.SIGKILL):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(process.pid, sent)
                    try:
                        await asyncio.wait_for(process.wait(), 2.0)
                        break
                    except TimeoutError:
                        continue
        if self._reader is not None:
            await self._reader
        self._directory.cleanup()

    # -- plumbing ------------------------------------------------------------------------------

    def silence(self) -> Path:
        """A second of silence to loop into a call (see :meth:`PjsuaCall.send_dtmf`)."""
        if self._silence is None:
            self._silence = self.work_dir / "silence.wav"
            write_wav(self._silence, np.zeros(_RATE, dtype=np.int16))
        return self._silence

    def playing(self, call: int) -> bool:
        """Whether something was last started playing into ``call`` and may still be."""
        return self._players.get(call, False)

    def _count(self, kind: str) -> int:
        return sum(1 for event in self.events if event["event"] == kind)

    def _failure(self, what: str) -> PjsuaError:
        tail = self.log_text()[-_LOG_TAIL:]
        return PjsuaError(f"{what}\n--- {self.log_path} (end) ---\n{tail}")

    async def command(self, name: str, **arguments: Any) -> Any:
        """Send one command and return its result; PjsuaError with the phone's reason."""
        process = self._process
        if process is None or process.stdin is None or process.returncode is not None:
            raise PjsuaError(f"the phone is not running (command {name!r})")
        request_id = self._next_id
        self._next_id += 1
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._replies[request_id] = answer
        line = json.dumps({"id": request_id, "command": name, **arguments}) + "\n"
        process.stdin.write(line.encode())
        await process.stdin.drain()
        try:
            result = await asyncio.wait_for(answer, self.command_timeout)
        except TimeoutError:
            raise self._failure(f"the phone did not answer {name!r} in time") from None
        finally:
            self._replies.pop(request_id, None)
        if name == "play":
            self._players[arguments["call"]] = True
        elif name == "stop_playing":
            self._players[arguments["call"]] = False
        return result

    async def wait_for(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait until ``condition`` holds after some report; PjsuaError naming ``what``."""
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: condition() or self._gone()), timeout
                )
            except TimeoutError:
                raise self._failure(f"waited {timeout:g} s for {what}") from None
            if not condition():
                raise self._failure(f"the phone stopped before {what}")

    async def wait_event(self, kind: str, timeout: float, *, after: int = 0) -> dict[str, Any]:
        """The first ``kind`` event after the first ``after`` of them."""

        def found() -> dict[str, Any] | None:
            matching = [event for event in self.events if event["event"] == kind]
            return matching[after] if len(matching) > after else None

        await self.wait_for(lambda: found() is not None, timeout, f"{kind!r}")
        event = found()
        assert event is not None
        return event

    def _gone(self) -> bool:
        return self._process is None or self._reader is None or self._reader.done()

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            try:
                event = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if event.get("event") == "reply":
                answer = self._replies.get(event.get("id"))
                if answer is not None and not answer.done():
                    if event["ok"]:
                        answer.set_result(event.get("result"))
                    else:
                        answer.set_exception(PjsuaError(f"the phone refused: {event['error']}"))
                continue
            if event.get("event") == "released":
                self._players.pop(event["call"], None)
            elif event.get("event") == "played":
                self._players[event["call"]] = False
            async with self._changed:
                self.events.append(event)
                self._changed.notify_all()
        for answer in self._replies.values():
            if not answer.done():
                answer.set_exception(self._failure("the phone exited"))
        async with self._changed:
            self._changed.notify_all()
