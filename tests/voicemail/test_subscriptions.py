"""Subscribed MWI (RFC 6665 notifier for message-summary), driven with a fake clock.

Every SUBSCRIBE reaches the server as bytes through a record-routing proxy, and every message
the server produces is parsed back from its wire form before it is checked.
"""

from __future__ import annotations

import pytest

from harness.core.mailbox import MailboxId
from harness.core.mwi import Counts, MailboxCounts, MessageSummary, parse_summary
from harness.sip.builder import new_request
from harness.sip.message import Message, Request, Response, parse_message
from harness.voicemail.subscriptions import SubscribeOutcome, Subscriptions

VOICEMAIL = ("192.0.2.10", 5080)
PROXY = ("192.0.2.1", 5060)
PHONE = ("192.0.2.50", 5062)
ACCOUNT_HOST = "192.0.2.10:5080"
LOOSE_ROUTE = "<sip:192.0.2.1:5060;lr>"

ALICE = MailboxId("2000")
SALES = MailboxId("2001", "sales")
OTHER = MailboxId("3000")


class Spool:
    """Mailbox counts the test changes by hand; ``counts_of`` is what the server reads."""

    def __init__(self) -> None:
        self.boxes: dict[MailboxId, MailboxCounts] = {}

    def set(self, mailbox: MailboxId, new: int = 0, old: int = 0, urgent: int = 0) -> None:
        self.boxes[mailbox] = MailboxCounts(new, old, urgent)

    def counts_of(self, mailbox: MailboxId) -> MailboxCounts:
        return self.boxes.get(mailbox, MailboxCounts())


def wire(message: Message) -> Message:
    """``message`` as the peer receives it: serialised, then parsed."""
    return parse_message(message.to_bytes())


def wire_request(message: Request | None) -> Request:
    assert message is not None
    parsed = wire(message)
    assert isinstance(parsed, Request)
    return parsed


def wire_response(message: Response) -> Response:
    parsed = wire(message)
    assert isinstance(parsed, Response)
    return parsed


def via_proxy(request: Request, *, record_route: str | None = LOOSE_ROUTE) -> Request:
    """What the proxy forwards: its Via on top and, when it record-routes, its Record-Route."""
    forwarded = request.with_header(
        "Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKpx1", first=True
    )
    if record_route is not None:
        forwarded = forwarded.with_header("Record-Route", record_route, first=True)
    return wire_request(forwarded)


def subscribe_request(
    *,
    user: str = "2000",
    expires: int | str | None = 600,
    event: str | None = "message-summary",
    accept: str | None = "application/simple-message-summary",
    call_id: str = "sub-1@192.0.2.50",
    cseq: int = 1,
    to_tag: str | None = None,
    contact: str | None = None,
    record_route: str | None = LOOSE_ROUTE,
) -> Request:
    """A phone's SUBSCRIBE for ``user``'s mailbox; with ``to_tag`` a refresh in that dialog."""
    headers: list[tuple[str, str]] = []
    if event is not None:
        headers.append(("Event", event))
    if accept is not None:
        headers.append(("Accept", accept))
    if expires is not None:
        headers.append(("Expires", str(expires)))
    to_address = f"<sip:{user}@example.com>"
    if to_tag is not None:
        to_address += f";tag={to_tag}"
    request = new_request(
        "SUBSCRIBE",
        f"sip:{user}@{VOICEMAIL[0]}:{VOICEMAIL[1]}",
        from_address=f"<sip:{user}@example.com>;tag=phone-tag",
        to_address=to_address,
        local=PHONE,
        call_id=call_id,
        cseq=cseq,
        contact=contact,
        headers=headers,
    )
    return via_proxy(request, record_route=record_route)


def server(**options: object) -> Subscriptions:
    return Subscriptions(local=VOICEMAIL, account_host=ACCOUNT_HOST, **options)  # type: ignore[arg-type]


