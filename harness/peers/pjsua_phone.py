"""A PJSUA2 phone in a process of its own: ``python -m harness.peers.pjsua_phone``.

:class:`harness.peers.pjsua.PjsuaPhone` starts this module and drives it; nothing else should
need to. PJSUA2 runs its SIP work here on the main thread (``threadCnt=0``,
``mainThreadOnly``: every callback is delivered inside ``libHandleEvents``), so none of its
threads ever meets the parent's asyncio loop.

Protocol: one JSON object per line. Commands arrive on stdin as
``{"id": N, "command": NAME, ...arguments}`` and are answered with
``{"event": "reply", "id": N, "ok": true, "result": ...}`` or ``"ok": false, "error": TEXT``.
What happens on its own comes as events: ``ready`` (SIP address), ``registration`` (status
code), ``mwi`` (lamp state and body of a message-summary NOTIFY), ``incoming`` (a call rang),
``call`` (a call's state), ``media`` (its audio is flowing), ``played`` (a file played to its
end), ``released`` (a call is gone and its recording closed). The protocol goes to a duplicate
of the original stdout; the process's own fd 1 is pointed at stderr, so nothing PJSIP prints
natively can corrupt it.

The phone sends G.711 only (PCMU, then PCMA), so its offer carries telephone-event at 8 kHz
only; the audio clock is 8 kHz and the sound device is the null device, so no sound card is
needed, and silence is sent as audio (no VAD) so RFC 2833 digits always have a stream to ride.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import sys
import time
import traceback
import wave
from collections.abc import Callable
from typing import IO, Any

pj: Any = importlib.import_module("pjsua2")

#: Codecs offered, most preferred first: all at 8 kHz, so telephone-event is too.
CODECS = ("PCMU/8000/1", "PCMA/8000/1")
_EVENT_POLL_MS = 10
_SHUTDOWN_SECONDS = 3.0
_UNREGISTER_SECONDS = 1.0
#: Audio the phone buffers before playing out what it receives, in milliseconds.
_JITTER_MS = 160


class _Wire:
    """Writes the JSON lines of the protocol."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def send(self, event: str, **fields: Any) -> None:
        self._stream.write(json.dumps({"event": event, **fields}) + "\n")
        self._stream.flush()


def _summary(body: str) -> dict[str, Any]:
    """The lamp and voice counts of an application/simple-message-summary body."""
    waiting: bool | None = None
    voice: str | None = None
    for line in body.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "messages-waiting":
            waiting = value.strip().lower() == "yes"
        elif name.strip().lower() == "voice-message":
            voice = value.strip()
    return {"waiting": waiting, "voice": voice, "body": body}


class _Call(pj.Call):  # type: ignore[misc]
    """One call and the media attached to it: at most one player and one recorder."""

    def __init__(self, phone: _Phone, account: Any, key: int, call_id: int | None = None) -> None:
        if call_id is None:
            super().__init__(account)
        else:
            super().__init__(account, call_id)
        self.phone = phone
        self.key = key
        self.audio: Any = None
        self.player: Any = None
        self.player_path: str | None = None
        self.play_ends: float | None = None
        self.recorder: Any = None
        self.ended = False

    def onCallState(self, prm: Any) -> None:  # noqa: N802 (PJSUA2's name)
        info = self.getInfo()
        self.phone.wire.send(
            "call",
            call=self.key,
            state=info.stateText,
            code=info.lastStatusCode,
            reason=info.lastReason,
        )
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.ended = True

    def onCallMediaState(self, prm: Any) -> None:  # noqa: N802 (PJSUA2's name)
        info = self.getInfo()
        for index, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.audio = self.getAudioMedia(index)
                if self.player is not None:
                    self.player.startTransmit(self.audio)
                if self.recorder is not None:
                    self.audio.startTransmit(self.recorder)
                self.phone.wire.send("media", call=self.key, active=True)
                return

    def play(self, path: str, loop: bool) -> float:
        """Play ``path`` into the call instead of what played before; its length in seconds."""
        with wave.open(path, "rb") as wav:
            seconds = wav.getnframes() / wav.getframerate()
        self.stop_playing()
        player = pj.AudioMediaPlayer()
        player.createPlayer(path, 0 if loop else pj.PJMEDIA_FILE_NO_LOOP)
        self.player, self.player_path = player, path
        self.play_ends = None if loop else time.monotonic() + seconds
        if self.audio is not None:
            player.startTransmit(self.audio)
        return seconds

    def stop_playing(self) -> None:
        if self.player is not None and self.audio is not None:
            # Fails when the call's media went first; the connection is gone either way.
            with contextlib.suppress(pj.Error):
                self.player.stopTransmit(self.audio)
        self.player = self.player_path = self.play_ends = None

    def record(self, path: str) -> None:
        """Record what the call hears to a WAV file at ``path`` (8 kHz, 16 bits)."""
        self.stop_recording()
        recorder = pj.AudioMediaRecorder()
        recorder.createRecorder(path)
        self.recorder = recorder
        if self.audio is not None:
            self.audio.startTransmit(recorder)

    def stop_recording(self) -> None:
        # Dropping the recorder closes its file and writes the WAV header's final sizes.
        if self.recorder is not None and self.audio is not None:
            with contextlib.suppress(pj.Error):
                self.audio.stopTransmit(self.recorder)
        self.recorder = None

    def tick(self, now: float) -> None:
        if self.play_ends is not None and now >= self.play_ends:
            self.phone.wire.send("played", call=self.key, path=self.player_path)
            self.play_ends = None

    def release(self) -> None:
        # The call's media is torn down with the call: only the player and recorder are left.
        self.audio = None
        self.stop_playing()
        self.stop_recording()


