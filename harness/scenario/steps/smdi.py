"""SMDI steps: ``smdi_send`` (the PBX writes an MD message and places its call), ``expect_lamp``
and ``expect_smdi`` (what the voicemail server writes back on the line)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, ClassVar

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from harness.media.signal import speech_like
from harness.scenario.fields import (
    DtmfKey,
    Frozen,
    Pin,
    Seconds,
    Station,
    StationField,
    User,
    check_digits,
    split_keys,
)
from harness.scenario.registry import STEPS, PbxUse, Reference, StepKind
from harness.scenario.step import Step, StepFailed
from harness.scenario.steps.prompts import (
    BEEP_TIMEOUT,
    HANGUP_TIMEOUT,
    MENU_TIMEOUT,
    check_prompts,
    first_prompt,
)
from harness.scenario.wire import status_line
from harness.sim.pbx import SimPbx
from harness.sim.phone import MENU_QUIET, Call, CallFailed
from harness.sip.transport import TransactionFailed
from harness.smdi.codec import MdMessage

if TYPE_CHECKING:
    from harness.scenario.testbed import Testbed


def _call_type(letter: str) -> str:
    if len(letter) != 1 or letter not in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        raise PydanticCustomError(
            "call_type",
            "an MD call type is one capital letter (D direct, A all, B busy, N no answer, "
            'U unknown, or a vendor letter), got "{text}"',
            {"text": letter},
        )
    return letter


def _line_bytes(text: str) -> str:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError as error:
        raise PydanticCustomError(
            "line_bytes",
            "an SMDI line carries bytes: character {char} at {at} is beyond \\xff",
            {"char": repr(text[error.start]), "at": error.start},
        ) from None
    return text


class SmdiCallSpec(Frozen):
    """The SIP call the PBX places through the proxy for its MD message.

    A deposit (speak ``seconds`` after the beep, hang up) unless ``pin`` is given or the MD
    message is of type D: then a session at the menu (log in with ``pin``, press ``keys``; with
    no ``pin``, listen until the menu waits, then hang up).
    """

    #: The Request-URI user dialled; by default the MD message's search key (the forwarding
    #: station after ``msdstrip``, the terminal, or the desk number, per ``pbx.search``).
    did: User | None = None
    seconds: Seconds = 2.0
    #: Press ``#`` as the greeting starts, straight to the beep (for scenarios about the line).
    skip_greeting: bool = False
    pin: Pin | None = None
    keys: Annotated[tuple[DtmfKey, ...], BeforeValidator(split_keys)] = ()
    #: Place the call first and write the MD message this many seconds later.
    md_delay: Seconds | None = None
    #: The final response the call must get.
    expect_status: int = Field(default=200, ge=100, le=699)
    #: Prompt names the call must hear, in order; None leaves prompts unchecked.
    expect_prompts: tuple[str, ...] | None = None


class SmdiSendStep(Step):
    """The PBX writes an MD message on the SMDI line, then places its ``call``, if given.

    ``noise`` is written on the line before the message, as given (double-quoted YAML takes
    escapes such as ``"\\r\\n\\x19"``); ``forwarding`` and ``calling`` may be blank (``""``).
    """

    model_config = ConfigDict(validate_by_name=True)

    kind: ClassVar[str] = "smdi_send"
    desk: Annotated[str, check_digits(3, 3, "message desk number")] = "001"
    terminal: Annotated[str, check_digits(4, 4, "message desk terminal")] = "0001"
    call_type: Annotated[str, AfterValidator(_call_type)] = Field(
        default="N", validation_alias="type", serialization_alias="type"
    )
    forwarding: StationField = ""
    calling: StationField = ""
    noise: Annotated[str, AfterValidator(_line_bytes)] | None = None
    call: SmdiCallSpec | None = None


class ExpectLampStep(Step):
    """The PBX's lamp of ``station`` must be on (or off) within ``within`` seconds.

    A lamp never commanded is off; a lamp already in that state passes at once.
    """

    kind: ClassVar[str] = "expect_lamp"
    station: Station
    on: bool
    within: Seconds = 5.0


class ExpectSmdiStep(Step):
    """A message must cross the SMDI line within ``within`` seconds.

    ``line`` is its text without framing: a lamp command as the voicemail server wrote it
    (``OP:MWI 2000!``, msdstrip zeros included) or an MWI-error as the PBX answered
    (``MWI2000 INV``). It is looked for after the message the previous ``expect_smdi`` matched.
    """

    kind: ClassVar[str] = "expect_smdi"
    line: str = Field(min_length=1)
    within: Seconds = 5.0


def _pbx(bed: Testbed) -> SimPbx:
    if bed.pbx is None:
        raise StepFailed("the scenario has no PBX on an SMDI line")
    return bed.pbx


async def run_smdi_send(step: SmdiSendStep, bed: Testbed) -> str:
    """Write the MD message (after any noise), then place its call if the step has one."""
    pbx = _pbx(bed)
    md = MdMessage(step.desk, step.terminal, step.call_type, step.forwarding, step.calling)
    wrote = (
        f"wrote MD desk {md.desk} terminal {md.terminal} type {md.call_type} ({md.description}) "
        f"for {md.forwarding_station or '(blank)'} from {md.calling_station or '(blank)'}"
    )
    if step.call is None:
        await _write(step, pbx, md)
        return wrote
    return await _call(step, step.call, bed, md, wrote)


async def _write(step: SmdiSendStep, pbx: SimPbx, md: MdMessage) -> None:
    if step.noise is not None:
        await pbx.send_raw(step.noise.encode("latin-1"))
    await pbx.send_md(md)


def _did(spec: SmdiCallSpec, bed: Testbed, md: MdMessage) -> str:
    """The number the PBX dials: the call's DID, else the MD message's search key."""
    if spec.did is not None:
        return spec.did
    pbx = bed.scenario.pbx
    assert pbx is not None
    keys = {
        "station": md.forwarding_station[pbx.msdstrip :],
        "terminal": md.terminal,
        "desk": md.desk,
    }
    return keys[pbx.search]


async def _call(
    step: SmdiSendStep, spec: SmdiCallSpec, bed: Testbed, md: MdMessage, wrote: str
) -> str:
    """The MD message and its call (the message first, or ``md_delay`` after the call)."""
    pbx = _pbx(bed)
    did = _did(spec, bed, md)
    caller = md.calling_station or "the PBX"
    mark = bed.mark()
    if spec.md_delay is None:
        await _write(step, pbx, md)
        dialled: asyncio.Task[Call] = asyncio.ensure_future(pbx.call(did, md.calling_station))
    else:
        dialled = asyncio.ensure_future(pbx.call(did, md.calling_station))
        await asyncio.sleep(spec.md_delay)
        await _write(step, pbx, md)
        wrote += f" {spec.md_delay:g} s after placing the call"
    try:
        call = await dialled
    except CallFailed as failure:
        if failure.response.status == spec.expect_status:
            return f"{wrote}; the call to {did} was answered {failure.response.status} as expected"
        raise StepFailed(
            f"{wrote}; the call to {did} from {caller} was answered "
            f"{status_line(failure.response)}; expected {spec.expect_status}"
            f"{bed.view.request_story(mark, 'INVITE')}"
        ) from None
    except TransactionFailed:
        raise StepFailed(
            f"{wrote}; the call to {did} got no final response"
            f"{bed.view.request_story(mark, 'INVITE')}"
        ) from None
    try:
        if spec.expect_status != 200:
            raise StepFailed(
                f"{wrote}; the call to {did} was answered 200; expected {spec.expect_status}"
            )
        if spec.pin is not None or md.call_type == "D":
            did_what = await _at_menu(spec, call)
        else:
            did_what = await _leave(spec, call, f"{bed.scenario.name}/smdi/{did}")
    finally:
        await bed.hang_up(call)
    heard = call.heard_prompts()
    check_prompts(spec.expect_prompts, heard, f"{wrote}; the call to {did} from {caller}")
    return f"{wrote}; the call to {did} from {caller} heard {len(heard)} prompts and {did_what}"


async def _at_menu(spec: SmdiCallSpec, call: Call) -> str:
    """Log in and press the keys, or with no PIN listen until the menu waits."""
    keys = (spec.pin + "#", *spec.keys) if spec.pin is not None else ()
    for pressed in keys:
        if call.ended.is_set():
            break
        await call.wait_quiet(MENU_QUIET, timeout=MENU_TIMEOUT)
        await call.send_dtmf(pressed)
    if keys:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(call.ended.wait(), HANGUP_TIMEOUT)
    else:
        await call.wait_quiet(MENU_QUIET, timeout=MENU_TIMEOUT)
    return f"pressed {' '.join(keys)}" if keys else "listened to the menu"


async def _leave(spec: SmdiCallSpec, call: Call, seed: str) -> str:
    """Leave ``spec.seconds`` of speech after the beep (skipping the greeting if asked)."""
    if spec.skip_greeting:
        await first_prompt(call)
        await call.send_dtmf("#")
    await call.wait_for_prompt("beep", timeout=BEEP_TIMEOUT)
    await call.wait_quiet(0.2, timeout=5.0)
    await call.play(speech_like(spec.seconds, seed))
    return f"left {spec.seconds:g} s"


async def run_expect_lamp(step: ExpectLampStep, bed: Testbed) -> str:
    """Wait for the PBX lamp of the station to be in the expected state."""
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


async def run_expect_smdi(step: ExpectSmdiStep, bed: Testbed) -> str:
    """Wait for the line to carry the text, after the last line an ``expect_smdi`` matched."""
    pbx = _pbx(bed)
    found = await pbx.wait_line(step.line, bed.smdi_cursor, step.within)
    if found is not None:
        record = pbx.line[found]
        bed.move_smdi_cursor(found + 1)
        who = "the PBX wrote" if record.direction == "out" else "the voicemail server wrote"
        return f"{who} {record.text!r} on the SMDI line"
    seen = [record.text for record in pbx.line[bed.smdi_cursor :]]
    raise StepFailed(
        f"expected {step.line!r} on the SMDI line within {step.within:g} s; since the last "
        f"match it carried: {', '.join(repr(text) for text in seen[-8:]) or 'nothing'}"
    )


def _send_references(step: SmdiSendStep) -> Sequence[Reference]:
    # A call without a DID is found by the PBX's search key: a blank station finds nothing.
    blank_search = step.call is not None and step.call.did is None
    return (PbxUse(step.forwarding if blank_search else None),)


def _needs_pbx(step: ExpectLampStep | ExpectSmdiStep) -> Sequence[Reference]:
    return (PbxUse(),)


STEPS.register(StepKind("smdi_send", SmdiSendStep, run_smdi_send, references=_send_references))
STEPS.register(StepKind("expect_lamp", ExpectLampStep, run_expect_lamp, references=_needs_pbx))
STEPS.register(StepKind("expect_smdi", ExpectSmdiStep, run_expect_smdi, references=_needs_pbx))
