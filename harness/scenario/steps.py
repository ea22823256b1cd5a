"""What each scenario step does on a testbed, and how it reports failure in plain words.

A failing step raises :class:`StepFailed` with a sentence a vendor can read: what was expected,
what was seen, and at which hop it went wrong, with the message as that hop carried it ("the
INVITE reached the voicemail server without X-Voicemail-Mailbox; the proxy sent: ...").
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from harness.core.mwi import Counts, LampExpectation
from harness.core.routing import Reason, RoutingError, convention
from harness.media.signal import speech_like
from harness.media.signature import find_message_codes, message_signature
from harness.media.wav import read_wav
from harness.report.trace import LatencySample
from harness.scenario.model import (
    PARTIES,
    DepositStep,
    ExpectLampStep,
    ExpectNoNotifyStep,
    ExpectNotifyStep,
    ExpectSipStep,
    ExpectSmdiStep,
    ExpectSpoolStep,
    ParallelStep,
    RegisterStep,
    RepeatStep,
    RetrieveStep,
    SmdiSendStep,
    Step,
    SubscribeStep,
    UnsubscribeStep,
    WaitStep,
)
from harness.scenario.wire import (
    Crossing,
    answers,
    describe,
    distinct,
    final_answer,
    status_line,
    summary,
)
from harness.sim.pbx import SimPbx
from harness.sim.phone import AnswerMode, Call, CallFailed, Phone
from harness.sip.errors import SIPParseError
from harness.sip.message import Request, Response
from harness.sip.transport import TransactionFailed
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
#: Seconds between two looks at the wire log while an ``expect_sip`` waits.
_POLL = 0.05

#: How the callee phone behaves so that the proxy forwards with each reason.
_ANSWER_FOR: dict[Reason, AnswerMode] = {
    Reason.USER_BUSY: "busy",
    Reason.NO_ANSWER: "no-answer",
}

#: What each convention needs a forwarded INVITE to carry, as a sentence ends.
_CONVENTION_NEEDS = {
    "x-voicemail": "X-Voicemail-Mailbox",
    "diversion": "a Diversion header",
    "history-info": "History-Info naming the mailbox owner",
    "rfc4458": "an RFC 4458 target= in the Request-URI",
    "request-uri": "the mailbox as the Request-URI user",
    "to": "the mailbox as the To user",
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
            return await _expect_spool(step, bed)
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
        case SubscribeStep():
            return await _subscribe(step, bed)
        case UnsubscribeStep():
            return await _unsubscribe(step, bed)
        case ExpectSipStep():
            return await _expect_sip(step, bed)
        case ParallelStep():
            return await _parallel(step, bed)
        case RepeatStep():
            return await _repeat(step, bed)
    raise StepFailed(f"step kind {step.kind!r} has no runner")


# -- registration and subscriptions ------------------------------------------------------------


async def register_phone(
    phone: Phone, expires: int = 3600, password: str | None = None
) -> Response:
    """REGISTER ``phone`` at its proxy, answering a 401/407 with ``password`` (else the
    phone's own, if it has one); the final response."""
    if password is not None:
        phone.password = password
    return await phone.register(expires)


async def _register(step: RegisterStep, bed: Testbed) -> str:
    phone = bed.phones[step.phone]
    password = step.password or bed.scenario.phone(step.phone).password
    try:
        response = await register_phone(phone, step.expires, password)
    except TransactionFailed:
        raise StepFailed(f"phone {step.phone}: the proxy did not answer REGISTER") from None
    if response.status != step.expect_status:
        hint = (
            "; the proxy asks for digest credentials: give the phone a password"
            if response.status in (401, 407) and password is None
            else ""
        )
        raise StepFailed(
            f"phone {step.phone}: REGISTER was answered {status_line(response)}; expected "
            f"{step.expect_status}{hint}"
        )
    if response.status != 200:
        return f"phone {step.phone}: REGISTER answered {status_line(response)} as expected"
    if step.expires == 0:
        return f"phone {step.phone} unregistered"
    return f"phone {step.phone} registered for {step.expires} s"


async def _subscribe(step: SubscribeStep, bed: Testbed) -> str:
    phone = bed.phones[step.phone]
    mark = len(bed.wire)
    try:
        subscription = await phone.subscribe(step.expires)
    except TransactionFailed:
        raise StepFailed(
            f"phone {step.phone} got no answer to its SUBSCRIBE for message-summary"
            f"{_request_story(bed, mark, 'SUBSCRIBE')}"
        ) from None
    response = subscription.response
    assert response is not None
    if response.status != step.expect_status:
        raise StepFailed(
            f"phone {step.phone} subscribed to message-summary and was answered "
            f"{status_line(response)}; expected {step.expect_status}"
            f"{_request_story(bed, mark, 'SUBSCRIBE')}"
        )
    if subscription.dialog is None:
        return f"phone {step.phone}: SUBSCRIBE answered {status_line(response)} as expected"
    bed.subscriptions[step.phone] = subscription
    granted = response.header("Expires")
    return f"phone {step.phone} subscribed to message-summary (expires {granted or step.expires})"


async def _unsubscribe(step: UnsubscribeStep, bed: Testbed) -> str:
    subscription = bed.subscriptions.pop(step.phone, None)
    if subscription is None:
        raise StepFailed(f"phone {step.phone} has no subscription to end: subscribe first")
    try:
        response = await subscription.unsubscribe()
    except TransactionFailed:
        raise StepFailed(
            f"phone {step.phone} got no answer to the SUBSCRIBE that ends its subscription"
        ) from None
    if not 200 <= response.status < 300:
        raise StepFailed(
            f"phone {step.phone} ended its subscription and was answered {status_line(response)}"
        )
    return f"phone {step.phone} ended its subscription"


def _request_story(bed: Testbed, mark: int, method: str) -> str:
    """Where a phone's request went through the proxy, for a failure message."""
    crossings = bed.view.crossings(mark)
    forwarded = [
        c
        for c in crossings
        if c.sender == "proxy"
        and c.receiver == "voicemail"
        and isinstance(c.message, Request)
        and c.message.method == method
    ]
    if not forwarded:
        return f". The proxy did not pass the {method} on to the voicemail server."
    answer = final_answer(forwarded[0], crossings)
    said = status_line(answer) if answer is not None else "nothing"
    assert isinstance(forwarded[0].message, Request)
    return (
        f". The {method} reached the voicemail server, which answered {said}; the proxy sent: "
        f"{summary(forwarded[0].message)}"
    )


# -- deposits and retrievals -------------------------------------------------------------------


async def _deposit(step: DepositStep, bed: Testbed) -> str:
    callee = bed.phone_for(step.to)
    if callee is not None:
        callee.answer_mode = _ANSWER_FOR.get(step.reason, "unavailable")
    user = callee.user if callee is not None else step.to.box
    sim = bed.sim
    if step.reason is Reason.UNCONDITIONAL:
        if sim is None:
            raise StepSkipped("only the simulated proxy can be told to forward unconditionally")
        sim.forward_unconditional.add(user)
    audio: npt.NDArray[np.int16]
    if step.audio is not None:
        audio, _ = read_wav(step.audio)
    else:
        audio = speech_like(step.seconds or 3.0, f"{bed.scenario.name}/{step.from_}")
    caller = await bed.caller(step.from_)
    mark = len(bed.wire)
    try:
        call = await caller.dial(user)
    except CallFailed as failure:
        if failure.response.status == step.expect_status:
            return f"call to {user} answered {failure.response.status} as expected"
        raise StepFailed(
            f"the call from {step.from_} to {user} ({step.reason.value}) was answered "
            f"{status_line(failure.response)}; expected {step.expect_status}"
            f"{_invite_story(bed, mark, step, failure.response.call_id)}"
        ) from None
    except TransactionFailed:
        raise StepFailed(
            f"the call from {step.from_} to {user} got no final response"
            f"{_invite_story(bed, mark, step, '')}"
        ) from None
    finally:
        if sim is not None:
            sim.forward_unconditional.discard(user)
    try:
        if step.expect_status != 200:
            raise StepFailed(f"the call to {user} was answered 200; expected {step.expect_status}")
        missing = _convention_problem(bed, mark, step, call.dialog.call_id)
        if missing is not None:
            raise StepFailed(missing)
        return await _leave(step, bed, call, audio)
    finally:
        await bed.hang_up(call)


async def _leave(step: DepositStep, bed: Testbed, call: Call, audio: npt.NDArray[np.int16]) -> str:
    """The caller's part once voicemail answered: keys, the beep, the message, the hang-up."""
    if step.keys or step.hangup == "before-beep":
        await _first_prompt(call)
    if step.keys:
        await call.send_dtmf("".join(step.keys), step.dtmf)
    pressed = f" after pressing {' '.join(step.keys)}" if step.keys else ""
    if step.hangup == "before-beep":
        await bed.hang_up(call)
        heard = call.heard_prompts()
        if "beep" in heard:
            raise StepFailed(
                f"the caller meant to hang up before the beep{pressed} but heard it already; "
                f"it heard {', '.join(heard)}"
            )
        _check_prompts(step.expect_prompts, heard, f"the caller to {step.to}")
        return f"hung up during the greeting of {step.to}{pressed}, leaving no message"
    beep = await call.wait_for_prompt("beep", timeout=BEEP_TIMEOUT)
    if not beep and call.ended.is_set():
        heard = call.heard_prompts()
        if step.keys:
            _check_prompts(step.expect_prompts, heard, f"the caller to {step.to}")
            return (
                f"the voicemail server ended the call{pressed} before the beep; the caller "
                f"heard {', '.join(heard) or 'no prompt'}"
            )
        raise StepFailed(
            f"the voicemail server ended the call to {step.to} before the beep; the caller heard "
            f"{', '.join(heard) or 'no prompt'}"
        )
    await call.wait_quiet(0.2, timeout=5.0)
    if step.signature is not None:
        audio = np.concatenate((message_signature(step.signature), audio))
    await call.play(audio)
    ending = "and hung up"
    if step.hangup == "hash":
        await call.send_dtmf("#", step.dtmf)
        try:
            await asyncio.wait_for(call.ended.wait(), HANGUP_TIMEOUT)
        except TimeoutError:
            raise StepFailed(
                f"after the message and # the voicemail server did not end the call within "
                f"{HANGUP_TIMEOUT:g} s; the caller heard {', '.join(call.heard_prompts())}"
            ) from None
        ending = "pressed # and the server hung up"
    await bed.hang_up(call)
    _check_prompts(step.expect_prompts, call.heard_prompts(), f"the caller to {step.to}")
    after = "after the beep" if beep else "without hearing a beep"
    return (
        f"left {len(audio) / 8000:.1f} s for {step.to} ({step.reason.value}){pressed}, "
        f"{after}, {ending}"
    )


def _check_prompts(expected: tuple[str, ...] | None, heard: list[str], who: str) -> None:
    if expected is not None and not _in_order(expected, heard):
        raise StepFailed(
            f"{who} expected to hear {', '.join(expected)} in that order; it heard "
            f"{', '.join(heard) or 'no prompt'}"
        )


def _forwarded_invites(
    bed: Testbed, mark: int, call_id: str, caller: str
) -> tuple[list[Crossing], list[Crossing]]:
    """The INVITEs from the proxy to the voicemail server since ``mark`` (first copies) that
    carry the caller's call (its Call-ID, or for a B2BUA that makes its own, its caller),
    and every crossing since ``mark``."""
    crossings = bed.view.crossings(mark)
    invites = [
        request
        for request, _ in distinct(
            c
            for c in crossings
            if c.sender == "proxy"
            and c.receiver == "voicemail"
            and isinstance(c.message, Request)
            and c.message.method == "INVITE"
        )
    ]
    same_call = [invite for invite in invites if invite.message.call_id == call_id]
    return same_call or [invite for invite in invites if _from_user(invite) == caller], crossings


def _from_user(crossing: Crossing) -> str | None:
    try:
        sender = crossing.message.address("From")
    except SIPParseError:
        return None
    return None if sender is None else sender.uri.user


def _convention_problem(bed: Testbed, mark: int, step: DepositStep, call_id: str) -> str | None:
    """How the INVITE that reached the voicemail server fails the scenario's convention, if
    it does (None too when the hop cannot be seen: both ends are outside the harness)."""
    invites, _ = _forwarded_invites(bed, mark, call_id, step.from_)
    if not invites:
        return None
    invite = invites[-1].message
    assert isinstance(invite, Request)
    name = bed.plan.convention
    try:
        resolution = convention(name).resolve(invite, step.to.context)
    except RoutingError as error:
        return (
            f"the INVITE reached the voicemail server with {_CONVENTION_NEEDS[name]} it cannot "
            f"read ({error}); the proxy sent: {summary(invite)}"
        )
    if resolution is None:
        return (
            f"the INVITE reached the voicemail server without {_CONVENTION_NEEDS[name]}; the "
            f"proxy sent: {summary(invite)}"
        )
    if resolution.mailbox.box != step.to.box:
        return (
            f"the INVITE reached the voicemail server naming mailbox {resolution.mailbox} "
            f"({name}), not {step.to}; the proxy sent: {summary(invite)}"
        )
    return None


def _invite_story(bed: Testbed, mark: int, step: DepositStep, call_id: str) -> str:
    """What became of a deposit's INVITE at the voicemail hop, for a failure message."""
    invites, crossings = _forwarded_invites(bed, mark, call_id, step.from_)
    if not invites:
        if bed.plan.proxy != "simulator" and bed.plan.target is not None:
            return ""
        return ". The proxy did not forward the call to the voicemail server."
    invite = invites[-1]
    assert isinstance(invite.message, Request)
    answer = final_answer(invite, crossings)
    said = f"answered it {status_line(answer)}" if answer is not None else "did not answer it"
    missing = _convention_problem(bed, mark, step, call_id)
    received = f"{missing}" if missing is not None else (f"it received: {summary(invite.message)}")
    return f". The proxy forwarded the call and the voicemail server {said}; {received}"


async def _retrieve(step: RetrieveStep, bed: Testbed) -> str:
    phone = bed.phones[step.phone]
    spec = bed.scenario.phone(step.phone)
    mark = len(bed.wire)
    try:
        call = await phone.dial(RETRIEVAL_NUMBER)
    except CallFailed as failure:
        raise StepFailed(
            f"phone {step.phone} dialled {RETRIEVAL_NUMBER} and was answered "
            f"{status_line(failure.response)}{_request_story(bed, mark, 'INVITE')}"
        ) from None
    except TransactionFailed:
        raise StepFailed(f"phone {step.phone}: no answer to its call to voicemail") from None
    try:
        # Each key goes in when the menu has spoken and waits, as a person presses them.
        for keys in (step.pin + "#", *step.keys):
            if call.ended.is_set():
                break
            await call.wait_quiet(timeout=MENU_TIMEOUT)
            await call.send_dtmf(keys, spec.dtmf)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(call.ended.wait(), HANGUP_TIMEOUT)
    finally:
        await bed.hang_up(call)
    heard = call.heard_prompts()
    codes = find_message_codes(call.heard())
    _check_prompts(step.expect_prompts, heard, f"phone {step.phone}")
    bed.heard_codes[step.phone] = codes
    detail = f"phone {step.phone} heard {len(heard)} prompts"
    if codes:
        detail += f" and message(s) {', '.join(codes)}"
    return detail


def _in_order(expected: tuple[str, ...], heard: list[str]) -> bool:
    """Whether ``expected`` occurs in ``heard`` in order (other prompts may come between)."""
    remaining = iter(heard)
    return all(any(name == item for item in remaining) for name in expected)


# -- MWI ---------------------------------------------------------------------------------------


async def _expect_notify(step: ExpectNotifyStep, bed: Testbed) -> str:
    phone = bed.phones[step.phone]
    counts = step.voice_counts
    voice = Counts(*counts) if counts is not None else None
    expect = LampExpectation(waiting=step.waiting, voice=voice, within=step.within)
    since = bed.cursors[step.phone]
    mark = len(bed.wire)
    check = await phone.wait_lamp(expect, since, start=bed.now())
    if check.status == "met" and check.state is not None:
        bed.cursors[step.phone] = check.state.at + 1e-6
        return f"phone {step.phone}: {check.detail}"
    wanted = f"Messages-Waiting: {'yes' if step.waiting else 'no'}"
    if voice is not None:
        wanted += f", Voice-Message: {voice.new}/{voice.old}"
    raise StepFailed(
        f"phone {step.phone} expected a NOTIFY with {wanted} within {step.within:g} s; "
        f"{check.detail}{_notify_story(bed, step.phone, _since_cursor(bed, since, mark))}"
    )


def _since_cursor(bed: Testbed, since: float, mark: int) -> int:
    """The wire position of the first message at or after loop time ``since`` (at most
    ``mark``): the NOTIFYs an expectation could have used."""
    offset = time.monotonic() - bed.now()
    for index, record in enumerate(bed.wire[:mark]):
        if record.monotonic - offset >= since:
            return index
    return mark


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


def _notify_story(bed: Testbed, user: str, since: int) -> str:
    """What happened to NOTIFYs for ``user`` at each hop since wire position ``since``."""
    crossings = bed.view.crossings(since)
    party = f"phone {user}"

    def notifies(sender: str, receiver: str) -> list[tuple[Crossing, int]]:
        return distinct(
            c
            for c in crossings
            if c.sender == sender
            and c.receiver == receiver
            and isinstance(c.message, Request)
            and c.message.method == "NOTIFY"
            and _addressed_to(c.message, user)
        )

    sent = notifies("voicemail", "proxy")
    relayed = notifies("proxy", party)
    if not sent and not relayed:
        if bed.plan.proxy != "simulator" and bed.plan.target is not None:
            return ""
        return ". The voicemail server sent no NOTIFY for this phone's mailbox to the proxy."
    parts: list[str] = []
    if sent:
        said = _answers_said(sent, crossings)
        copies = sum(count for _, count in sent)
        parts.append(
            f"The voicemail server sent {len(sent)} NOTIFY(s) for {user} to the proxy"
            + (f" ({copies} copies with retransmissions)" if copies > len(sent) else "")
            + f", which answered {said}"
        )
    if relayed:
        said = _answers_said(relayed, crossings)
        last = relayed[-1][0].message
        assert isinstance(last, Request)
        body = " ".join(last.body.decode(errors="replace").split()) or "no body"
        parts.append(
            f"the proxy relayed {len(relayed)} to {party}, which answered {said}; the last "
            f"said: {body}"
        )
    else:
        parts.append(f"the proxy relayed none to {party}")
    return ". " + "; ".join(parts) + "."


def _addressed_to(request: Request, user: str) -> bool:
    """Whether a NOTIFY is for ``user``: its Request-URI user, or its To user in a dialog."""
    if f"sip:{user}@" in request.uri:
        return True
    return f"sip:{user}@" in (request.header("To") or "")


def _answers_said(requests: Sequence[tuple[Crossing, int]], crossings: list[Crossing]) -> str:
    """``200 OK`` / ``481 ..., nothing``: the distinct final answers the requests got."""
    said: dict[str, None] = {}
    for request, _ in requests:
        answer = final_answer(request, crossings)
        said.setdefault(status_line(answer) if answer is not None else "nothing")
    return ", ".join(said)


async def _expect_spool(step: ExpectSpoolStep, bed: Testbed) -> str:
    spool = bed.spool
    if spool is None:
        raise StepSkipped(
            "white-box: the spool of the external voicemail server cannot be read "
            "(give --target-spool DIR)"
        )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + step.within
    server = bed.target.server
    if server is not None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_idle(), step.within)
    found = spool.count(step.mailbox, step.folder)
    while found != step.count and loop.time() < deadline:
        await asyncio.sleep(_POLL)
        found = spool.count(step.mailbox, step.folder)
    if found != step.count:
        raise StepFailed(
            f"{step.mailbox} {step.folder} holds {found} message(s); expected {step.count}"
        )
    if step.callerid is None:
        return f"{step.mailbox} {step.folder} holds {found}"
    messages = spool.messages(step.mailbox, step.folder)
    newest = messages[-1].info.callerid if messages else None
    if newest != step.callerid:
        raise StepFailed(
            f"the newest message in {step.mailbox} {step.folder} has callerid={newest}; "
            f"expected callerid={step.callerid}"
        )
    return f"{step.mailbox} {step.folder} holds {found}, the newest from {newest}"


