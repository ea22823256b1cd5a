"""Call steps: ``deposit`` (a forwarded caller leaves a message) and ``retrieve`` (a phone
logs in to its voicemail menu and presses keys).

A failing call step says what became of the call at the voicemail hop: "the INVITE reached the
voicemail server without X-Voicemail-Mailbox; the proxy sent: ...".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self

import numpy as np
import numpy.typing as npt
from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from harness.core.routing import Reason, RoutingError, convention
from harness.media.signal import speech_like
from harness.media.signature import find_message_codes, message_signature
from harness.media.wav import read_wav
from harness.scenario.fields import (
    DtmfKey,
    DtmfMode,
    MailboxRef,
    Pin,
    Seconds,
    User,
    located,
    split_keys,
)
from harness.scenario.listen_back import Deposited, signature_for
from harness.scenario.registry import (
    STEPS,
    MailboxUse,
    PhoneUse,
    Reference,
    SimulatorUse,
    StepKind,
)
from harness.scenario.step import Step, StepFailed, StepSkipped
from harness.scenario.steps.prompts import (
    BEEP_TIMEOUT,
    HANGUP_TIMEOUT,
    MENU_TIMEOUT,
    check_prompts,
    first_prompt,
)
from harness.scenario.stored import check_stored
from harness.scenario.wire import Crossing, distinct, final_answer, status_line, summary
from harness.sim.phone import MENU_QUIET, AnswerMode, Call, CallFailed, Phone
from harness.sip.errors import SIPParseError
from harness.sip.message import Request, Response
from harness.sip.transport import TransactionFailed

if TYPE_CHECKING:
    from harness.scenario.testbed import Testbed

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


#: How a depositing caller ends the call: ``bye`` after speaking (the default), ``before-beep``
#: during the greeting (no message is left), ``hash``: press ``#`` after speaking and let the
#: server end the call.
Hangup = Literal["bye", "before-beep", "hash"]


class DepositStep(Step):
    """A caller's call is forwarded by the proxy to the mailbox and leaves a message.

    The message is ``seconds`` of generated audio, or the WAV file ``audio`` (a path relative to
    the scenario file; the loader resolves it and checks it exists). Neither given means 3 s.
    ``keys`` are pressed once the greeting starts (``#`` skips to the beep, ``*`` and ``0``
    leave); ``hangup`` says how the caller ends the call.
    """

    model_config = ConfigDict(validate_by_name=True)

    kind: ClassVar[str] = "deposit"
    to: MailboxRef
    from_: str = Field(validation_alias="from", serialization_alias="from", min_length=1)
    reason: Reason = Reason.NO_ANSWER
    seconds: Seconds | None = None
    audio: Path | None = None
    #: A code embedded in the audio, to recognise this message when it is played back.
    signature: str | None = None
    #: The final response the caller must get.
    expect_status: int = Field(default=200, ge=100, le=699)
    hangup: Hangup = "bye"
    #: Keys pressed when the greeting starts.
    keys: Annotated[tuple[DtmfKey, ...], BeforeValidator(split_keys)] = ()
    #: How the caller sends keys.
    dtmf: DtmfMode = "rfc2833"
    #: Prompt names the caller must hear, in order; None leaves prompts unchecked.
    expect_prompts: tuple[str, ...] | None = None

    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and "seconds" not in data and "audio" not in data:
            return {**data, "seconds": 3.0}
        return data

    @field_validator("audio")
    @classmethod
    def _resolve_audio(cls, audio: Path | None, info: ValidationInfo) -> Path | None:
        base = info.context.get("base_dir") if isinstance(info.context, dict) else None
        if audio is None or base is None:
            return audio
        path = audio if audio.is_absolute() else Path(base) / audio
        if not path.is_file():
            raise PydanticCustomError(
                "audio_missing", 'no audio file "{path}"', {"path": str(path)}
            )
        return path

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.seconds is not None and self.audio is not None:
            raise located([(("audio",), "give either seconds or audio, not both")])
        if self.seconds is None and self.audio is None:
            raise located([(("seconds",), "give seconds or audio")])
        return self


class RetrieveStep(Step):
    """The phone calls the voicemail menu, logs in with ``pin`` and presses ``keys``.

    In YAML ``keys`` is a string of keys separated by spaces (quote it: an unquoted ``#`` after a
    space starts a YAML comment) or a list of keys.
    """

    kind: ClassVar[str] = "retrieve"
    phone: User
    pin: Pin
    keys: Annotated[tuple[DtmfKey, ...], BeforeValidator(split_keys)]
    #: Prompt names the phone must hear, in order; None leaves prompts unchecked.
    expect_prompts: tuple[str, ...] | None = None


async def run_deposit(step: DepositStep, bed: Testbed) -> str:
    """Call the mailbox's owner so that the proxy forwards to voicemail, and leave a message."""
    callee = bed.phone_for(step.to)
    if callee is not None:
        callee.answer_mode = _ANSWER_FOR.get(step.reason, "unavailable")
    user = callee.user if callee is not None else step.to.box
    if step.reason is Reason.UNCONDITIONAL and not bed.proxy.forward_unconditionally(user):
        raise StepSkipped("only the simulated proxy can be told to forward unconditionally")
    audio = _message_audio(step, bed)
    caller = await bed.caller(step.from_)
    mark = bed.mark()
    call = await _dial(step, bed, caller, user, mark)
    if call is None:
        return f"call to {user} answered {step.expect_status} as expected"
    try:
        if step.expect_status != 200:
            raise StepFailed(
                f"the proxy forwarded the {step.reason.value} call from {step.from_} to {user} "
                f"to voicemail, where it was answered; the caller should have got "
                f"{step.expect_status}",
                "outcome-forwarded",
            )
        missing = _convention_problem(bed, mark, step, call.dialog.call_id)
        if missing is not None:
            raise missing
        return await _leave(step, bed, call, audio)
    finally:
        await bed.hang_up(call)


