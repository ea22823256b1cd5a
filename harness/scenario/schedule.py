"""Which scenarios of a run may run at the same time, and in what order they start.

Each scenario normally gets its own embedded server, simulated proxy and ports, so any number
can run side by side. A real party is different: a proxy under test or an external voicemail
server is one machine every scenario talks to. Two scenarios may share it only when they touch
disjoint numbers (the phones and mailboxes of their topology and of their steps' references);
otherwise one waits for the other. A fixed port (``--voicemail-port``, ``--proxy-port``) can
be bound by one scenario at a time, so it makes the whole run serial.

:class:`Schedule` is sans-IO: the caller says which jobs started and finished, it answers
which may start next. Jobs start longest first (by the previous run's durations), which keeps
the slowest scenario from being the last one started.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.scenario.model import Scenario
from harness.scenario.plan import Plan, RunOptions
from harness.scenario.registry import MailboxUse, PhoneUse

#: Seconds assumed for a scenario no earlier run has timed.
DEFAULT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Job:
    """One scenario to run: its place in the run and the numbers it holds at real parties."""

    index: int
    #: ``party number`` pairs (``sip:10.0.0.5:5060 2000``) held while the scenario runs.
    claims: frozenset[str]
    #: Seconds it is expected to take (the previous run's, else :data:`DEFAULT_SECONDS`).
    expected: float = DEFAULT_SECONDS


def shared_parties(plan: Plan) -> tuple[str, ...]:
    """The real parties of ``plan`` that other scenarios of the run talk to as well."""
    parties: list[str] = []
    if plan.target is not None:
        parties.append(plan.target_name)
    if plan.proxy == "external":
        parties.append(plan.proxy_name)
    return tuple(parties)


def numbers_of(scenario: Scenario) -> frozenset[str]:
    """Every phone and mailbox number ``scenario`` declares or its steps name."""
    numbers = {phone.user for phone in scenario.every_phone}
    numbers |= {mailbox.box for mailbox in scenario.every_mailbox}
    registry = scenario.registry
    for _, step, _ in registry.walk(scenario.steps):
        for use in registry.references(step):
            if isinstance(use, PhoneUse):
                numbers.add(use.user)
            elif isinstance(use, MailboxUse):
                numbers.add(use.mailbox.box)
    return frozenset(numbers)


def claims_of(scenario: Scenario, plan: Plan | None) -> frozenset[str]:
    """The numbers ``scenario`` holds at the real parties of ``plan`` while it runs (none when
    it runs against the harness's own parties only, or is skipped)."""
    if plan is None or plan.skip is not None:
        return frozenset()
    numbers = numbers_of(scenario)
    return frozenset(f"{party} {number}" for party in shared_parties(plan) for number in numbers)


def serial_reason(options: RunOptions) -> str | None:
    """Why no two scenarios of a run with ``options`` may run at the same time, if so."""
    for option, port in (
        ("--voicemail-port", options.voicemail_port),
        ("--proxy-port", options.proxy_port),
    ):
        if port:
            return f"{option} {port} is one port, bound by one scenario at a time"
    return None


class Schedule:
    """The order jobs start in, with at most ``slots`` running and no claim held twice."""

    def __init__(self, jobs: Sequence[Job], slots: int) -> None:
        if slots < 1:
            raise ValueError(f"slots must be at least 1, not {slots}")
        self.slots = slots
        self._waiting = sorted(jobs, key=lambda job: (-job.expected, job.index))
        self._running: dict[int, Job] = {}
        self._held: set[str] = set()

    @property
    def done(self) -> bool:
        """True when no job waits or runs."""
        return not self._waiting and not self._running

    @property
    def running(self) -> tuple[int, ...]:
        """Indexes of the jobs running now."""
        return tuple(self._running)

    def ready(self) -> list[Job]:
        """The jobs to start now (each is marked running): the longest waiting ones whose
        claims are free, while a slot is."""
        started: list[Job] = []
        for job in list(self._waiting):
            if len(self._running) >= self.slots:
                break
            if job.claims & self._held:
                continue
            self._waiting.remove(job)
            self._running[job.index] = job
            self._held |= job.claims
            started.append(job)
        return started

    def finish(self, index: int) -> None:
        """Job ``index`` ended: its slot and claims are free."""
        job = self._running.pop(index)
        self._held -= job.claims


def expected_seconds(key: str, durations: Mapping[str, float]) -> float:
    """How long the scenario ``key`` is expected to take, from the previous run's durations."""
    return durations.get(key, DEFAULT_SECONDS)
