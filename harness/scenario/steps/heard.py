"""The ``expect_heard`` step: the prompts a phone heard on its most recent call, in order.

In YAML: ``- expect_heard: {phone: "2000", prompts: [vm-login, vm-password]}``. It checks the
last call of the phone that a step ended (a ``retrieve``, or any call the phone made), so a
scenario can state what was heard apart from the step that placed the call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from harness.scenario.fields import User
from harness.scenario.registry import STEPS, PhoneUse, Reference, StepKind
from harness.scenario.step import Step, StepFailed
from harness.scenario.steps.prompts import check_prompts

if TYPE_CHECKING:
    from harness.scenario.testbed import Testbed


class ExpectHeardStep(Step):
    """The phone's most recent call must have played ``prompts``, in that order (other prompts
    may come between)."""

    kind: ClassVar[str] = "expect_heard"
    phone: User
    prompts: tuple[str, ...] = Field(min_length=1)


async def run_expect_heard(step: ExpectHeardStep, bed: Testbed) -> str:
    """StepFailed unless the phone's last call heard the prompts in order."""
    heard = bed.last_heard(step.phone)
    if heard is None:
        raise StepFailed(f"phone {step.phone} has made no call yet: nothing was heard")
    check_prompts(step.prompts, heard, f"phone {step.phone}")
    return f"phone {step.phone} heard {', '.join(step.prompts)} on its last call"


def _phone(step: ExpectHeardStep) -> Sequence[Reference]:
    return (PhoneUse("phone", step.phone),)


STEPS.register(StepKind("expect_heard", ExpectHeardStep, run_expect_heard, references=_phone))