def _message_audio(step: DepositStep, bed: Testbed) -> npt.NDArray[np.int16]:
    """The message the caller speaks: the step's WAV file, else generated speech."""
    if step.audio is not None:
        audio, _ = read_wav(step.audio)
        return audio
    return speech_like(step.seconds or 3.0, f"{bed.scenario.name}/{step.from_}")


async def _dial(
    step: DepositStep, bed: Testbed, caller: Phone, user: str, mark: int
) -> Call | None:
    """The caller's call to ``user``, answered; None when it was refused as the step expects."""
    try:
        return await caller.dial(user)
    except CallFailed as failure:
        if failure.response.status == step.expect_status:
            return None
        raise _refused(bed, mark, step, user, failure.response) from None
    except TransactionFailed:
        raise StepFailed(
            f"the call from {step.from_} to {user} got no final response"
            f"{_invite_story(bed, mark, step, '')}"
        ) from None
    finally:
        if step.reason is Reason.UNCONDITIONAL:
            bed.proxy.stop_forwarding_unconditionally(user)


async def _leave(step: DepositStep, bed: Testbed, call: Call, audio: npt.NDArray[np.int16]) -> str:
    """The caller's part once voicemail answered: keys, the beep, the message, the hang-up."""
    if step.keys or step.hangup == "before-beep":
        await first_prompt(call)
    if step.keys:
        await call.send_dtmf("".join(step.keys), step.dtmf)
    pressed = f" after pressing {' '.join(step.keys)}" if step.keys else ""
    if step.hangup == "before-beep":
        return await _hang_up_in_greeting(step, bed, call, pressed)
    beep = await call.wait_for_prompt("beep", timeout=BEEP_TIMEOUT)
    if not beep and call.ended.is_set():
        heard = call.heard_prompts()
        if step.keys:
            check_prompts(step.expect_prompts, heard, f"the caller to {step.to}")
            return (
                f"the voicemail server ended the call{pressed} before the beep; the caller "
                f"heard {', '.join(heard) or 'no prompt'}"
            )
        raise StepFailed(
            f"the voicemail server ended the call to {step.to} before the beep; the caller heard "
            f"{', '.join(heard) or 'no prompt'}"
        )
    await call.wait_quiet(0.2, timeout=5.0)
    spool = bed.target.spool_reader
    # Without the spool, only a signature tells the message apart when it is listened to.
    signature = step.signature or (None if spool else signature_for(len(bed.deposited)))
    if signature is not None:
        audio = np.concatenate((message_signature(signature), audio))
    before = None if spool is None else spool.count(step.to)
    await call.play(audio)
    ending = "and hung up"
    if step.hangup == "hash":
        await _hash_and_wait(step, call)
        ending = "pressed # and the server hung up"
    await bed.hang_up(call)
    check_prompts(step.expect_prompts, call.heard_prompts(), f"the caller to {step.to}")
    after = "after the beep" if beep else "without hearing a beep"
    stored = ""
    spoken = len(audio) / 8000
    if spool is not None and before is not None:
        stored = "; " + await check_stored(spool, step.to, before, spoken, step.signature)
    elif signature is not None:
        bed.deposited.append(Deposited(step.to, signature, spoken))
        stored = f"; signed {signature}, to be listened to once the steps are done"
    return (
        f"left {len(audio) / 8000:.1f} s for {step.to} ({step.reason.value}){pressed}, "
        f"{after}, {ending}{stored}"
    )


