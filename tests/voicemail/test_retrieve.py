"""The VoiceMailMain retrieval menu, driven key by key as a caller would, on a fake clock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, timedelta, timezone
from typing import TypeVar

import pytest

from harness.core.mailbox import MailboxId
from harness.voicemail.flows.callflow import (
    Action,
    ApplyChanges,
    CallStarted,
    ChangePin,
    CopyMessage,
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
    MessageAudio,
    MessageChange,
    MessageRef,
    Pause,
    Play,
    PlaybackFinished,
    Prompt,
    Record,
    Recording,
    RecordingFinished,
    RemoveGreeting,
    StoreGreeting,
    TimerFired,
)
from harness.voicemail.flows.retrieve.flow import PROMPTS_USED, Retrieval
from harness.voicemail.flows.retrieve.options import RetrieveOptions
from harness.voicemail.flows.say import caller_number, say_number, say_ordinal, say_received

BOX = MailboxId("1234")
BOB = MailboxId("5678")
CAROL = MailboxId("5679")
T0 = 1767625445  # Monday 5 January 2026, 15:04:05 UTC
DATE = (
    "vm-received digits/day-1 digits/mon-0 digits/h-5 digits/2 digits/thousand digits/20 "
    "digits/6 digits/at digits/3 digits/oh digits/4 digits/p-m"
)
START_MENU = "vm-opts vm-helpexit"


def ref(
    msg_id: str,
    folder: str = "INBOX",
    *,
    callerid: str = '"Alice" <5551234>',
    origtime: int = T0,
    duration: int = 12,
    urgent: bool = False,
) -> MessageRef:
    return MessageRef(msg_id, folder, callerid, origtime, duration, urgent)


def mailbox(
    *refs: MessageRef,
    pin: str | None = "4321",
    changeable: bool = True,
    greetings: Iterable[str] = (),
    box: MailboxId = BOX,
) -> MailboxView:
    """A view of ``box`` holding ``refs``, each in its own folder, in the order given."""
    folders: dict[str, list[MessageRef]] = {}
    for message in refs:
        folders.setdefault(message.folder, []).append(message)
    return MailboxView(
        mailbox=box,
        pin=pin,
        pin_changeable=changeable,
        folders=tuple((name, tuple(messages)) for name, messages in folders.items()),
        greetings=frozenset(greetings),
    )


def label(item: object) -> str:
    if isinstance(item, Prompt):
        return item.name
    if isinstance(item, MessageAudio):
        return f"audio:{item.msg_id}@{item.offset:g}"
    if isinstance(item, Greeting):
        return f"greeting:{item.mailbox}:{item.kind}"
    if isinstance(item, Pause):
        return "pause"
    assert isinstance(item, Recording), item
    return "recording"


A = TypeVar("A")


def said(actions: Iterable[Action]) -> list[str]:
    """What each Play in ``actions`` says, one space-separated string per Play."""
    return [" ".join(label(item) for item in a.items) for a in actions if isinstance(a, Play)]


def logs(actions: Iterable[Action]) -> list[str]:
    return [a.state for a in actions if isinstance(a, Log)]


def only(actions: Iterable[Action], kind: type[A]) -> list[A]:
    return [a for a in actions if isinstance(a, kind)]


@dataclass
class Call:
    """The call session as harness.voicemail.session runs it: a key that cuts a playback
    arrives before that playback's PlaybackFinished(interrupted=True); keys pressed during an
    uninterruptible playback are held until it ends."""

    flow: Retrieval
    now: float = 1000.0
    active: Play | None = None
    held: list[str] = field(default_factory=list)
    loading: MailboxId | None = None
    recording: Record | None = None
    history: list[Action] = field(default_factory=list)

    def feed(self, *events: Event) -> list[Action]:
        out: list[Action] = []
        for event in events:
            for action in self.flow.handle(event):
                out.append(action)
                if isinstance(action, Play):
                    for item in action.items:
                        if isinstance(item, Prompt):
                            assert item.name in PROMPTS_USED, item.name
                    self.active = action
                elif isinstance(action, LoadMailbox):
                    self.loading = action.mailbox
                elif isinstance(action, Record):
                    self.recording = action
        self.history += out
        return out

    def start(self) -> list[Action]:
        return self.feed(CallStarted(self.now))

    def _key(self, key: str) -> list[Action]:
        if self.active is not None and key in self.active.interrupt:
            self.active = None
            return self.feed(DigitPressed(key, self.now), PlaybackFinished(self.now, True))
        if self.active is not None:
            self.held.append(key)
            return []
        return self.feed(DigitPressed(key, self.now))

    def press(self, keys: str, gap: float = 0.25) -> list[Action]:
        out: list[Action] = []
        for key in keys:
            out += self.wait(gap)
            out += self._key(key)
        return out

    def finish(self, after: float = 0.0) -> list[Action]:
        """The playing Play ends by itself ``after`` seconds from now."""
        assert self.active is not None, "nothing is playing"
        self.now += after
        self.active = None
        out = self.feed(PlaybackFinished(self.now))
        held, self.held = self.held, []
        for key in held:
            out += self._key(key)
        return out

    def wait(self, seconds: float) -> list[Action]:
        """Let ``seconds`` pass with nothing playing to an end: only timers fire."""
        target = self.now + seconds
        out: list[Action] = []
        while self.active is None:
            deadline = self.flow.next_timer()
            if deadline is None or deadline > target:
                break
            self.now = max(self.now, deadline)
            out += self.feed(TimerFired(self.now))
        self.now = target
        return out

    def load(self, view: MailboxView | None) -> list[Action]:
        assert self.loading is not None, "no LoadMailbox outstanding"
        mailbox, self.loading = self.loading, None
        return self.feed(MailboxLoaded(self.now, mailbox, view))

    def recorded(self, why: str = "key", seconds: float = 4.0) -> list[Action]:
        assert self.recording is not None, "not recording"
        self.recording = None
        self.now += seconds
        key = "#" if why == "key" else None
        return self.feed(RecordingFinished(self.now, why, seconds, key))  # type: ignore[arg-type]

    def hangup(self) -> list[Action]:
        self.active = None
        events: list[Event] = []
        if self.recording is not None:
            self.recording = None
            events.append(RecordingFinished(self.now, "hangup", 1.0))
        return self.feed(*events, HungUp(self.now))


def logged_in(view: MailboxView, options: RetrieveOptions | None = None, **kwargs: object) -> Call:
    """A call to ``view``'s mailbox (known from the request), past the PIN, at the intro."""
    options = options or RetrieveOptions()
    call = Call(Retrieval(options, view.mailbox, **kwargs))  # type: ignore[arg-type]
    call.start()
    call.load(view)
    if view.pin is not None and not options.skip_password:
        call.press(view.pin + "#")
    assert call.flow.state == "menu"
    return call


