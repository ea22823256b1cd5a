"""What each scenario step does on a testbed, and how it reports failure in plain words.

A failing step raises :class:`StepFailed` with a sentence a vendor can read: what was expected,
what was seen, and at which hop it went wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import numpy as np

from harness.core.mwi import Counts, LampExpectation
from harness.core.routing import Reason
from harness.media.signal import speech_like
from harness.media.signature import find_message_codes, message_signature
from harness.media.wav import read_wav
from harness.scenario.model import (
    DepositStep,
    ExpectLampStep,
    ExpectNoNotifyStep,
    ExpectNotifyStep,
    ExpectSmdiStep,
    ExpectSpoolStep,
    RegisterStep,
    RetrieveStep,
    SmdiSendStep,
    Step,
    WaitStep,
)
from harness.sim.pbx import SimPbx
from harness.sim.phone import AnswerMode, Call, CallFailed
from harness.sip.errors import SIPParseError
from harness.sip.message import Request, Response, parse_message
from harness.sip.transport import TransactionFailed, WireMessage
from harness.smdi.codec import MdMessage

if TYPE_CHECKING:
    from harness.scenario.runner import Testbed


class StepFailed(Exception):
    """A step's expectation was not met; the message says why in a vendor's words."""


class StepSkipped(Exception):
    """A step cannot run against this target (e.g. white-box on a foreign server)."""


#: The number a phone dials to reach its voicemail menu.
RETRIEVAL_NUMBER = "*97"
#: Seconds a deposit waits for the beep, a retrieval for each menu, and for the server's BYE.
BEEP_TIMEOUT = 20.0
MENU_TIMEOUT = 15.0
HANGUP_TIMEOUT = 10.0

#: How the callee phone behaves so that the proxy forwards with each reason.
_ANSWER_FOR: dict[Reason, AnswerMode] = {
    Reason.USER_BUSY: "busy",
    Reason.NO_ANSWER: "no-answer",
}


async def run_step(step: Step, bed: Testbed) -> str:
    """Run one step; returns a one-line account of what it did."""
    match step:
        case DepositStep():
            return await _deposit(step, bed)
        case ExpectNotifyStep():
            return await _expect_notify(step, bed)
        case ExpectNoNotifyStep():
            return await _expect_no_notify(step, bed)
        case ExpectSpoolStep():
            return _expect_spool(step, bed)
        case RegisterStep():
            return await _register(step, bed)
        case WaitStep():
            await asyncio.sleep(step.seconds)
            return f"waited {step.seconds:g} s"
        case RetrieveStep():
            return await _retrieve(step, bed)
        case SmdiSendStep():
            return await _smdi_send(step, bed)
        case ExpectLampStep():
            return await _expect_lamp(step, bed)
        case ExpectSmdiStep():
            return await _expect_smdi(step, bed)
    raise StepFailed(f"step kind {step.kind!r} has no runner")


async def _register(step: RegisterStep, bed: Testbed) -> str:
    phone = bed.phones[step.phone]
    try:
        response = await phone.register()
    except TransactionFailed:
        raise StepFailed(f"phone {step.phone}: the proxy did not answer REGISTER") from None
    if response.status != 200:
        raise StepFailed(
            f"phone {step.phone}: REGISTER was answered {response.status} {response.reason}"
        )
    return f"phone {step.phone} registered"


async def _deposit(step: DepositStep, bed: Testbed) -> str:
    callee = bed.phone_for(step.to)
    if callee is not None:
        callee.answer_mode = _ANSWER_FOR.get(step.reason, "unavailable")
    user = callee.user if callee is not None else step.to.box
    if step.reason is Reason.UNCONDITIONAL:
        bed.proxy.forward_unconditional.add(user)
    if step.audio is not None:
        audio, _ = read_wav(step.audio)
    else:
        audio = speech_like(step.seconds or 3.0, f"{bed.scenario.name}/{step.from_}")
    caller = await bed.caller(step.from_)
    try:
        call = await caller.dial(user)
    except CallFailed as failure:
        if failure.response.status == step.expect_status:
            return f"call to {user} answered {failure.response.status} as expected"
        raise StepFailed(
            f"the call from {step.from_} to {user} ({step.reason.value}) was answered "
            f"{failure.response.status} {failure.response.reason}; expected {step.expect_status}"
            f"{_invite_story(bed)}"
        ) from None
    except TransactionFailed:
        raise StepFailed(
            f"the call from {step.from_} to {user} got no final response{_invite_story(bed)}"
        ) from None
    finally:
        bed.proxy.forward_unconditional.discard(user)
    if step.expect_status != 200:
        await call.hangup()
        raise StepFailed(f"the call to {user} was answered 200; expected {step.expect_status}")
    # A caller speaks after the beep: the recording starts when it ends.
    beep = await call.wait_for_prompt("beep", timeout=BEEP_TIMEOUT)
    await call.wait_quiet(0.2, timeout=5.0)
    if step.signature is not None:
        audio = np.concatenate((message_signature(step.signature), audio))
    await call.play(audio)
    await call.hangup()
    heard = "after the beep" if beep else "without hearing a beep"
    return f"left {len(audio) / 8000:.1f} s for {step.to} ({step.reason.value}), {heard}"


async def _retrieve(step: RetrieveStep, bed: Testbed) -> str:
    phone = bed.phones[step.phone]
    spec = bed.scenario.phone(step.phone)
    try:
        call = await phone.dial(RETRIEVAL_NUMBER)
    except CallFailed as failure:
        raise StepFailed(
            f"phone {step.phone} dialled {RETRIEVAL_NUMBER} and was answered "
            f"{failure.response.status} {failure.response.reason}"
        ) from None
    except TransactionFailed:
        raise StepFailed(f"phone {step.phone}: no answer to its call to voicemail") from None
    # Each key goes in when the menu has spoken and waits, as a person presses them.
    for keys in (step.pin + "#", *step.keys):
        if call.ended.is_set():
            break
        await call.wait_quiet(timeout=MENU_TIMEOUT)
        await call.send_dtmf(keys, spec.dtmf)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(call.ended.wait(), HANGUP_TIMEOUT)
    await call.hangup()
    heard = call.heard_prompts()
    codes = find_message_codes(call.heard())
    if step.expect_prompts is not None and not _in_order(step.expect_prompts, heard):
        raise StepFailed(
            f"phone {step.phone} expected to hear {', '.join(step.expect_prompts)} in that "
            f"order; it heard {', '.join(heard) or 'no prompt'}"
        )
    bed.heard_codes[step.phone] = codes
    detail = f"phone {step.phone} heard {len(heard)} prompts"
    if codes:
        detail += f" and message(s) {', '.join(codes)}"
    return detail


def _in_order(expected: tuple[str, ...], heard: list[str]) -> bool:
    """Whether ``expected`` occurs in ``heard`` in order (other prompts may come between)."""
    remaining = iter(heard)
    return all(any(name == item for item in remaining) for name in expected)


async def _expect_notify(step: ExpectNotifyStep, bed: Testbed) -> str:
    phone = bed.phones[step.phone]
    counts = step.voice_counts
    voice = Counts(*counts) if counts is not None else None
    expect = LampExpectation(waiting=step.waiting, voice=voice, within=step.within)
    since = bed.cursors[step.phone]
    check = await phone.wait_lamp(expect, since, start=bed.now())
    if check.status == "met" and check.state is not None:
        bed.cursors[step.phone] = check.state.at + 1e-6
        return f"phone {step.phone}: {check.detail}"
    wanted = f"Messages-Waiting: {'yes' if step.waiting else 'no'}"
    if voice is not None:
        wanted += f", Voice-Message: {voice.new}/{voice.old}"
    raise StepFailed(
        f"phone {step.phone} expected a NOTIFY with {wanted} within {step.within:g} s; "
        f"{check.detail}{_notify_story(bed, step.phone)}"
    )


async def _expect_no_notify(step: ExpectNoNotifyStep, bed: Testbed) -> str:
    phone = bed.phones[step.phone]
    since = bed.now()
    await asyncio.sleep(step.within)
    received = phone.notifies_since(since)
    if received:
        bodies = "; ".join(
            notify.request.body.decode(errors="replace").strip() for notify in received
        )
        raise StepFailed(
            f"phone {step.phone} expected no NOTIFY for {step.within:g} s but got "
            f"{len(received)}: {bodies}"
        )
    return f"phone {step.phone}: no NOTIFY in {step.within:g} s"


def _expect_spool(step: ExpectSpoolStep, bed: Testbed) -> str:
    server = bed.target.server
    if server is None:
        raise StepSkipped("the target's spool cannot be read")
    found = server.spool.count(step.mailbox, step.folder)
    if found != step.count:
        raise StepFailed(
            f"{step.mailbox} {step.folder} holds {found} message(s); expected {step.count}"
        )
    if step.callerid is None:
        return f"{step.mailbox} {step.folder} holds {found}"
    messages = server.spool.messages(step.mailbox, step.folder)
    newest = messages[-1].info.callerid if messages else None
    if newest != step.callerid:
        raise StepFailed(
            f"the newest message in {step.mailbox} {step.folder} has callerid={newest}; "
            f"expected callerid={step.callerid}"
        )
    return f"{step.mailbox} {step.folder} holds {found}, the newest from {newest}"


# -- SMDI ------------------------------------------------------------------------------------


def _pbx(bed: Testbed) -> SimPbx:
    if bed.pbx is None:
        raise StepFailed("the scenario has no PBX on an SMDI line")
    return bed.pbx


async def _smdi_send(step: SmdiSendStep, bed: Testbed) -> str:
    pbx = _pbx(bed)
    md = MdMessage(step.desk, step.terminal, step.call_type, step.forwarding, step.calling)
    wrote = (
        f"wrote MD desk {md.desk} terminal {md.terminal} type {md.call_type} ({md.description}) "
        f"for {md.forwarding_station or '(blank)'} from {md.calling_station or '(blank)'}"
    )

    async def write() -> None:
        if step.noise is not None:
            await pbx.send_raw(step.noise.encode("latin-1"))
        await pbx.send_md(md)

    spec = step.call
    if spec is None:
        await write()
        return wrote
    assert bed.scenario.pbx is not None
    search = bed.scenario.pbx.search
    did = (
        spec.did
        or {
            "station": md.forwarding_station[bed.scenario.pbx.msdstrip :],
            "terminal": md.terminal,
            "desk": md.desk,
        }[search]
    )
    caller = md.calling_station or "the PBX"
    if spec.md_delay is None:
        await write()
        dialled: asyncio.Task[Call] = asyncio.ensure_future(pbx.call(did, md.calling_station))
    else:
        dialled = asyncio.ensure_future(pbx.call(did, md.calling_station))
        await asyncio.sleep(spec.md_delay)
        await write()
        wrote += f" {spec.md_delay:g} s after placing the call"
    try:
        call = await dialled
    except CallFailed as failure:
        if failure.response.status == spec.expect_status:
            return f"{wrote}; the call to {did} was answered {failure.response.status} as expected"
        raise StepFailed(
            f"{wrote}; the call to {did} from {caller} was answered {failure.response.status} "
            f"{failure.response.reason}; expected {spec.expect_status}{_invite_story(bed)}"
        ) from None
    except TransactionFailed:
        raise StepFailed(
            f"{wrote}; the call to {did} got no final response{_invite_story(bed)}"
        ) from None
    if spec.expect_status != 200:
        await call.hangup()
        raise StepFailed(
            f"{wrote}; the call to {did} was answered 200; expected {spec.expect_status}"
        )
    if spec.pin is not None or md.call_type == "D":
        keys = (spec.pin + "#", *spec.keys) if spec.pin is not None else ()
        for pressed in keys:
            if call.ended.is_set():
                break
            await call.wait_quiet(timeout=MENU_TIMEOUT)
            await call.send_dtmf(pressed)
        if keys:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(call.ended.wait(), HANGUP_TIMEOUT)
        else:
            await call.wait_quiet(timeout=MENU_TIMEOUT)
        did_what = f"pressed {' '.join(keys)}" if keys else "listened to the menu"
    else:
        if spec.skip_greeting:
            await _first_prompt(call)
            await call.send_dtmf("#")
        await call.wait_for_prompt("beep", timeout=BEEP_TIMEOUT)
        await call.wait_quiet(0.2, timeout=5.0)
        await call.play(speech_like(spec.seconds, f"{bed.scenario.name}/smdi/{did}"))
        did_what = f"left {spec.seconds:g} s"
    await call.hangup()
    heard = call.heard_prompts()
    if spec.expect_prompts is not None and not _in_order(spec.expect_prompts, heard):
        raise StepFailed(
            f"{wrote}; the call to {did} from {caller} expected to hear "
            f"{', '.join(spec.expect_prompts)} in that order; it heard "
            f"{', '.join(heard) or 'no prompt'}"
        )
    return f"{wrote}; the call to {did} from {caller} heard {len(heard)} prompts and {did_what}"


async def _first_prompt(call: Call) -> None:
    """Wait until the call hears its first prompt (or MENU_TIMEOUT passes)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + MENU_TIMEOUT
    while not call.heard_prompts() and not call.ended.is_set() and loop.time() < deadline:
        await asyncio.sleep(0.05)


