"""Which scenarios run at once: each its own parties, but a real party is shared by numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scenario.batch import parse_jobs, plan_batch, shown
from harness.scenario.loader import load_scenario
from harness.scenario.model import Scenario
from harness.scenario.plan import RunOptions
from harness.scenario.schedule import Job, Schedule, claims_of, numbers_of

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios"
#: Mailboxes and phones 2000 and 2001.
TWO_BOXES = LIBRARY / "mwi" / "two-mailboxes-each-own-lamp.yaml"
#: Mailbox and phone 2000.
ONE_BOX = LIBRARY / "mwi" / "subscribe-notifies-initial-state-and-deposit.yaml"
EXTERNAL = RunOptions(target="sip:127.0.0.1:5999")


def _scenarios(*paths: Path) -> list[tuple[Path, Scenario]]:
    return [(path, load_scenario(path)) for path in paths]


def test_numbers_come_from_the_topology_and_the_steps() -> None:
    assert numbers_of(load_scenario(TWO_BOXES)) == {"2000", "2001"}


def test_scenarios_against_the_harness_own_parties_claim_nothing() -> None:
    batch = plan_batch(_scenarios(TWO_BOXES, ONE_BOX), RunOptions(), 8, {})
    assert [job.claims for job in batch.jobs] == [frozenset(), frozenset()]
    assert batch.slots == 2
    assert batch.note is None
    schedule = Schedule(batch.jobs, batch.slots)
    assert sorted(job.index for job in schedule.ready()) == [0, 1]


def test_a_shared_real_target_runs_scenarios_with_the_same_number_one_after_the_other() -> None:
    batch = plan_batch(_scenarios(TWO_BOXES, ONE_BOX), EXTERNAL, 8, {})
    assert batch.jobs[0].claims == {"sip:127.0.0.1:5999 2000", "sip:127.0.0.1:5999 2001"}
    assert batch.note is not None
    assert "sip:127.0.0.1:5999" in batch.note
    schedule = Schedule(batch.jobs, batch.slots)
    first = schedule.ready()
    assert len(first) == 1  # both hold 2000: the second waits
    assert schedule.ready() == []
    schedule.finish(first[0].index)
    assert [job.index for job in schedule.ready()] == [1 - first[0].index]


def test_disjoint_numbers_share_a_real_party() -> None:
    jobs = [
        Job(0, frozenset({"sip:p 2000"})),
        Job(1, frozenset({"sip:p 3000"})),
        Job(2, frozenset({"sip:p 2000", "sip:p 4000"})),
    ]
    schedule = Schedule(jobs, 4)
    assert [job.index for job in schedule.ready()] == [0, 1]
    schedule.finish(0)
    assert [job.index for job in schedule.ready()] == [2]
    schedule.finish(1)
    schedule.finish(2)
    assert schedule.done


def test_a_fixed_port_makes_the_run_serial_and_says_why() -> None:
    batch = plan_batch(_scenarios(TWO_BOXES, ONE_BOX), RunOptions(voicemail_port=5080), 8, {})
    assert batch.slots == 1
    assert batch.note == "--voicemail-port 5080 is one port, bound by one scenario at a time"


def test_the_longest_scenario_by_the_previous_run_starts_first() -> None:
    durations = {str(ONE_BOX): 30.0, str(TWO_BOXES): 4.0}
    batch = plan_batch(_scenarios(TWO_BOXES, ONE_BOX), RunOptions(), 1, durations)
    assert [job.index for job in Schedule(batch.jobs, 1).ready()] == [1]


def test_a_skipped_scenario_claims_nothing() -> None:
    scenario = load_scenario(LIBRARY / "smdi" / "call-type-all.yaml")
    assert claims_of(scenario, None) == frozenset()


@pytest.mark.parametrize(
    ("text", "message"), [("0", "at least 1, not 0"), ("many", "a number or auto, not 'many'")]
)
def test_bad_job_counts_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_jobs(text)
    assert parse_jobs("auto") is None
    assert parse_jobs("3") == 3


def test_results_name_an_installed_scenario_from_its_library_folder() -> None:
    installed = Path("/venv/lib/python3.11/site-packages/harness/library/scenarios/mwi/a.yaml")
    assert shown(installed) == "scenarios/mwi/a.yaml"
    assert shown(Path("my/own/a.yaml")) == "my/own/a.yaml"