class _Account(pj.Account):  # type: ignore[misc]
    def __init__(self, phone: _Phone, incoming: str) -> None:
        super().__init__()
        self.phone = phone
        self.incoming = incoming
        self.registered = False
        self.reports = 0

    def onRegState(self, prm: Any) -> None:  # noqa: N802 (PJSUA2's name)
        self.registered = prm.code == 200 and prm.expiration > 0
        self.reports += 1
        self.phone.wire.send(
            "registration", code=prm.code, reason=prm.reason, expires=prm.expiration
        )

    def onMwiInfo(self, prm: Any) -> None:  # noqa: N802 (PJSUA2's name)
        _, _, body = prm.rdata.wholeMsg.partition("\r\n\r\n")
        self.phone.wire.send("mwi", state=prm.state, **_summary(body))

    def onIncomingCall(self, prm: Any) -> None:  # noqa: N802 (PJSUA2's name)
        call = self.phone.adopt(self, prm.callId)
        answer = pj.CallOpParam()
        info = call.getInfo()
        self.phone.wire.send("incoming", call=call.key, remote=info.remoteUri, policy=self.incoming)
        if self.incoming == "busy":
            answer.statusCode = 486
            call.hangup(answer)
        else:
            # Ring and never answer: the proxy's no-answer timer decides.
            answer.statusCode = 180
            call.answer(answer)