def at_menu(view: MailboxView, options: RetrieveOptions | None = None, **kwargs: object) -> Call:
    """As :func:`logged_in`, with the intro and instructions heard to the end."""
    call = logged_in(view, options, **kwargs)
    call.finish()
    return call


def heard(call: Call, keys: str = "1") -> None:
    """Press ``keys`` and let the announcement and the message play to the end."""
    call.press(keys)
    call.finish()
    call.finish()


# -- saying things -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "words"),
    [
        (0, "0"),
        (7, "7"),
        (20, "20"),
        (21, "20 1"),
        (40, "40"),
        (99, "90 9"),
        (100, "1 hundred"),
        (115, "1 hundred 15"),
        (2026, "2 thousand 20 6"),
        (1_000_001, "1 million 1"),
    ],
)
def test_numbers_are_said_as_asterisk_says_them(number: int, words: str) -> None:
    assert [p.name for p in say_number(number)] == [f"digits/{w}" for w in words.split()]


def test_numbers_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot say -1"):
        say_number(-1)


@pytest.mark.parametrize(("day", "words"), [(1, "h-1"), (20, "h-20"), (23, "20 h-3"), (30, "h-30")])
def test_days_of_the_month_are_ordinals(day: int, words: str) -> None:
    assert [p.name for p in say_ordinal(day)] == [f"digits/{w}" for w in words.split()]


FULL_DATE = "digits/day-1 digits/mon-0 digits/h-5 digits/2 digits/thousand digits/20 digits/6"


@pytest.mark.parametrize(
    ("later", "date"),
    [
        (3600, ""),  # today: no date at all
        (86400, "digits/yesterday"),
        (3 * 86400, "digits/day-1"),  # within the week: the weekday, a Monday
        (30 * 86400, FULL_DATE),
    ],
)
def test_the_envelope_date_depends_on_how_long_ago(later: int, date: str) -> None:
    words = " ".join(p.name for p in say_received(T0, T0 + later, UTC))
    time = "digits/at digits/3 digits/oh digits/4 digits/p-m"
    assert words == " ".join(w for w in ("vm-received", date, time) if w)


def test_the_full_date_is_said_when_the_time_now_is_unknown() -> None:
    words = " ".join(p.name for p in say_received(T0, None, UTC))
    assert words == DATE


def test_the_envelope_time_uses_the_configured_zone() -> None:
    eastern = timezone(timedelta(hours=-5))
    words = [p.name for p in say_received(T0, T0 + 60, eastern)]
    assert words == ["vm-received", "digits/at", "digits/10", "digits/oh", "digits/4", "digits/a-m"]


@pytest.mark.parametrize(
    ("callerid", "number"),
    [('"Alice" <5551234>', "5551234"), ("555-1234", "5551234"), ("Alice", ""), ("Unknown", "")],
)
def test_the_caller_number_is_found_as_ast_callerid_parse_does(callerid: str, number: str) -> None:
    assert caller_number(callerid) == number


def test_prompts_used_is_a_sorted_catalogue_without_duplicates() -> None:
    assert list(PROMPTS_USED) == sorted(set(PROMPTS_USED))
    assert {"vm-login", "vm-password", "digits/20", "vm-Cust5", "pbx-invalid"} <= set(PROMPTS_USED)


