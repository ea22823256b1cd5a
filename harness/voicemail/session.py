"""Runs a voicemail call flow on a live call: prompts out, keys and recordings in.

The flow (deposit or retrieval) is a sans-IO machine; this adapter turns its actions into RTP
audio, recordings and mailbox operations, and what happens on the call — keys in any DTMF mode,
the end of a playback or a recording, the caller's BYE, the flow's own deadlines — into its
events. Mailbox operations go through :class:`MailboxServices`, which the server provides.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from harness.core.mailbox import MailboxId
from harness.media import g711
from harness.media.dtmf import InbandDetector
from harness.media.session import RtpSession
from harness.media.timeline import Timeline
from harness.sip.sdp import Negotiated
from harness.voicemail.flows.callflow import (
    Action,
    ApplyChanges,
    CallFlow,
    CallStarted,
    ChangePin,
    CopyMessage,
    DigitPressed,
    DiscardRecording,
    Event,
    Greeting,
    Hangup,
    HungUp,
    LoadMailbox,
    Log,
    LoginFailed,
    LoginSucceeded,
    MailboxChanged,
    MailboxLoaded,
    MailboxView,
    MarkUrgent,
    MessageAudio,
    MessageChange,
    Pause,
    Play,
    Playable,
    PlaybackFinished,
    Prompt,
    Record,
    Recording,
    RecordingFinished,
    RemoveGreeting,
    StopPlayback,
    StoreFinished,
    StoreGreeting,
    StoreRecording,
    TimerFired,
)

log = logging.getLogger(__name__)

Pcm = npt.NDArray[np.int16]
DtmfMode = Literal["rfc2833", "info", "inband", "auto"]
RATE = 8000
#: Seconds the caller's RTP timestamps may run ahead of (or behind) the wall clock: jitter,
#: not a way to stretch a recording past the time the caller really spent.
TIMESTAMP_LEAD = 2.0


class MailboxServices(Protocol):
    """What a call session needs from the server: the spool, the notifier, the SIP leg."""

    def load(self, mailbox: MailboxId, contents: bool = True) -> MailboxView | None:
        """The mailbox's configuration and contents (without ``contents``, the counts of its
        folders instead of their messages), or None when it does not exist."""
        ...

    def greeting(self, mailbox: MailboxId, kind: str) -> Pcm | None:
        """A recorded greeting's audio, if the mailbox has one."""
        ...

    def message(self, mailbox: MailboxId, folder: str, msg_id: str) -> Pcm | None:
        """A stored message's audio."""
        ...

    async def store(
        self, mailboxes: tuple[MailboxId, ...], audio: Pcm, urgent: bool
    ) -> tuple[tuple[MailboxId, ...], tuple[MailboxId, ...]]:
        """Store a message in each mailbox; (stored, full)."""
        ...

    async def store_greeting(self, mailbox: MailboxId, kind: str, audio: Pcm) -> None:
        """Store a greeting."""
        ...

    async def remove_greeting(self, mailbox: MailboxId, kind: str) -> None:
        """Remove a greeting."""
        ...

    async def apply_changes(self, mailbox: MailboxId, changes: tuple[MessageChange, ...]) -> None:
        """Move and delete messages, then renumber."""
        ...

    async def copy_message(
        self, mailbox: MailboxId, folder: str, msg_id: str, to: tuple[MailboxId, ...]
    ) -> None:
        """Forward a copy of a message to other mailboxes."""
        ...

    async def change_pin(self, mailbox: MailboxId, pin: str) -> None:
        """Set a mailbox's PIN."""
        ...

    def mailbox_changed(self, mailbox: MailboxId) -> None:
        """Send MWI for the mailbox's new counts."""
        ...

    async def hang_up(self) -> None:
        """End the call from our side (BYE)."""
        ...

    def login_failed(self, mailbox: MailboxId) -> None:
        """A PIN for ``mailbox`` was refused."""
        ...

    def login_succeeded(self, mailbox: MailboxId) -> None:
        """The PIN of ``mailbox`` was accepted."""
        ...

    async def recording_started(self) -> None:
        """A recording begins (a deposit's is journalled to disk as it goes)."""
        ...

    async def mark_urgent(self, urgent: bool) -> None:
        """The message being left is now Urgent, or no longer is (its journal says so)."""
        ...

    async def recording_progress(self, audio: Pcm) -> bool:
        """The next stretch of the current recording, settled (later packets cannot change it).

        True when it is on disk, to be had back from :meth:`recorded`: the call lets go of it.
        False when it is not (no journal, or the journal failed): the call keeps it, and this
        and every later stretch of the recording.
        """
        ...

    async def recorded(self, samples: int) -> Pcm:
        """The first ``samples`` of the current recording, which :meth:`recording_progress`
        put on disk."""
        ...

    async def recording_done(self) -> None:
        """No recording is pending any more (stored, discarded, or the call ended)."""
        ...