async def _expect_lamp(step: ExpectLampStep, bed: Testbed) -> str:
    pbx = _pbx(bed)
    state = "on" if step.on else "off"
    if await pbx.wait_lamp(step.station, step.on, step.within):
        return f"the PBX lamp of station {step.station} is {state}"
    commands = [record.text for record in pbx.line if record.direction == "in"]
    raise StepFailed(
        f"the PBX lamp of station {step.station} expected {state} within {step.within:g} s; "
        f"it is {'on' if pbx.lamps.get(step.station) else 'off'}. "
        f"The voicemail server wrote: {', '.join(commands[-8:]) or 'nothing'}"
    )


async def _expect_smdi(step: ExpectSmdiStep, bed: Testbed) -> str:
    pbx = _pbx(bed)
    found = await pbx.wait_line(step.line, bed.smdi_cursor, step.within)
    if found is not None:
        record = pbx.line[found]
        bed.smdi_cursor = found + 1
        who = "the PBX wrote" if record.direction == "out" else "the voicemail server wrote"
        return f"{who} {record.text!r} on the SMDI line"
    seen = [record.text for record in pbx.line[bed.smdi_cursor :]]
    raise StepFailed(
        f"expected {step.line!r} on the SMDI line within {step.within:g} s; since the last "
        f"match it carried: {', '.join(repr(text) for text in seen[-8:]) or 'nothing'}"
    )