# -- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"maxlogins": 0}, "maxlogins must be 1 or more"),
        ({"skipms": -1}, "skipms must be 0 or more"),
        ({"digit_timeout": 0}, "digit_timeout must be more than 0"),
        ({"forward_key": "x"}, "forward_key must be one DTMF key"),
        ({"stop_keys": "12x"}, "stop_keys must be DTMF keys"),
        ({"default_context": "a b"}, "default_context"),
    ],
)
def test_bad_options_are_refused_by_name(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetrieveOptions(**kwargs)  # type: ignore[arg-type]


def test_a_key_that_is_not_dtmf_is_refused() -> None:
    call = Call(Retrieval(RetrieveOptions(), BOX))
    call.start()
    with pytest.raises(ValueError, match="'x' is not one of"):
        call.flow.handle(DigitPressed("x", 1.0))


# -- login ---------------------------------------------------------------------------------


def test_a_known_mailbox_asks_only_the_pin() -> None:
    call = Call(Retrieval(RetrieveOptions(), BOX))
    start = call.start()
    assert logs(start) == ["START"]
    assert only(start, LoadMailbox) == [LoadMailbox(BOX)]
    assert said(call.load(mailbox(ref("a")))) == ["vm-password"]
    out = call.press("4321#")
    assert logs(out)[:2] == ["AUTHENTICATED", "INTRO"]
    assert said(out) == [
        "vm-youhave digits/1 vm-INBOX vm-message vm-onefor vm-INBOX vm-messages " + START_MENU
    ]
    assert call.flow.state == "menu"


def test_pin_digits_are_never_logged() -> None:
    call = logged_in(mailbox(ref("a")))
    details = [a.detail for a in call.history if isinstance(a, Log)]
    assert not any("4321" in d or "DTMF: 4" in d for d in details)


def test_the_mailbox_is_asked_when_unknown_and_then_the_pin() -> None:
    call = Call(Retrieval(RetrieveOptions()))
    assert said(call.start()) == ["vm-login"]
    assert only(call.press("1234#"), LoadMailbox) == [LoadMailbox(BOX)]
    assert said(call.load(mailbox())) == ["vm-password"]
    out = call.press("4321#")
    assert said(out) == [f"vm-youhave vm-no vm-messages {START_MENU}"]


def test_an_empty_mailbox_entry_means_the_caller_number() -> None:
    call = Call(Retrieval(RetrieveOptions(), caller="1234"))
    call.start()
    assert only(call.press("#"), LoadMailbox) == [LoadMailbox(BOX)]


def test_an_empty_mailbox_entry_without_caller_number_ends_the_call() -> None:
    call = Call(Retrieval(RetrieveOptions()))
    call.start()
    out = call.press("#")
    assert only(out, Hangup) == [Hangup()]
    assert not only(out, MailboxChanged)
    assert call.flow.finished


def test_the_prompted_context_is_the_default_context_option() -> None:
    call = Call(Retrieval(RetrieveOptions(default_context="sales")))
    call.start()
    assert only(call.press("2000#"), LoadMailbox) == [LoadMailbox(MailboxId("2000", "sales"))]


def test_three_wrong_pins_end_the_call_without_touching_the_mailbox() -> None:
    call = Call(Retrieval(RetrieveOptions(), BOX))
    call.start()
    call.load(mailbox(ref("a")))
    assert said(call.press("1111#")) == ["vm-incorrect"]
    assert said(call.finish()) == ["vm-password"]
    assert said(call.press("2222#")) == ["vm-incorrect"]
    call.finish()
    assert said(call.press("3333#")) == ["vm-incorrect vm-goodbye"]
    end = call.finish()
    assert end == [Log("HANGUP", "too many failed logins"), Hangup()]
    assert not only(call.history, ApplyChanges)
    assert not only(call.history, MailboxChanged)
    assert call.flow.finished
    assert call.flow.next_timer() is None


def test_maxlogins_sets_how_many_tries() -> None:
    call = Call(Retrieval(RetrieveOptions(maxlogins=1), BOX))
    call.start()
    call.load(mailbox())
    assert said(call.press("9#")) == ["vm-incorrect vm-goodbye"]


def test_an_unknown_mailbox_is_still_asked_its_pin_then_asked_again() -> None:
    call = Call(Retrieval(RetrieveOptions()))
    call.start()
    call.press("999#")
    assert said(call.load(None)) == ["vm-password"]
    assert said(call.press("4321#")) == ["vm-incorrect-mailbox"]
    call.press("1234#")  # typed over the prompt: it is the next entry
    assert said(call.load(mailbox())) == ["vm-password"]
    assert logs(call.press("4321#"))[0] == "AUTHENTICATED"


def test_a_mailbox_that_is_not_a_box_name_fails_without_a_lookup() -> None:
    call = Call(Retrieval(RetrieveOptions()))
    call.start()
    out = call.press("*12#")
    assert said(out) == ["vm-password"]
    assert not only(out, LoadMailbox)


def test_a_requested_mailbox_that_does_not_exist_asks_for_one() -> None:
    call = Call(Retrieval(RetrieveOptions(), MailboxId("999", "sales")))
    call.start()
    assert said(call.load(None)) == ["vm-login"]
    assert only(call.press("2000#"), LoadMailbox) == [LoadMailbox(MailboxId("2000", "sales"))]


@pytest.mark.parametrize(
    ("pin", "options"),
    [(None, RetrieveOptions()), ("4321", RetrieveOptions(skip_password=True))],
)
def test_no_pin_is_asked_without_one_or_with_option_s(
    pin: str | None, options: RetrieveOptions
) -> None:
    call = Call(Retrieval(options, BOX))
    call.start()
    out = call.load(mailbox(pin=pin))
    assert logs(out)[0] == "AUTHENTICATED"


def test_a_pin_entry_ends_after_the_digit_timeouts() -> None:
    call = Call(Retrieval(RetrieveOptions(), BOX))
    call.start()
    call.load(mailbox())
    call.finish()  # vm-password said; now 10 s for a first digit
    assert call.flow.next_timer() == pytest.approx(call.now + 10)
    call.press("4321", gap=1.5)
    assert call.flow.next_timer() == pytest.approx(call.now + 2)
    out = call.wait(2)
    assert logs(out)[0] == "AUTHENTICATED"


def test_a_due_deadline_fires_before_the_cut_prompt_reports_its_end() -> None:
    call = Call(Retrieval(RetrieveOptions(), BOX))
    call.start()
    call.load(mailbox())
    call.feed(DigitPressed("4", call.now))  # cuts vm-password; its PlaybackFinished is late
    deadline = call.flow.next_timer()
    assert deadline is not None
    assert deadline == pytest.approx(call.now + 2)
    assert said(call.feed(TimerFired(deadline))) == ["vm-incorrect"]


def test_no_pin_at_all_counts_as_a_wrong_one() -> None:
    call = Call(Retrieval(RetrieveOptions(), BOX))
    call.start()
    call.load(mailbox())
    call.finish()
    assert said(call.wait(10)) == ["vm-incorrect"]


# -- the intro and the start folder -----------------------------------------------------------


@pytest.mark.parametrize(
    ("refs", "intro", "folder"),
    [
        ([], "vm-youhave vm-no vm-messages", None),
        ([ref("a")], "vm-youhave digits/1 vm-INBOX vm-message", "INBOX"),
        (
            [ref("a"), ref("b"), ref("c", "Old")],
            "vm-youhave digits/2 vm-INBOX vm-and digits/1 vm-Old vm-message",
            "INBOX",
        ),
        ([ref("c", "Old"), ref("d", "Old")], "vm-youhave digits/2 vm-Old vm-messages", "Old"),
        (
            [ref("u", "Urgent", urgent=True), ref("a")],
            "vm-youhave digits/1 vm-Urgent vm-and digits/1 vm-INBOX vm-message",
            "Urgent",
        ),
        (
            [ref("u", "Urgent", urgent=True), ref("v", "Urgent", urgent=True)],
            "vm-youhave digits/2 vm-Urgent vm-messages",
            "Urgent",
        ),
    ],
)
def test_the_intro_counts_and_the_start_folder(
    refs: list[MessageRef], intro: str, folder: str | None
) -> None:
    call = Call(Retrieval(RetrieveOptions(), BOX))
    call.start()
    out = call.load(mailbox(*refs, pin=None))
    onefor = f"vm-onefor vm-{folder} vm-messages " if folder else ""
    assert said(out) == [f"{intro} {onefor}{START_MENU}"]


def test_an_active_temporary_greeting_is_announced_with_tempgreetwarn() -> None:
    call = Call(Retrieval(RetrieveOptions(tempgreetwarn=True), BOX))
    call.start()
    out = call.load(mailbox(pin=None, greetings={"temp"}))
    assert said(out)[0].startswith("vm-tempgreetactive vm-youhave")


# -- playing messages -----------------------------------------------------------------------


def test_1_plays_the_first_message_with_its_envelope() -> None:
    call = at_menu(mailbox(ref("a", duration=150)))
    out = call.press("1")
    assert logs(out) == ["USERPRESS", "BROWSE"]
    duration = "vm-duration digits/2 vm-minutes"
    assert said(out) == [f"vm-first vm-message {DATE} {duration}"]
    out = call.finish()
    assert said(out) == ["audio:a@0"]
    assert logs(out) == ["PLAYVOICE"]
    assert only(out, Play)[0].interrupt == "#*0213456789"
    out = call.finish()
    assert said(out) == ["vm-advopts vm-repeat vm-delete vm-toforward vm-savemessage vm-helpexit"]


def test_the_envelope_options_shape_the_announcement() -> None:
    options = RetrieveOptions(envelope=False, saycid=True, sayduration=False)
    call = at_menu(mailbox(ref("a", duration=600), ref("b", callerid="Unknown")), options)
    assert said(call.press("1")) == [
        "vm-first vm-message vm-from-phonenumber " + " ".join(f"digits/{d}" for d in "5551234")
    ]
    call.finish()
    assert said(call.press("6")) == ["vm-last vm-message vm-unknown-caller"]


def test_the_middle_message_is_numbered_and_urgent_ones_are_flagged() -> None:
    options = RetrieveOptions(envelope=False)
    refs = [ref("u1", "Urgent", urgent=True), ref("u2", "Urgent", urgent=True)]
    refs.append(ref("u3", "Urgent", urgent=True))
    call = at_menu(mailbox(*refs), options)
    call.press("1")
    assert said(call.press("6")) == ["vm-Urgent vm-message digits/2"]


def test_yesterday_is_said_when_the_call_time_is_known() -> None:
    call = at_menu(mailbox(ref("a")), call_time=T0 + 86400)
    assert said(call.press("1"))[0].startswith("vm-first vm-message vm-received digits/yesterday")


def test_1_during_the_announcement_skips_to_the_message() -> None:
    call = at_menu(mailbox(ref("a")))
    call.press("1")
    out = call.press("1")
    assert said(out) == ["audio:a@0"]


def test_another_key_during_the_announcement_acts_without_hearing_the_message() -> None:
    call = at_menu(mailbox(ref("a")))
    call.press("1")
    call.press("#")  # leave before the message itself started
    call.finish()
    assert only(call.history, ApplyChanges) == [ApplyChanges(BOX, ())]


def test_playback_keys_move_through_the_message() -> None:
    call = at_menu(mailbox(ref("a", duration=60)))
    call.press("11")  # play, skip the announcement
    start = call.now
    call.now = start + 10
    assert said(call.press("#", gap=0)) == ["audio:a@13"]  # 10 s heard, 3 s skipped
    call.now += 5
    assert said(call.press("*", gap=0)) == ["audio:a@15"]  # at 18, back 3
    call.now += 1
    assert said(call.press("2", gap=0)) == ["audio:a@0"]


def test_pause_resumes_where_it_stopped() -> None:
    call = at_menu(mailbox(ref("a", duration=60)))
    call.press("11")
    call.now += 7
    assert call.press("0", gap=0) == []
    assert call.flow.state == "paused"
    call.now += 30
    assert call.press("2", gap=0) == []  # restart does nothing while paused
    assert said(call.press("0", gap=0)) == ["audio:a@7"]


def test_a_stop_key_while_paused_acts_as_a_menu_key() -> None:
    call = at_menu(mailbox(ref("a", duration=60)))
    call.press("110")
    assert said(call.press("7")) == [
        "vm-deleted vm-advopts vm-repeat vm-undelete vm-toforward vm-savemessage vm-helpexit"
    ]


def test_rewind_stops_at_the_start_and_forward_past_the_end_ends_the_message() -> None:
    call = at_menu(mailbox(ref("a", duration=10)))
    call.press("11")
    call.now += 1
    assert said(call.press("*", gap=0)) == ["audio:a@0"]
    call.now += 8
    assert said(call.press("#", gap=0))[0].startswith("vm-advopts")


def test_the_listen_control_keys_are_configurable() -> None:
    options = RetrieveOptions(forward_key="9", stop_keys="134567")
    call = at_menu(mailbox(ref("a", duration=60)), options)
    call.press("11")
    call.now += 2
    assert said(call.press("9", gap=0)) == ["audio:a@5"]


def test_a_stop_key_during_playback_acts_as_a_menu_key() -> None:
    call = at_menu(mailbox(ref("a"), ref("b")))
    call.press("11")
    out = call.press("6")
    assert said(out) == [f"vm-last vm-message {DATE}"]


def test_5_repeats_and_4_goes_back() -> None:
    call = at_menu(mailbox(ref("a"), ref("b"), ref("c")))
    heard(call, "1")
    assert said(call.press("6"))[0].startswith("vm-message digits/2 ")
    assert said(call.press("5"))[0].startswith("vm-message digits/2 ")
    assert said(call.press("4"))[0].startswith("vm-first vm-message")


def test_the_menu_after_a_message_offers_what_is_possible() -> None:
    call = at_menu(mailbox(ref("a"), ref("b"), ref("c")))
    heard(call, "6")  # the second of three
    assert said(call.history[-1:]) == [
        "vm-prev vm-advopts vm-repeat vm-next vm-delete vm-toforward vm-savemessage vm-helpexit"
    ]


def test_6_at_the_end_says_no_more_and_4_at_the_start_too() -> None:
    call = at_menu(mailbox(ref("a")))
    heard(call)
    assert said(call.press("6"))[0].startswith("vm-nomore vm-advopts")
    assert said(call.press("4"))[0].startswith("vm-nomore vm-advopts")


def test_messagewrap_goes_round() -> None:
    call = at_menu(mailbox(ref("a"), ref("b")), RetrieveOptions(messagewrap=True))
    heard(call, "6")
    assert said(call.press("6"))[0].startswith("vm-first vm-message")
    assert said(call.press("4"))[0].startswith("vm-last vm-message")


def test_urgent_messages_come_first_and_6_goes_on_into_inbox() -> None:
    call = at_menu(mailbox(ref("u", "Urgent", urgent=True), ref("a"), ref("b")))
    heard(call, "1")
    assert said(call.history[-1:])[0].startswith("vm-advopts vm-repeat vm-next")
    out = call.press("6")
    assert logs(out)[:2] == ["USERPRESS", "PREVMSG"]
    assert said(out)[0].startswith("vm-first vm-message")
    assert said(call.finish()) == ["audio:a@0"]


def test_4_from_the_first_inbox_message_goes_back_into_urgent() -> None:
    refs = (ref("u", "Urgent", urgent=True), ref("v", "Urgent", urgent=True), ref("a"))
    call = at_menu(mailbox(*refs), RetrieveOptions(moveheard=False))
    heard(call, "1")
    call.press("6")
    call.finish()
    heard(call, "6")  # into INBOX
    assert said(call.history[-1:])[0].startswith("vm-prev vm-advopts")
    call.press("4")
    assert said(call.finish()) == ["audio:v@0"]


def test_heard_urgent_messages_have_moved_to_old_when_going_back() -> None:
    call = at_menu(mailbox(ref("u", "Urgent", urgent=True), ref("a")))
    heard(call, "1")
    heard(call, "6")
    assert said(call.press("4"))[0].startswith("vm-nomore")


def test_1_in_an_empty_folder_says_so() -> None:
    call = at_menu(mailbox(pin="4321"))
    assert said(call.press("1")) == [f"vm-youhave vm-no vm-Urgent vm-messages {START_MENU}"]


# -- changes on exit ---------------------------------------------------------------------------


def test_hash_says_goodbye_applies_the_changes_and_hangs_up() -> None:
    call = at_menu(mailbox(ref("a"), ref("b")))
    heard(call)
    assert said(call.press("#")) == ["vm-goodbye"]
    assert only(call.history, ApplyChanges) == []
    out = call.finish()
    assert out == [
        ApplyChanges(BOX, (MessageChange("a", "Old"),)),
        MailboxChanged(BOX),
        Hangup(),
    ]
    assert call.flow.finished
    assert call.flow.state == "done"


def test_a_session_that_changed_nothing_still_announces_the_mailbox() -> None:
    call = at_menu(mailbox(ref("a")))
    call.press("#")
    assert call.finish() == [ApplyChanges(BOX, ()), MailboxChanged(BOX), Hangup()]


def test_moveheard_off_leaves_heard_messages_in_inbox() -> None:
    call = at_menu(mailbox(ref("a")), RetrieveOptions(moveheard=False))
    heard(call)
    call.press("#")
    assert only(call.finish(), ApplyChanges) == [ApplyChanges(BOX, ())]


def test_heard_old_messages_stay_in_old() -> None:
    call = at_menu(mailbox(ref("c", "Old")))
    heard(call)
    call.press("#")
    assert only(call.finish(), ApplyChanges) == [ApplyChanges(BOX, ())]


def test_7_deletes_and_undeletes() -> None:
    call = at_menu(mailbox(ref("a"), ref("b")))
    heard(call)
    out = call.press("7")
    assert said(out)[0].startswith("vm-deleted vm-advopts vm-repeat vm-next vm-undelete")
    assert said(call.press("7"))[0].startswith("vm-undeleted")
    call.press("7#")
    assert only(call.finish(), ApplyChanges) == [ApplyChanges(BOX, (MessageChange("a", None),))]


def test_7_before_any_message_was_played_deletes_the_first_one() -> None:
    call = at_menu(mailbox(ref("a")))
    call.press("7#")
    assert only(call.finish(), ApplyChanges) == [ApplyChanges(BOX, (MessageChange("a", None),))]


def test_nextaftercmd_plays_the_next_message_after_a_delete() -> None:
    call = at_menu(mailbox(ref("a"), ref("b")), RetrieveOptions(nextaftercmd=True))
    heard(call)
    assert said(call.press("7"))[0].startswith("vm-deleted vm-last vm-message")
    call.finish()
    call.finish()
    assert said(call.press("7"))[0].startswith("vm-deleted vm-nomore")


def test_changes_name_messages_by_id_so_new_deposits_are_untouched() -> None:
    # "b" arrived in INBOX after the snapshot: the changes cannot name it, by number or otherwise.
    call = at_menu(mailbox(ref("a"), ref("c", "Old")))
    heard(call)
    call.press("#")
    (apply,) = only(call.finish(), ApplyChanges)
    assert apply == ApplyChanges(BOX, (MessageChange("a", "Old"),))


def test_hanging_up_mid_session_applies_the_changes_without_a_hangup() -> None:
    call = at_menu(mailbox(ref("a"), ref("b")))
    heard(call)
    call.press("6")
    call.finish()  # "b" starts playing: heard
    out = call.hangup()
    assert out == [
        Log("HANGUP", "caller hung up"),
        ApplyChanges(BOX, (MessageChange("a", "Old"), MessageChange("b", "Old"))),
        MailboxChanged(BOX),
    ]
    assert call.flow.finished
    assert call.feed(PlaybackFinished(call.now)) == []


def test_hanging_up_before_login_changes_nothing() -> None:
    call = Call(Retrieval(RetrieveOptions(), BOX))
    call.start()
    call.load(mailbox(ref("a")))
    assert call.hangup() == [Log("HANGUP", "caller hung up")]


# -- folders -------------------------------------------------------------------------------


def test_2_changes_folder_and_says_its_name() -> None:
    call = at_menu(mailbox(ref("a"), ref("c", "Old"), ref("w", "Work")))
    assert said(call.press("2")) == ["vm-changeto"]
    out = call.press("2")
    assert logs(out) == ["USERPRESS", "PLAYBACK"]
    assert said(out) == [f"vm-Work vm-messages vm-onefor vm-Work vm-messages {START_MENU}"]
    call.press("1")
    assert said(call.finish()) == ["audio:w@0"]


def test_changing_folder_settles_the_one_left() -> None:
    call = at_menu(mailbox(ref("a"), ref("c", "Old")))
    heard(call)
    call.press("21")  # to Old: "a" was heard, so it is there now, after "c"
    call.press("16")
    assert said(call.finish()) == ["audio:a@0"]


def test_hash_cancels_the_folder_change() -> None:
    call = at_menu(mailbox(ref("a")))
    out = call.press("2#")
    assert said(out)[1:] == [f"vm-INBOX vm-messages vm-onefor vm-INBOX vm-messages {START_MENU}"]


def test_the_folder_list_is_recited_when_no_key_comes() -> None:
    call = at_menu(mailbox(ref("a")))
    call.press("2")
    out = call.finish()
    folders = " ".join(
        f"digits/{n} vm-for vm-{name} vm-messages pause"
        for n, name in enumerate(("INBOX", "Old", "Work", "Family", "Friends"))
    )
    assert said(out) == [f"vm-press {folders} vm-tocancel"]
    call.finish()
    assert said(call.wait(4)) == said(out)
    call.finish()
    call.wait(4)
    call.finish()
    assert said(call.wait(4))[0].startswith("vm-INBOX vm-messages vm-onefor")  # cancelled


def test_a_key_during_the_folder_list_picks_the_folder() -> None:
    call = at_menu(mailbox(ref("a"), ref("c", "Old")))
    call.press("2")
    call.finish()
    assert said(call.press("1"))[0].startswith("vm-Old vm-messages")


def test_9_saves_to_a_folder_and_the_message_is_not_moved_to_old() -> None:
    call = at_menu(mailbox(ref("a")))
    heard(call)
    out = call.press("9")
    assert logs(out) == ["USERPRESS", "SAVEMSG"]
    assert said(out) == ["vm-savefolder"]
    out = call.press("3")
    assert said(out)[0].startswith(
        "vm-message digits/1 vm-savedto vm-Family vm-messages vm-advopts"
    )
    call.press("#")
    assert only(call.finish(), ApplyChanges) == [ApplyChanges(BOX, (MessageChange("a", "Family"),))]


@pytest.mark.parametrize(("key", "folder"), [("5", "Cust1"), ("9", "Cust5")])
def test_keys_5_to_9_save_to_the_custom_folders(key: str, folder: str) -> None:
    call = at_menu(mailbox(ref("a")))
    call.press("9" + key + "#")
    assert only(call.finish(), ApplyChanges) == [ApplyChanges(BOX, (MessageChange("a", folder),))]


def test_saving_into_the_same_folder_keeps_the_message_where_it_is() -> None:
    call = at_menu(mailbox(ref("a")))
    heard(call)
    call.press("90#")
    assert only(call.finish(), ApplyChanges) == [ApplyChanges(BOX, ())]


def test_hash_cancels_the_save_and_7_cancels_a_save() -> None:
    call = at_menu(mailbox(ref("a"), ref("b")), RetrieveOptions(moveheard=False))
    heard(call)
    assert said(call.press("9#"))[-1].startswith("vm-advopts")
    call.press("92")
    assert said(call.press("7"))[0].startswith("vm-undeleted")
    call.press("#")
    assert only(call.finish(), ApplyChanges) == [ApplyChanges(BOX, ())]


# -- advanced options (3) -----------------------------------------------------------------------


def test_3_offers_the_advanced_options() -> None:
    call = at_menu(mailbox(ref("a")))
    out = call.press("3")
    assert logs(out) == ["USERPRESS", "ADVOPTIONS"]
    assert said(out) == ["vm-starmain"]  # nothing played yet: no reply, no envelope
    heard_first = at_menu(mailbox(ref("a")))
    heard(heard_first)
    assert said(heard_first.press("3")) == ["vm-toreply vm-tohearenv vm-starmain"]


def test_3_3_says_the_envelope_of_the_current_message() -> None:
    call = at_menu(mailbox(ref("a")))
    heard(call)
    out = call.press("33")
    caller = " ".join(f"digits/{d}" for d in "5551234")
    assert said(out)[-1] == f"{DATE} vm-from-phonenumber {caller}"
    assert only(out, Play)[-1].interrupt == ""
    assert said(call.finish())[0].startswith("vm-advopts")


@pytest.mark.parametrize("key", ["1", "2", "4", "5"])
def test_the_advanced_options_this_server_lacks_say_sorry(key: str) -> None:
    call = at_menu(mailbox(ref("a")))
    heard(call)
    assert said(call.press("3" + key))[-1] == "vm-sorry"
    assert said(call.finish())[0].startswith("vm-advopts")


def test_star_leaves_the_advanced_options_and_silence_does_too() -> None:
    call = at_menu(mailbox(ref("a")))
    call.press("3")
    assert said(call.press("*")) == [
        START_MENU.replace("vm-opts", "vm-onefor vm-INBOX vm-messages vm-opts")
    ]
    call.finish()
    call.press("3")
    for _ in range(3):
        call.finish()
        assert said(call.wait(6)) == ["vm-starmain"]
    call.finish()
    assert said(call.wait(6))[0].startswith("vm-onefor")


# -- forwarding (8) ----------------------------------------------------------------------------


def test_8_forwards_the_message_to_another_mailbox() -> None:
    call = at_menu(mailbox(ref("a")))
    heard(call)
    out = call.press("8")
    assert logs(out) == ["USERPRESS", "FORWARD"]
    assert said(out) == ["vm-extension"]
    assert only(call.press("5678#"), LoadMailbox) == [LoadMailbox(BOB)]
    out = call.load(mailbox(box=BOB))
    assert said(out) == ["greeting:5678@default:greet"]
    (play,) = only(out, Play)
    assert play.items[0] == Greeting(BOB, "greet", tuple(Prompt(f"digits/{d}") for d in "5678"))
    assert said(call.finish()) == ["vm-forwardoptions vm-starmain"]
    out = call.press("2")
    assert only(out, CopyMessage) == [CopyMessage(BOX, "INBOX", "a", (BOB,))]
    assert said(out)[0].startswith("vm-msgforwarded vm-advopts")


def test_8_forwards_to_several_mailboxes_separated_by_star() -> None:
    call = at_menu(mailbox(ref("a")))
    call.press("85678*5679#")
    assert only(call.load(mailbox(box=BOB)), LoadMailbox) == [LoadMailbox(CAROL)]
    call.load(mailbox(box=CAROL))
    call.finish()
    assert only(call.press("2"), CopyMessage) == [CopyMessage(BOX, "INBOX", "a", (BOB, CAROL))]


def test_forwarding_to_an_unknown_mailbox_says_invalid_and_asks_again() -> None:
    call = at_menu(mailbox(ref("a")))
    call.press("89999#")
    assert said(call.load(None)) == ["pbx-invalid"]
    assert said(call.finish()) == ["vm-extension"]


def test_forwarding_to_oneself_is_invalid_without_a_lookup() -> None:
    call = at_menu(mailbox(ref("a")))
    out = call.press("81234#")
    assert said(out)[-1] == "pbx-invalid"
    assert not only(out, LoadMailbox)


def test_forwarding_gives_up_after_four_empty_entries() -> None:
    call = at_menu(mailbox(ref("a")))
    call.press("8")
    for _ in range(3):
        assert said(call.press("#")) == ["vm-extension"]
    assert said(call.press("#"))[0].startswith("vm-onefor")
    assert not only(call.history, CopyMessage)


def test_star_in_the_forward_options_cancels_into_help() -> None:
    call = at_menu(mailbox(ref("a")))
    heard(call)
    call.press("85678#")
    call.load(mailbox(box=BOB))
    call.finish()
    out = call.press("*")
    assert said(out)[0].startswith("vm-onefor vm-INBOX vm-messages vm-opts vm-onefor-full")
    assert not only(call.history, CopyMessage)


def test_prepending_is_not_offered() -> None:
    call = at_menu(mailbox(ref("a")))
    call.press("85678#")
    call.load(mailbox(box=BOB))
    call.finish()
    assert said(call.press("1")) == ["vm-sorry vm-forwardoptions vm-starmain"]


def test_8_in_an_empty_folder_says_no_more() -> None:
    call = at_menu(mailbox())
    assert said(call.press("8"))[0].startswith("vm-nomore")


# -- help (*) and timeouts -----------------------------------------------------------------------


def test_star_recites_the_full_menu_once_a_message_was_heard() -> None:
    call = at_menu(mailbox(ref("a")))
    assert said(call.press("*")) == [f"vm-onefor vm-INBOX vm-messages {START_MENU}"]
    call.finish()
    heard(call)
    assert said(call.press("*")) == [
        "vm-onefor vm-INBOX vm-messages vm-opts vm-onefor-full vm-INBOX vm-messages vm-opts-full "
        "vm-repeat vm-delete vm-toforward vm-savemessage vm-helpexit"
    ]


def test_an_unanswered_menu_is_played_three_times_then_goodbye() -> None:
    call = logged_in(mailbox(ref("a")))
    call.finish()
    assert call.flow.next_timer() == pytest.approx(call.now + 6)
    out = call.wait(6)
    assert said(out) == [f"vm-onefor vm-INBOX vm-messages {START_MENU}"]
    call.finish()
    call.wait(6)
    call.finish()
    out = call.wait(6)
    assert logs(out) == ["TIMEOUT"]
    assert said(out) == ["vm-goodbye"]
    assert call.finish() == [ApplyChanges(BOX, ()), MailboxChanged(BOX), Hangup()]


def test_a_key_restarts_the_count_of_unanswered_menus() -> None:
    call = at_menu(mailbox(ref("a")))
    call.wait(6)
    call.finish()
    call.wait(6)
    call.finish()
    call.press("A")  # not a menu key: the menu again, and the count starts over
    call.finish()
    call.wait(6)
    call.finish()
    call.wait(6)
    assert call.flow.state == "menu"


def test_a_timer_fired_early_or_twice_does_nothing() -> None:
    call = at_menu(mailbox(ref("a")))
    deadline = call.flow.next_timer()
    assert deadline is not None
    assert call.feed(TimerFired(deadline - 1)) == []
    assert said(call.feed(TimerFired(deadline)))
    assert call.feed(TimerFired(deadline)) == []


def test_keys_during_an_uninterruptible_prompt_wait_for_its_end() -> None:
    call = at_menu(mailbox(ref("a")))
    call.press("#")  # vm-goodbye cannot be cut short
    assert call.press("1") == []
    assert call.finish()[-1] == Hangup()


# -- mailbox options (0) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "prompt", "kind"),
    [("1", "vm-rec-unv", "unavail"), ("2", "vm-rec-busy", "busy"), ("3", "vm-rec-name", "greet")],
)
def test_recording_a_greeting(key: str, prompt: str, kind: str) -> None:
    call = at_menu(mailbox(ref("a")), RetrieveOptions(maxgreet=60))
    out = call.press("0")
    assert logs(out) == ["USERPRESS", "VMOPTIONS"]
    assert said(out) == ["vm-options"]
    assert said(call.press(key)) == [prompt]
    assert said(call.finish()) == ["beep"]
    assert call.finish() == [Record("#", 60, 0, 128)]
    assert call.flow.state == "recording"
    assert said(call.recorded()) == ["auth-thankyou"]
    assert said(call.finish()) == ["vm-review"]
    out = call.press("1")
    assert only(out, StoreGreeting) == [StoreGreeting(BOX, kind)]  # type: ignore[arg-type]
    assert said(out) == ["vm-msgsaved"]
    assert said(call.finish()) == ["vm-options"]
    assert said(call.press("*"))[0].startswith("vm-onefor vm-INBOX")