def setup(
    subs: Subscriptions,
    spool: Spool,
    now: float = 0.0,
    mailboxes: tuple[MailboxId, ...] = (ALICE,),
    **request: object,
) -> tuple[Response, Request]:
    """Subscribe and return the 200 and the first NOTIFY, both as received."""
    outcome = subs.subscribe(subscribe_request(**request), mailboxes, spool.counts_of, now)  # type: ignore[arg-type]
    response = wire_response(outcome.response)
    assert response.status == 200
    return response, wire_request(outcome.notify)


def refresh(
    subs: Subscriptions,
    spool: Spool,
    ok: Response,
    now: float,
    *,
    cseq: int = 2,
    **request: object,
) -> SubscribeOutcome:
    """A SUBSCRIBE in the dialog ``ok`` set up (refresh or unsubscribe)."""
    to = ok.address("To")
    assert to is not None
    assert to.tag is not None
    return subs.subscribe(
        subscribe_request(to_tag=to.tag, cseq=cseq, **request),  # type: ignore[arg-type]
        None,
        spool.counts_of,
        now,
    )


def summary(notify: Request) -> MessageSummary:
    assert notify.header("Content-Type") == "application/simple-message-summary"
    return parse_summary(notify.body, strict=True)


def voice(notify: Request) -> str:
    counts = summary(notify).voice
    assert counts is not None
    return counts.format("rfc3842")


def state(notify: Request) -> str | None:
    return notify.header("Subscription-State")


@pytest.fixture
def spool() -> Spool:
    spool = Spool()
    spool.set(ALICE, new=2, old=1)
    return spool


# ------------------------------------------------------------------ set-up


def test_setup_answers_200_then_notifies_the_current_state(spool: Spool) -> None:
    subs = server()
    ok, notify = setup(subs, spool, now=10.0)
    to = ok.address("To")
    assert to is not None
    assert to.tag
    assert ok.header("Expires") == "600"
    assert ok.header("Contact") == "<sip:2000@192.0.2.10:5080>"
    assert ok.header("Record-Route") == LOOSE_ROUTE

    assert notify.method == "NOTIFY"
    assert notify.header("Event") == "message-summary"
    assert state(notify) == "active;expires=600"
    assert notify.cseq == (1, "NOTIFY")
    assert notify.call_id == "sub-1@192.0.2.50"
    from_ = notify.address("From")
    assert from_ is not None
    assert from_.tag == to.tag
    assert notify.header("To") == "<sip:2000@example.com>;tag=phone-tag"
    assert notify.header("Contact") == "<sip:2000@192.0.2.10:5080>"
    assert notify.body == (
        b"Messages-Waiting: yes\r\n"
        b"Message-Account: sip:asterisk@192.0.2.10:5080\r\n"
        b"Voice-Message: 2/1 (0/0)\r\n"
    )
    [info] = subs.active()
    assert (info.subscriber, info.mailboxes, info.expires_at) == (
        "sip:2000@example.com",
        (ALICE,),
        610.0,
    )
    assert info.contact == "sip:2000@192.0.2.50:5062"
    assert subs.next_timer() == 610.0


@pytest.mark.parametrize(
    ("record_route", "request_uri", "routes", "hop"),
    [
        (LOOSE_ROUTE, "sip:2000@192.0.2.50:5062", [LOOSE_ROUTE], PROXY),
        (None, "sip:2000@192.0.2.50:5062", [], PHONE),
        (
            "<sip:192.0.2.1:5070>",
            "sip:192.0.2.1:5070",
            ["<sip:2000@192.0.2.50:5062>"],
            ("192.0.2.1", 5070),
        ),
    ],
    ids=["loose-routing-proxy", "no-record-route", "strict-routing-proxy"],
)
def test_notifies_follow_the_route_set_of_the_subscribe(
    spool: Spool,
    record_route: str | None,
    request_uri: str,
    routes: list[str],
    hop: tuple[str, int],
) -> None:
    subs = server()
    _, first = setup(subs, spool, record_route=record_route)
    [later] = subs.mailbox_changed(ALICE, spool.counts_of, 5.0)
    for notify in (first, wire_request(later)):
        assert notify.uri == request_uri
        assert notify.header_values("Route") == routes
        assert subs.destination(notify) == hop