# -- the wire ----------------------------------------------------------------------------------


def _party_matches(name: str, party: str, bed: Testbed) -> bool:
    """Whether the hop end ``name`` (as a scenario writes it) is the wire party ``party``."""
    if name in PARTIES and name != "caller":
        return party == name
    if name == "caller":
        return party.startswith("phone ") and bed.scenario.phone_party(party) is None
    user = bed.scenario.phone_party(name)
    return user is not None and party == f"phone {user}"


def _hop_name(name: str, bed: Testbed) -> str:
    user = bed.scenario.phone_party(name) if name not in PARTIES else None
    if user is not None:
        return f"phone {user}"
    return "a caller" if name == "caller" else describe(name)


async def _expect_sip(step: ExpectSipStep, bed: Testbed) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + step.within
    while True:
        crossings = bed.view.crossings(bed.steps_start)
        on_hop = [
            c
            for c in crossings
            if _party_matches(step.sender, c.sender, bed)
            and _party_matches(step.receiver, c.receiver, bed)
            and (step.method is None or _method_of(c.message) == step.method)
        ]
        candidates = [
            (request, copies)
            for request, copies in distinct(c for c in on_hop if isinstance(c.message, Request))
            if request.key not in bed.sip_matched
        ]
        for request, _ in candidates:
            if _sip_matches(step, request, crossings):
                bed.sip_matched.add(request.key)
                return _sip_seen(step, request, crossings)
        if step.status is not None:
            for response in on_hop:
                message = response.message
                if (
                    isinstance(message, Response)
                    and message.status == step.status
                    and _header_matches(step, message)
                    and response.key not in bed.sip_matched
                ):
                    bed.sip_matched.add(response.key)
                    return (
                        f"{status_line(message)} ({_method_of(message)}) from "
                        f"{describe(response.sender)} to {describe(response.receiver)}"
                    )
        if loop.time() >= deadline:
            raise StepFailed(_sip_missed(step, bed, candidates, crossings, on_hop))
        await asyncio.sleep(_POLL)


