"""MWI notifier: coalescing, retries and the chan_sip NOTIFY shape, driven with a fake clock."""

from __future__ import annotations

import dataclasses

import pytest

from harness.core.mailbox import MailboxId
from harness.core.mwi import Counts, MailboxCounts, MessageSummary, parse_summary
from harness.sip.address import Address
from harness.sip.message import Request, parse_message
from harness.sip.uri import URI
from harness.voicemail.notifier import MwiTarget, Notifier, NotifyDue, build_notify

PROXY = ("192.0.2.1", 5060)
VOICEMAIL = ("192.0.2.10", 5080)
ACCOUNT_HOST = "192.0.2.10:5080"

ALICE = MailboxId("2000")
BOB = MailboxId("2001")
SALES = MailboxId("2001", "sales")


def target(
    name: str,
    *mailboxes: MailboxId,
    style: str = "asterisk",
    vmexten: str = "asterisk",
) -> MwiTarget:
    """A static sip.conf peer whose ``host=`` is the proxy, ``defaultuser=`` its name."""
    return MwiTarget(
        name=name,
        mailboxes=mailboxes,
        uri=URI(scheme="sip", user=name, host=PROXY[0], port=PROXY[1]),
        destination=PROXY,
        style=style,  # type: ignore[arg-type]
        vmexten=vmexten,
    )


class Spool:
    """Mailbox counts the test changes by hand; ``counts_of`` is what the notifier reads."""

    def __init__(self) -> None:
        self.boxes: dict[MailboxId, MailboxCounts] = {}

    def set(self, mailbox: MailboxId, new: int = 0, old: int = 0, urgent: int = 0) -> None:
        self.boxes[mailbox] = MailboxCounts(new, old, urgent)

    def counts_of(self, mailbox: MailboxId) -> MailboxCounts:
        return self.boxes.get(mailbox, MailboxCounts())


def voice(due: NotifyDue) -> tuple[int, int]:
    counts = due.summary.voice
    assert counts is not None
    return counts.new, counts.old


def single(notifier: Notifier, now: float) -> NotifyDue:
    """The one NOTIFY due at ``now``."""
    due = notifier.due(now)
    assert len(due) == 1, due
    return due[0]


# --------------------------------------------------------------------------- sending


def test_a_change_sends_one_notify_at_once() -> None:
    phone = target("2000", ALICE)
    notifier = Notifier((phone,), ACCOUNT_HOST)
    spool = Spool()
    spool.set(ALICE, new=1)

    notifier.mailbox_changed(ALICE, spool.counts_of, now=10.0)
    due = notifier.due(10.0)

    assert due == [
        NotifyDue(
            phone,
            MessageSummary(
                True, "sip:asterisk@192.0.2.10:5080", (("voice-message", Counts(1, 0, 0, 0)),)
            ),
            1,
        )
    ]
    assert notifier.due(10.0) == []  # in flight: not sent twice


def test_nothing_is_due_before_any_change() -> None:
    notifier = Notifier((target("2000", ALICE),), ACCOUNT_HOST)

    assert notifier.due(0.0) == []
    assert notifier.next_timer() is None
    assert notifier.pending() == 0


def test_change_while_in_flight_sends_only_the_latest_state_next() -> None:
    phone = target("2000", ALICE)
    notifier = Notifier((phone,), ACCOUNT_HOST)
    spool = Spool()
    spool.set(ALICE, new=1)
    notifier.mailbox_changed(ALICE, spool.counts_of, 0.0)
    first = single(notifier, 0.0)

    for new in (2, 3, 4):
        spool.set(ALICE, new=new)
        notifier.mailbox_changed(ALICE, spool.counts_of, 0.1)
    assert notifier.due(0.2) == []  # still waiting for the answer to the first
    notifier.answered(phone, 200, 0.3)
    second = single(notifier, 0.3)

    assert voice(first) == (1, 0)
    assert voice(second) == (4, 0)
    assert second.attempt == 1
    notifier.answered(phone, 200, 0.4)
    assert notifier.due(100.0) == []
    assert notifier.pending() == 0