def test_notify_cseq_goes_up_and_expires_counts_down(spool: Spool) -> None:
    subs = server()
    _, first = setup(subs, spool)
    spool.set(ALICE, new=3, old=1)
    [second] = [wire_request(n) for n in subs.mailbox_changed(ALICE, spool.counts_of, 100.4)]
    assert (first.cseq, second.cseq) == ((1, "NOTIFY"), (2, "NOTIFY"))
    assert state(second) == "active;expires=499"
    assert voice(second) == "3/1 (0/0)"


@pytest.mark.parametrize(
    ("accept", "expires", "granted"),
    [
        (None, 600, "600"),
        ("*/*", 600, "600"),
        ("application/*", 600, "600"),
        ("application/pidf+xml, application/simple-message-summary;q=0.5", 600, "600"),
        ("application/simple-message-summary", None, "3600"),
        ("application/simple-message-summary", 60, "60"),
        ("application/simple-message-summary", 7200, "3600"),
        ("application/simple-message-summary", 99999999999, "3600"),
    ],
    ids=[
        "no-accept",
        "any",
        "application-any",
        "in-a-list",
        "default",
        "minimum",
        "clamped",
        "huge",
    ],
)
def test_accepted_subscribe_gets_the_granted_interval(
    spool: Spool, accept: str | None, expires: int | None, granted: str
) -> None:
    subs = server()
    ok, notify = setup(subs, spool, now=0.0, accept=accept, expires=expires)
    assert ok.header("Expires") == granted
    assert state(notify) == f"active;expires={granted}"
    assert notify.header("Content-Type") == "application/simple-message-summary"
    assert subs.next_timer() == float(granted)


def test_subscription_covers_the_user_it_resolved_to_and_echoes_the_event_id(spool: Spool) -> None:
    subs = server(user_agent="vmharness 1.0")
    ok, notify = setup(subs, spool, event="message-summary;id=7")
    assert notify.header("Event") == "message-summary;id=7"
    assert ok.header("Server") == "vmharness 1.0"
    assert notify.header("User-Agent") == "vmharness 1.0"


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("request_options", "status", "header", "value"),
    [
        ({"event": "presence"}, 489, "Allow-Events", "message-summary"),
        ({"event": None}, 489, "Allow-Events", "message-summary"),
        ({"accept": "application/pidf+xml"}, 406, None, None),
        ({"accept": ""}, 406, None, None),
        ({"accept": "application/simple-message-summary;q=0"}, 406, None, None),
        ({"expires": 30}, 423, "Min-Expires", "60"),
        ({"expires": "soon"}, 400, None, None),
    ],
    ids=[
        "other-event",
        "no-event",
        "accept-without-type",
        "empty-accept",
        "q-zero",
        "too-brief",
        "bad-expires",
    ],
)
def test_refused_subscribe_gets_an_error_and_no_notify(
    spool: Spool,
    request_options: dict[str, object],
    status: int,
    header: str | None,
    value: str | None,
) -> None:
    subs = server()
    outcome = subs.subscribe(subscribe_request(**request_options), (ALICE,), spool.counts_of, 0.0)  # type: ignore[arg-type]
    response = wire_response(outcome.response)
    assert response.status == status
    if header is not None:
        assert response.header(header) == value
    assert response.header("Warning")
    assert outcome.notify is None
    assert subs.active() == []
    assert subs.next_timer() is None


def test_unknown_resource_is_not_found(spool: Spool) -> None:
    subs = server()
    outcome = subs.subscribe(subscribe_request(user="9999"), None, spool.counts_of, 0.0)
    assert wire_response(outcome.response).status == 404
    assert outcome.notify is None
    assert subs.active() == []


def test_subscribe_without_contact_is_a_bad_request(spool: Spool) -> None:
    subs = server()
    request = subscribe_request().without_header("Contact")
    outcome = subs.subscribe(request, (ALICE,), spool.counts_of, 0.0)
    response = wire_response(outcome.response)
    assert response.status == 400
    assert "Contact" in (response.header("Warning") or "")
    assert subs.active() == []