def _parsed(record: WireMessage) -> Request | Response | None:
    try:
        return parse_message(record.data)
    except SIPParseError:
        return None


def _notify_story(bed: Testbed, user: str) -> str:
    """What happened to NOTIFYs for ``user`` at each hop, for a failure message."""
    sent = 0
    proxy_answers: list[str] = []
    relayed = 0
    for record in bed.wire:
        message = _parsed(record)
        if isinstance(message, Request) and message.method == "NOTIFY":
            addressed = f"sip:{user}@" in message.uri
            if record.party == "voicemail" and record.direction == "out" and addressed:
                sent += 1
            if record.party == "proxy" and record.direction == "out" and addressed:
                relayed += 1
        if (
            isinstance(message, Response)
            and record.party == "proxy"
            and record.direction == "out"
            and message.cseq[1] == "NOTIFY"
            and f"sip:{user}@" in (message.header("To") or "")
        ):
            proxy_answers.append(f"{message.status} {message.reason}")
    if not sent:
        return ". The voicemail server sent no NOTIFY for this phone's mailbox."
    answers = ", ".join(dict.fromkeys(proxy_answers)) or "nothing"
    return (
        f". The voicemail server sent {sent} NOTIFY(s) for it to the proxy, which answered "
        f"{answers} and relayed {relayed} to the phone."
    )


def _invite_story(bed: Testbed) -> str:
    """The responses the voicemail server gave to INVITEs, for a failure message."""
    answers = []
    for record in bed.wire:
        message = _parsed(record)
        if (
            isinstance(message, Response)
            and record.party == "voicemail"
            and record.direction == "out"
            and message.cseq[1] == "INVITE"
            and message.status >= 200
        ):
            answers.append(f"{message.status} {message.reason}")
    if not answers:
        return ""
    return f". The voicemail server answered the forwarded INVITE: {', '.join(answers)}"