def test_many_changes_while_the_proxy_is_down_end_in_one_notify_with_final_counts() -> None:
    phone = target("2000", ALICE)
    notifier = Notifier((phone,), ACCOUNT_HOST)
    spool = Spool()
    sent: list[NotifyDue] = []
    now = 0.0
    spool.set(ALICE, new=1)
    notifier.mailbox_changed(ALICE, spool.counts_of, now)
    # The proxy is down for 20 s: every NOTIFY goes unanswered, and the box keeps changing.
    while now < 20.0:
        for due in notifier.due(now):
            sent.append(due)
            notifier.answered(phone, None, now + 0.5)
        spool.set(ALICE, new=int(now * 10) + 1, old=int(now))
        notifier.mailbox_changed(ALICE, spool.counts_of, now)
        now = round(now + 0.1, 1)
    final = spool.counts_of(ALICE)
    # The proxy is back: the next NOTIFY carries the final state, and it is the last.
    timer = notifier.next_timer()
    assert timer is not None
    last = single(notifier, timer)
    notifier.answered(phone, 200, timer)

    assert voice(last) == (final.new, final.old)
    assert notifier.due(timer + 1000.0) == []
    # Backoff kept the sending rare: 1, 2, 4, 8 s gaps, never one NOTIFY per change.
    assert [due.attempt for due in sent] == [1, 2, 3, 4, 5]
    assert last.attempt == 6


@pytest.mark.parametrize("status", [None, 408, 500, 503, 504, 599])
def test_no_answer_and_5xx_are_retried_with_exponential_backoff(status: int | None) -> None:
    phone = target("2000", ALICE)
    notifier = Notifier((phone,), ACCOUNT_HOST, retry_base=1.0, retry_max=30.0)
    spool = Spool()
    spool.set(ALICE, new=1)
    notifier.mailbox_changed(ALICE, spool.counts_of, 0.0)
    now = 0.0
    delays: list[float] = []
    for attempt in range(1, 9):
        due = single(notifier, now)
        assert due.attempt == attempt
        assert voice(due) == (1, 0)  # the unanswered state is sent again
        notifier.answered(phone, status, now)
        timer = notifier.next_timer()
        assert timer is not None
        assert notifier.due(timer - 0.001) == []  # not a moment early
        delays.append(timer - now)
        now = timer

    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_backoff_scales_with_retry_base() -> None:
    phone = target("2000", ALICE)
    notifier = Notifier((phone,), ACCOUNT_HOST, retry_base=0.5, retry_max=3.0)
    spool = Spool()
    notifier.mailbox_changed(ALICE, spool.counts_of, 0.0)
    now, delays = 0.0, []
    for _ in range(5):
        single(notifier, now)
        notifier.answered(phone, 503, now)
        timer = notifier.next_timer()
        assert timer is not None
        delays.append(timer - now)
        now = timer

    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]


@pytest.mark.parametrize("status", [404, 480, 481, 403, 603])
def test_a_refusal_is_not_retried(status: int) -> None:
    phone = target("2000", ALICE)
    notifier = Notifier((phone,), ACCOUNT_HOST)
    spool = Spool()
    spool.set(ALICE, new=1)
    notifier.mailbox_changed(ALICE, spool.counts_of, 0.0)
    single(notifier, 0.0)

    notifier.answered(phone, status, 0.1)

    assert notifier.next_timer() is None
    assert notifier.due(3600.0) == []
    assert notifier.pending() == 0


def test_a_change_after_a_refusal_is_sent_again() -> None:
    phone = target("2000", ALICE)
    notifier = Notifier((phone,), ACCOUNT_HOST)
    spool = Spool()
    spool.set(ALICE, new=1)
    notifier.mailbox_changed(ALICE, spool.counts_of, 0.0)
    single(notifier, 0.0)
    spool.set(ALICE, new=2)
    notifier.mailbox_changed(ALICE, spool.counts_of, 0.05)  # arrives while in flight

    notifier.answered(phone, 404, 0.1)  # phone not registered: that state is dropped
    due = single(notifier, 0.1)

    assert voice(due) == (2, 0)
    assert due.attempt == 1