def test_refresh_of_an_unknown_dialog_is_481(spool: Spool) -> None:
    subs = server()
    request = subscribe_request(to_tag="never-issued", cseq=2)
    outcome = subs.subscribe(request, (ALICE,), spool.counts_of, 0.0)
    assert wire_response(outcome.response).status == 481
    assert outcome.notify is None
    assert subs.active() == []


def test_subscribe_rejects_other_methods(spool: Spool) -> None:
    subs = server()
    options = wire_request(
        new_request(
            "OPTIONS",
            "sip:2000@192.0.2.10",
            from_address="<sip:a@b>",
            to_address="<sip:c@d>",
            local=PHONE,
        )
    )
    with pytest.raises(ValueError, match="not a OPTIONS"):
        subs.subscribe(options, (ALICE,), spool.counts_of, 0.0)


@pytest.mark.parametrize(
    ("minimum", "default", "maximum"), [(0, 3600, 3600), (60, 30, 3600), (60, 3600, 1800)]
)
def test_inconsistent_intervals_are_refused(minimum: int, default: int, maximum: int) -> None:
    with pytest.raises(ValueError, match="min_expires"):
        server(min_expires=minimum, default_expires=default, max_expires=maximum)


# ------------------------------------------------------------------ refresh, unsubscribe, expiry


def test_refresh_extends_the_subscription_and_notifies(spool: Spool) -> None:
    subs = server()
    ok, _ = setup(subs, spool, now=0.0)
    outcome = refresh(subs, spool, ok, 500.0, expires=600, contact="<sip:2000@192.0.2.51:5064>")
    response = wire_response(outcome.response)
    assert response.status == 200
    assert response.header("Expires") == "600"
    assert response.header("Contact") == "<sip:2000@192.0.2.10:5080>"
    notify = wire_request(outcome.notify)
    assert state(notify) == "active;expires=600"
    assert notify.cseq == (2, "NOTIFY")
    assert notify.uri == "sip:2000@192.0.2.51:5064"
    assert voice(notify) == "2/1 (0/0)"
    assert subs.next_timer() == 1100.0
    assert subs.handle_timer(600.0) == []
    assert [info.expires_at for info in subs.active()] == [1100.0]


def test_refused_refresh_leaves_the_subscription_as_it_was(spool: Spool) -> None:
    subs = server()
    ok, _ = setup(subs, spool, now=0.0)
    outcome = refresh(subs, spool, ok, 100.0, expires=10)
    assert wire_response(outcome.response).status == 423
    assert outcome.notify is None
    assert [info.expires_at for info in subs.active()] == [600.0]


def test_refresh_out_of_cseq_order_is_500_and_keeps_the_subscription(spool: Spool) -> None:
    subs = server()
    ok, _ = setup(subs, spool, cseq=5)
    outcome = refresh(subs, spool, ok, 100.0, cseq=4)
    assert wire_response(outcome.response).status == 500
    assert outcome.notify is None
    assert len(subs.active()) == 1


def test_unsubscribe_answers_200_then_terminated_notify_and_forgets(spool: Spool) -> None:
    subs = server()
    ok, _ = setup(subs, spool, now=0.0)
    outcome = refresh(subs, spool, ok, 100.0, expires=0)
    response = wire_response(outcome.response)
    assert response.status == 200
    assert response.header("Expires") == "0"
    notify = wire_request(outcome.notify)
    assert state(notify) == "terminated;reason=timeout"
    assert notify.header("Event") == "message-summary"
    assert voice(notify) == "2/1 (0/0)"
    assert subs.destination(notify) == PROXY
    assert subs.active() == []
    assert subs.next_timer() is None
    assert subs.mailbox_changed(ALICE, spool.counts_of, 200.0) == []
    again = refresh(subs, spool, ok, 300.0, cseq=3)
    assert wire_response(again.response).status == 481


