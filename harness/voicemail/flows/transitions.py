"""A flow's states and the moves between them, in one table (as h11's ``_state.py``).

Every state change of a flow goes through :meth:`Transitions.move`, so a move the table does
not list is a bug found where it happens, not a caller stuck in a menu later.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Generic, TypeVar

S = TypeVar("S", bound=StrEnum)


class FlowStateError(RuntimeError):
    """A flow tried a move its transition table does not allow."""


class Transitions(Generic[S]):
    """Where a flow is, and the table of where it may go from each state.

    Staying in a state is always allowed (a menu played again); every other move must be in
    ``table[current]``.
    """

    def __init__(self, table: Mapping[S, frozenset[S]], initial: S) -> None:
        missing = [state for state in type(initial) if state not in table]
        if missing:
            raise ValueError(f"transition table lacks {', '.join(missing)}")
        self._table = table
        self._state = initial

    @property
    def state(self) -> S:
        """Where the flow is."""
        return self._state

    def move(self, to: S) -> None:
        """Go to ``to``; raises :class:`FlowStateError` for a move the table does not list."""
        if to != self._state and to not in self._table[self._state]:
            raise FlowStateError(f"no move from {self._state} to {to}")
        self._state = to