#: Seconds between two flushes of a recording to disk.
FLUSH_INTERVAL = 1.0
#: Samples of the recording's end left in memory at a flush, for packets still on their way:
#: a crash loses at most these and a flush interval.
SETTLE_SAMPLES = RATE // 2
#: How far back a recording may begin before the loop came round to start it: the caller's
#: packets of the moment since the event that started it (the beep's end) are kept for it.
#: Past the overload guard's bound on packets taken late (0.3 s), with room for the lag that
#: calls admitted before it tripped still bring.
PREROLL_SAMPLES = RATE


class PromptSource(Protocol):
    """Where prompt audio comes from (generated signatures, or a sounds directory)."""

    def audio(self, name: str) -> Pcm:
        """The 8 kHz audio of prompt ``name``."""
        ...


@dataclass(slots=True)
class _Recording:
    record: Record
    start: int  # sample index in the call's received timeline
    silent: int = 0  # trailing silent samples so far
    timer: asyncio.TimerHandle | None = None
    on_disk: int = 0  # samples from the start the services hold on disk
    journalled: bool = True  # False once a stretch could not be put on disk


#: What is played from the prompts and the spool (a recording under review is the call's own).
_FromStore = Prompt | Greeting | MessageAudio | Pause


@dataclass(frozen=True, slots=True)
class _Recorded:
    """A finished recording: its first ``on_disk`` samples with the services, the rest here
    (G.711, as received)."""

    on_disk: int
    rest: bytes


