"""Admission under load, on a fake clock: a late loop refuses new calls, then recovers."""

import pytest

from harness.voicemail.overload import Overload, OverloadPolicy


def probes(overload: Overload, start: float, until: float, late: float) -> None:
    """Probes every 50 ms from ``start`` to ``until``, each running ``late`` seconds late."""
    at = start
    while at < until:
        overload.probe(at, at + late)
        at += 0.05 + late


def test_a_prompt_loop_admits_every_call() -> None:
    overload = Overload(OverloadPolicy(max_lag=0.1))
    probes(overload, 0.0, 5.0, late=0.002)
    assert overload.admit(5.0)
    assert overload.refused == 0


def test_a_late_loop_refuses_new_calls_until_it_has_caught_up_for_a_window() -> None:
    overload = Overload(OverloadPolicy(max_lag=0.1, window=1.0))
    probes(overload, 0.0, 2.0, late=0.002)
    # Callbacks ran 300 ms late twice in a row: the loop is saturated.
    overload.probe(2.0, 2.3)
    overload.probe(2.35, 2.65)
    assert not overload.admit(2.65)
    probes(overload, 2.7, 3.2, late=0.002)
    assert not overload.admit(3.2)  # the stalls are still within the last second
    probes(overload, 3.2, 3.4, late=0.002)
    assert overload.admit(3.4)
    assert overload.refused == 2


def test_a_lone_pause_such_as_a_full_garbage_collection_refuses_no_one() -> None:
    overload = Overload(OverloadPolicy(max_lag=0.1, window=1.0))
    probes(overload, 0.0, 2.0, late=0.002)
    overload.probe(2.0, 2.15)
    probes(overload, 2.2, 2.5, late=0.002)
    assert overload.admit(2.5)
    assert overload.lag(2.5) == pytest.approx(0.15)
    assert overload.refused == 0


def test_callers_packets_taken_late_refuse_new_calls_past_their_own_bound() -> None:
    overload = Overload(OverloadPolicy(max_lag=0.1, max_receive_lag=0.3, window=1.0))
    # Timers on time, packets taken 0.2 s after they came: late, not overloaded.
    for step in range(20):
        overload.probe(step * 0.05, step * 0.05 + 0.002, receive_lag=0.2)
    assert overload.admit(1.0)
    # A backlog growing past the bound, though the timers still run on time.
    overload.probe(1.0, 1.002, receive_lag=0.35)
    overload.probe(1.05, 1.052, receive_lag=0.5)
    assert not overload.admit(1.06)
    assert overload.lag(1.06) == pytest.approx(0.002)
    assert overload.refused == 1


def test_an_idle_server_with_no_probes_admits() -> None:
    assert Overload(OverloadPolicy()).admit(100.0)


def test_a_policy_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_lag must be positive"):
        OverloadPolicy(max_lag=0)
    with pytest.raises(ValueError, match="late_probes must be positive"):
        OverloadPolicy(late_probes=0)
    with pytest.raises(ValueError, match="max_receive_lag must be positive"):
        OverloadPolicy(max_receive_lag=0)