async def _hang_up_in_greeting(step: DepositStep, bed: Testbed, call: Call, pressed: str) -> str:
    await bed.hang_up(call)
    heard = call.heard_prompts()
    if "beep" in heard:
        raise StepFailed(
            f"the caller meant to hang up before the beep{pressed} but heard it already; "
            f"it heard {', '.join(heard)}"
        )
    check_prompts(step.expect_prompts, heard, f"the caller to {step.to}")
    return f"hung up during the greeting of {step.to}{pressed}, leaving no message"


async def _hash_and_wait(step: DepositStep, call: Call) -> None:
    """Press # after the message and wait for the server to end the call."""
    await call.send_dtmf("#", step.dtmf)
    try:
        await asyncio.wait_for(call.ended.wait(), HANGUP_TIMEOUT)
    except TimeoutError:
        raise StepFailed(
            f"after the message and # the voicemail server did not end the call within "
            f"{HANGUP_TIMEOUT:g} s; the caller heard {', '.join(call.heard_prompts())}"
        ) from None


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


def _convention_problem(
    bed: Testbed, mark: int, step: DepositStep, call_id: str
) -> StepFailed | None:
    """How the INVITE that reached the voicemail server fails the scenario's convention, as
    the failure to raise, if it does (None too when the hop cannot be seen: both ends are
    outside the harness)."""
    invites, _ = _forwarded_invites(bed, mark, call_id, step.from_)
    if not invites:
        return None
    invite = invites[-1].message
    assert isinstance(invite, Request)
    name = bed.plan.convention
    sent = summary(invite)
    try:
        resolution = convention(name).resolve(invite, step.to.context)
    except RoutingError as error:
        return StepFailed(
            f"the INVITE reached the voicemail server with {_CONVENTION_NEEDS[name]} it cannot "
            f"read ({error}); the proxy sent: {sent}"
        )
    if resolution is None:
        return _missing_mailbox(invite, name, step.to.box)
    named = resolution.mailbox
    call = f"the {step.reason.value} call from {step.from_}"
    if named.box != step.to.box:
        caller = named.box == _number(step.from_)
        who = "the caller" if caller else "mailbox"
        return StepFailed(
            f"the proxy named {who} {named.box}, not the called party {step.to.box}, as the "
            f"mailbox of {call} it forwarded to the voicemail server: {sent}",
            "mailbox-is-caller" if caller else "wrong-mailbox",
        )
    if named.context != step.to.context:
        return StepFailed(
            f"the proxy named mailbox {named.box} in context {named.context}, not "
            f"{step.to.context}, on {call} it forwarded to the voicemail server: {sent}",
            "wrong-context",
        )
    return None


def _missing_mailbox(invite: Request, name: str, box: str) -> StepFailed:
    """The failure of an INVITE that carries no mailbox the convention reads: the mailbox in
    a header of another name (renamed), or nowhere (stripped)."""
    sent = summary(invite)
    if name == "x-voicemail":
        renamed = [
            header
            for header in invite.headers
            if "mailbox" in header.key and header.key != "x-voicemail-mailbox"
        ]
        if renamed:
            return StepFailed(
                f"the proxy named the mailbox in {renamed[0].name}, not X-Voicemail-Mailbox, on "
                f"the INVITE it forwarded to the voicemail server: {sent}",
                "header-renamed",
            )
    return StepFailed(
        f"the INVITE reached the voicemail server without {_CONVENTION_NEEDS[name]}; the proxy "
        f"sent: {sent}",
        "header-stripped",
    )


def _number(text: str) -> str:
    """The user part of a caller given as a number or a SIP URI."""
    return text.removeprefix("sip:").split("@", 1)[0]


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


