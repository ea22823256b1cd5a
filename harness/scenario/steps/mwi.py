"""Message-waiting steps: ``expect_notify`` and ``expect_no_notify``.

A NOTIFY expectation looks at what arrived after the NOTIFY the phone's previous expectation
used, and when it is not met tells what became of the NOTIFYs at each hop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, ClassVar

from pydantic import AfterValidator

from harness.core.mwi import Counts, LampExpectation
from harness.scenario.fields import Seconds, User, check_voice
from harness.scenario.registry import STEPS, PhoneUse, Reference, StepKind
from harness.scenario.step import Step, StepFailed
from harness.scenario.wire import Crossing, distinct, final_answer, status_line
from harness.sim.phone import Phone
from harness.sip.errors import SIPParseError
from harness.sip.message import Request, parse_message

if TYPE_CHECKING:
    from harness.scenario.testbed import Testbed

#: Seconds a NOTIFY may take from the voicemail server's send to the phone through a real
#: proxy, unless the site names its own budget.
DEFAULT_BUDGET = 2.0


class ExpectNotifyStep(Step):
    """The phone must receive a message-summary NOTIFY with this state within ``within`` s."""

    kind: ClassVar[str] = "expect_notify"
    phone: User
    waiting: bool
    #: ``"new/old"`` voice-message counts; None leaves the counts unchecked.
    voice: Annotated[str, AfterValidator(check_voice)] | None = None
    within: Seconds = 5.0

    @property
    def voice_counts(self) -> tuple[int, int] | None:
        """``voice`` as ``(new, old)``."""
        if self.voice is None:
            return None
        new, old = self.voice.split("/")
        return int(new), int(old)


class ExpectNoNotifyStep(Step):
    """The phone must receive no message-summary NOTIFY for ``within`` seconds."""

    kind: ClassVar[str] = "expect_no_notify"
    phone: User
    within: Seconds = 2.0


async def run_expect_notify(step: ExpectNotifyStep, bed: Testbed) -> str:
    """Wait for a NOTIFY with the expected lamp state, after the last one a step used; each
    NOTIFY the phone got must be its own and (with a budget) relayed in time."""
    phone = bed.phone(step.phone)
    counts = step.voice_counts
    voice = Counts(*counts) if counts is not None else None
    expect = LampExpectation(waiting=step.waiting, voice=voice, within=step.within)
    since = bed.notify_cursor(step.phone)
    mark = bed.mark()
    check = await phone.wait_lamp(expect, since, start=bed.now())
    misdirected = _misdirected(bed, step.phone, since)
    if misdirected is not None:
        raise misdirected
    if check.status == "met" and check.state is not None:
        took = _relay_times(bed, phone, since, check.state.at)
        late = _late(bed, step.phone, took)
        if late is not None:
            raise late
        bed.move_notify_cursor(step.phone, check.state.at + 1e-6)
        relayed = f", relayed in {max(took):.2f} s" if took else ""
        return f"phone {step.phone}: {check.state.summary.describe()}{relayed}"
    wanted = f"Messages-Waiting: {'yes' if step.waiting else 'no'}"
    if voice is not None:
        wanted += f", Voice-Message: {voice.new}/{voice.old}"
    seen = (
        f"the last it got said {check.state.summary.describe()}"
        if check.state is not None
        else "it got none"
    )
    position = bed.view.position_at(since, mark)
    raise StepFailed(
        f"phone {step.phone} expected a NOTIFY with {wanted} within {step.within:g} s; "
        f"{seen}{_notify_story(bed, step.phone, position)}",
        _lost_finding(bed, step.phone, position),
    )


def misdirected_notify(bed: Testbed) -> StepFailed | None:
    """The failure of any NOTIFY of the run that reached a phone it was not meant for: the
    runner's last word, for scenarios whose steps did not look at that phone's NOTIFYs."""
    return _misdirected(bed, None, 0.0)


def _misdirected(bed: Testbed, user: str | None, since: float) -> StepFailed | None:
    """The failure of a NOTIFY for ``user`` that reached another phone, or of one for another
    user that reached ``user``'s phone (any user: None), since loop time ``since``."""
    for other, phone in bed.phones.items():
        for notify in phone.foreign_notifies(since):
            if user is None or user in (other, notify.addressee):
                return StepFailed(
                    f"the proxy relayed the NOTIFY for {notify.addressee} to phone {other}: "
                    f"NOTIFY {notify.request.uri}, To: {notify.request.header('To')}",
                    "notify-wrong-phone",
                )
    return None


