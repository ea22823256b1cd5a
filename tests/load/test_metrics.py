"""Percentiles, merged tallies and the convergence verdict of a load run."""

from __future__ import annotations

from collections import Counter

from harness.core.mailbox import MailboxId
from harness.core.mwi import Counts, MessageSummary
from harness.load.convergence import PhoneState, convergence_faults
from harness.load.metrics import Tally, percentiles, report
from harness.load.population import Population, Subscriber


def test_percentiles_are_nearest_rank() -> None:
    samples = [float(value) for value in range(1, 101)]
    assert percentiles(samples) == {"p50": 50.0, "p95": 95.0, "p99": 99.0, "max": 100.0}
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None, "max": None}


def test_tallies_of_two_agents_merge_into_one_report() -> None:
    one = Tally(attempted=3, succeeded=2, failed=Counter({"invite-503": 1}), setup_ms=[5, 7])
    two = Tally.from_wire(
        Tally(attempted=2, succeeded=2, setup_ms=[9], rtp_expected=100, rtp_received=99).to_wire()
    )
    one.merge(two)
    result = report(one, rate_offered=10, faults=[], agents=2, cpu_seconds=1.234)
    assert result["attempted"] == 5
    assert result["succeeded"] == 4
    assert result["failed"] == {"invite-503": 1}
    assert result["setup_latency_ms"]["max"] == 9.0
    assert result["rtp_loss"] == 0.01
    assert result["converged"] is True
    assert set(result) == {
        "attempted", "succeeded", "failed", "rate_offered", "rate_achieved", "setup_latency_ms",
        "notify_latency_ms", "rtp_loss", "converged", "convergence_faults", "cpu_seconds", "agents",
        "kinds",
    }  # fmt: skip


def test_notify_latency_counts_from_each_deposit_end_to_the_notify_that_shows_it() -> None:
    box = MailboxId("2000")
    population = Population([Subscriber(box, "1")])
    population.notified("2000", MessageSummary.of(voice=Counts(0, 0)), at=0.0)
    population.deposited("2000", at=1.0)
    population.deposited("2000", at=1.5)
    population.notified("2000", MessageSummary.of(voice=Counts(1, 0)), at=1.02)
    population.notified("2000", MessageSummary.of(voice=Counts(2, 0)), at=1.6)
    assert [round(ms) for ms in population.notify_ms] == [20, 100]
    assert population.unsettled() == []
    population.retrieved("2000")
    assert [s.user for s in population.unsettled()] == ["2000"]


def test_a_mailbox_is_retrieved_only_once_the_server_announced_its_deposits() -> None:
    population = Population([Subscriber(MailboxId("2000"), "1")])
    subscriber = population.subscribers["2000"]
    population.notified("2000", MessageSummary.of(voice=Counts(0, 0)), at=0.0)
    population.deposited("2000", at=1.0)
    assert not subscriber.ready_for_retrieval()
    population.notified("2000", MessageSummary.of(voice=Counts(1, 0)), at=1.02)
    assert subscriber.ready_for_retrieval()
    subscriber.busy += 1
    assert not subscriber.ready_for_retrieval()


class _Spool:
    def __init__(self, counts: dict[tuple[MailboxId, str], int]) -> None:
        self.counts = counts

    def count(self, mailbox: MailboxId, folder: str = "INBOX") -> int:
        return self.counts.get((mailbox, folder), 0)

    def newest_callerid(self, mailbox: MailboxId, folder: str = "INBOX") -> str | None:
        return None

    def newest_audio(self, mailbox: MailboxId, folder: str = "INBOX") -> None:
        return None


def test_a_stale_lamp_and_a_lost_message_are_faults() -> None:
    a, b, c = MailboxId("2000"), MailboxId("2001"), MailboxId("2002")
    states = {
        a: PhoneState((1, 0), new=1, old=0),
        b: PhoneState((1, 0), new=2, old=0),
        c: PhoneState(None, new=0, old=0),
    }
    spool = _Spool({(a, "INBOX"): 1, (b, "INBOX"): 1})
    assert convergence_faults(states, spool) == [
        "mailbox 2001@default: the run left 2/0 but the spool holds 1/0",
    ]
    spool.counts[(c, "INBOX")] = 1
    assert convergence_faults(states, spool)[-1] == (
        "mailbox 2002@default: the phone received no NOTIFY, the spool holds 1/0"
    )
    assert convergence_faults(states, None) == [
        "mailbox 2001@default: the phone's last NOTIFY shows 1/0, the run left 2/0"
    ]
