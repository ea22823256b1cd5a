"""A mailbox's PIN locked after repeated failures, whichever calls they came from.

``maxlogins`` ends one call after its failures, but thirty calls in parallel each get their own
tries. Here failures are counted per mailbox over every call: the ``lockoutlogins``-th failure
within ``lockoutsecs`` seconds locks the mailbox for ``lockoutsecs`` seconds, during which every
PIN is refused exactly as a wrong one is (the caller hears no difference, so a guesser cannot
tell a lock from a miss). A correct PIN outside a lock clears the count; time clears it too.

Sans-IO: the caller passes the time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.core.mailbox import MailboxId


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """``failures`` within ``seconds`` lock a mailbox for ``seconds``; 0 failures: never."""

    failures: int = 10
    seconds: float = 300.0

    def __post_init__(self) -> None:
        if self.failures < 0 or self.seconds <= 0:
            raise ValueError(f"lockout needs failures >= 0 and seconds > 0, not {self}")


@dataclass(slots=True)
class PinLockout:
    """Failed logins per mailbox, and the locks they caused."""

    policy: LockoutPolicy = field(default_factory=LockoutPolicy)
    _failures: dict[MailboxId, list[float]] = field(default_factory=dict)
    _locked_until: dict[MailboxId, float] = field(default_factory=dict)

    def locked(self, mailbox: MailboxId, now: float) -> bool:
        """Whether every PIN of ``mailbox`` is refused now."""
        until = self._locked_until.get(mailbox)
        if until is None:
            return False
        if now < until:
            return True
        del self._locked_until[mailbox]
        return False

    def failed(self, mailbox: MailboxId, now: float) -> bool:
        """A wrong PIN for ``mailbox``; whether this failure locked it."""
        if not self.policy.failures:
            return False
        recent = [t for t in self._failures.get(mailbox, []) if now - t < self.policy.seconds]
        recent.append(now)
        self._failures[mailbox] = recent
        if len(recent) < self.policy.failures or self.locked(mailbox, now):
            return False
        self._locked_until[mailbox] = now + self.policy.seconds
        self._failures.pop(mailbox, None)
        return True

    def succeeded(self, mailbox: MailboxId) -> None:
        """A correct PIN: the failures before it are forgotten."""
        self._failures.pop(mailbox, None)