def _refused(
    bed: Testbed, mark: int, step: DepositStep, user: str, response: Response
) -> StepFailed:
    """The failure of a deposit call answered ``response`` instead of as the step expects,
    naming the proxy's mistake when it is a known one."""
    invites, _ = _forwarded_invites(bed, mark, response.call_id, step.from_)
    if not invites and bed.plan.target is None and step.expect_status == 200:
        return StepFailed(
            f"the proxy answered the {step.reason.value} call from {step.from_} to {user} "
            f"{status_line(response)} instead of forwarding it to the voicemail server",
            "outcome-not-forwarded",
        )
    problem = _convention_problem(bed, mark, step, response.call_id) if invites else None
    if problem is not None:
        return StepFailed(f"{problem}; the caller got {status_line(response)}", problem.finding)
    return (
        StepFailed(
            f"the call from {step.from_} to {user} ({step.reason.value}) was answered "
            f"{status_line(response)}; expected {step.expect_status}"
            f"{_invite_story(bed, mark, step, response.call_id)}"
        )
        if problem is None
        else problem.finding
    )
    if bed.plan.target is None and step.expect_status == 200:
        return "outcome-not-forwarded"
    return None


async def run_retrieve(step: RetrieveStep, bed: Testbed) -> str:
    """Dial the voicemail menu, log in and press the keys, each when the menu waits."""
    phone = bed.phone(step.phone)
    spec = bed.scenario.phone(step.phone)
    mark = bed.mark()
    code = bed.plan.access_code
    try:
        call = await phone.dial(code)
    except CallFailed as failure:
        raise StepFailed(
            f"phone {step.phone} dialled {code} and was answered "
            f"{status_line(failure.response)}{bed.view.request_story(mark, 'INVITE')}"
        ) from None
    except TransactionFailed:
        raise StepFailed(f"phone {step.phone}: no answer to its call to voicemail") from None
    owned = bed.scenario.mailbox_of(spec)
    if owned is not None:
        # What this call does to the mailbox's messages is no longer known: do not listen.
        bed.deposited = [
            replace(d, entered=True) if d.mailbox == owned.id else d for d in bed.deposited
        ]
    problem = _retrieval_problem(bed, mark, step.phone, call.dialog.call_id)
    if problem is not None:
        await bed.hang_up(call)
        raise problem
    try:
        # Each key goes in when the menu has spoken and waits, as a person presses them.
        for keys in (step.pin + "#", *step.keys):
            if call.ended.is_set():
                break
            await call.wait_quiet(MENU_QUIET, timeout=MENU_TIMEOUT)
            await call.send_dtmf(keys, spec.dtmf)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(call.ended.wait(), HANGUP_TIMEOUT)
    finally:
        await bed.hang_up(call)
    heard = call.heard_prompts()
    codes = find_message_codes(call.heard())
    check_prompts(step.expect_prompts, heard, f"phone {step.phone}")
    detail = f"phone {step.phone} heard {len(heard)} prompts"
    if codes:
        detail += f" and message(s) {', '.join(codes)}"
    return detail


def _retrieval_problem(bed: Testbed, mark: int, user: str, call_id: str) -> StepFailed | None:
    """How the retrieval call the voicemail server received fails to name the phone's own
    mailbox, when the site says the proxy names it (None when it does, or cannot be seen)."""
    site = bed.plan.site
    owned = bed.scenario.mailbox_of(bed.scenario.phone(user))
    if site is None or site.retrieval is None or not site.retrieval.names_mailbox or not owned:
        return None
    invites, _ = _forwarded_invites(bed, mark, call_id, user)
    if not invites:
        return None
    invite = invites[-1].message
    assert isinstance(invite, Request)
    try:
        resolution = convention(bed.plan.convention).resolve(invite, owned.id.context)
    except RoutingError:
        resolution = None
    sent = summary(invite)
    if resolution is None:
        return StepFailed(
            f"the proxy forwarded phone {user}'s call to {bed.plan.access_code} to the voicemail "
            f"server without naming mailbox {owned.id.box}: {sent}",
            "retrieval-without-mailbox",
        )
    if resolution.mailbox != owned.id:
        return StepFailed(
            f"the proxy forwarded phone {user}'s call to {bed.plan.access_code} naming mailbox "
            f"{resolution.mailbox}, not {owned.id}: {sent}",
            "wrong-mailbox",
        )
    return None


def _deposit_references(step: DepositStep) -> Sequence[Reference]:
    if step.reason is Reason.UNCONDITIONAL:
        return (
            MailboxUse("to", step.to),
            SimulatorUse(
                "forwards unconditionally, which only the simulated proxy can be told to do"
            ),
        )
    return (MailboxUse("to", step.to),)


def _retrieve_references(step: RetrieveStep) -> Sequence[Reference]:
    return (PhoneUse("phone", step.phone),)


STEPS.register(StepKind("deposit", DepositStep, run_deposit, references=_deposit_references))
STEPS.register(StepKind("retrieve", RetrieveStep, run_retrieve, references=_retrieve_references))