def test_fetch_with_expires_zero_notifies_once_and_keeps_nothing(spool: Spool) -> None:
    subs = server()
    ok, notify = setup(subs, spool, expires=0)
    assert ok.header("Expires") == "0"
    assert state(notify) == "terminated;reason=timeout"
    assert voice(notify) == "2/1 (0/0)"
    assert subs.active() == []
    assert subs.mailbox_changed(ALICE, spool.counts_of, 1.0) == []


def test_expiry_sends_terminated_notify_at_the_right_time_then_nothing(spool: Spool) -> None:
    subs = server()
    setup(subs, spool, now=0.0, expires=600)
    assert subs.next_timer() == 600.0
    assert subs.handle_timer(599.9) == []
    [notify] = [wire_request(n) for n in subs.handle_timer(600.0)]
    assert state(notify) == "terminated;reason=timeout"
    assert notify.cseq == (2, "NOTIFY")
    assert notify.header("Event") == "message-summary"
    # No counts are at hand at expiry, and a stale summary would be worse than none.
    assert notify.body == b""
    assert not notify.has("Content-Type")
    assert subs.destination(notify) == PROXY
    assert subs.active() == []
    assert subs.next_timer() is None
    assert subs.handle_timer(10_000.0) == []
    assert subs.mailbox_changed(ALICE, spool.counts_of, 700.0) == []


def test_expired_subscription_sends_nothing_before_its_timer_runs(spool: Spool) -> None:
    subs = server()
    ok, _ = setup(subs, spool, now=0.0)
    assert subs.mailbox_changed(ALICE, spool.counts_of, 600.0) == []
    late = refresh(subs, spool, ok, 601.0)
    assert wire_response(late.response).status == 481
    assert late.notify is None
    assert subs.handle_timer(602.0) == []


# ------------------------------------------------------------------ NOTIFY outcomes


@pytest.mark.parametrize("status", [None, 404, 405, 408, 410, 416, 480, 481, 485, 489, 501, 604])
def test_failed_notify_ends_the_subscription(spool: Spool, status: int | None) -> None:
    subs = server()
    _, notify = setup(subs, spool)
    subs.notify_answered(notify, status, 1.0)
    assert subs.active() == []
    assert subs.next_timer() is None
    assert subs.mailbox_changed(ALICE, spool.counts_of, 2.0) == []
    assert subs.handle_timer(10_000.0) == []


@pytest.mark.parametrize("status", [200, 202, 486, 500, 503])
def test_answered_or_transient_failure_keeps_the_subscription(spool: Spool, status: int) -> None:
    subs = server()
    _, notify = setup(subs, spool)
    subs.notify_answered(notify, status, 1.0)
    assert len(subs.active()) == 1
    assert len(subs.mailbox_changed(ALICE, spool.counts_of, 2.0)) == 1


def test_answer_to_a_notify_of_an_ended_subscription_is_ignored(spool: Spool) -> None:
    subs = server()
    ok, _ = setup(subs, spool)
    setup(subs, spool, call_id="sub-2@192.0.2.50")
    final = wire_request(refresh(subs, spool, ok, 5.0, expires=0).notify)
    subs.notify_answered(final, 481, 6.0)
    [info] = subs.active()
    assert info.dialog_id[0] == "sub-2@192.0.2.50"


def test_notify_outcome_must_be_final(spool: Spool) -> None:
    subs = server()
    _, notify = setup(subs, spool)
    with pytest.raises(ValueError, match="final status"):
        subs.notify_answered(notify, 180, 1.0)


# ------------------------------------------------------------------ mailbox changes


