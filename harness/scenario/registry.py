"""The step kinds a scenario may use, each declared once: its model, its runner, what it names.

A family module (``harness.scenario.steps.calls``…) registers each of its kinds with
:meth:`Registry.register`, which checks the declaration as pluggy checks a hook implementation
against its spec: the model is a :class:`Step` naming the kind, the runner an ``async def``
taking the step and the testbed, the references a callable. A malformed kind fails when its
module is imported, not in the middle of a run. The loader validates steps through
:data:`AnyStep` (built from the registry), the runner dispatches through :meth:`Registry.run`,
and :func:`walk_steps` and the reference checks read what each kind declares.
"""

from __future__ import annotations

import functools
import inspect
import operator
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

from pydantic import BeforeValidator, Discriminator, GetCoreSchemaHandler, GetPydanticSchema, Tag
from pydantic_core import CoreSchema, PydanticCustomError

from harness.core.mailbox import MailboxId
from harness.scenario.fields import did_you_mean
from harness.scenario.step import Step
from harness.scenario.variables import Loc

if TYPE_CHECKING:
    from harness.scenario.testbed import Testbed

S = TypeVar("S", bound=Step)


class RegistryError(TypeError):
    """A step kind is declared wrongly (raised when its module is imported)."""


@dataclass(frozen=True, slots=True)
class PhoneUse:
    """The step's ``field`` names the declared phone ``user``."""

    field: str
    user: str


@dataclass(frozen=True, slots=True)
class MailboxUse:
    """The step's ``field`` names the declared mailbox ``mailbox``."""

    field: str
    mailbox: MailboxId


@dataclass(frozen=True, slots=True)
class HopUse:
    """The step's ``field`` names a hop ``hop`` from ``sender`` to ``receiver``: each a party
    of :data:`harness.scenario.fields.PARTIES` or a declared phone."""

    field: str
    hop: str
    sender: str
    receiver: str


@dataclass(frozen=True, slots=True)
class PbxUse:
    """The step needs the topology's PBX. ``station`` is the forwarding station of a call it
    places without a DID (the PBX must then find the mailbox by a non-blank station)."""

    station: str | None = None


@dataclass(frozen=True, slots=True)
class SimulatorUse:
    """The step needs the simulated proxy (a real one behaves as it is configured); ``why``
    ends the skip reason with a real proxy."""

    why: str


#: What a step names that the topology (or the run's plan) must provide.
Reference = PhoneUse | MailboxUse | HopUse | PbxUse | SimulatorUse


@dataclass(frozen=True, slots=True)
class Block:
    """Steps a step holds (``parallel``, an iteration of ``repeat``), at ``<loc>/steps``;
    ``note`` is added to the problems found in them."""

    steps: Sequence[Step]
    note: str = ""


#: A step's runner: does the step on the testbed; a one-line account of what it did.
Runner = Callable[[S, "Testbed"], Awaitable[str]]


def _no_references(step: Step) -> Sequence[Reference]:
    return ()


def _no_blocks(step: Step) -> Sequence[Block]:
    return ()


@dataclass(frozen=True, slots=True)
class StepKind(Generic[S]):
    """One step kind: the YAML key ``name``, its ``model``, its ``run`` and what it names."""

    name: str
    model: type[S]
    run: Runner[S]
    #: The phones, mailboxes, hops and PBX a step of this kind names.
    references: Callable[[S], Sequence[Reference]] = _no_references
    #: The steps a step of this kind holds (blocks only).
    blocks: Callable[[S], Sequence[Block]] = _no_blocks