def test_success_resets_the_attempt_count_and_the_backoff() -> None:
    phone = target("2000", ALICE)
    notifier = Notifier((phone,), ACCOUNT_HOST)
    spool = Spool()
    notifier.mailbox_changed(ALICE, spool.counts_of, 0.0)
    now = 0.0
    for _ in range(3):
        single(notifier, now)
        notifier.answered(phone, None, now)
        timer = notifier.next_timer()
        assert timer is not None
        now = timer
    assert single(notifier, now).attempt == 4
    notifier.answered(phone, 200, now)

    spool.set(ALICE, new=1)
    notifier.mailbox_changed(ALICE, spool.counts_of, now + 5)
    again = single(notifier, now + 5)
    notifier.answered(phone, None, now + 5)

    assert again.attempt == 1
    assert notifier.next_timer() == now + 5 + 1.0


def test_a_peer_that_stays_down_for_days_keeps_a_capped_backoff() -> None:
    phone = target("2000", ALICE)
    notifier = Notifier((phone,), ACCOUNT_HOST, retry_base=1.0, retry_max=60.0)
    notifier.mailbox_changed(ALICE, Spool().counts_of, 0.0)
    now = 0.0
    for _ in range(3000):  # past 2**1024, where a float would overflow
        single(notifier, now)
        notifier.answered(phone, None, now)
        timer = notifier.next_timer()
        assert timer is not None
        now = timer

    assert notifier.next_timer() is not None
    single(notifier, now)
    notifier.answered(phone, None, now)
    assert notifier.next_timer() == now + 60.0


def test_a_late_answer_with_nothing_in_flight_is_ignored() -> None:
    phone = target("2000", ALICE)
    other = target("2001", BOB)
    notifier = Notifier((phone, other), ACCOUNT_HOST)
    spool = Spool()
    notifier.mailbox_changed(ALICE, spool.counts_of, 0.0)
    single(notifier, 0.0)
    notifier.answered(phone, 200, 0.1)

    notifier.answered(phone, None, 0.2)  # a stray timeout for the NOTIFY already answered
    notifier.answered(other, 503, 0.2)  # a peer never notified

    assert notifier.due(1000.0) == []
    assert notifier.next_timer() is None
    assert notifier.pending() == 0


# --------------------------------------------------------------------------- peers and mailboxes


def test_counts_of_all_mailboxes_of_a_peer_are_summed() -> None:
    phone = target("desk", ALICE, SALES)
    notifier = Notifier((phone,), ACCOUNT_HOST)
    spool = Spool()
    spool.set(ALICE, new=1, old=2)
    spool.set(SALES, new=0, old=1, urgent=1)

    notifier.mailbox_changed(SALES, spool.counts_of, 0.0)
    due = single(notifier, 0.0)

    assert due.summary.waiting is True
    assert voice(due) == (2, 3)  # urgent counts as new
    assert notifier.summary(phone, spool.counts_of) == due.summary


def test_empty_mailboxes_say_no_messages_waiting() -> None:
    phone = target("desk", ALICE, SALES)
    notifier = Notifier((phone,), ACCOUNT_HOST)
    spool = Spool()
    spool.set(ALICE, old=4)

    summary = notifier.summary(phone, spool.counts_of)

    assert summary.waiting is False
    assert summary.voice == Counts(0, 4, 0, 0)


def test_targets_of_lists_every_peer_covering_a_mailbox() -> None:
    desk = target("desk", ALICE, SALES)
    mobile = target("mobile", ALICE)
    bob = target("bob", BOB)
    notifier = Notifier((desk, mobile, bob), ACCOUNT_HOST)

    assert notifier.targets_of(ALICE) == [desk, mobile]
    assert notifier.targets_of(SALES) == [desk]
    assert notifier.targets_of(BOB) == [bob]  # 2001@default is not 2001@sales
    assert notifier.targets_of(MailboxId("9999")) == []