def _method_of(message: Request | Response) -> str:
    """A request's method, or the method a response answers."""
    if isinstance(message, Request):
        return message.method
    try:
        return message.cseq[1]
    except SIPParseError:
        return ""


def _header_matches(step: ExpectSipStep, message: Request | Response) -> bool:
    if step.header is None:
        return True
    values = message.header_values(step.header)
    if step.absent:
        return not values
    if step.value is not None:
        return any(value.strip() == step.value for value in values)
    if step.contains is not None:
        return any(step.contains in value for value in values)
    return bool(values)


def _status_matches(step: ExpectSipStep, request: Crossing, crossings: list[Crossing]) -> bool:
    if step.status is None:
        return True
    if step.status < 200:
        return any(r.status == step.status for r in answers(request, crossings))
    answer = final_answer(request, crossings)
    return answer is not None and answer.status == step.status


def _sip_matches(step: ExpectSipStep, request: Crossing, crossings: list[Crossing]) -> bool:
    message = request.message
    assert isinstance(message, Request)
    return _header_matches(step, message) and _status_matches(step, request, crossings)


def _sip_seen(step: ExpectSipStep, request: Crossing, crossings: list[Crossing]) -> str:
    message = request.message
    assert isinstance(message, Request)
    seen = f"{message.method} from {describe(request.sender)} to {describe(request.receiver)}"
    if step.header is not None:
        values = message.header_values(step.header)
        seen += f" without {step.header}" if step.absent else f" with {step.header}: {values[0]}"
    if step.status is not None:
        answer = final_answer(request, crossings)
        seen += f", answered {status_line(answer) if answer is not None else step.status}"
    return seen