class Registry:
    """Step kinds by name, in the order they were registered."""

    def __init__(self) -> None:
        self._kinds: dict[str, StepKind[Any]] = {}

    def register(self, kind: StepKind[S]) -> StepKind[S]:
        """Add ``kind`` after checking it against the spec; RegistryError says what is wrong."""
        where = f"step kind {kind.name!r}"
        if kind.name in self._kinds:
            raise RegistryError(f"{where} is registered twice")
        if not (isinstance(kind.model, type) and issubclass(kind.model, Step)):
            raise RegistryError(f"{where}: the model must be a Step, not {kind.model!r}")
        if getattr(kind.model, "kind", None) != kind.name:
            raise RegistryError(
                f"{where}: the model {kind.model.__name__} names kind "
                f"{getattr(kind.model, 'kind', None)!r}"
            )
        if not inspect.iscoroutinefunction(kind.run):
            raise RegistryError(f"{where}: the runner must be an async function")
        parameters = list(inspect.signature(kind.run).parameters.values())
        if len(parameters) != 2 or any(p.kind not in _POSITIONAL for p in parameters):
            raise RegistryError(f"{where}: the runner must take (step, testbed)")
        for name in ("references", "blocks"):
            if not callable(getattr(kind, name)):
                raise RegistryError(f"{where}: {name} must be callable")
        self._kinds[kind.name] = kind
        return kind

    @property
    def names(self) -> tuple[str, ...]:
        """Every kind's YAML key, in registration order."""
        return tuple(self._kinds)

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def model(self, name: str) -> type[Step]:
        """The model of kind ``name``; KeyError if there is none."""
        return self._kinds[name].model

    def kind_of(self, step: Step) -> StepKind[Any]:
        """The declaration of ``step``'s kind."""
        return self._kinds[step.kind]

    async def run(self, step: Step, bed: Testbed) -> str:
        """Run ``step`` on ``bed`` with its kind's runner."""
        return await self._kinds[step.kind].run(step, bed)

    def references(self, step: Step) -> Sequence[Reference]:
        """What ``step`` names that the topology (or the plan) must provide."""
        return self._kinds[step.kind].references(step)

    def blocks(self, step: Step) -> Sequence[Block]:
        """The steps ``step`` holds."""
        return self._kinds[step.kind].blocks(step)

    def union(self) -> Any:
        """The pydantic type of any registered step: ``{kind: fields}`` or a Step as it is."""
        tagged = [Annotated[kind.model, Tag(name)] for name, kind in self._kinds.items()]
        return Annotated[
            functools.reduce(operator.or_, tagged),
            Discriminator(_step_tag),
            BeforeValidator(self.check_shape),
        ]

    def check_shape(self, value: Any) -> Any:
        """A step is a Step, or a mapping with exactly one key that names a known kind."""
        if isinstance(value, Step):
            return value
        known = ", ".join(sorted(self._kinds))
        if not isinstance(value, dict):
            raise PydanticCustomError(
                "step_shape",
                "a step is a mapping with one key naming its kind ({known})",
                {"known": known},
            )
        if not value:
            raise PydanticCustomError(
                "step_shape", "empty step; known kinds: {known}", {"known": known}
            )
        keys = [str(key) for key in value]
        kinds = [key for key in keys if key in self._kinds]
        if len(keys) == 1 and not kinds:
            raise PydanticCustomError(
                "step_kind",
                'unknown step kind "{kind}"{hint}; known kinds: {known}',
                {"kind": keys[0], "hint": did_you_mean(keys[0], self._kinds), "known": known},
            )
        if len(keys) > 1:
            others = [key for key in keys if key not in self._kinds]
            if len(kinds) == 1:
                raise PydanticCustomError(
                    "step_shape",
                    'step "{kind}" has other keys beside it ({others}); '
                    'indent them under "{kind}:"',
                    {"kind": kinds[0], "others": ", ".join(others)},
                )
            raise PydanticCustomError(
                "step_shape",
                "a step has exactly one kind, got {count} keys ({keys}); known kinds: {known}",
                {"count": len(keys), "keys": ", ".join(keys), "known": known},
            )
        return value

    def walk(
        self, steps: Iterable[Step], prefix: Loc = ("steps",), note: str = ""
    ) -> Iterator[tuple[Loc, Step, str]]:
        """Every step that does something, inside blocks too, with its place
        (``("steps", 2, "repeat", "steps", 0, "deposit")``) and, inside a ``repeat`` with a
        variable, a note naming the iteration's value."""
        for index, step in enumerate(steps):
            loc: Loc = (*prefix, index, step.kind)
            blocks = self.blocks(step)
            if not blocks:
                yield loc, step, note
            for block in blocks:
                yield from self.walk(block.steps, (*loc, "steps"), note + block.note)


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _step_tag(value: Any) -> str | None:
    if isinstance(value, Step):
        return value.kind
    if isinstance(value, dict) and len(value) == 1:
        return str(next(iter(value)))
    return None


#: Every step kind of the scenario language (the family modules of
#: :mod:`harness.scenario.steps` register theirs).
STEPS = Registry()


def walk_steps(
    steps: Iterable[Step], prefix: Loc = ("steps",), note: str = "", registry: Registry = STEPS
) -> Iterator[tuple[Loc, Step, str]]:
    """:meth:`Registry.walk` of ``registry``."""
    return registry.walk(steps, prefix, note)


def _any_step_schema(source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
    return handler.generate_schema(STEPS.union())


#: Any registered step; validates from ``{kind: fields}`` or passes a :class:`Step` through. The
#: union is built when a model using it is built, so every family must be registered by then
#: (models holding steps defer their build; :mod:`harness.scenario.model` imports the families).
AnyStep = Annotated[Step, GetPydanticSchema(_any_step_schema)]