def test_a_change_notifies_every_peer_of_that_mailbox_only() -> None:
    desk = target("desk", ALICE, SALES)
    mobile = target("mobile", ALICE)
    bob = target("bob", BOB)
    notifier = Notifier((desk, mobile, bob), ACCOUNT_HOST)
    spool = Spool()
    spool.set(ALICE, new=1)
    spool.set(SALES, new=5)

    notifier.mailbox_changed(ALICE, spool.counts_of, 0.0)
    due = {item.target.name: voice(item) for item in notifier.due(0.0)}

    assert due == {"desk": (6, 0), "mobile": (1, 0)}
    assert notifier.pending() == 2


def test_change_of_an_uncovered_mailbox_sends_nothing() -> None:
    notifier = Notifier((target("2000", ALICE),), ACCOUNT_HOST)

    notifier.mailbox_changed(MailboxId("7777"), Spool().counts_of, 0.0)

    assert notifier.due(0.0) == []
    assert notifier.pending() == 0


def test_resync_queues_every_peer() -> None:
    peers = (target("desk", ALICE), target("bob", BOB), target("sales", SALES))
    notifier = Notifier(peers, ACCOUNT_HOST)
    spool = Spool()
    spool.set(BOB, new=2)

    notifier.resync(spool.counts_of, 3.0)
    due = notifier.due(3.0)

    assert [item.target.name for item in due] == ["desk", "bob", "sales"]
    assert [item.summary.waiting for item in due] == [False, True, False]


def test_refresh_queues_one_peer_by_name() -> None:
    peers = (target("desk", ALICE), target("bob", BOB))
    notifier = Notifier(peers, ACCOUNT_HOST)

    notifier.refresh("bob", Spool().counts_of, 0.0)
    notifier.refresh("nobody", Spool().counts_of, 0.0)

    assert [item.target.name for item in notifier.due(0.0)] == ["bob"]


def test_next_timer_is_the_earliest_retry_of_any_peer() -> None:
    desk, bob = target("desk", ALICE), target("bob", BOB)
    notifier = Notifier((desk, bob), ACCOUNT_HOST)
    spool = Spool()
    notifier.resync(spool.counts_of, 0.0)
    assert notifier.next_timer() == 0.0
    notifier.due(0.0)
    assert notifier.next_timer() is None  # both in flight

    notifier.answered(desk, None, 5.0)  # retry at 6
    assert notifier.next_timer() == 6.0
    notifier.answered(bob, 500, 2.0)  # retry at 3
    assert notifier.next_timer() == 3.0
    assert [item.target.name for item in notifier.due(3.0)] == ["bob"]
    assert notifier.next_timer() == 6.0


@pytest.mark.parametrize(("base", "cap"), [(0.0, 60.0), (-1.0, 60.0), (10.0, 5.0)])
def test_bad_retry_delays_are_refused(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="retry_base"):
        Notifier((), ACCOUNT_HOST, retry_base=base, retry_max=cap)


# --------------------------------------------------------------------------- the NOTIFY itself


def notify_for(
    phone: MwiTarget, counts: MailboxCounts, **options: str
) -> tuple[Request, MessageSummary]:
    notifier = Notifier((phone,), ACCOUNT_HOST)
    summary = notifier.summary(phone, lambda _: counts)
    built = build_notify(phone, summary, VOICEMAIL, **options)
    parsed = parse_message(built.to_bytes())
    assert isinstance(parsed, Request)
    return parsed, summary


def test_notify_has_the_chan_sip_shape() -> None:
    request, _ = notify_for(target("2000", ALICE), MailboxCounts(new=1))

    assert request.start_line() == "NOTIFY sip:2000@192.0.2.1:5060 SIP/2.0"
    sender = Address.parse(request.header("From") or "")
    assert sender.display_name == "asterisk"
    assert str(sender.uri) == "sip:asterisk@192.0.2.10:5080"
    assert sender.tag
    assert request.header("To") == "<sip:2000@192.0.2.1:5060>"
    assert request.header("Event") == "message-summary"
    assert request.header("Content-Type") == "application/simple-message-summary"
    assert request.header("CSeq") == "102 NOTIFY"
    assert request.has("Contact")
    assert request.vias()[0].host == "192.0.2.10"
    assert not request.has("Subscription-State")
    assert not request.has("Expires")
    assert not request.has("User-Agent")
    assert request.body == (
        b"Messages-Waiting: yes\r\n"
        b"Message-Account: sip:asterisk@192.0.2.10:5080\r\n"
        b"Voice-Message: 1/0 (0/0)\r\n"
    )
    assert request.header("Content-Length") == str(len(request.body))
    assert parse_summary(request.body, strict=True).voice == Counts(1, 0, 0, 0)