def _sip_missed(
    step: ExpectSipStep,
    bed: Testbed,
    candidates: list[tuple[Crossing, int]],
    crossings: list[Crossing],
    on_hop: list[Crossing],
) -> str:
    """Why no message on the hop matched, in plain words, with what was sent."""
    sender, receiver = _hop_name(step.sender, bed), _hop_name(step.receiver, bed)
    what = step.method or "request"
    responses = [c.message for c in on_hop if isinstance(c.message, Response)]
    if not candidates and step.status is not None and responses:
        went = ", ".join(dict.fromkeys(f"{status_line(r)} ({_method_of(r)})" for r in responses))
        return (
            f"no {step.status} went from {sender} to {receiver} within {step.within:g} s; "
            f"it sent: {went}"
        )
    if not candidates:
        seen = [
            _method_of(c.message) if isinstance(c.message, Request) else status_line(c.message)
            for c in crossings
            if _party_matches(step.sender, c.sender, bed)
            and _party_matches(step.receiver, c.receiver, bed)
        ]
        went = ", ".join(dict.fromkeys(seen)) or "nothing"
        return (
            f"no {what} went from {sender} to {receiver} within {step.within:g} s "
            f"(on that hop went: {went})"
        )
    request, copies = candidates[-1]
    message = request.message
    assert isinstance(message, Request)
    sent = f"{sender} sent: {summary(message, (step.header,) if step.header else ())}"
    if not _header_matches(step, message):
        assert step.header is not None
        values = message.header_values(step.header)
        if step.absent:
            return (
                f"the {message.method} reached {receiver} with {step.header}: {values[0]}, "
                f"expected none; {sent}"
            )
        if not values:
            return f"the {message.method} reached {receiver} without {step.header}; {sent}"
        wanted = f"{step.value}" if step.value is not None else f"containing {step.contains}"
        return (
            f"the {message.method} reached {receiver} with {step.header}: "
            f"{', '.join(values)}, expected {wanted}; {sent}"
        )
    answer = final_answer(request, crossings)
    if answer is None:
        times = f" (sent {copies} times)" if copies > 1 else ""
        return (
            f"the {message.method} from {sender} to {receiver} got no answer within "
            f"{step.within:g} s{times}; expected {step.status}; {sent}"
        )
    return (
        f"the {message.method} from {sender} to {receiver} was answered {status_line(answer)}; "
        f"expected {step.status}; {sent}"
    )