def test_a_greeting_can_be_heard_again_or_recorded_again() -> None:
    call = at_menu(mailbox(ref("a")))
    call.press("01")
    call.finish()
    call.finish()
    call.recorded()
    call.finish()
    assert said(call.press("2")) == ["recording"]
    assert said(call.finish()) == ["vm-review"]
    out = call.press("3")
    assert only(out, DiscardRecording) == [DiscardRecording()]
    assert said(out) == ["vm-rec-unv"]
    assert said(call.press("5")) == ["beep"]  # a key cuts the prompt, not the beep


def test_other_review_keys_say_sorry() -> None:
    call = at_menu(mailbox(ref("a")))
    call.press("01")
    call.finish()
    call.finish()
    call.recorded()
    call.finish()
    assert said(call.press("7")) == ["vm-sorry vm-review"]


def test_an_unanswered_review_drops_the_greeting() -> None:
    call = at_menu(mailbox(ref("a")))
    call.press("02")
    call.finish()
    call.finish()
    call.recorded()
    call.finish()
    for _ in range(3):
        call.finish()
        assert said(call.wait(6)) == ["vm-review"]
    call.finish()
    out = call.wait(6)
    assert only(out, DiscardRecording) == [DiscardRecording()]
    assert said(out) == ["vm-options"]
    assert not only(call.history, StoreGreeting)