def _relay_times(bed: Testbed, phone: Phone, since: float, until: float) -> list[float]:
    """Seconds from the voicemail server's send to the phone, for each NOTIFY the phone got
    from ``since`` to ``until`` (loop times) that the wire log shows the server sending."""
    sent: dict[tuple[str, int], float] = {}
    for record in bed.wire:
        if record.party != "voicemail" or record.direction != "out":
            continue
        try:
            message = parse_message(record.data)
        except SIPParseError:
            continue
        if isinstance(message, Request) and message.method == "NOTIFY":
            sent.setdefault((message.call_id, message.cseq[0]), record.monotonic)
    took: list[float] = []
    for notify in phone.notifies_since(since):
        started = sent.get((notify.request.call_id, notify.request.cseq[0]))
        if notify.at <= until and started is not None:
            took.append(notify.at - started)
    return took


def _late(bed: Testbed, user: str, took: list[float]) -> StepFailed | None:
    """The failure of a NOTIFY relayed later than the budget: the site's, else the default
    for a real proxy (the simulator's delays are the scenario's own)."""
    site = bed.plan.site
    if site is not None:
        budget = site.mwi.budget
    elif bed.plan.proxy != "simulator":
        budget = DEFAULT_BUDGET
    else:
        return None
    slowest = max(took, default=0.0)
    if slowest <= budget:
        return None
    return StepFailed(
        f"the NOTIFY for phone {user} was relayed {slowest:.2f} s after the voicemail server "
        f"sent it; the budget is {budget:g} s",
        "notify-late",
    )


def _lost_finding(bed: Testbed, user: str, since: int) -> str | None:
    """The named mistake behind a NOTIFY for ``user`` that did not arrive: refused by the
    proxy, or taken and not relayed; for a phone that registered during the run, only what was
    sent since counts (a NOTIFY refused while it was away is right), and none sent since is the
    lamp state not following the phone (None when the server sent none at all)."""
    crossings = bed.view.crossings(since)
    registered_at = bed.phone(user).registered_at
    wire = bed.wire
    sent = [
        crossing
        for crossing, _ in distinct(
            c
            for c in crossings
            if c.sender == "voicemail"
            and c.receiver == "proxy"
            and isinstance(c.message, Request)
            and c.message.method == "NOTIFY"
            and _addressed_to(c.message, user)
        )
    ]
    began = wire[since].monotonic if since < len(wire) else registered_at
    if registered_at is not None and began is not None and registered_at > began:
        away = bool(sent)
        sent = [crossing for crossing in sent if wire[crossing.index].monotonic >= registered_at]
        if away and not sent:
            return "lamp-not-resent-on-register"
    if not sent:
        return None
    answers = [final_answer(crossing, crossings) for crossing in sent]
    if any(answer is not None and answer.status >= 400 for answer in answers):
        return "notify-refused"
    return "notify-not-relayed"


async def run_expect_no_notify(step: ExpectNoNotifyStep, bed: Testbed) -> str:
    """StepFailed if the phone gets a NOTIFY within the step's time."""
    phone = bed.phone(step.phone)
    since = bed.now()
    await asyncio.sleep(step.within)
    misdirected = _misdirected(bed, step.phone, since)
    if misdirected is not None:
        raise misdirected
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


def _phone(step: ExpectNotifyStep | ExpectNoNotifyStep) -> Sequence[Reference]:
    return (PhoneUse("phone", step.phone),)


STEPS.register(StepKind("expect_notify", ExpectNotifyStep, run_expect_notify, references=_phone))
STEPS.register(
    StepKind("expect_no_notify", ExpectNoNotifyStep, run_expect_no_notify, references=_phone)
)
