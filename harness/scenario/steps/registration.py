"""Registration and subscription steps: ``register``, ``subscribe``, ``unsubscribe``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from harness.scenario.fields import User
from harness.scenario.registry import STEPS, PhoneUse, Reference, StepKind
from harness.scenario.step import Step, StepFailed
from harness.scenario.wire import status_line
from harness.sim.phone import Phone
from harness.sip.message import Response
from harness.sip.transport import TransactionFailed

if TYPE_CHECKING:
    from harness.scenario.testbed import Testbed


class RegisterStep(Step):
    """The phone registers with the proxy (``expires: 0`` removes its binding; unset, the
    phone's own short expiry, or the site's).

    A 401 or 407 is answered with digest credentials: ``password``, else the phone's own.
    """

    kind: ClassVar[str] = "register"
    phone: User
    password: str | None = None
    expires: int | None = Field(default=None, ge=0)
    #: The final response the REGISTER must get (after any digest challenge).
    expect_status: int = Field(default=200, ge=200, le=699)


class SubscribeStep(Step):
    """The phone subscribes to its mailbox's ``message-summary`` through the proxy.

    The NOTIFYs of the subscription light its lamp like unsolicited ones (``expect_notify``).
    """

    kind: ClassVar[str] = "subscribe"
    phone: User
    expires: int = Field(default=3600, ge=1)
    #: The final response the SUBSCRIBE must get.
    expect_status: int = Field(default=200, ge=200, le=699)


class UnsubscribeStep(Step):
    """The phone ends its subscription (a SUBSCRIBE with ``Expires: 0`` in its dialog).

    In YAML: ``- unsubscribe: {phone: "2000"}`` or ``- unsubscribe: "2000"``.
    """

    kind: ClassVar[str] = "unsubscribe"
    phone: User

    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"phone": data} if isinstance(data, str) else data


async def register_phone(
    phone: Phone, expires: int | None = None, password: str | None = None
) -> Response:
    """REGISTER ``phone`` at its proxy, answering a 401/407 with ``password`` (else the
    phone's own, if it has one); the final response."""
    if password is not None:
        phone.password = password
    return await phone.register(expires)


async def run_register(step: RegisterStep, bed: Testbed) -> str:
    """REGISTER the phone; StepFailed unless it is answered as expected."""
    phone = bed.phone(step.phone)
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
    granted = phone.expires if step.expires is None else step.expires
    return f"phone {step.phone} registered for {granted} s"


async def run_subscribe(step: SubscribeStep, bed: Testbed) -> str:
    """SUBSCRIBE to message-summary; StepFailed unless it is answered as expected."""
    phone = bed.phone(step.phone)
    mark = bed.mark()
    try:
        subscription = await phone.subscribe(step.expires)
    except TransactionFailed:
        raise StepFailed(
            f"phone {step.phone} got no answer to its SUBSCRIBE for message-summary"
            f"{bed.view.request_story(mark, 'SUBSCRIBE')}"
        ) from None
    response = subscription.response
    assert response is not None
    if response.status != step.expect_status:
        raise StepFailed(
            f"phone {step.phone} subscribed to message-summary and was answered "
            f"{status_line(response)}; expected {step.expect_status}"
            f"{bed.view.request_story(mark, 'SUBSCRIBE')}"
        )
    if subscription.dialog is None:
        return f"phone {step.phone}: SUBSCRIBE answered {status_line(response)} as expected"
    bed.keep_subscription(step.phone, subscription)
    granted = response.header("Expires")
    return f"phone {step.phone} subscribed to message-summary (expires {granted or step.expires})"


async def run_unsubscribe(step: UnsubscribeStep, bed: Testbed) -> str:
    """End the phone's subscription; StepFailed when it has none or the end is refused."""
    subscription = bed.end_subscription(step.phone)
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


def _phone(step: RegisterStep | SubscribeStep | UnsubscribeStep) -> Sequence[Reference]:
    return (PhoneUse("phone", step.phone),)


STEPS.register(StepKind("register", RegisterStep, run_register, references=_phone))
STEPS.register(StepKind("subscribe", SubscribeStep, run_subscribe, references=_phone))
STEPS.register(StepKind("unsubscribe", UnsubscribeStep, run_unsubscribe, references=_phone))
