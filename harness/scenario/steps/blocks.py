"""Blocks and time: ``wait`` lets time pass, ``parallel`` runs steps at once, ``repeat`` runs a
block again and again (once per value of a range bound to a variable, some at a time: a load).
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Self

from pydantic import ConfigDict, Field, PlainValidator, PrivateAttr, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from harness.scenario.fields import MAX_ITERATIONS, Frozen, Seconds, VarName, check_range, located
from harness.scenario.registry import STEPS, AnyStep, Block, StepKind
from harness.scenario.step import Step, StepFailed, StepSkipped
from harness.scenario.variables import range_values, substitute

if TYPE_CHECKING:
    from harness.scenario.testbed import Testbed


class WaitStep(Step):
    """Let time pass. In YAML: ``- wait: 1.5``."""

    kind: ClassVar[str] = "wait"
    seconds: Seconds

    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return data if isinstance(data, dict) else {"seconds": data}


class ParallelStep(Step):
    """Steps run at the same time; it passes when every one of them passes.

    In YAML: ``- parallel: [{deposit: {...}}, {deposit: {...}}]``.
    """

    # Built once every kind is registered: its steps may be of any kind, parallel too.
    model_config = ConfigDict(defer_build=True)

    kind: ClassVar[str] = "parallel"
    steps: tuple[AnyStep, ...] = Field(min_length=1)

    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"steps": data} if isinstance(data, list | tuple) else data


def _values(value: Any) -> str | tuple[str, ...]:
    """A range as written, or a list of values as text."""
    if isinstance(value, str):
        return check_range(value)
    if isinstance(value, list | tuple) and value:
        if not all(isinstance(item, str | int) and not isinstance(item, bool) for item in value):
            raise PydanticCustomError(
                "values", "over lists values as text or numbers", {"text": str(value)}
            )
        return tuple(str(item) for item in value)
    raise PydanticCustomError(
        "values",
        'over is a range like "1000..1019" or a non-empty list of values',
        {},
    )


class RepeatStep(Step):
    """``steps`` again and again: ``times`` times, or once per value ``over`` a range or list.

    ``as`` names a variable that holds the iteration's value inside ``steps`` (with ``times``:
    1, 2, ...). ``concurrency`` iterations run at once, each one's steps in order (a load).
    The step fails at the first iteration that fails; the rest are not started.
    """

    model_config = ConfigDict(validate_by_name=True, defer_build=True)

    kind: ClassVar[str] = "repeat"
    times: int | None = Field(default=None, ge=1, le=MAX_ITERATIONS)
    over: Annotated[str | tuple[str, ...], PlainValidator(_values)] | None = None
    var: VarName | None = Field(default=None, validation_alias="as", serialization_alias="as")
    concurrency: int = Field(default=1, ge=1, le=MAX_ITERATIONS)
    #: The steps as written (``${var}`` not yet filled in); see :attr:`iterations`.
    steps: tuple[Any, ...] = Field(min_length=1)
    _iterations: tuple[tuple[Step, ...], ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _expand(self, info: ValidationInfo) -> Self:
        if (self.times is None) == (self.over is None):
            raise located([(("times",), "give either times or over (a range or a list of values)")])
        values = self.values
        if len(values) > MAX_ITERATIONS:
            raise located(
                [(("over",), f"{len(values)} iterations; at most {MAX_ITERATIONS} are allowed")]
            )
        if self.var is None:
            body = _Body.model_validate({"steps": list(self.steps)}, context=info.context).steps
            self._iterations = tuple(body for _ in values)
            return self
        # Each iteration is validated with its value in place, so a value that makes a step
        # wrong (a mailbox not declared) is found here, at the step's own line.
        self._iterations = tuple(
            _Body.model_validate(
                {"steps": substitute(list(self.steps), {self.var: value})}, context=info.context
            ).steps
            for value in values
        )
        return self

    @property
    def values(self) -> tuple[str, ...]:
        """The value of each iteration."""
        if self.over is None:
            return tuple(str(number) for number in range(1, (self.times or 0) + 1))
        return range_values(self.over) if isinstance(self.over, str) else self.over

    @property
    def iterations(self) -> tuple[tuple[Step, ...], ...]:
        """Each iteration's steps, its value filled in."""
        return self._iterations


class _Body(Frozen):
    """The steps of one iteration of a ``repeat``, validated where they sit in the file."""

    model_config = ConfigDict(defer_build=True)

    steps: tuple[AnyStep, ...]


async def run_wait(step: WaitStep, bed: Testbed) -> str:
    """Let the step's seconds pass."""
    await asyncio.sleep(step.seconds)
    return f"waited {step.seconds:g} s"


async def _attempt(step: Step, bed: Testbed) -> tuple[str, str]:
    """Run ``step``: (``passed``/``failed``/``skipped``, what it said)."""
    try:
        return "passed", await bed.scenario.registry.run(step, bed)
    except StepSkipped as skip:
        return "skipped", str(skip)
    except StepFailed as failure:
        return "failed", str(failure)


async def run_parallel(step: ParallelStep, bed: Testbed) -> str:
    """Run the steps at once; fails when one fails, skipped when all are skipped."""
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


async def run_repeat(step: RepeatStep, bed: Testbed) -> str:
    """Run the iterations, ``concurrency`` at a time, until one fails; each one's duration
    is a latency sample of the run."""
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
            started = loop.time()
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
            bed.record_latency(started, duration)

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


def _parallel_blocks(step: ParallelStep) -> Sequence[Block]:
    return (Block(step.steps),)


def _repeat_blocks(step: RepeatStep) -> Sequence[Block]:
    if step.var is None:
        # Without a variable every iteration is the same steps.
        return (Block(step.iterations[0]),)
    return tuple(
        Block(iteration, f' (when {step.var} is "{value}")')
        for value, iteration in zip(step.values, step.iterations, strict=True)
    )


STEPS.register(StepKind("wait", WaitStep, run_wait))
STEPS.register(StepKind("parallel", ParallelStep, run_parallel, blocks=_parallel_blocks))
STEPS.register(StepKind("repeat", RepeatStep, run_repeat, blocks=_repeat_blocks))