# -- blocks ------------------------------------------------------------------------------------


async def _attempt(step: Step, bed: Testbed) -> tuple[str, str]:
    """Run ``step``: (``passed``/``failed``/``skipped``, what it said)."""
    try:
        return "passed", await run_step(step, bed)
    except StepSkipped as skip:
        return "skipped", str(skip)
    except StepFailed as failure:
        return "failed", str(failure)


async def _parallel(step: ParallelStep, bed: Testbed) -> str:
    results = await asyncio.gather(*(_attempt(inner, bed) for inner in step.steps))
    lines = [
        f"{index + 1}. {inner.kind} {status}: {detail}"
        for index, (inner, (status, detail)) in enumerate(zip(step.steps, results, strict=True))
    ]
    statuses = [status for status, _ in results]
    if "failed" in statuses:
        failed = [line for line, status in zip(lines, statuses, strict=True) if status == "failed"]
        others = sum(status != "failed" for status in statuses)
        raise StepFailed(
            f"{len(failed)} of {len(results)} steps at once failed: {' / '.join(failed)}"
            + (f" ({others} did not fail)" if others else "")
        )
    if all(status == "skipped" for status in statuses):
        raise StepSkipped(" / ".join(lines))
    return f"{len(results)} steps at once: {' / '.join(lines)}"


