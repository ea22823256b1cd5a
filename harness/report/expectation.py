"""What a scenario step expects, in plain words, for the "expected vs observed" of a report.

Works from the step as the trace recorded it (its kind and its fields as the scenario file
wrote them), so a report built from an old trace file reads the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def expectation(kind: str, spec: Mapping[str, Any]) -> str:
    """One sentence saying what the step must see happen."""
    describe = _BY_KIND.get(kind)
    if describe is not None:
        try:
            return describe(spec)
        except (KeyError, TypeError, ValueError):
            pass  # a field this version does not know how to phrase: list the fields instead
    if not spec:
        return f"{kind.replace('_', ' ')} succeeds"
    fields = ", ".join(f"{name}: {_value(value)}" for name, value in spec.items())
    return f"{kind.replace('_', ' ')} succeeds ({fields})"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return " ".join(_value(item) for item in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _seconds(value: Any) -> str:
    return f"{float(value):g} s"


def _deposit(spec: Mapping[str, Any]) -> str:
    reason = spec.get("reason", "no-answer")
    audio = (
        f"{_seconds(spec['seconds'])} of audio"
        if "seconds" in spec
        else f"the recording {spec['audio']}"
    )
    call = f"a call from {spec['from']} to {spec['to']} ({reason})"
    status = int(spec.get("expect_status", 200))
    if status != 200:
        return f"{call} is answered {status}"
    return f"{call} is forwarded to the voicemail server, answered 200, and leaves {audio}"


def _expect_notify(spec: Mapping[str, Any]) -> str:
    wanted = f"Messages-Waiting: {_value(spec['waiting'])}"
    if spec.get("voice"):
        wanted += f", Voice-Message: {spec['voice']}"
    return (
        f"phone {spec['phone']} receives a NOTIFY with {wanted} "
        f"within {_seconds(spec.get('within', 5))}"
    )


def _expect_no_notify(spec: Mapping[str, Any]) -> str:
    return f"phone {spec['phone']} receives no NOTIFY for {_seconds(spec.get('within', 2))}"


def _expect_spool(spec: Mapping[str, Any]) -> str:
    count = int(spec["count"])
    noun = "message" if count == 1 else "messages"
    return f"{spec['mailbox']} folder {spec.get('folder', 'INBOX')} holds {count} {noun}"


def _register(spec: Mapping[str, Any]) -> str:
    return f"phone {spec['phone']} registers at the proxy (200 OK)"


def _retrieve(spec: Mapping[str, Any]) -> str:
    text = (
        f"phone {spec['phone']} calls voicemail, logs in with PIN {spec['pin']} "
        f"and presses {_value(spec['keys'])}"
    )
    prompts = spec.get("expect_prompts")
    if prompts:
        text += f", hearing {', '.join(prompts)} in that order"
    return text


def _wait(spec: Mapping[str, Any]) -> str:
    return f"{_seconds(spec['seconds'])} pass"


def _setup(spec: Mapping[str, Any]) -> str:
    return "the proxy, the voicemail server and every phone start, and every phone registers"


_BY_KIND = {
    "deposit": _deposit,
    "expect_notify": _expect_notify,
    "expect_no_notify": _expect_no_notify,
    "expect_spool": _expect_spool,
    "register": _register,
    "retrieve": _retrieve,
    "wait": _wait,
    "setup": _setup,
}