def test_hanging_up_while_recording_a_greeting_keeps_nothing() -> None:
    call = at_menu(mailbox(ref("a")))
    heard(call)
    call.press("03")
    call.finish()
    call.finish()
    out = call.hangup()
    assert out == [
        DiscardRecording(),
        Log("HANGUP", "caller hung up"),
        ApplyChanges(BOX, (MessageChange("a", "Old"),)),
        MailboxChanged(BOX),
    ]


def test_the_temporary_greeting_is_recorded_straight_away_when_there_is_none() -> None:
    call = at_menu(mailbox(ref("a")))
    call.press("0")
    out = call.press("4")
    assert logs(out) == ["USERPRESS", "TEMPGREETING"]
    assert said(out) == ["vm-rec-temp"]
    call.finish()
    call.finish()
    call.recorded()
    call.finish()
    assert only(call.press("1"), StoreGreeting) == [StoreGreeting(BOX, "temp")]
    assert said(call.finish()) == ["vm-tmpexists vm-options"]


def test_an_existing_temporary_greeting_can_be_removed() -> None:
    call = at_menu(mailbox(ref("a"), greetings={"temp"}))
    assert said(call.press("0")) == ["vm-tmpexists vm-options"]
    assert said(call.press("4")) == ["vm-tempgreeting2"]
    out = call.press("2")
    assert only(out, RemoveGreeting) == [RemoveGreeting(BOX, "temp")]
    assert said(out) == ["vm-tempremoved"]
    assert said(call.finish()) == ["vm-options"]