async def _repeat(step: RepeatStep, bed: Testbed) -> str:
    loop = asyncio.get_running_loop()
    values = step.values
    work = iter(enumerate(zip(values, step.iterations, strict=True)))
    failures: list[str] = []
    durations: list[float] = []
    skipped: dict[str, None] = {}
    begun = loop.time()

    async def worker() -> None:
        for number, (value, steps) in work:
            if failures:
                return
            wall, started = time.time(), loop.time()
            for index, inner in enumerate(steps):
                status, detail = await _attempt(inner, bed)
                if status == "skipped":
                    skipped.setdefault(f"{inner.kind}: {detail}")
                elif status == "failed":
                    named = f" ({step.var}={value})" if step.var else ""
                    failures.append(
                        f"iteration {number + 1} of {len(values)}{named}: step {index + 1} "
                        f"({inner.kind}) failed: {detail}"
                    )
                    return
            duration = loop.time() - started
            durations.append(duration)
            bed.latency.append(LatencySample(wall, duration))

    await asyncio.gather(*(worker() for _ in range(min(step.concurrency, len(values)))))
    if failures:
        done = f" ({len(durations)} iterations passed)" if durations else ""
        raise StepFailed(failures[0] + done)
    over = f" {step.var} {values[0]}..{values[-1]}," if step.var else ""
    at_once = f", {step.concurrency} at a time" if step.concurrency > 1 else ""
    timing = (
        f"; each took {min(durations):.1f}/{statistics.median(durations):.1f}/"
        f"{max(durations):.1f} s (min/median/max)"
    )
    notes = f"; skipped: {' / '.join(skipped)}" if skipped else ""
    return f"{len(values)} iterations,{over} in {loop.time() - begun:.1f} s{at_once}{timing}{notes}"


# -- SMDI --------------------------------------------------------------------------------------


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
    mark = len(bed.wire)
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
            f"{wrote}; the call to {did} from {caller} was answered "
            f"{status_line(failure.response)}; expected {spec.expect_status}"
            f"{_request_story(bed, mark, 'INVITE')}"
        ) from None
    except TransactionFailed:
        raise StepFailed(
            f"{wrote}; the call to {did} got no final response{_request_story(bed, mark, 'INVITE')}"
        ) from None
    try:
        if spec.expect_status != 200:
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
    finally:
        await bed.hang_up(call)
    heard = call.heard_prompts()
    _check_prompts(spec.expect_prompts, heard, f"{wrote}; the call to {did} from {caller}")
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