def test_notify_for_an_empty_box_says_no() -> None:
    request, _ = notify_for(target("2000", ALICE), MailboxCounts(old=3))

    assert request.body == (
        b"Messages-Waiting: no\r\n"
        b"Message-Account: sip:asterisk@192.0.2.10:5080\r\n"
        b"Voice-Message: 0/3 (0/0)\r\n"
    )


def test_buggymwi_leaves_out_the_urgent_counts() -> None:
    request, _ = notify_for(target("2000", ALICE, style="buggymwi"), MailboxCounts(new=2, old=1))

    assert request.body.endswith(b"Voice-Message: 2/1\r\n")
    assert b"(0/0)" not in request.body


def test_vmexten_names_the_message_account() -> None:
    request, _ = notify_for(target("2000", ALICE, vmexten="8500"), MailboxCounts(new=1))

    assert b"Message-Account: sip:8500@192.0.2.10:5080\r\n" in request.body


def test_subscription_state_and_user_agent_only_when_asked() -> None:
    request, _ = notify_for(
        target("2000", ALICE),
        MailboxCounts(new=1),
        subscription_state="active",
        user_agent="Asterisk PBX 18.26.4",
    )

    assert request.header("Subscription-State") == "active"
    assert request.header("User-Agent") == "Asterisk PBX 18.26.4"
    assert request.header("Event") == "message-summary"


def test_every_notify_is_a_new_dialog() -> None:
    phone = target("2000", ALICE)
    first, summary = notify_for(phone, MailboxCounts(new=1))
    second = build_notify(phone, summary, VOICEMAIL)

    first_from = Address.parse(first.header("From") or "")
    second_from = Address.parse(second.header("From") or "")
    assert first.call_id != second.call_id
    assert first_from.tag != second_from.tag
    assert first.header("Via") != second.header("Via")  # new branch


def _paced_targets(count: int) -> tuple[MwiTarget, ...]:
    return tuple(
        MwiTarget(
            name=f"p{number}",
            mailboxes=(MailboxId(str(1000 + number)),),
            uri=URI(scheme="sip", user=f"p{number}", host="127.0.0.1", port=5070),
            destination=("127.0.0.1", 5070),
        )
        for number in range(count)
    )


def test_a_paced_resync_sends_no_more_than_the_rate_allows() -> None:
    notifier = Notifier(_paced_targets(10), account_host="vm", rate=10, burst=2)
    notifier.resync(lambda _: MailboxCounts(), 0.0)
    sent = [due.target.name for due in notifier.due(0.0)]
    assert sent == ["p0", "p1"]  # the burst
    assert notifier.due(0.05) == []  # half a NOTIFY's worth of time
    assert notifier.next_timer() == pytest.approx(0.1)
    assert [due.target.name for due in notifier.due(0.1)] == ["p2"]
    # One second later the bucket holds the burst again, not ten.
    assert len(notifier.due(1.1)) == 2
    assert notifier.pending() == 10  # five in flight, five waiting


def test_replacing_the_targets_notifies_the_new_and_changed_peers_only() -> None:
    first = _paced_targets(3)
    notifier = Notifier(first, account_host="vm")
    notifier.resync(lambda _: MailboxCounts(), 0.0)
    for due in notifier.due(0.0):
        notifier.answered(due.target, 200, 0.0)
    moved = dataclasses.replace(first[1], destination=("127.0.0.1", 5080))
    new = _paced_targets(4)[3]
    queued = notifier.replace_targets((first[0], moved, new), lambda _: MailboxCounts(), 1.0)
    assert [target.name for target in queued] == ["p1", "p3"]
    assert [due.target.name for due in notifier.due(1.0)] == ["p1", "p3"]
    assert notifier.targets_of(first[2].mailboxes[0]) == []
