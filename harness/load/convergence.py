"""The verdict of a load run: every phone's last NOTIFY equals its mailbox's true state.

The true state is the spool when the harness can read it (INBOX is new, Old is old), else the
run's own count of what it left (deposits in, retrievals moved to Old). Where the spool is read,
a mailbox that disagrees with that count is a fault too: a message lost, or one heard and not
moved to Old.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.mailbox import MailboxId
from harness.targets import SpoolReader

#: Faults listed one by one; past this many only their number is given.
MAX_LISTED = 50


@dataclass(frozen=True, slots=True)
class PhoneState:
    """What a run knows of one subscriber at its end: the phone's last voice counts (None: no
    NOTIFY came) and the run's own count of new and old messages over the mailbox's start."""

    lamp: tuple[int, int] | None
    new: int
    old: int
    base: int = 0

    def to_wire(self) -> list[int | None]:
        """Plain data, to cross an execnet channel."""
        lamp_new, lamp_old = self.lamp if self.lamp is not None else (None, None)
        return [lamp_new, lamp_old, self.new, self.old, self.base]

    @classmethod
    def from_wire(cls, data: list[int | None]) -> PhoneState:
        """The state :meth:`to_wire` sent."""
        lamp_new, lamp_old, new, old, base = data
        lamp = None if lamp_new is None or lamp_old is None else (lamp_new, lamp_old)
        return cls(lamp, int(new or 0), int(old or 0), int(base or 0))


def convergence_faults(
    states: dict[MailboxId, PhoneState], spool: SpoolReader | None, *, lamps: bool = True
) -> list[str]:
    """Each mailbox whose phone's lamp (or spool) disagrees with the truth, one sentence each;
    without ``lamps`` (no phones) only the spool is judged."""
    faults: list[str] = []
    for mailbox in sorted(states):
        state = states[mailbox]
        shown = state.lamp or (0, 0)
        model = (state.new + state.base, state.old)
        truth, where = model, "the run left"
        if spool is not None:
            truth = (spool.count(mailbox, "INBOX"), spool.count(mailbox, "Old"))
            where = "the spool holds"
            if truth != model:
                faults.append(
                    f"mailbox {mailbox}: the run left {model[0]}/{model[1]} "
                    f"but the spool holds {truth[0]}/{truth[1]}"
                )
        if lamps and shown != truth:
            seen = (
                "the phone received no NOTIFY"
                if state.lamp is None
                else f"the phone's last NOTIFY shows {shown[0]}/{shown[1]}"
            )
            faults.append(f"mailbox {mailbox}: {seen}, {where} {truth[0]}/{truth[1]}")
    if len(faults) > MAX_LISTED:
        faults = [*faults[:MAX_LISTED], f"… and {len(faults) - MAX_LISTED} more"]
    return faults
