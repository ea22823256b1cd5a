"""The ``load`` step: many deposits (and retrievals) at a rate, judged by convergence.

In YAML::

    - load: {mailboxes: "3000..3019", rate: 10, calls: 40, talk: 1, skip_greeting: yes}

Calls go through the run's proxy into its voicemail server for the mailboxes of the range
(declared in the scenario with their phones, so the server has a peer to notify); the load
generator registers its own phone for each of them. The step passes when every call succeeded
and, afterwards, every phone's last NOTIFY equals its mailbox's true state (the spool when the
harness can read it), and, when a PBX is on an SMDI line, every station's lamp is on exactly
when its mailbox holds new messages. Its detail gives the counts and the latency percentiles.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from harness.core.mailbox import DEFAULT_CONTEXT, MailboxId
from harness.load.generator import LoadOptions
from harness.load.population import Subscriber
from harness.load.runner import offer_load
from harness.scenario.fields import NumberRange
from harness.scenario.registry import STEPS, MailboxUse, Reference, StepKind
from harness.scenario.step import Step, StepFailed
from harness.scenario.variables import range_values

if TYPE_CHECKING:
    from harness.scenario.testbed import Testbed


class LoadStep(Step):
    """Offer ``calls`` calls at ``rate`` per second (at most ``concurrency`` at once) into the
    mailboxes of ``mailboxes``; a share ``retrievals`` of them retrievals."""

    kind: ClassVar[str] = "load"
    mailboxes: NumberRange
    context: str = DEFAULT_CONTEXT
    rate: float = Field(default=10.0, gt=0)
    calls: int = Field(default=20, ge=1)
    concurrency: int = Field(default=50, ge=1)
    talk: float = Field(default=1.0, gt=0)
    greeting: float | None = Field(default=None, ge=0)
    skip_greeting: bool = False
    retrievals: float = Field(default=0.0, ge=0, le=1)
    settle: float = Field(default=15.0, gt=0)

    def boxes(self) -> tuple[MailboxId, ...]:
        """The mailboxes the load goes to."""
        return tuple(MailboxId(box, self.context) for box in range_values(self.mailboxes))


async def run_load_step(step: LoadStep, bed: Testbed) -> str:
    """StepFailed unless every call succeeded and every lamp converged."""
    pins = {spec.id: spec.pin for spec in bed.scenario.every_mailbox}
    people = [Subscriber(box, pins[box]) for box in step.boxes()]
    options = LoadOptions(
        rate=step.rate,
        calls=step.calls,
        concurrency=step.concurrency,
        mailboxes=len(people),
        talk=step.talk,
        greeting=step.greeting,
        skip_greeting=step.skip_greeting,
        retrievals=step.retrievals,
        settle=step.settle,
    )
    result = await offer_load(options, bed.proxy, bed.target, people)
    result["convergence_faults"] += await _lamp_faults(bed, step.boxes(), step.settle)
    result["converged"] = not result["convergence_faults"]
    summary = _summary(result)
    if result["failed"]:
        causes = ", ".join(f"{count} {cause}" for cause, count in result["failed"].items())
        raise StepFailed(f"{summary}; failed: {causes}")
    if not result["converged"]:
        faults = "; ".join(result["convergence_faults"][:5])
        raise StepFailed(f"{summary}; the lamps did not converge: {faults}")
    return summary


async def _lamp_faults(bed: Testbed, boxes: Sequence[MailboxId], within: float) -> list[str]:
    """Each station of ``boxes`` whose SMDI lamp disagrees with its mailbox's spool, after
    waiting up to ``within`` seconds for the lamps to catch up (none without PBX or spool)."""
    pbx, spec, spool = bed.pbx, bed.scenario.pbx, bed.target.spool_reader
    if pbx is None or spec is None or spool is None:
        return []
    stations = {mailbox: station for station, mailbox in spec.stations.items()}
    wanted = {stations.get(box, box.box): spool.count(box, "INBOX") > 0 for box in boxes}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline and any(
        pbx.lamps.get(station, False) != on for station, on in wanted.items()
    ):
        await asyncio.sleep(0.1)
    return [
        f"station {station}: the SMDI lamp is {'on' if not on else 'off'}, "
        f"the mailbox holds {'new' if on else 'no new'} messages"
        for station, on in sorted(wanted.items())
        if pbx.lamps.get(station, False) != on
    ]


def _summary(result: dict[str, Any]) -> str:
    setup, notify = result["setup_latency_ms"], result["notify_latency_ms"]
    kinds = ", ".join(f"{count} {kind}s" for kind, count in result["kinds"].items())
    return (
        f"{result['succeeded']}/{result['attempted']} calls ({kinds}) at "
        f"{result['rate_achieved']}/s; "
        f"setup p50 {setup['p50']} ms p99 {setup['p99']} ms; "
        f"NOTIFY p50 {notify['p50']} ms p99 {notify['p99']} ms; "
        f"RTP loss {result['rtp_loss']:.2%}"
    )


def _mailboxes(step: LoadStep) -> Sequence[Reference]:
    return tuple(MailboxUse("mailboxes", box) for box in step.boxes())


STEPS.register(StepKind("load", LoadStep, run_load_step, references=_mailboxes))
