"""MD queue: lookup by search key, waiting for a late message, expiry, consumption."""

from __future__ import annotations

import pytest

from harness.smdi.codec import MdMessage
from harness.smdi.queue import Matched, MdQueue, QueuedMd, TimedOut, Waiting, search_key

BUSY_2000 = MdMessage("001", "0007", "B", "2000", "3500")
NO_ANSWER_2001 = MdMessage("001", "0008", "N", "2001", "3501")
DIRECT_3500 = MdMessage("002", "0009", "D", "", "3500")


def test_a_queued_message_is_found_by_its_forwarding_station() -> None:
    queue = MdQueue()
    assert queue.add(BUSY_2000, now=10.0) == []
    found = queue.find("2000", now=10.5, timeout=3.0)
    assert isinstance(found, Matched)
    assert found.entry == QueuedMd(BUSY_2000, 10.0)


def test_a_message_is_consumed_by_the_lookup_that_uses_it() -> None:
    queue = MdQueue()
    queue.add(BUSY_2000, now=0.0)
    assert isinstance(queue.find("2000", now=0.1, timeout=3.0), Matched)
    # Asterisk would hand the same message out again until it expires; here it is gone.
    assert isinstance(queue.find("2000", now=0.2, timeout=3.0), Waiting)
    assert queue.messages(now=0.2) == ()


def test_two_messages_for_one_station_go_out_oldest_first() -> None:
    queue = MdQueue()
    first = MdMessage("001", "0001", "N", "2000", "3500")
    second = MdMessage("001", "0002", "B", "2000", "3600")
    queue.add(first, now=1.0)
    queue.add(second, now=2.0)
    taken = [queue.find("2000", now=3.0, timeout=0.0) for _ in range(2)]
    assert [t.entry.message for t in taken if isinstance(t, Matched)] == [first, second]


@pytest.mark.parametrize(
    ("search", "key", "other_key"),
    [("station", "2000", "2001"), ("terminal", "0007", "0008"), ("desk", "001", "002")],
)
def test_search_modes_match_their_field(search: str, key: str, other_key: str) -> None:
    queue = MdQueue(search=search)  # type: ignore[arg-type]
    queue.add(BUSY_2000, now=0.0)
    assert isinstance(queue.find(other_key, now=0.0, timeout=0.0), Waiting)
    found = queue.find(key, now=0.0, timeout=0.0)
    assert isinstance(found, Matched)
    assert found.entry.message == BUSY_2000


def test_search_key_reads_each_field() -> None:
    assert search_key(BUSY_2000, "station") == "2000"
    assert search_key(BUSY_2000, "terminal") == "0007"
    assert search_key(BUSY_2000, "desk") == "001"
    assert search_key(DIRECT_3500, "station") == ""


def test_a_blank_forwarding_station_is_not_found_by_a_station_number() -> None:
    queue = MdQueue()
    queue.add(DIRECT_3500, now=0.0)
    assert isinstance(queue.find("3500", now=0.0, timeout=0.0), Waiting)
    assert [entry.message for entry in queue.messages(now=0.0)] == [DIRECT_3500]


def test_a_lookup_waits_for_a_message_that_arrives_later() -> None:
    queue = MdQueue()
    waiting = queue.find("2000", now=5.0, timeout=3.0)
    assert waiting == Waiting(waiting.ticket, "2000", 8.0)
    assert queue.next_timer() == 8.0
    assert queue.add(NO_ANSWER_2001, now=6.0) == []  # not its key: queued for someone else
    matched = queue.add(BUSY_2000, now=7.9)
    assert matched == [Matched(waiting.ticket, "2000", QueuedMd(BUSY_2000, 7.9))]
    assert queue.next_timer() is None
    assert queue.messages(now=8.0) == (QueuedMd(NO_ANSWER_2001, 6.0),)


def test_a_lookup_times_out_at_its_deadline_not_before() -> None:
    queue = MdQueue()
    waiting = queue.find("2000", now=0.0, timeout=3.0)
    assert queue.poll(now=2.999) == []
    assert queue.poll(now=3.0) == [TimedOut(waiting.ticket, "2000")]
    assert queue.poll(now=4.0) == []
    # A message that comes after the caller gave up waits for the next call.
    assert queue.add(BUSY_2000, now=4.0) == []
    assert len(queue.messages(now=4.0)) == 1


def test_waiters_for_one_key_are_served_in_order_and_others_keep_waiting() -> None:
    queue = MdQueue()
    first = queue.find("2000", now=0.0, timeout=3.0)
    second = queue.find("2000", now=0.1, timeout=3.0)
    other = queue.find("2001", now=0.2, timeout=3.0)
    assert [m.ticket for m in queue.add(BUSY_2000, now=0.5)] == [first.ticket]
    assert [m.ticket for m in queue.add(BUSY_2000, now=0.6)] == [second.ticket]
    assert [w.ticket for w in queue.waiting] == [other.ticket]


def test_a_cancelled_lookup_takes_nothing() -> None:
    queue = MdQueue()
    waiting = queue.find("2000", now=0.0, timeout=3.0)
    queue.cancel(waiting.ticket)
    queue.cancel(12345)  # unknown tickets are ignored
    assert queue.add(BUSY_2000, now=1.0) == []
    assert queue.poll(now=10.0) == []


def test_messages_older_than_the_expiry_are_dropped() -> None:
    queue = MdQueue(expiry=0.5)
    queue.add(BUSY_2000, now=0.0)
    queue.add(NO_ANSWER_2001, now=0.4)
    assert [entry.message for entry in queue.messages(now=0.5)] == [BUSY_2000, NO_ANSWER_2001]
    assert isinstance(queue.find("2000", now=0.6, timeout=0.0), Waiting)
    found = queue.find("2001", now=0.85, timeout=0.0)
    assert isinstance(found, Matched)
    assert queue.messages(now=0.9) == ()


@pytest.mark.parametrize(
    ("kwargs", "complaint"),
    [
        ({"expiry": 0}, "MD expiry must be positive, got 0"),
        ({"search": "caller"}, "search mode must be one of station, terminal, desk, got 'caller'"),
    ],
)
def test_bad_queue_settings_are_refused(kwargs: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        MdQueue(**kwargs)  # type: ignore[arg-type]


def test_a_negative_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="timeout must not be negative, got -1"):
        MdQueue().find("2000", now=0.0, timeout=-1)
