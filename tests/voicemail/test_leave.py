"""The VoiceMail deposit flow, driven event by event as app_voicemail would run the call."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

import pytest

from harness.core.mailbox import MailboxId
from harness.voicemail.flows.callflow import (
    Action,
    CallStarted,
    DigitPressed,
    DiscardRecording,
    Event,
    Greeting,
    Hangup,
    HungUp,
    LoadMailbox,
    Log,
    MailboxChanged,
    MailboxLoaded,
    MailboxView,
    MarkUrgent,
    Play,
    PlaybackFinished,
    Prompt,
    Record,
    Recording,
    RecordingFinished,
    StoreFinished,
    StoreRecording,
    TimerFired,
)
from harness.voicemail.flows.leave import (
    ANY_KEY,
    PROMPTS_USED,
    REVIEW_WAIT,
    SAVE_OPERATOR_WAIT,
    Leave,
    LeaveOptions,
)

BOX = MailboxId("1234")
OTHER = MailboxId("2000", "sales")
THIRD = MailboxId("2001", "sales")

A = TypeVar("A")

PERSON = ("vm-theperson", "digits/1", "digits/2", "digits/3", "digits/4")


def view(mailbox: MailboxId = BOX, *, inbox: int = 0, greetings: Iterable[str] = ()) -> MailboxView:
    """What a deposit loads of a mailbox with ``inbox`` messages in INBOX and the named
    greetings recorded: the counts, not the messages."""
    return MailboxView(
        mailbox=mailbox,
        pin="4242",
        pin_changeable=True,
        folders=(),
        greetings=frozenset(greetings),
        counts=(("INBOX", inbox), ("Old", 0), ("Urgent", 0)),
    )


def label(item: object) -> str:
    """A played item as a test reads it: prompt name, ``greeting:<kind>`` or ``recording``."""
    if isinstance(item, Prompt):
        return item.name
    if isinstance(item, Greeting):
        return f"greeting:{item.kind}"
    assert isinstance(item, Recording), item
    return "recording"


def plays(actions: Iterable[Action]) -> list[tuple[str, ...]]:
    """What each Play in ``actions`` says."""
    return [tuple(label(item) for item in a.items) for a in actions if isinstance(a, Play)]


def of_type(actions: Iterable[Action], kind: type[A]) -> list[A]:
    return [a for a in actions if isinstance(a, kind)]


def logs(actions: Iterable[Action]) -> list[str]:
    return [a.state for a in actions if isinstance(a, Log)]


def prompt_names(actions: Iterable[Action]) -> set[str]:
    """Every prompt name a Play could sound, fallbacks included."""
    names: set[str] = set()
    for play in of_type(actions, Play):
        for item in play.items:
            if isinstance(item, Prompt):
                names.add(item.name)
            elif isinstance(item, Greeting):
                names.update(p.name for p in item.fallback)
    return names


@dataclass
class Caller:
    """Drives a :class:`Leave` like the call session would, with a fake clock."""

    flow: Leave
    now: float = 0.0
    heard: list[Action] = field(default_factory=list)

    def send(self, event: Event) -> list[Action]:
        actions = self.flow.handle(event)
        self.heard.extend(actions)
        return actions

    def listen(self) -> list[Action]:
        """The Play out now is heard to its end."""
        self.now += 1
        return self.send(PlaybackFinished(self.now))

    def press(self, key: str) -> list[Action]:
        return self.send(DigitPressed(key, self.now))

    def cut(self, key: str, *, key_first: bool = True) -> list[Action]:
        """``key`` cuts the Play short; the session reports the key and the end in either order."""
        self.now += 0.5
        stop = PlaybackFinished(self.now, interrupted=True)
        if key_first:
            first, second = self.press(key), self.send(stop)
        else:
            first, second = self.send(stop), self.press(key)
        assert first == []
        return second

    def record(self, seconds: float, why: str = "key", key: str | None = "#") -> list[Action]:
        self.now += seconds
        return self.send(
            RecordingFinished(self.now, why, seconds, key if why == "key" else None)  # type: ignore[arg-type]
        )

    def stored(self, *mailboxes: MailboxId, full: tuple[MailboxId, ...] = ()) -> list[Action]:
        return self.send(StoreFinished(self.now, mailboxes, full))

    def hang_up(self) -> list[Action]:
        return self.send(HungUp(self.now))


def call(
    options: LeaveOptions | None = None,
    *,
    mailboxes: tuple[MailboxId, ...] = (BOX,),
    inbox: int = 0,
    greetings: Iterable[str] = (),
) -> tuple[Caller, list[Action]]:
    """A call answered and its first mailbox loaded; also what the flow did then."""
    caller = Caller(Leave(mailboxes, options or LeaveOptions()))
    assert caller.send(CallStarted(0.0)) == [LoadMailbox(mailboxes[0], contents=False)]
    first = caller.send(
        MailboxLoaded(0.0, mailboxes[0], view(mailboxes[0], inbox=inbox, greetings=greetings))
    )
    return caller, first


def at_record(options: LeaveOptions | None = None, **kwargs: object) -> Caller:
    """A call whose every prompt was heard to the end, now recording."""
    caller, actions = call(options, **kwargs)  # type: ignore[arg-type]
    while not of_type(actions, Record):
        assert of_type(actions, Play), actions
        actions = caller.listen()
    assert caller.flow.state == "recording"
    return caller


# -- finding the mailbox ----------------------------------------------------------------------


def test_an_unknown_mailbox_ends_the_call_failed() -> None:
    flow = Leave((BOX,), LeaveOptions())
    assert flow.handle(CallStarted(0.0)) == [LoadMailbox(BOX, contents=False)]
    actions = flow.handle(MailboxLoaded(0.1, BOX, None))
    assert actions == [Log("no-mailbox", "1234@default"), Hangup()]
    assert flow.status == "FAILED"
    assert flow.finished


def test_the_greeting_comes_from_the_first_mailbox_only() -> None:
    flow = Leave((OTHER, BOX), LeaveOptions())
    assert flow.handle(CallStarted(0.0)) == [LoadMailbox(OTHER, contents=False)]


# -- the nominal deposit ----------------------------------------------------------------------


def test_a_nominal_deposit_greets_instructs_beeps_records_stores_and_thanks() -> None:
    caller, actions = call(greetings={"unavail"})
    fallback = tuple(Prompt(name) for name in (*PERSON, "vm-isunavail"))
    assert actions == [Play((Greeting(BOX, "unavail", fallback=fallback),), "#")]
    assert caller.listen() == [Play((Prompt("vm-intro"),), "#")]
    assert caller.listen() == [Play((Prompt("beep"),), "")]
    assert caller.listen() == [Record(stop_keys="#")]
    assert caller.flow.next_timer() is None

    actions = caller.record(12.0)
    assert actions == [
        Log("recorded", "12 s, ended by key #"),
        StoreRecording((BOX,), urgent=False),
        Play((Prompt("auth-thankyou"),), ""),
    ]
    assert caller.flow.status is None
    assert caller.stored(BOX) == [Log("stored", "1234@default"), MailboxChanged(BOX)]
    assert caller.flow.status == "SUCCESS"
    assert not caller.flow.finished
    assert caller.listen() == [Hangup()]
    assert caller.flow.finished


def test_the_call_ends_only_once_both_the_store_and_the_thanks_are_done() -> None:
    caller = at_record()
    caller.record(5.0)
    assert caller.listen() == []
    assert caller.stored(BOX)[-1] == Hangup()
    assert caller.flow.finished


@pytest.mark.parametrize(
    ("why", "key", "ended"),
    [("key", "#", "key #"), ("maxsecs", None, "maxsecs"), ("silence", None, "silence")],
)
def test_every_normal_end_of_recording_keeps_the_message(
    why: str, key: str | None, ended: str
) -> None:
    caller = at_record(LeaveOptions(maxsecs=30, maxsilence=5))
    actions = caller.record(30.0, why, key)
    assert actions[0] == Log("recorded", f"30 s, ended by {ended}")
    assert of_type(actions, StoreRecording) == [StoreRecording((BOX,))]
    assert plays(actions) == [("auth-thankyou",)]


def test_the_record_action_carries_the_limits() -> None:
    options = LeaveOptions(maxsecs=180, maxsilence=3, silencethreshold=256)
    caller = at_record(options)
    assert caller.heard[-1] == Record(
        stop_keys="#", max_seconds=180, max_silence=3, silence_threshold=256
    )


def test_with_the_operator_zero_also_stops_the_recording_but_star_never_does() -> None:
    caller = at_record(LeaveOptions(operator=True, star_exit=True))
    assert caller.heard[-1] == Record(stop_keys="#0")
    assert caller.press("*") == []
    assert caller.flow.state == "recording"


# -- greetings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("greeting", "recorded", "expected"),
    [
        ("unavail", set(), (*PERSON, "vm-isunavail")),
        ("unavail", {"unavail", "busy"}, ("greeting:unavail",)),
        ("busy", set(), (*PERSON, "vm-isonphone")),
        ("busy", {"busy"}, ("greeting:busy",)),
        ("busy", {"unavail"}, (*PERSON, "vm-isonphone")),
        ("unavail", {"greet"}, ("greeting:greet", "vm-isunavail")),
        ("busy", {"greet", "unavail"}, ("greeting:greet", "vm-isonphone")),
        ("unavail", {"temp", "unavail"}, ("greeting:temp",)),
        ("busy", {"temp"}, ("greeting:temp",)),
        ("default", {"temp"}, ("greeting:temp",)),
    ],
)
def test_the_greeting_played(greeting: str, recorded: set[str], expected: tuple[str, ...]) -> None:
    _, actions = call(LeaveOptions(greeting=greeting), greetings=recorded)  # type: ignore[arg-type]
    assert plays(actions) == [expected]


@pytest.mark.parametrize(
    ("greeting", "recorded", "kind", "fallback"),
    [
        ("unavail", {"unavail"}, "unavail", (*PERSON, "vm-isunavail")),
        ("busy", {"busy"}, "busy", (*PERSON, "vm-isonphone")),
        ("busy", {"temp"}, "temp", (*PERSON, "vm-isonphone")),
        ("default", {"temp"}, "temp", ()),
        ("unavail", {"greet"}, "greet", PERSON),
    ],
)
def test_a_recorded_greeting_falls_back_to_the_invented_one(
    greeting: str, recorded: set[str], kind: str, fallback: tuple[str, ...]
) -> None:
    _, actions = call(LeaveOptions(greeting=greeting), greetings=recorded)  # type: ignore[arg-type]
    first = of_type(actions, Play)[0].items[0]
    assert isinstance(first, Greeting)
    assert first.kind == kind
    assert first.mailbox == BOX
    assert tuple(p.name for p in first.fallback) == fallback


def test_without_u_or_b_there_is_no_greeting_only_the_instructions() -> None:
    _, actions = call(LeaveOptions(greeting="default"), greetings={"unavail", "busy"})
    assert plays(actions) == [("vm-intro",)]


def test_the_box_is_said_digit_by_digit_and_letters_are_silent() -> None:
    box = MailboxId("0987654321x")
    _, actions = call(mailboxes=(box,))
    digits = tuple(f"digits/{d}" for d in "0987654321")
    assert plays(actions) == [("vm-theperson", *digits, "vm-isunavail")]


# -- skipping and leaving during the greeting -------------------------------------------------


def test_skip_instructions_goes_from_the_greeting_to_the_beep() -> None:
    caller, _ = call(LeaveOptions(skip_instructions=True))
    assert plays(caller.listen()) == [("beep",)]


def test_skip_instructions_with_no_greeting_beeps_at_once() -> None:
    _, actions = call(LeaveOptions(greeting="default", skip_instructions=True))
    assert plays(actions) == [("beep",)]


@pytest.mark.parametrize("key_first", [True, False])
def test_pound_during_the_greeting_skips_the_instructions(key_first: bool) -> None:
    caller, _ = call()
    actions = caller.cut("#", key_first=key_first)
    assert plays(actions) == [("beep",)]
    assert caller.listen() == [Record(stop_keys="#")]


@pytest.mark.parametrize("key_first", [True, False])
def test_pound_during_the_instructions_goes_to_the_beep(key_first: bool) -> None:
    caller, _ = call()
    caller.listen()
    assert plays(caller.cut("#", key_first=key_first)) == [("beep",)]


def test_a_key_pressed_just_as_the_greeting_ended_still_counts() -> None:
    caller, _ = call()
    assert caller.press("#") == []
    assert plays(caller.listen()) == [("beep",)]


def test_other_keys_during_the_greeting_are_ignored() -> None:
    caller, actions = call()
    assert of_type(actions, Play)[0].interrupt == "#"
    for key in "123456789*0ABCD":
        assert caller.press(key) == []
    assert plays(caller.listen()) == [("vm-intro",)]


@pytest.mark.parametrize(
    ("options", "interrupt"),
    [
        (LeaveOptions(star_exit=True), "#*"),
        (LeaveOptions(operator=True), "#0"),
        (LeaveOptions(star_exit=True, operator=True), "#*0"),
    ],
)
def test_the_exits_interrupt_the_greeting_and_the_instructions(
    options: LeaveOptions, interrupt: str
) -> None:
    caller, actions = call(options)
    assert of_type(actions, Play)[0].interrupt == interrupt
    assert of_type(caller.listen(), Play)[0].interrupt == interrupt


@pytest.mark.parametrize("during_instructions", [False, True])
def test_star_leaves_with_userexit(during_instructions: bool) -> None:
    caller, _ = call(LeaveOptions(star_exit=True))
    if during_instructions:
        caller.listen()
    actions = caller.cut("*")
    assert actions == [Log("exit", "*"), Hangup()]
    assert caller.flow.status == "USEREXIT"
    assert caller.flow.finished
    assert not of_type(caller.heard, Record)


def test_star_without_an_a_extension_is_ignored() -> None:
    caller, _ = call()
    assert caller.press("*") == []
    assert plays(caller.listen()) == [("vm-intro",)]
    assert caller.flow.status is None


@pytest.mark.parametrize("key_first", [True, False])
def test_zero_goes_to_the_operator(key_first: bool) -> None:
    caller, _ = call(LeaveOptions(operator=True))
    actions = caller.cut("0", key_first=key_first)
    assert actions == [Log("operator", "0 during the greeting"), Play((Prompt("transfer"),), "")]
    assert caller.flow.status == "USEREXIT"
    assert caller.press("1") == []
    assert caller.listen() == [Hangup()]
    assert caller.flow.finished
    assert not of_type(caller.heard, Record)


def test_zero_without_the_operator_is_ignored() -> None:
    caller, _ = call()
    assert caller.press("0") == []
    assert plays(caller.listen()) == [("vm-intro",)]


# -- full and greetings-only mailboxes --------------------------------------------------------


def test_a_full_mailbox_says_so_after_the_instructions_and_records_nothing() -> None:
    caller, _ = call(LeaveOptions(maxmsg=3), inbox=3)
    assert plays(caller.listen()) == [("vm-intro",)]
    actions = caller.listen()
    assert actions == [
        Log("mailbox-full", "1234@default INBOX holds 3, maxmsg is 3"),
        Play((Prompt("vm-mailboxfull"),), ""),
    ]
    assert caller.flow.status == "FAILED"
    assert caller.listen() == [Hangup()]
    assert not of_type(caller.heard, Record)
    assert not of_type(caller.heard, StoreRecording)


def test_one_message_short_of_maxmsg_is_not_full() -> None:
    caller = at_record(LeaveOptions(maxmsg=3), inbox=2)
    assert caller.flow.status is None


def test_a_greetings_only_box_plays_the_greeting_and_ends_with_success() -> None:
    caller, actions = call(LeaveOptions(maxmsg=0))
    assert plays(actions) == [(*PERSON, "vm-isunavail")]
    assert caller.listen() == [Log("greetings-only", "1234@default"), Hangup()]
    assert caller.flow.status == "SUCCESS"
    assert not of_type(caller.heard, Record)


# -- what is stored ---------------------------------------------------------------------------


def test_a_recording_under_minsecs_is_discarded_and_fails() -> None:
    caller = at_record(LeaveOptions(minsecs=3))
    actions = caller.record(2.0)
    assert actions[1:] == [
        Log("too-short", "2 s is under minsecs 3: discarded"),
        DiscardRecording(),
        Play((Prompt("auth-thankyou"),), ""),
    ]
    assert caller.flow.status == "FAILED"
    assert caller.listen() == [Hangup()]
    assert not of_type(caller.heard, StoreRecording)


def test_a_recording_of_exactly_minsecs_is_kept() -> None:
    caller = at_record(LeaveOptions(minsecs=3))
    assert of_type(caller.record(3.0), StoreRecording)


def test_the_urgent_option_stores_an_urgent_message() -> None:
    caller = at_record(LeaveOptions(urgent=True))
    assert of_type(caller.record(5.0), StoreRecording) == [StoreRecording((BOX,), urgent=True)]
    assert caller.flow.urgent


def test_one_recording_goes_to_every_mailbox_and_full_ones_are_logged() -> None:
    caller = at_record(mailboxes=(BOX, OTHER, THIRD))
    assert of_type(caller.record(5.0), StoreRecording) == [StoreRecording((BOX, OTHER, THIRD))]
    actions = caller.stored(BOX, THIRD, full=(OTHER,))
    assert actions == [
        Log("full", "2000@sales"),
        Log("stored", "1234@default, 2001@sales"),
        MailboxChanged(BOX),
        MailboxChanged(THIRD),
    ]
    assert caller.flow.status == "SUCCESS"


def test_nothing_stored_fails() -> None:
    caller = at_record(mailboxes=(BOX, OTHER))
    caller.record(5.0)
    actions = caller.stored(full=(BOX, OTHER))
    assert not of_type(actions, MailboxChanged)
    assert logs(actions) == ["full", "full", "not-stored"]
    assert caller.flow.status == "FAILED"


# -- hanging up -------------------------------------------------------------------------------


@pytest.mark.parametrize("prompts_heard", [0, 1, 2])
def test_hanging_up_before_the_recording_leaves_nothing(prompts_heard: int) -> None:
    caller, _ = call()
    for _ in range(prompts_heard):
        caller.listen()
    actions = caller.hang_up()
    assert logs(actions) == ["hangup"]
    assert not of_type(actions, Hangup)
    assert caller.flow.status == "FAILED"
    assert caller.flow.finished
    assert caller.listen() == []
    assert not of_type(caller.heard, Record)


def test_hanging_up_while_the_mailbox_loads_fails() -> None:
    flow = Leave((BOX,), LeaveOptions())
    flow.handle(CallStarted(0.0))
    assert logs(flow.handle(HungUp(0.1))) == ["hangup"]
    assert flow.finished
    assert flow.status == "FAILED"
    assert flow.handle(MailboxLoaded(0.2, BOX, view())) == []


@pytest.mark.parametrize("hangup_first", [False, True])
def test_hanging_up_while_recording_keeps_the_message(hangup_first: bool) -> None:
    caller = at_record()
    if hangup_first:
        assert logs(caller.hang_up()) == ["hangup"]
        assert not caller.flow.finished
    actions = caller.record(8.0, "hangup")
    assert actions == [Log("recorded", "8 s, ended by hangup"), StoreRecording((BOX,))]
    if not hangup_first:
        assert logs(caller.hang_up()) == ["hangup"]
    assert caller.stored(BOX) == [Log("stored", "1234@default"), MailboxChanged(BOX)]
    assert caller.flow.finished
    assert caller.flow.status == "SUCCESS"
    assert not of_type(caller.heard, Hangup)


def test_a_recording_cut_by_hangup_under_minsecs_is_discarded() -> None:
    caller = at_record(LeaveOptions(minsecs=2))
    actions = caller.record(1.0, "hangup")
    assert of_type(actions, DiscardRecording)
    assert caller.flow.finished
    assert caller.flow.status == "FAILED"


def test_hanging_up_during_the_thanks_still_stores_and_notifies() -> None:
    caller = at_record()
    caller.record(5.0)
    assert logs(caller.hang_up()) == ["hangup"]
    assert not caller.flow.finished
    assert caller.stored(BOX)[-1] == MailboxChanged(BOX)
    assert caller.flow.finished
    assert not of_type(caller.heard, Hangup)


# -- 0 while recording: the operator ----------------------------------------------------------


def operator_recording(options: LeaveOptions | None = None) -> Caller:
    caller = at_record(options or LeaveOptions(operator=True))
    actions = caller.record(6.0, "key", "0")
    assert actions[1:] == [Play((Prompt("vm-saveoper"),), ANY_KEY)]
    assert not of_type(caller.heard, StoreRecording)
    return caller


@pytest.mark.parametrize(
    ("key", "said", "urgent"),
    [
        ("1", ("vm-msgsaved", "transfer"), False),
        ("4", ("vm-marked-urgent", "vm-msgsaved", "transfer"), True),
    ],
)
def test_zero_while_recording_keeps_the_message_on_1_or_4(
    key: str, said: tuple[str, ...], urgent: bool
) -> None:
    caller = operator_recording()
    caller.listen()
    assert caller.flow.next_timer() == caller.now + SAVE_OPERATOR_WAIT
    actions = caller.press(key)
    assert of_type(actions, StoreRecording) == [StoreRecording((BOX,), urgent=urgent)]
    assert of_type(actions, MarkUrgent) == ([MarkUrgent(True)] if urgent else [])
    assert plays(actions) == [said]
    assert caller.flow.status == "USEREXIT"
    caller.stored(BOX)
    assert caller.flow.status == "USEREXIT"
    assert caller.listen() == [Hangup()]


def test_the_choice_can_cut_vm_saveoper_short() -> None:
    caller = operator_recording()
    actions = caller.cut("1")
    assert of_type(actions, StoreRecording)


@pytest.mark.parametrize("key", ["2", "9", "*", "#", None])
def test_zero_while_recording_deletes_the_message_otherwise(key: str | None) -> None:
    caller = operator_recording()
    caller.listen()
    if key is None:
        assert caller.send(TimerFired(caller.now + SAVE_OPERATOR_WAIT - 0.1)) == []
        actions = caller.send(TimerFired(caller.now + SAVE_OPERATOR_WAIT))
    else:
        actions = caller.press(key)
    assert of_type(actions, DiscardRecording)
    assert not of_type(actions, StoreRecording)
    assert plays(actions) == [("vm-deleted", "transfer")]
    assert caller.flow.status == "USEREXIT"
    assert caller.listen() == [Hangup()]


def test_hanging_up_at_vm_saveoper_deletes_the_message() -> None:
    caller = operator_recording()
    actions = caller.hang_up()
    assert of_type(actions, DiscardRecording)
    assert caller.flow.finished
    assert caller.flow.status == "USEREXIT"


def test_keeping_a_too_short_message_for_the_operator_does_not_claim_it_saved() -> None:
    caller = operator_recording(LeaveOptions(operator=True, minsecs=10))
    actions = caller.cut("1")
    assert of_type(actions, DiscardRecording)
    assert plays(actions) == [("transfer",)]
    assert caller.flow.status == "USEREXIT"


# -- review=yes -------------------------------------------------------------------------------

MENU = ("vm-review", "vm-review-urgent")


def reviewing(options: LeaveOptions | None = None, seconds: float = 5.0) -> Caller:
    caller = at_record(options or LeaveOptions(review=True))
    actions = caller.record(seconds)
    assert not of_type(actions, StoreRecording)
    assert caller.flow.state == "review"
    return caller


def test_the_review_menu_follows_the_thanks_and_takes_any_key() -> None:
    caller = reviewing()
    last = of_type(caller.heard, Play)[-1]
    assert plays([last]) == [("auth-thankyou", *MENU)]
    assert last.interrupt == ANY_KEY
    assert caller.flow.next_timer() is None
    caller.listen()
    assert caller.flow.next_timer() == caller.now + REVIEW_WAIT


def test_the_review_menu_offers_the_operator_when_there_is_one() -> None:
    caller = reviewing(LeaveOptions(review=True, operator=True))
    assert plays(caller.heard)[-1] == ("auth-thankyou", *MENU, "vm-reachoper")


@pytest.mark.parametrize("cut", [False, True])
def test_review_1_keeps_the_message(cut: bool) -> None:
    caller = reviewing()
    if cut:
        actions = caller.cut("1")
    else:
        caller.listen()
        actions = caller.press("1")
    assert of_type(actions, StoreRecording) == [StoreRecording((BOX,))]
    assert plays(actions) == [("vm-msgsaved",)]
    caller.stored(BOX)
    assert caller.flow.status == "SUCCESS"
    assert caller.listen() == [Hangup()]


def test_review_2_plays_the_recording_back_then_the_menu() -> None:
    caller = reviewing()
    caller.listen()
    actions = caller.press("2")
    assert plays(actions) == [("recording", *MENU)]
    assert of_type(actions, Play)[0].interrupt == ANY_KEY
    assert of_type(caller.cut("1"), StoreRecording)


def test_review_3_records_again_after_the_instructions_and_beep() -> None:
    caller = reviewing()
    caller.listen()
    actions = caller.press("3")
    assert of_type(actions, DiscardRecording)
    assert plays(actions) == [("vm-intro", "beep")]
    assert of_type(actions, Play)[0].interrupt == ""
    assert caller.listen() == [Record(stop_keys="#")]
    actions = caller.record(9.0)
    assert plays(actions) == [("auth-thankyou", *MENU)]
    assert of_type(caller.cut("1"), StoreRecording)


def test_hanging_up_before_the_new_recording_leaves_nothing() -> None:
    caller = reviewing()
    caller.cut("3")
    actions = caller.hang_up()
    assert of_type(actions, DiscardRecording)
    assert caller.flow.finished
    assert caller.flow.status == "FAILED"
    assert not of_type(caller.heard, StoreRecording)


def test_review_4_toggles_urgent() -> None:
    caller = reviewing()
    actions = caller.cut("4")
    assert plays(actions) == [("vm-marked-urgent", "vm-review", "vm-review-nonurgent")]
    assert logs(actions) == ["urgent"]
    # Before it is stored: a crash meanwhile recovers the message where the caller put it.
    assert of_type(actions, MarkUrgent) == [MarkUrgent(True)]
    actions = caller.cut("4")
    assert plays(actions) == [("vm-marked-nonurgent", *MENU)]
    assert of_type(actions, MarkUrgent) == [MarkUrgent(False)]
    caller.cut("4")
    assert of_type(caller.cut("1"), StoreRecording) == [StoreRecording((BOX,), urgent=True)]


def test_review_4_can_clear_the_urgent_option() -> None:
    caller = reviewing(LeaveOptions(review=True, urgent=True))
    assert plays(caller.heard)[-1] == ("auth-thankyou", "vm-review", "vm-review-nonurgent")
    caller.cut("4")
    assert of_type(caller.cut("1"), StoreRecording) == [StoreRecording((BOX,), urgent=False)]


@pytest.mark.parametrize("key", ["5", "6", "7", "8", "9", "*", "#", "0"])
def test_other_review_keys_are_sorry(key: str) -> None:
    caller = reviewing()
    assert plays(caller.cut(key)) == [("vm-sorry", *MENU)]
    assert caller.flow.state == "review"
    assert caller.flow.status is None


def test_review_0_goes_to_the_operator_when_there_is_one() -> None:
    caller = reviewing(LeaveOptions(review=True, operator=True))
    assert plays(caller.cut("0")) == [("vm-saveoper",)]
    actions = caller.cut("1")
    assert of_type(actions, StoreRecording)
    assert caller.flow.status == "USEREXIT"


def test_zero_while_recording_with_review_goes_straight_to_vm_saveoper() -> None:
    caller = at_record(LeaveOptions(review=True, operator=True))
    assert plays(caller.record(4.0, "key", "0")) == [("vm-saveoper",)]


def test_the_review_menu_repeats_then_keeps_the_message_and_says_goodbye() -> None:
    caller = reviewing()
    for _ in range(3):
        caller.listen()
        deadline = caller.flow.next_timer()
        assert deadline == caller.now + REVIEW_WAIT
        assert caller.send(TimerFired(deadline - 0.5)) == []
        caller.now = deadline
        assert plays(caller.send(TimerFired(deadline))) == [MENU]
    caller.listen()
    deadline = caller.flow.next_timer()
    assert deadline is not None
    caller.now = deadline
    actions = caller.send(TimerFired(deadline))
    assert of_type(actions, StoreRecording)
    assert plays(actions) == [("vm-goodbye",)]
    assert caller.flow.next_timer() is None
    caller.stored(BOX)
    assert caller.listen() == [Hangup()]
    assert caller.flow.status == "SUCCESS"


def test_a_key_during_the_review_wait_cancels_the_timer() -> None:
    caller = reviewing()
    caller.listen()
    caller.press("9")
    assert caller.flow.next_timer() is None


def test_hanging_up_in_the_review_menu_keeps_the_message() -> None:
    caller = reviewing()
    actions = caller.hang_up()
    assert of_type(actions, StoreRecording) == [StoreRecording((BOX,))]
    assert not of_type(actions, Play)
    caller.stored(BOX)
    assert caller.flow.finished
    assert caller.flow.status == "SUCCESS"


def test_accepting_a_too_short_review_discards_without_claiming_it_saved() -> None:
    caller = reviewing(LeaveOptions(review=True, minsecs=5), seconds=2.0)
    actions = caller.cut("1")
    assert of_type(actions, DiscardRecording)
    assert not of_type(actions, Play)
    assert actions[-1] == Hangup()
    assert caller.flow.status == "FAILED"


# -- bad input and stray events ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"greeting": "temp"}, "greeting must be"),
        ({"maxmsg": -1}, "maxmsg must be 0 to 9999, not -1"),
        ({"maxmsg": 10000}, "maxmsg must be 0 to 9999"),
        ({"maxsecs": -1.0}, "maxsecs must be 0 or more"),
        ({"minsecs": float("nan")}, "minsecs must be 0 or more"),
        ({"maxsilence": -0.5}, "maxsilence must be 0 or more"),
        ({"silencethreshold": -1}, "silencethreshold must be 0 or more"),
    ],
)
def test_bad_options_are_refused_by_name(options: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        LeaveOptions(**options)  # type: ignore[arg-type]


def test_bad_mailbox_lists_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one mailbox"):
        Leave((), LeaveOptions())
    with pytest.raises(ValueError, match="1234@default is listed twice"):
        Leave((BOX, OTHER, BOX), LeaveOptions())
    with pytest.raises(ValueError, match="mailbox 2 is '2000', not a MailboxId"):
        Leave((BOX, "2000"), LeaveOptions())  # type: ignore[arg-type]


def test_events_nothing_asked_for_are_refused() -> None:
    flow = Leave((BOX,), LeaveOptions())
    with pytest.raises(ValueError, match="MailboxLoaded for 1234@default in state idle"):
        flow.handle(MailboxLoaded(0.0, BOX, view()))
    flow.handle(CallStarted(0.0))
    with pytest.raises(ValueError, match="CallStarted in state loading"):
        flow.handle(CallStarted(0.0))
    with pytest.raises(ValueError, match="MailboxLoaded for 2000@sales, but 1234@default"):
        flow.handle(MailboxLoaded(0.0, OTHER, view(OTHER)))
    flow.handle(MailboxLoaded(0.0, BOX, view()))
    with pytest.raises(ValueError, match="RecordingFinished in state greeting"):
        flow.handle(RecordingFinished(1.0, "key", 1.0, "#"))
    with pytest.raises(ValueError, match="no StoreRecording is outstanding"):
        flow.handle(StoreFinished(1.0, (BOX,)))
    with pytest.raises(ValueError, match="DigitPressed key '11' is not one of"):
        flow.handle(DigitPressed("11", 1.0))


def test_stray_playback_ends_and_timers_are_ignored() -> None:
    caller = at_record()
    assert caller.listen() == []
    assert caller.send(TimerFired(100.0)) == []
    assert caller.press("#") == []
    assert caller.flow.state == "recording"


def test_nothing_happens_after_the_end() -> None:
    caller = at_record()
    caller.record(5.0)
    caller.stored(BOX)
    caller.listen()
    assert caller.flow.finished
    assert caller.hang_up() == []
    assert caller.press("1") == []
    assert caller.send(TimerFired(1e9)) == []


# -- the prompt catalogue ---------------------------------------------------------------------


def test_prompts_used_lists_exactly_what_the_flow_can_play() -> None:
    sounded: set[str] = set()

    caller, _ = call(LeaveOptions(greeting="busy"), mailboxes=(MailboxId("0123456789"),))
    sounded |= prompt_names(caller.heard)

    caller, _ = call(LeaveOptions(operator=True, maxmsg=1), inbox=1)
    caller.listen()
    caller.listen()
    caller.listen()
    sounded |= prompt_names(caller.heard)

    caller = reviewing(LeaveOptions(review=True, operator=True))
    for key in ("4", "4", "2", "*"):
        caller.cut(key)
    caller.cut("0")
    caller.cut("4")
    sounded |= prompt_names(caller.heard)

    caller = operator_recording()
    caller.cut("9")
    sounded |= prompt_names(caller.heard)

    caller = reviewing()
    for _ in range(4):
        caller.listen()
        caller.send(TimerFired(caller.now + REVIEW_WAIT))
    sounded |= prompt_names(caller.heard)

    assert sounded == set(PROMPTS_USED)
    assert len(PROMPTS_USED) == len(set(PROMPTS_USED))
