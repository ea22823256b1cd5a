"""The call-flow engine: plays, the key buffer, cut prompts, deadlines, lookups, recordings."""

from __future__ import annotations

from enum import StrEnum

import pytest

from harness.core.mailbox import MailboxId
from harness.voicemail.flows.callflow import (
    Action,
    HungUp,
    LoadMailbox,
    Log,
    MailboxLoaded,
    Play,
    Prompt,
    Record,
    RecordingFinished,
)
from harness.voicemail.flows.engine import ANY_KEY, Engine
from harness.voicemail.flows.transitions import FlowStateError, Transitions

BOX = MailboxId("2000")
HELLO = (Prompt("vm-intro"),)


def log(text: str) -> list[Action]:
    return [Log(text)]


def test_a_play_ends_into_its_next_step() -> None:
    engine = Engine()
    assert engine.play(HELLO, lambda t: log(f"done {t:g}"), 0.0) == [Play(HELLO, "")]
    assert engine.playing
    assert engine.played(1.0) == [Log("done 1")]
    assert not engine.playing
    assert engine.played(2.0) == []  # nothing was out


def test_nothing_to_play_goes_straight_on() -> None:
    assert Engine().play((), lambda t: log("next"), 0.0) == [Log("next")]


def test_a_cutting_key_acts_at_once_and_its_actions_follow_the_cut_end() -> None:
    engine = Engine()
    engine.play(HELLO, lambda t: log("end"), 0.0, lambda key, t: log(f"key {key} {t:g}"), "#")
    assert engine.key("#", 0.5) == []
    assert engine.owing
    assert not engine.playing
    assert engine.played(0.5, interrupted=True) == [Log("key # 0.5")]
    assert not engine.owing


def test_a_cut_end_reported_first_waits_for_its_key() -> None:
    engine = Engine()
    engine.play(HELLO, lambda t: log("end"), 0.0, lambda key, t: log(f"key {key}"), "#")
    assert engine.played(0.5, interrupted=True) == []
    assert engine.key("#", 0.5) == [Log("key #")]


def test_other_keys_wait_for_the_play_then_reach_whoever_listens() -> None:
    engine = Engine()

    def then(t: float) -> list[Action]:
        return engine.ask(HELLO, t, lambda key, t2: log(f"menu {key}"), lambda t2: [], 6.0)

    engine.play(HELLO, then, 0.0, lambda key, t: log("never"), "#")
    assert engine.key("5", 0.1) == []
    actions = engine.played(1.0)
    assert actions == [Play(HELLO, ANY_KEY)]  # the held key waits for this play too
    assert engine.played(2.0) == [Log("menu 5")]


def test_a_deadline_fires_once_when_due() -> None:
    engine = Engine()
    engine.ask(HELLO, 0.0, lambda key, t: [], lambda t: log("timeout"), 6.0)
    engine.played(1.0)
    assert engine.next_timer() == 7.0
    assert engine.timer(6.9) == []
    assert engine.timer(7.0) == [Log("timeout")]
    assert engine.next_timer() is None


def test_reading_digits_ends_on_hash_or_the_gap_between_digits() -> None:
    engine = Engine()
    got: list[str] = []

    def then(entry: str, t: float) -> list[Action]:
        got.append(entry)
        return []

    engine.read(HELLO, 0.0, then, first_wait=10.0, between=2.0, longest=79)
    engine.played(1.0)
    assert engine.next_timer() == 11.0
    engine.key("4", 2.0)
    engine.key("2", 3.0)
    assert engine.next_timer() == 5.0
    engine.timer(5.0)
    assert got == ["42"]
    engine.read(HELLO, 6.0, then, first_wait=10.0, between=2.0, longest=79)
    engine.played(7.0)
    engine.key("7", 8.0)
    engine.key("#", 8.5)
    assert got == ["42", "7"]


def test_keys_wait_for_a_lookup() -> None:
    engine = Engine()
    heard: list[str] = []

    def on_key(key: str, t: float) -> list[Action]:
        heard.append(key)
        return []

    def loaded(view: object, t: float) -> list[Action]:
        return engine.ask(HELLO, t, on_key, lambda t2: [], 6.0)

    assert engine.load(BOX, loaded) == [LoadMailbox(BOX)]
    assert engine.key("1", 0.1) == []
    assert engine.loaded(MailboxLoaded(0.2, MailboxId("2001"), None)) == []  # not asked for
    assert engine.loaded(MailboxLoaded(0.2, BOX, None)) == [Play(HELLO, ANY_KEY)]
    engine.played(1.0)
    assert heard == ["1"]


def test_a_recording_ends_into_its_step_and_keys_meanwhile_are_dropped() -> None:
    engine = Engine()
    record = Record("#")
    assert engine.record(record, lambda event: log(event.why)) == [record]
    assert engine.recording
    assert engine.key("5", 0.5) == []
    assert engine.recorded(RecordingFinished(1.0, "maxsecs", 1.0)) == [Log("maxsecs")]
    assert not engine.recording


def test_a_hang_up_releases_what_a_key_asked_for_without_its_plays() -> None:
    engine = Engine()
    engine.play(HELLO, None, 0.0, lambda key, t: [*log("kept"), Play(HELLO)], "#")
    engine.key("#", 0.5)
    assert engine.owed(HungUp(0.6)) == [Log("kept")]
    assert not engine.playing
    assert not engine.owing


class Light(StrEnum):
    OFF = "off"
    ON = "on"
    BROKEN = "broken"


TABLE = {
    Light.OFF: frozenset({Light.ON}),
    Light.ON: frozenset({Light.OFF, Light.BROKEN}),
    Light.BROKEN: frozenset[Light](),
}


def test_transitions_allow_the_table_and_staying_put() -> None:
    states = Transitions(TABLE, Light.OFF)
    states.move(Light.OFF)
    states.move(Light.ON)
    states.move(Light.BROKEN)
    assert states.state == "broken"
    with pytest.raises(FlowStateError, match="no move from broken to on"):
        states.move(Light.ON)


def test_a_table_must_name_every_state() -> None:
    with pytest.raises(ValueError, match="lacks broken"):
        Transitions({Light.OFF: frozenset(), Light.ON: frozenset()}, Light.OFF)


def test_keys_held_while_the_cutting_key_is_awaited_follow_it() -> None:
    engine = Engine()
    heard: list[str] = []

    def on_key(key: str, t: float) -> list[Action]:
        heard.append(key)
        return []

    engine.play(HELLO, None, 0.0, on_key, "#")
    assert engine.played(0.5, interrupted=True) == []
    assert engine.key("5", 0.6) == []  # not the cutting key: it waits
    assert engine.key("#", 0.7) == []
    assert heard == ["#", "5"]