def test_notify_aggregates_every_mailbox_of_the_subscription(spool: Spool) -> None:
    subs = server(style="rfc3842")
    spool.set(SALES, new=2, old=4, urgent=1)
    _, first = setup(subs, spool, mailboxes=(ALICE, SALES))
    assert summary(first) == MessageSummary.of(
        Counts(5, 5, 1, 0), account="sip:asterisk@192.0.2.10:5080"
    )
    spool.set(SALES, new=0, old=7)
    [changed] = [wire_request(n) for n in subs.mailbox_changed(SALES, spool.counts_of, 10.0)]
    assert voice(changed) == "2/8 (0/0)"
    assert summary(changed).waiting
    spool.set(ALICE, old=3)
    [cleared] = [wire_request(n) for n in subs.mailbox_changed(ALICE, spool.counts_of, 20.0)]
    assert voice(cleared) == "0/10 (0/0)"
    assert not summary(cleared).waiting
    assert cleared.body.startswith(b"Messages-Waiting: no\r\n")


def test_change_to_an_unrelated_mailbox_sends_nothing(spool: Spool) -> None:
    subs = server()
    setup(subs, spool)
    spool.set(OTHER, new=1)
    assert subs.mailbox_changed(OTHER, spool.counts_of, 5.0) == []


def test_every_subscriber_covering_a_mailbox_is_notified(spool: Spool) -> None:
    subs = server()
    setup(subs, spool, call_id="desk@192.0.2.50")
    setup(subs, spool, call_id="softphone@192.0.2.50", mailboxes=(SALES, ALICE))
    setup(subs, spool, call_id="sales@192.0.2.50", mailboxes=(SALES,))
    spool.set(ALICE, new=1)
    notifies = [wire_request(n) for n in subs.mailbox_changed(ALICE, spool.counts_of, 5.0)]
    assert sorted(n.call_id for n in notifies) == ["desk@192.0.2.50", "softphone@192.0.2.50"]
    assert all(voice(n) == "1/0 (0/0)" for n in notifies)


def test_active_lists_soonest_expiry_first(spool: Spool) -> None:
    subs = server()
    setup(subs, spool, now=100.0, call_id="late@192.0.2.50")
    setup(subs, spool, now=0.0, call_id="early@192.0.2.50", mailboxes=(ALICE, SALES))
    infos = subs.active()
    assert [(i.dialog_id[0], i.expires_at) for i in infos] == [
        ("early@192.0.2.50", 600.0),
        ("late@192.0.2.50", 700.0),
    ]
    assert infos[0].mailboxes == (ALICE, SALES)
    assert subs.next_timer() == 600.0


def test_destination_needs_a_readable_next_hop() -> None:
    subs = server()
    notify = Request("NOTIFY", "sip:2000@192.0.2.50", headers=()).with_header("Route", "<not a uri")
    with pytest.raises(ValueError, match="next hop"):
        subs.destination(notify)


# ------------------------------------------------------------------ chan_sip's NOTIFY branch


@pytest.mark.parametrize(("reuse", "branches"), [(False, 2), (True, 1)])
def test_notifies_of_a_subscription_share_one_branch_only_as_chan_sip(
    spool: Spool, reuse: bool, branches: int
) -> None:
    subs = server(reuse_branch=reuse)
    _, first = setup(subs, spool)
    [later] = subs.mailbox_changed(ALICE, spool.counts_of, 5.0)
    sent = {notify.vias()[0].branch for notify in (first, wire_request(later))}
    assert len(sent) == branches


def test_subscriptions_per_host_count_where_the_subscribe_came_from(spool: Spool) -> None:
    """A stranger naming a different Contact host in each SUBSCRIBE is still one source."""
    subs = server(max_per_host=1)
    first = subscribe_request(call_id="a", contact="<sip:2000@192.0.2.51:5060>")
    second = subscribe_request(call_id="b", contact="<sip:2000@192.0.2.52:5060>")
    assert subs.subscribe(first, (ALICE,), spool.counts_of, 0.0, source="192.0.2.1")
    refused = subs.subscribe(second, (ALICE,), spool.counts_of, 0.0, source="192.0.2.1")
    assert refused.response.status == 503
    third = subscribe_request(call_id="c", contact="<sip:2000@192.0.2.51:5060>")
    accepted = subs.subscribe(third, (ALICE,), spool.counts_of, 0.0, source="192.0.2.7")
    assert accepted.response.status == 200