class _Phone:
    """The endpoint, its one account and its calls, driven by protocol commands."""

    def __init__(self, wire: _Wire, host: str) -> None:
        self.wire = wire
        self.host = host
        self.account: _Account | None = None
        self.calls: dict[int, _Call] = {}
        self._next_key = 1
        self.finished = False
        self.endpoint = pj.Endpoint()
        self.endpoint.libCreate()
        config = pj.EpConfig()
        config.uaConfig.threadCnt = 0
        config.uaConfig.mainThreadOnly = True
        config.uaConfig.mwiUnsolicitedEnabled = True
        config.logConfig.level = 5
        config.logConfig.consoleLevel = 5
        config.logConfig.msgLogging = True
        config.medConfig.clockRate = 8000
        config.medConfig.sndClockRate = 8000
        config.medConfig.noVad = True
        config.medConfig.ecTailLen = 0
        # A deep jitter buffer: on a busy test machine RTP arrives in bursts, and a shallow
        # one would fill the gaps with concealment and garble the signatures a test listens for.
        config.medConfig.jbInit = _JITTER_MS
        config.medConfig.jbMinPre = _JITTER_MS
        config.medConfig.jbMaxPre = 2 * _JITTER_MS
        config.medConfig.jbMax = 1000
        self.endpoint.libInit(config)
        transport = pj.TransportConfig()
        transport.port = 0
        transport.boundAddress = host
        transport.publicAddress = host
        self.transport = self.endpoint.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
        self.endpoint.libStart()
        self.endpoint.audDevManager().setNullDev()
        for codec in self.endpoint.codecEnum2():
            self.endpoint.codecSetPriority(codec.codecId, 0)
        for rank, codec_id in enumerate(CODECS):
            self.endpoint.codecSetPriority(codec_id, 255 - rank)

    def address(self) -> str:
        """Where the phone listens for SIP, ``host:port``."""
        return str(self.endpoint.transportGetInfo(self.transport).localName)

    def adopt(self, account: Any, call_id: int | None = None) -> _Call:
        call = _Call(self, account, self._next_key, call_id)
        self.calls[call.key] = call
        self._next_key += 1
        return call

    def _call(self, key: int) -> _Call:
        try:
            return self.calls[key]
        except KeyError:
            raise LookupError(f"no call {key} (calls: {sorted(self.calls)})") from None

    # -- commands ------------------------------------------------------------------------------

    def register(self, user: str, proxy: str, expires: int, subscribe: bool, incoming: str) -> None:
        if self.account is not None:
            raise RuntimeError("this phone already has an account")
        if incoming not in ("ring", "busy"):
            raise ValueError(f"incoming must be 'ring' or 'busy', not {incoming!r}")
        config = pj.AccountConfig()
        config.idUri = f"sip:{user}@{proxy}"
        config.regConfig.registrarUri = f"sip:{proxy}"
        config.regConfig.timeoutSec = expires
        config.regConfig.retryIntervalSec = 0
        config.mwiConfig.enabled = subscribe
        config.natConfig.contactRewriteUse = 0
        config.natConfig.viaRewriteUse = 0
        config.natConfig.sdpNatRewriteUse = 0
        config.mediaConfig.transportConfig.boundAddress = self.host
        config.mediaConfig.transportConfig.publicAddress = self.host
        account = _Account(self, incoming)
        account.create(config)
        self.account = account

    def dial(self, uri: str) -> int:
        if self.account is None:
            raise RuntimeError("register before dialling")
        call = self.adopt(self.account)
        try:
            call.makeCall(uri, pj.CallOpParam(True))
        except Exception:
            del self.calls[call.key]
            raise
        return call.key

    def play(self, call: int, path: str, loop: bool = False) -> float:
        return self._call(call).play(path, loop)

    def stop_playing(self, call: int) -> None:
        self._call(call).stop_playing()

    def record(self, call: int, path: str) -> None:
        self._call(call).record(path)

    def dtmf(self, call: int, digits: str) -> None:
        param = pj.CallSendDtmfParam()
        param.digits = digits
        param.method = pj.PJSUA_DTMF_METHOD_RFC2833
        self._call(call).sendDtmf(param)

    def hangup(self, call: int) -> None:
        target = self._call(call)
        if not target.ended:
            target.hangup(pj.CallOpParam())

    def quit(self) -> None:
        self.finished = True

    # -- the loop ------------------------------------------------------------------------------

    def handle(self, line: bytes) -> None:
        request_id: Any = None
        try:
            request = json.loads(line)
            request_id = request.pop("id")
            name = request.pop("command")
            handlers: dict[str, Callable[..., Any]] = {
                "register": self.register,
                "dial": self.dial,
                "play": self.play,
                "stop_playing": self.stop_playing,
                "record": self.record,
                "dtmf": self.dtmf,
                "hangup": self.hangup,
                "quit": self.quit,
            }
            handler = handlers.get(name)
            if handler is None:
                raise ValueError(f"unknown command {name!r}")
            result = handler(**request)
        except Exception as error:
            if isinstance(error, pj.Error):
                detail = str(error.info())
            else:
                detail = f"{type(error).__name__}: {error}"
            self.wire.send("reply", id=request_id, ok=False, error=detail)
            return
        self.wire.send("reply", id=request_id, ok=True, result=result)

    def tick(self) -> None:
        now = time.monotonic()
        for key, call in list(self.calls.items()):
            call.tick(now)
            if call.ended:
                # Outside PJSUA2's callbacks: the only safe place to drop a Call.
                call.release()
                del self.calls[key]
                self.wire.send("released", call=key)

    def events(self, milliseconds: int = _EVENT_POLL_MS) -> None:
        self.endpoint.libHandleEvents(milliseconds)
        self.tick()

    def shutdown(self) -> None:
        """Hang up, unregister, release everything, destroy.

        The library's own shutdown would wait a fixed second for un-REGISTERs; waiting for the
        one answer this phone needs and then destroying without network is quicker.
        """
        for call in list(self.calls.values()):
            if not call.ended:
                try:
                    call.hangup(pj.CallOpParam())
                except pj.Error:
                    call.ended = True
        deadline = time.monotonic() + _SHUTDOWN_SECONDS
        while self.calls and time.monotonic() < deadline:
            self.events()
        for call in self.calls.values():
            call.release()
        self.calls.clear()
        account = self.account
        if account is not None:
            if account.registered:
                reports = account.reports
                account.setRegistration(False)
                deadline = time.monotonic() + _UNREGISTER_SECONDS
                while account.reports == reports and time.monotonic() < deadline:
                    self.events()
            account.shutdown()
            self.account = None
            del account
            self.events()
        # Calls and the account are gone: libDestroy() asserts otherwise.
        self.endpoint.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)


def main() -> int:
    """Run the phone until a ``quit`` command or the end of stdin."""
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    wire = _Wire(protocol)
    phone = _Phone(wire, host)
    wire.send("ready", address=phone.address(), version=phone.endpoint.libVersion().full)
    stdin = sys.stdin.fileno()
    pending = b""
    try:
        while not phone.finished:
            readable, _, _ = select.select([stdin], [], [], 0)
            if readable:
                chunk = os.read(stdin, 65536)
                if not chunk:
                    break
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    if line.strip():
                        phone.handle(line)
            phone.events()
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        phone.shutdown()
        wire.send("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
