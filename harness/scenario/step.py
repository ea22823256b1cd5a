"""What every scenario step is: a frozen model written ``- <kind>: {fields}``, and the two ways
its run can end short of passing.

A failing step raises :class:`StepFailed` with a sentence a vendor can read: what was expected,
what was seen, and at which hop it went wrong.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import model_validator

from harness.scenario.fields import Frozen


class StepFailed(Exception):
    """A step's expectation was not met; the message says why in a vendor's words.

    ``finding`` names the proxy mistake the failure proves, when it is one of
    :data:`harness.report.findings.FINDINGS`.
    """

    def __init__(self, message: str, finding: str | None = None) -> None:
        super().__init__(message)
        self.finding = finding


class StepSkipped(Exception):
    """A step cannot run against this target (e.g. white-box on a foreign server)."""


class Step(Frozen):
    """One step of a scenario. In YAML it is written ``- <kind>: {fields}``."""

    #: The YAML key naming this kind of step.
    kind: ClassVar[str]

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, data: Any) -> Any:
        if isinstance(data, dict) and len(data) == 1 and cls.kind in data:
            data = data[cls.kind]
        return cls._shorthand(data)

    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        """Turn a step's short YAML form into its fields; the full form passes through."""
        return data
