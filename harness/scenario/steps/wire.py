"""The wire step: ``expect_sip`` waits for a SIP message to cross a hop as described, and says
what crossed that hop instead when none does."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, ClassVar, Self

from pydantic import AfterValidator, Field, model_validator

from harness.scenario.fields import (
    PARTIES,
    Seconds,
    check_header_name,
    check_hop,
    check_method,
    located,
)
from harness.scenario.registry import STEPS, HopUse, Reference, StepKind
from harness.scenario.step import Step, StepFailed
from harness.scenario.variables import Loc
from harness.scenario.wire import (
    Crossing,
    answers,
    describe,
    distinct,
    final_answer,
    status_line,
    summary,
)
from harness.sip.errors import SIPParseError
from harness.sip.message import Request, Response

if TYPE_CHECKING:
    from harness.scenario.testbed import Testbed

#: Seconds between two looks at the wire log while an ``expect_sip`` waits.
_POLL = 0.05


class ExpectSipStep(Step):
    """A SIP message must cross ``hop`` within ``within`` seconds, as described.

    ``hop`` is ``"SENDER->RECEIVER"``, each one of ``proxy``, ``voicemail``, ``caller`` (any
    calling phone that is not declared: depositing callers, the PBX's trunk) or a declared phone
    (``"2000"`` or ``"phone 2000"``). A request (of
    ``method``, if given) must cross it carrying ``header`` (equal to ``value``, or containing
    ``contains``; with ``absent: yes``, not carrying it at all), and with ``status`` it must be
    answered with that status (the answer crosses the hop backwards), or a response with that
    status (to ``method``) must cross the hop itself: ``{hop: voicemail->proxy, status: 404}``
    is the server refusing what the proxy sent. Messages an earlier ``expect_sip`` matched are
    not matched again; traffic before the first step is not looked at.
    """

    kind: ClassVar[str] = "expect_sip"
    hop: Annotated[str, AfterValidator(check_hop)]
    method: Annotated[str, AfterValidator(check_method)] | None = None
    status: int | None = Field(default=None, ge=100, le=699)
    header: Annotated[str, AfterValidator(check_header_name)] | None = None
    value: str | None = None
    contains: str | None = None
    absent: bool = False
    within: Seconds = 5.0

    @model_validator(mode="after")
    def _something_to_see(self) -> Self:
        problems: list[tuple[Loc, str]] = []
        if self.method is None and self.status is None and self.header is None:
            problems.append(((), "say what to look for: a method, a status or a header"))
        for field in ("value", "contains"):
            if getattr(self, field) is not None and self.header is None:
                problems.append(((field,), f"{field} goes with header: name the header"))
        if self.value is not None and self.contains is not None:
            problems.append((("contains",), "give either value or contains, not both"))
        if self.absent and self.header is None:
            problems.append((("absent",), "absent says a header is not there: name the header"))
        if self.absent and (self.value is not None or self.contains is not None):
            problems.append((("absent",), "absent: yes checks the header is not there at all"))
        if problems:
            raise located(problems)
        return self

    @property
    def sender(self) -> str:
        """The hop's sending party, as written."""
        return self.hop.split("->")[0]

    @property
    def receiver(self) -> str:
        """The hop's receiving party, as written."""
        return self.hop.split("->")[1]


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


async def run_expect_sip(step: ExpectSipStep, bed: Testbed) -> str:
    """Watch the wire until a message not matched before crosses the hop as described."""
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
            if not bed.was_matched(request.key)
        ]
        for request, _ in candidates:
            if _sip_matches(step, request, crossings):
                bed.claim_match(request.key)
                return _sip_seen(step, request, crossings)
        if step.status is not None:
            for response in on_hop:
                message = response.message
                if (
                    isinstance(message, Response)
                    and message.status == step.status
                    and _header_matches(step, message)
                    and not bed.was_matched(response.key)
                ):
                    bed.claim_match(response.key)
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


def _hop(step: ExpectSipStep) -> Sequence[Reference]:
    return (HopUse("hop", step.hop, step.sender, step.receiver),)


STEPS.register(StepKind("expect_sip", ExpectSipStep, run_expect_sip, references=_hop))
