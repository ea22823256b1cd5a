"""The step kinds of the scenario language, one module per family.

Importing this package registers every kind in :data:`harness.scenario.registry.STEPS`: each
family module declares its models and runners and registers them when imported. A new kind is a
new module here, listed below.
"""

from harness.scenario.steps import (
    blocks,
    calls,
    heard,
    load,
    mwi,
    registration,
    smdi,
    spool,
    wire,
)

__all__ = ["blocks", "calls", "heard", "load", "mwi", "registration", "smdi", "spool", "wire"]