def test_an_existing_temporary_greeting_can_be_recorded_again() -> None:
    call = at_menu(mailbox(ref("a"), greetings={"temp"}))
    call.press("04")
    assert said(call.press("1")) == ["vm-rec-temp"]
    call.finish()
    call.finish()
    call.recorded()
    call.finish()
    call.press("1")
    assert said(call.finish()) == ["vm-tempgreeting2"]
    assert said(call.press("*")) == ["vm-tmpexists vm-options"]


def test_changing_the_pin() -> None:
    call = at_menu(mailbox(ref("a")))
    assert said(call.press("05")) == ["vm-options", "vm-newpassword"]
    assert said(call.press("9876#")) == ["vm-reenterpassword"]
    out = call.press("9876#")
    assert only(out, ChangePin) == [ChangePin(BOX, "9876")]
    assert "PASSWORDCHANGED" in logs(out)
    assert said(out) == ["vm-passchanged vm-options"]


def test_a_mismatched_pin_is_not_changed() -> None:
    call = at_menu(mailbox(ref("a")))
    call.press("05")
    call.press("9876#")
    out = call.press("9875#")
    assert said(out) == ["vm-mismatch vm-pls-try-again vm-options"]
    assert not only(call.history, ChangePin)


def test_a_pin_shorter_than_minpassword_is_refused() -> None:
    call = at_menu(mailbox(ref("a")), RetrieveOptions(minpassword=4))
    call.press("05")
    assert said(call.press("12#")) == ["vm-invalid-password vm-pls-try-again vm-options"]


def test_a_pin_that_may_not_be_changed_is_not() -> None:
    call = at_menu(mailbox(ref("a"), changeable=False))
    assert said(call.press("05")) == ["vm-options", "vm-no vm-options"]


def test_silence_in_the_options_menu_goes_back_to_the_main_menu() -> None:
    call = at_menu(mailbox(ref("a")))
    call.press("0")
    for _ in range(3):
        call.finish()
        assert said(call.wait(6)) == ["vm-options"]
    call.finish()
    assert said(call.wait(6))[0].startswith("vm-onefor")


def test_events_before_the_call_starts_are_ignored() -> None:
    flow = Retrieval(RetrieveOptions(), BOX)
    assert flow.handle(DigitPressed("1", 0.0)) == []
    assert flow.handle(PlaybackFinished(0.0)) == []
    assert flow.state == "idle"
    assert flow.next_timer() is None
