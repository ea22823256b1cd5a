"""The step registry: a kind is checked when it registers, and the language reads it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from harness.scenario.loader import load_scenario
from harness.scenario.registry import (
    STEPS,
    Block,
    PhoneUse,
    Reference,
    Registry,
    RegistryError,
    StepKind,
)
from harness.scenario.step import Step

if TYPE_CHECKING:
    from harness.scenario.testbed import Testbed


class PingStep(Step):
    kind: ClassVar[str] = "ping"
    phone: str


class GroupStep(Step):
    kind: ClassVar[str] = "group"
    steps: tuple[PingStep, ...]


async def run_ping(step: PingStep, bed: Testbed) -> str:
    return f"pinged {step.phone}"


def ping_references(step: PingStep) -> Sequence[Reference]:
    return (PhoneUse("phone", step.phone),)


def test_every_kind_of_the_language_is_registered_under_its_model_s_name() -> None:
    assert set(STEPS.names) == {
        "register",
        "subscribe",
        "unsubscribe",
        "deposit",
        "retrieve",
        "expect_notify",
        "expect_no_notify",
        "expect_spool",
        "expect_heard",
        "expect_sip",
        "load",
        "smdi_send",
        "expect_lamp",
        "expect_smdi",
        "wait",
        "parallel",
        "repeat",
    }
    assert all(STEPS.model(name).kind == name for name in STEPS.names)


def test_a_well_formed_kind_registers_and_is_walked_and_run() -> None:
    registry = Registry()
    registry.register(StepKind("ping", PingStep, run_ping, references=ping_references))
    registry.register(
        StepKind("group", GroupStep, run_group, blocks=lambda step: (Block(step.steps, " (x)"),))
    )
    group = GroupStep(steps=(PingStep(phone="2000"), PingStep(phone="2001")))
    walked = [(loc, step.kind, note) for loc, step, note in registry.walk([group])]
    assert walked == [
        (("steps", 0, "group", "steps", 0, "ping"), "ping", " (x)"),
        (("steps", 0, "group", "steps", 1, "ping"), "ping", " (x)"),
    ]
    assert registry.references(group.steps[0]) == (PhoneUse("phone", "2000"),)
    assert "ping" in registry
    assert registry.names == ("ping", "group")


async def run_group(step: GroupStep, bed: Testbed) -> str:
    return "grouped"


def sync_runner(step: PingStep, bed: Testbed) -> str:
    return "not awaited"


async def one_argument(step: PingStep) -> str:
    return "no testbed"


def malformed(*parts: Any, **declared: Any) -> Any:
    """A declaration the type checker would refuse, as a plugin might still write it."""
    return StepKind(*parts, **declared)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (malformed("ping", PingStep, sync_runner), "step kind 'ping': the runner must be an async"),
        (malformed("ping", PingStep, one_argument), "the runner must take (step, testbed)"),
        (StepKind("pong", PingStep, run_ping), "the model PingStep names kind 'ping'"),
        (malformed("ping", dict, run_ping), "the model must be a Step"),
        (malformed("ping", PingStep, run_ping, references=None), "references must be callable"),
    ],
)
def test_a_malformed_kind_fails_when_it_registers(kind: Any, message: str) -> None:
    with pytest.raises(RegistryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Registry().register(kind)


def test_a_kind_registers_once() -> None:
    registry = Registry()
    registry.register(StepKind("ping", PingStep, run_ping))
    with pytest.raises(RegistryError, match="registered twice"):
        registry.register(StepKind("ping", PingStep, run_ping))


def test_expect_heard_loads_and_names_a_declared_phone(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        """\
name: t
mailboxes: [{box: "2000", pin: "5"}]
phones: [{user: "2000"}]
steps:
  - expect_heard: {phone: "2001", prompts: [vm-goodbye]}
""",
        encoding="utf-8",
    )
    with pytest.raises(Exception, match=r'steps\[0\]\.expect_heard\.phone: no phone "2001"'):
        load_scenario(path)