class CallSession:
    """One voicemail call: a flow, its RTP stream, and the server's mailbox services."""

    def __init__(
        self,
        flow: CallFlow,
        rtp: RtpSession,
        negotiated: Negotiated,
        services: MailboxServices,
        prompts: PromptSource,
        *,
        dtmf_mode: DtmfMode = "rfc2833",
        name: str = "call",
    ) -> None:
        self.flow = flow
        self.rtp = rtp
        self.negotiated = negotiated
        self.services = services
        self.prompts = prompts
        self.name = name
        self._loop = asyncio.get_running_loop()
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._interrupt: str | None = None  # keys that cut the current playback; None: idle
        self._held: list[str] = []  # keys pressed during an uninterruptible playback
        self._playback: asyncio.Task[None] | None = None
        self._recording: _Recording | None = None
        self._flusher: asyncio.Task[None] | None = None
        # The last finished recording, until it is stored or thrown away.
        self._recorded: _Recorded | None = None
        self._hung_up = False
        self._heard_until = 0  # samples of received audio so far (by RTP timestamp)
        self._inband: InbandDetector | None = None
        # The recording under way: its unsettled end, and (encoded) what settled so far.
        self._tape: Timeline | None = None
        self._taken = bytearray()
        # The caller's latest payloads while nothing records, for a recording that begins
        # earlier than the loop came round to start it.
        # (Where each lies on the timeline, when it was read, the payload.)
        self._preroll: deque[tuple[int, float, bytes]] = deque(maxlen=PREROLL_SAMPLES // 80)
        # When the event being handled happened (a playback's end: when its audio ran out).
        self._event_at = 0.0
        self.keys: list[str] = []  # every key heard, for logs and tests
        if dtmf_mode == "auto":
            dtmf_mode = "rfc2833" if negotiated.telephone_event_pt is not None else "inband"
        self.dtmf_mode: DtmfMode = dtmf_mode
        if dtmf_mode == "rfc2833":
            rtp.on_dtmf = self._rtp_key
        elif dtmf_mode == "inband":
            self._inband = InbandDetector()
        rtp.on_packet = self._packet
        rtp.receiver.max_lead = TIMESTAMP_LEAD
        # Payloads go to the recording as they come; the receiver keeps only statistics.
        rtp.receiver.keep_audio = False

    # -- inputs from the call ----------------------------------------------------------------

    def key(self, key: str, read_at: float | None = None) -> None:
        """A key arrived (RFC 4733, SIP INFO or inband, whichever mode the call uses), in a
        packet read at ``read_at`` (None: now). The flow hears of it as of that time, not of
        when a busy loop came round to it: what it starts is reckoned from the caller's key."""
        self.keys.append(key)
        now = self._loop.time()
        if read_at is not None:
            # Never before the event the flow handled last: its events keep their order.
            now = min(now, max(read_at, self._event_at))
        recording = self._recording
        if recording is not None:
            if key in recording.record.stop_keys:
                self._end_recording("key", key)
            return  # other keys while recording are ignored, as Asterisk does
        if self._interrupt is None:
            self._events.put_nowait(DigitPressed(key, now))
        elif key in self._interrupt:
            self._stop_playback()
            self._events.put_nowait(DigitPressed(key, now))
            self._events.put_nowait(PlaybackFinished(now, interrupted=True))
        else:
            self._held.append(key)

    def _rtp_key(self, key: str) -> None:
        self.key(key, self.rtp.read_at)

    def info_key(self, key: str) -> None:
        """A key from a SIP INFO; ignored unless the call uses INFO DTMF."""
        if self.dtmf_mode == "info":
            self.key(key)

    def hung_up(self) -> None:
        """The caller sent BYE."""
        if self._hung_up:
            return
        self._hung_up = True
        self._stop_playback(call_ended=True)
        if self._recording is not None:
            self._end_recording("hangup", None)
        self._events.put_nowait(HungUp(self._loop.time()))

    def _packet(self, payload_type: int, payload: bytes) -> None:
        if payload_type != self.negotiated.payload_type:
            return
        # Where the receiver placed it: held near the wall clock, across renumbering.
        offset = self.rtp.receiver.last_offset
        self._heard_until = max(self._heard_until, offset + len(payload))
        if self._tape is not None:
            self._tape.put(offset, payload)
        else:
            self._preroll.append((offset, self.rtp.receiver.last_arrival, payload))
        if self._inband is None and (
            self._recording is None or not self._recording.record.max_silence
        ):
            return
        pcm = g711.decode(payload, self.negotiated.codec)
        if self._inband is not None:
            for key in self._inband.feed(pcm):
                self.key(key, self.rtp.read_at)
        recording = self._recording
        if recording is not None and recording.record.max_silence:
            level = float(np.abs(pcm.astype(np.int32)).mean()) if pcm.size else 0.0
            recording.silent = (
                recording.silent + pcm.size if level < recording.record.silence_threshold else 0
            )
            if recording.silent >= recording.record.max_silence * RATE:
                self._end_recording("silence", None)

    # -- the flow loop -----------------------------------------------------------------------

    async def run(self) -> None:
        """Drive the flow until it is finished."""
        self._events.put_nowait(CallStarted(self._loop.time()))
        try:
            while not self.flow.finished:
                event = await self._next_event()
                self._event_at = event.now
                for action in self.flow.handle(event):
                    await self._do(action)
        finally:
            # However the flow ended, no flush may outlive the call.
            if self._flusher is not None:
                self._flusher.cancel()
        self._stop_playback(call_ended=True)
        await self.services.recording_done()

    async def _next_event(self) -> Event:
        """The next event, or TimerFired at the flow's deadline. One already waiting is taken
        at once, in the same turn of the loop: a key that cuts a prompt is acted on without
        waiting for the loop to come round again (and again) on a busy server."""
        if not self._events.empty():
            return self._events.get_nowait()
        try:
            async with asyncio.timeout_at(self.flow.next_timer()):
                return await self._events.get()
        except TimeoutError:
            return TimerFired(self._loop.time())

    async def _do(self, action: Action) -> None:
        """Carry out one action: on the call itself, or on the mailboxes."""
        match action:
            case Play():
                self._play(action)
            case StopPlayback():
                self._stop_playback()
            case Record():
                self._start_recording(action, self._event_at)
                await self.services.recording_started()
                self._flusher = asyncio.ensure_future(self._flush_recording())
            case DiscardRecording():
                self._recorded = None
            case Hangup():
                self._stop_playback()
                if not self._hung_up:
                    self._hung_up = True
                    await self.services.hang_up()
            case Log():
                log.info("%s: %s %s", self.name, action.state, action.detail)
            case _:
                await self._on_mailboxes(action)

    async def _on_mailboxes(self, action: Action) -> None:
        """Carry out an action on the spool or the notifier through the server's services."""
        services = self.services
        match action:
            case StoreRecording():
                audio = await self._take_recording()
                stored, full = await services.store(action.mailboxes, audio, action.urgent)
                self._events.put_nowait(StoreFinished(self._loop.time(), stored, full))
            case MarkUrgent():
                await services.mark_urgent(action.urgent)
            case StoreGreeting():
                audio = await self._take_recording()
                await services.store_greeting(action.mailbox, action.kind, audio)
            case RemoveGreeting():
                await services.remove_greeting(action.mailbox, action.kind)
            case LoadMailbox():
                view = services.load(action.mailbox, action.contents)
                self._events.put_nowait(MailboxLoaded(self._loop.time(), action.mailbox, view))
            case ApplyChanges():
                await services.apply_changes(action.mailbox, action.changes)
            case CopyMessage():
                await services.copy_message(action.mailbox, action.folder, action.msg_id, action.to)
            case ChangePin():
                await services.change_pin(action.mailbox, action.pin)
            case MailboxChanged():
                services.mailbox_changed(action.mailbox)
            case LoginFailed():
                services.login_failed(action.mailbox)
            case LoginSucceeded():
                services.login_succeeded(action.mailbox)

    # -- playback ----------------------------------------------------------------------------

    def _render(self, item: _FromStore) -> Pcm:
        match item:
            case Prompt():
                return self.prompts.audio(item.name)
            case Greeting():
                recorded = self.services.greeting(item.mailbox, item.kind)
                if recorded is not None:
                    return recorded
                return _join([self.prompts.audio(prompt.name) for prompt in item.fallback])
            case MessageAudio():
                audio = self.services.message(item.mailbox, item.folder, item.msg_id)
                if audio is None:
                    return np.zeros(0, dtype=np.int16)
                return audio[int(item.offset * RATE) :]
            case Pause():
                return np.zeros(int(item.seconds * RATE), dtype=np.int16)

    def _encoded(self, item: _FromStore) -> list[bytes]:
        """``item`` in the call's codec, in segments: prompts and pauses from the cache (shared
        by every call), the rest encoded."""
        codec = self.negotiated.codec
        match item:
            case Prompt():
                return [encoded_prompt(self.prompts, item.name, codec)]
            case Greeting():
                recorded = self.services.greeting(item.mailbox, item.kind)
                if recorded is not None:
                    return [g711.encode(recorded, codec)]
                return [
                    encoded_prompt(self.prompts, prompt.name, codec) for prompt in item.fallback
                ]
            case Pause():
                return [bytes([g711.silence_byte(codec)]) * int(item.seconds * RATE)]
        return [g711.encode(self._render(item), codec)]

    def _play(self, play: Play) -> None:
        self._stop_playback()
        self._interrupt = play.interrupt
        self._playback = asyncio.ensure_future(self._send(play.items, self._event_at))

    async def _send(self, items: tuple[Playable, ...], since: float) -> None:
        """Play ``items``, called for by the event of time ``since``."""
        # Segments, not one joined payload: a playback process caches each prompt once.
        audio: list[bytes] = []
        for item in items:
            if isinstance(item, Recording):
                # The caller reviews what was just recorded: read back from where it is kept.
                recorded = await self._recorded_audio(self._recorded)
                audio.append(g711.encode(recorded, self.negotiated.codec))
            else:
                audio += self._encoded(item)
        # How long after the event that called for it (a key, a prompt's end) the loop came
        # round to start it: a busy loop's delay, not the caller's.
        late = max(self._loop.time() - since, 0.0)
        completed = await self.rtp.play_encoded(audio, self.negotiated.payload_type)
        if not completed:
            return
        self._interrupt = None
        now = self._loop.time()
        # The playback ended when its audio ran out, however late the loop heard of it, less
        # the time the loop took to start it: the beep ends, and the recording after it
        # begins, where the caller's key put them on the caller's timeline.
        ran_out = self.rtp.played_until
        ended = now if ran_out is None else min(ran_out - late, now)
        self._events.put_nowait(PlaybackFinished(ended))
        held, self._held = self._held, []
        for key in held:
            self._events.put_nowait(DigitPressed(key, now))

    def _stop_playback(self, *, call_ended: bool = False) -> None:
        if self._interrupt is not None or self._playback is not None:
            self.rtp.stop_sending()
        if call_ended and self._playback is not None:
            # A send waiting for its turn would otherwise be left pending when the call ends.
            # While the call goes on, the stopped send ends by itself and the next one follows.
            self._playback.cancel()
        self._interrupt = None
        self._playback = None

    # -- recording ---------------------------------------------------------------------------

    def _start_recording(self, record: Record, since: float) -> None:
        """Record from time ``since`` (the event that started it) on: what the caller sent
        since then is laid on the tape from the pre-roll, up to PREROLL_SAMPLES back, never
        what was read before that time."""
        self._recorded = None
        begin = self._heard_until
        placed = self.rtp.receiver.offset_at(since)
        if placed is not None and placed < begin:
            read_before = [offset + len(data) for offset, at, data in self._preroll if at <= since]
            begin = max(placed, begin - PREROLL_SAMPLES, *read_before)
        recording = _Recording(record, begin)
        tape = self._tape = Timeline(begin, g711.silence_byte(self.negotiated.codec))
        for offset, _, payload in self._preroll:
            skip = begin - offset
            if skip < len(payload):
                tape.put(offset + max(skip, 0), payload[max(skip, 0) :])
        self._preroll.clear()
        self._taken = bytearray()
        if record.max_seconds:
            recording.timer = self._loop.call_later(
                record.max_seconds, self._end_recording, "maxsecs", None
            )
        self._recording = recording

    async def _flush_recording(self) -> None:
        """While recording, hand what settled to the services every FLUSH_INTERVAL; what they
        put on disk the call lets go of, so a long recording costs no memory while it runs."""
        recording = self._recording
        while recording is not None and self._recording is recording:
            await asyncio.sleep(FLUSH_INTERVAL)
            tape = self._tape
            if self._recording is not recording or tape is None:
                return
            chunk = tape.take(self._heard_until - SETTLE_SAMPLES)
            if not chunk:
                continue
            self._taken += chunk
            on_disk = await self.services.recording_progress(
                g711.decode(chunk, self.negotiated.codec)
            )
            if self._recording is not recording:
                return  # it ended meanwhile, and took this stretch along
            if on_disk and recording.journalled:
                recording.on_disk += len(chunk)
                del self._taken[: len(chunk)]
            else:
                recording.journalled = False

    def _end_recording(
        self, why: Literal["key", "maxsecs", "silence", "hangup"], key: str | None
    ) -> None:
        recording, self._recording = self._recording, None
        if recording is None:
            return
        if recording.timer is not None:
            recording.timer.cancel()
        tape, self._tape = self._tape, None
        begin = recording.start if tape is None else tape.begin
        end = self._heard_until
        if why == "silence":
            end -= recording.silent
        if recording.record.max_seconds:
            # Whatever ended it: the timer fires on the wall clock, the audio may run ahead.
            end = min(end, begin + int(recording.record.max_seconds * RATE))
        taken, self._taken = self._taken, bytearray()
        if tape is not None:
            taken += tape.take(end)
        length = max(end - begin, 0)
        # An end cut back (trailing silence, maxsecs) may fall within what is on disk already.
        on_disk = min(recording.on_disk, length)
        rest = bytes(taken[: length - on_disk])
        self._recorded = _Recorded(on_disk, rest)
        seconds = (on_disk + len(rest)) / RATE
        self._events.put_nowait(RecordingFinished(self._loop.time(), why, seconds, key))

    async def _take_recording(self) -> Pcm:
        recorded, self._recorded = self._recorded, None
        return await self._recorded_audio(recorded)

    async def _recorded_audio(self, recorded: _Recorded | None) -> Pcm:
        """A finished recording's audio, whole: from disk, then what the call kept."""
        if recorded is None:
            return np.zeros(0, dtype=np.int16)
        rest = g711.decode(recorded.rest, self.negotiated.codec)
        if not recorded.on_disk:
            return rest
        return np.concatenate((await self.services.recorded(recorded.on_disk), rest))


# Each prompt is encoded once per library and codec, then only its bytes are joined per call.
_ENCODED: weakref.WeakKeyDictionary[PromptSource, dict[tuple[str, str], bytes]] = (
    weakref.WeakKeyDictionary()
)


def encoded_prompt(prompts: PromptSource, name: str, codec: str) -> bytes:
    """Prompt ``name`` of ``prompts`` encoded with ``codec``, cached."""
    cache = _ENCODED.get(prompts)
    if cache is None:
        cache = _ENCODED[prompts] = {}
    key = (name, codec.upper())
    encoded = cache.get(key)
    if encoded is None:
        encoded = cache[key] = g711.encode(prompts.audio(name), codec)
    return encoded


def _join(parts: list[Pcm]) -> Pcm:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
