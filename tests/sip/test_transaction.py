"""RFC 3261 §17 transactions, driven in memory with a fake clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from harness.sip.address import Address
from harness.sip.builder import make_cancel, make_response, new_branch, new_request
from harness.sip.dialog import Dialog
from harness.sip.message import Header, Message, Request, Response, parse_message
from harness.sip.transaction import (
    Event,
    MalformedMessage,
    Peer,
    RequestReceived,
    ResponseReceived,
    ServerTransaction,
    StrayResponse,
    Timers,
    TransactionError,
    TransactionLayer,
    TransactionState,
    TransactionTerminated,
    TransactionTimeout,
    TransportError,
)
from harness.sip.via import Via

CLIENT: Peer = ("192.0.2.1", 5070)
SERVER: Peer = ("192.0.2.2", 5060)


def request(
    method: str = "INVITE",
    *,
    branch: str | None = None,
    call_id: str = "call-1",
    cseq: int = 1,
    headers: tuple[tuple[str, str], ...] = (),
) -> Request:
    return new_request(
        method,
        "sip:2000@192.0.2.2",
        from_address="<sip:1000@example.com>",
        to_address="<sip:2000@example.com>",
        local=CLIENT,
        call_id=call_id,
        cseq=cseq,
        from_tag="caller",
        branch=branch,
        headers=headers,
    )


def legacy_request(method: str = "INVITE", *, from_tag: str = "caller") -> Request:
    """An RFC 2543 request: its Via has no branch at all."""
    built = request(method)
    return built.replace_header("Via", "SIP/2.0/UDP 192.0.2.1:5070").replace_header(
        "From", f"<sip:1000@example.com>;tag={from_tag}"
    )


def sent(layer: TransactionLayer) -> list[Message]:
    return [message for message, _ in layer.messages_to_send()]


def fire_until(
    layer: TransactionLayer, end: float
) -> list[tuple[float, list[Event], list[Message]]]:
    """Fire each timer at its deadline up to ``end``: (time, events, messages sent) per firing."""
    log = []
    while (deadline := layer.next_timer()) is not None and deadline <= end:
        events = layer.handle_timer(deadline)
        log.append((deadline, events, sent(layer)))
    return log


def transmissions(log: list[tuple[float, list[Event], list[Message]]]) -> list[float]:
    return [time for time, _, messages in log for _ in messages]


def kinds(events: list[Event]) -> list[type]:
    return [type(event) for event in events]


def server_with(
    message: Request, *, reliable: bool = False
) -> tuple[TransactionLayer, ServerTransaction]:
    layer = TransactionLayer()
    [event] = layer.receive(message, CLIENT, reliable=reliable, now=0.0)
    assert isinstance(event, RequestReceived)
    assert event.transaction is not None
    return layer, event.transaction


# -- client transactions --------------------------------------------------------------------


def test_invite_over_udp_is_retransmitted_on_timer_a_until_timer_b_times_out() -> None:
    layer = TransactionLayer()
    invite = request()
    transaction = layer.send_request(invite, SERVER, reliable=False, now=0.0)
    assert layer.messages_to_send() == [(invite, SERVER)]

    log = fire_until(layer, 100.0)

    # Intervals 0.5, 1, 2, 4, 8, 16 s: not capped at T2, then Timer B at 64*T1 = 32 s.
    assert transmissions(log) == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert all(message == invite for _, _, messages in log for message in messages)
    time, events, _ = log[-1]
    assert time == 32.0
    assert events == [TransactionTimeout(transaction), TransactionTerminated(transaction)]
    assert transaction.state == TransactionState.TERMINATED
    assert layer.next_timer() is None
    assert layer.transaction_count == 0


def test_invite_over_tcp_is_never_retransmitted_but_still_times_out() -> None:
    layer = TransactionLayer()
    transaction = layer.send_request(request(), SERVER, reliable=True, now=10.0)
    sent(layer)

    log = fire_until(layer, 100.0)

    assert transmissions(log) == []
    assert [(time, kinds(events)) for time, events, _ in log] == [
        (42.0, [TransactionTimeout, TransactionTerminated])
    ]
    assert transaction.state == "Terminated"


def test_timers_scale_with_t1() -> None:
    layer = TransactionLayer(Timers(t1=0.1, t2=0.4))
    layer.send_request(request(), SERVER, reliable=False, now=0.0)
    sent(layer)
    log = fire_until(layer, 100.0)
    assert transmissions(log) == pytest.approx([0.1, 0.3, 0.7, 1.5, 3.1, 6.3])
    assert log[-1][0] == pytest.approx(6.4)


def test_non_invite_timer_e_doubles_up_to_t2_until_timer_f() -> None:
    layer = TransactionLayer()
    options = request("OPTIONS")
    transaction = layer.send_request(options, SERVER, reliable=False, now=0.0)
    sent(layer)

    log = fire_until(layer, 100.0)

    # 0.5, 1, 2, then capped at T2 = 4 s.
    assert transmissions(log) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert log[-1][0] == 32.0
    assert log[-1][1] == [TransactionTimeout(transaction), TransactionTerminated(transaction)]


def test_non_invite_retransmits_every_t2_once_proceeding() -> None:
    layer = TransactionLayer()
    options = request("OPTIONS")
    transaction = layer.send_request(options, SERVER, reliable=False, now=0.0)
    sent(layer)
    trying = make_response(options, 100)

    events = layer.receive(trying, SERVER, reliable=False, now=0.2)

    assert events == [ResponseReceived(trying, transaction)]
    assert transaction.state == "Proceeding"
    assert transmissions(fire_until(layer, 13.0)) == [0.5, 4.5, 8.5, 12.5]


def test_non_invite_over_tcp_only_times_out() -> None:
    layer = TransactionLayer()
    layer.send_request(request("REGISTER"), SERVER, reliable=True, now=0.0)
    sent(layer)
    log = fire_until(layer, 100.0)
    assert transmissions(log) == []
    assert [(time, kinds(events)) for time, events, _ in log] == [
        (32.0, [TransactionTimeout, TransactionTerminated])
    ]


def test_provisional_stops_invite_retransmission_and_timer_b() -> None:
    layer = TransactionLayer()
    invite = request()
    transaction = layer.send_request(invite, SERVER, reliable=False, now=0.0)
    sent(layer)
    ringing = make_response(invite, 180, to_tag="callee")

    assert layer.receive(ringing, SERVER, reliable=False, now=0.3) == [
        ResponseReceived(ringing, transaction)
    ]

    assert transaction.state == "Proceeding"
    assert fire_until(layer, 1000.0) == []
    assert layer.transaction_count == 1


def test_2xx_ends_the_invite_client_transaction_and_its_retransmission_is_stray() -> None:
    layer = TransactionLayer()
    invite = request()
    transaction = layer.send_request(invite, SERVER, reliable=False, now=0.0)
    sent(layer)
    ok = make_response(invite, 200, to_tag="callee", contact="<sip:2000@192.0.2.2>")

    first = layer.receive(ok, SERVER, reliable=False, now=0.1)
    again = layer.receive(ok, SERVER, reliable=False, now=0.6)

    assert first == [ResponseReceived(ok, transaction), TransactionTerminated(transaction)]
    assert again == [StrayResponse(ok, SERVER)]
    assert sent(layer) == []  # the ACK of a 2xx is the TU's job
    assert layer.next_timer() is None


def test_ack_of_a_non_2xx_final_is_built_by_the_transaction() -> None:
    layer = TransactionLayer()
    invite = request(
        headers=(("Route", "<sip:p1.example.com;lr>"), ("Route", "<sip:p2.example.com;lr>"))
    )
    # A second Via, as when this element forwards the INVITE: the ACK keeps only the top one.
    invite = invite.with_header("Via", "SIP/2.0/UDP 198.51.100.9;branch=z9hG4bKdown")
    transaction = layer.send_request(invite, SERVER, reliable=False, now=0.0)
    sent(layer)
    busy = make_response(invite, 486, to_tag="callee")

    events = layer.receive(busy, SERVER, reliable=False, now=0.2)

    assert events == [ResponseReceived(busy, transaction)]
    assert transaction.state == "Completed"
    [(ack, destination)] = layer.messages_to_send()
    assert destination == SERVER
    assert isinstance(ack, Request)
    assert ack.method == "ACK"
    assert ack.uri == invite.uri
    assert ack.header_values("Via") == [invite.header("Via")]
    assert Via.parse(ack.header("Via") or "").branch == transaction.branch
    assert ack.header("From") == invite.header("From")
    assert ack.header("To") == busy.header("To")
    assert Address.parse(ack.header("To") or "").tag == "callee"
    assert ack.call_id == invite.call_id
    assert ack.cseq == (1, "ACK")
    assert ack.header_values("Route") == invite.header_values("Route")
    assert parse_message(ack.to_bytes()).without_header("Content-Length") == ack
    assert transaction.ack == ack


def test_retransmitted_non_2xx_final_resends_the_ack_and_is_absorbed() -> None:
    layer = TransactionLayer()
    invite = request()
    layer.send_request(invite, SERVER, reliable=False, now=0.0)
    sent(layer)
    busy = make_response(invite, 486, to_tag="callee")
    layer.receive(busy, SERVER, reliable=False, now=0.2)
    [ack] = sent(layer)

    assert layer.receive(busy, SERVER, reliable=False, now=0.7) == []
    assert sent(layer) == [ack]


@pytest.mark.parametrize(("reliable", "timer_d"), [(False, 32.0), (True, 0.0)])
def test_timer_d_ends_the_completed_invite_client_transaction(
    reliable: bool, timer_d: float
) -> None:
    layer = TransactionLayer()
    invite = request()
    transaction = layer.send_request(invite, SERVER, reliable=reliable, now=0.0)
    layer.receive(make_response(invite, 603, to_tag="t"), SERVER, reliable=reliable, now=1.0)
    sent(layer)

    log = fire_until(layer, 100.0)

    assert [(time, events) for time, events, _ in log] == [
        (1.0 + timer_d, [TransactionTerminated(transaction)])
    ]


@pytest.mark.parametrize(("reliable", "timer_k"), [(False, 5.0), (True, 0.0)])
def test_non_invite_client_absorbs_final_retransmissions_until_timer_k(
    reliable: bool, timer_k: float
) -> None:
    layer = TransactionLayer()
    options = request("OPTIONS")
    transaction = layer.send_request(options, SERVER, reliable=reliable, now=0.0)
    ok = make_response(options, 200, to_tag="t")

    assert layer.receive(ok, SERVER, reliable=reliable, now=1.0) == [
        ResponseReceived(ok, transaction)
    ]
    assert transaction.state == "Completed"
    assert layer.receive(ok, SERVER, reliable=reliable, now=1.0) == []
    sent(layer)
    log = fire_until(layer, 100.0)
    assert transmissions(log) == []
    assert [(time, events) for time, events, _ in log] == [
        (1.0 + timer_k, [TransactionTerminated(transaction)])
    ]
    assert layer.receive(ok, SERVER, reliable=reliable, now=50.0) == [StrayResponse(ok, SERVER)]


def test_response_is_matched_by_branch_and_cseq_method() -> None:
    layer = TransactionLayer()
    invite = request()
    invite_transaction = layer.send_request(invite, SERVER, reliable=False, now=0.0)
    cancel = make_cancel(invite)
    cancel_transaction = layer.send_request(cancel, SERVER, reliable=False, now=1.0)
    assert cancel_transaction is not invite_transaction
    assert cancel_transaction.branch == invite_transaction.branch

    ok_cancel = make_response(cancel, 200, to_tag="callee")
    terminated = make_response(invite, 487, to_tag="callee")
    other_branch = make_response(invite, 200, to_tag="callee").replace_header(
        "Via", f"SIP/2.0/UDP 192.0.2.1:5070;branch={new_branch()}"
    )

    assert layer.receive(ok_cancel, SERVER, reliable=False, now=1.1) == [
        ResponseReceived(ok_cancel, cancel_transaction)
    ]
    assert invite_transaction.state == "Calling"
    assert layer.receive(terminated, SERVER, reliable=False, now=1.2) == [
        ResponseReceived(terminated, invite_transaction)
    ]
    assert layer.receive(other_branch, SERVER, reliable=False, now=1.3) == [
        StrayResponse(other_branch, SERVER)
    ]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (request("ACK"), "send_stateless"),
        (request().replace_header("Via", "SIP/2.0/UDP 192.0.2.1;branch=1234"), "z9hG4bK"),
        (request().without_header("Via"), "missing Via"),
        (request().replace_header("CSeq", "1 OPTIONS"), "CSeq method is OPTIONS"),
    ],
)
def test_send_request_refuses_what_cannot_be_a_client_transaction(
    bad: Request, reason: str
) -> None:
    with pytest.raises(TransactionError, match=reason):
        TransactionLayer().send_request(bad, SERVER, reliable=False, now=0.0)


def test_send_request_refuses_a_second_transaction_with_the_same_branch() -> None:
    layer = TransactionLayer()
    invite = request()
    layer.send_request(invite, SERVER, reliable=False, now=0.0)
    with pytest.raises(TransactionError, match="already running"):
        layer.send_request(invite, SERVER, reliable=False, now=0.1)


def test_a_branch_may_be_reused_once_its_transaction_completed_as_chan_sip_does() -> None:
    layer = TransactionLayer()
    notify = request("NOTIFY")
    first = layer.send_request(notify, SERVER, reliable=False, now=0.0)
    layer.receive(make_response(notify, 200, to_tag="t"), SERVER, reliable=False, now=0.1)
    assert first.state == "Completed"
    again = notify.replace_header("CSeq", "2 NOTIFY")
    second = layer.send_request(again, SERVER, reliable=False, now=0.2)
    ok = make_response(again, 200, to_tag="t")
    assert layer.receive(ok, SERVER, reliable=False, now=0.3) == [ResponseReceived(ok, second)]


def test_send_stateless_queues_without_a_transaction() -> None:
    layer = TransactionLayer()
    ack = request("ACK")
    layer.send_stateless(ack, SERVER)
    assert layer.messages_to_send() == [(ack, SERVER)]
    assert layer.transaction_count == 0
    assert layer.next_timer() is None


def test_transport_error_ends_the_transaction() -> None:
    layer = TransactionLayer()
    transaction = layer.send_request(request(), SERVER, reliable=True, now=0.0)
    assert layer.transport_error(transaction, "connection refused") == [
        TransportError(transaction, "connection refused"),
        TransactionTerminated(transaction),
    ]
    assert layer.transaction_count == 0
    assert layer.transport_error(transaction, "again") == []


# -- server transactions --------------------------------------------------------------------


def test_invite_server_sends_100_trying_after_200_ms_of_silence() -> None:
    invite = request()
    layer, transaction = server_with(invite)
    assert transaction.state == "Proceeding"
    assert layer.next_timer() == pytest.approx(0.2)

    assert layer.handle_timer(0.19) == []
    assert sent(layer) == []
    assert layer.handle_timer(0.2) == []
    [(trying, destination)] = layer.messages_to_send()

    assert destination == CLIENT
    assert isinstance(trying, Response)
    assert (trying.status, trying.reason) == (100, "Trying")
    assert Address.parse(trying.header("To") or "").tag is None
    assert trying.header_values("Via") == invite.header_values("Via")
    assert trying.cseq == (1, "INVITE")
    assert transaction.last_response == trying


def test_invite_server_sends_no_100_when_the_tu_answers_in_time() -> None:
    invite = request()
    layer, transaction = server_with(invite)
    ringing = make_response(invite, 180, to_tag="callee")
    layer.respond(transaction, ringing, now=0.1)
    assert sent(layer) == [ringing]
    assert fire_until(layer, 1.0) == []


def test_retransmitted_invite_gets_the_last_provisional_again() -> None:
    invite = request()
    layer, transaction = server_with(invite)
    ringing = make_response(invite, 180, to_tag="callee")
    layer.respond(transaction, ringing, now=0.1)
    sent(layer)

    assert layer.receive(invite, CLIENT, reliable=False, now=0.5) == []
    assert layer.messages_to_send() == [(ringing, CLIENT)]


def test_retransmitted_invite_before_any_response_is_absorbed() -> None:
    invite = request()
    layer, _ = server_with(invite)
    assert layer.receive(invite, CLIENT, reliable=False, now=0.1) == []
    assert sent(layer) == []


@pytest.mark.parametrize("reliable", [False, True])
def test_timer_g_retransmits_the_final_until_timer_h(reliable: bool) -> None:
    invite = request()
    layer, transaction = server_with(invite, reliable=reliable)
    busy = make_response(invite, 486, to_tag="callee")
    layer.respond(transaction, busy, now=1.0)
    assert sent(layer) == [busy]
    assert transaction.state == "Completed"

    log = fire_until(layer, 100.0)

    expected = [] if reliable else [1.5, 2.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5, 32.5]
    assert transmissions(log) == expected
    assert all(message == busy for _, _, messages in log for message in messages)
    assert log[-1][0] == 33.0
    assert log[-1][1] == [TransactionTimeout(transaction), TransactionTerminated(transaction)]


@pytest.mark.parametrize(("reliable", "timer_i"), [(False, 5.0), (True, 0.0)])
def test_ack_confirms_the_invite_server_transaction_and_stops_timer_g(
    reliable: bool, timer_i: float
) -> None:
    invite = request()
    layer, transaction = server_with(invite, reliable=reliable)
    busy = make_response(invite, 486, to_tag="callee")
    layer.respond(transaction, busy, now=0.0)
    sent(layer)
    client = TransactionLayer()
    client.send_request(invite, SERVER, reliable=reliable, now=0.0)
    client.receive(busy, SERVER, reliable=reliable, now=0.0)
    [ack] = [message for message in sent(client) if isinstance(message, Request)][1:]

    assert layer.receive(ack, CLIENT, reliable=reliable, now=2.0) == []
    assert transaction.state == "Confirmed"
    assert layer.receive(ack, CLIENT, reliable=reliable, now=2.1) == []
    assert layer.receive(invite, CLIENT, reliable=reliable, now=2.2) == []

    log = fire_until(layer, 100.0)

    assert transmissions(log) == []
    assert [(time, events) for time, events, _ in log] == [
        (2.0 + timer_i, [TransactionTerminated(transaction)])
    ]


def test_retransmitted_invite_in_completed_gets_the_final_again() -> None:
    invite = request()
    layer, transaction = server_with(invite)
    busy = make_response(invite, 486, to_tag="callee")
    layer.respond(transaction, busy, now=0.0)
    sent(layer)
    assert layer.receive(invite, CLIENT, reliable=False, now=0.3) == []
    assert sent(layer) == [busy]


def test_2xx_is_retransmitted_until_the_ack_arrives() -> None:
    invite = request()
    layer, transaction = server_with(invite)
    ok = make_response(invite, 200, to_tag="callee", contact="<sip:2000@192.0.2.2>")
    layer.respond(transaction, ok, now=0.0)
    assert sent(layer) == [ok]
    assert transaction.state == "Terminated"

    assert transmissions(fire_until(layer, 8.0)) == [0.5, 1.5, 3.5, 7.5]
    # A retransmitted INVITE is answered with the 2xx, not passed up as a new call.
    assert layer.receive(invite, CLIENT, reliable=False, now=8.0) == []
    assert sent(layer) == [ok]

    dialog = Dialog.from_uac(invite, ok)
    ack = dialog.create_ack()
    events = layer.receive(ack, CLIENT, reliable=False, now=9.0)

    assert events == [RequestReceived(ack, CLIENT, None), TransactionTerminated(transaction)]
    assert fire_until(layer, 100.0) == []
    assert layer.transaction_count == 0


@pytest.mark.parametrize("reliable", [False, True])
def test_2xx_without_ack_times_out_after_64_t1(reliable: bool) -> None:
    invite = request()
    layer, transaction = server_with(invite, reliable=reliable)
    ok = make_response(invite, 200, to_tag="callee", contact="<sip:2000@192.0.2.2>")
    layer.respond(transaction, ok, now=0.0)
    sent(layer)

    log = fire_until(layer, 100.0)

    expected = [] if reliable else [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert transmissions(log) == expected
    assert log[-1][0] == 32.0
    assert log[-1][1] == [TransactionTimeout(transaction), TransactionTerminated(transaction)]


def test_ack_of_an_unknown_2xx_is_passed_up() -> None:
    layer = TransactionLayer()
    ack = request("ACK").replace_header("To", "<sip:2000@example.com>;tag=x")
    assert layer.receive(ack, CLIENT, reliable=False, now=0.0) == [
        RequestReceived(ack, CLIENT, None)
    ]


def test_non_invite_server_absorbs_retransmissions_and_resends_the_last_response() -> None:
    options = request("OPTIONS")
    layer, transaction = server_with(options)
    assert transaction.state == "Trying"
    assert layer.receive(options, CLIENT, reliable=False, now=0.1) == []
    assert sent(layer) == []  # nothing to resend yet

    trying = make_response(options, 100)
    layer.respond(transaction, trying, now=0.2)
    assert transaction.state == "Proceeding"
    assert layer.receive(options, CLIENT, reliable=False, now=0.3) == []
    assert sent(layer) == [trying, trying]

    ok = make_response(options, 200, to_tag="callee")
    layer.respond(transaction, ok, now=0.4)
    assert transaction.state == "Completed"
    assert layer.receive(options, CLIENT, reliable=False, now=0.5) == []
    assert sent(layer) == [ok, ok]


@pytest.mark.parametrize(("reliable", "timer_j"), [(False, 32.0), (True, 0.0)])
def test_timer_j_ends_the_completed_non_invite_server_transaction(
    reliable: bool, timer_j: float
) -> None:
    options = request("OPTIONS")
    layer, transaction = server_with(options, reliable=reliable)
    layer.respond(transaction, make_response(options, 200, to_tag="t"), now=1.0)
    sent(layer)

    log = fire_until(layer, 100.0)

    assert transmissions(log) == []
    assert [(time, events) for time, events, _ in log] == [
        (1.0 + timer_j, [TransactionTerminated(transaction)])
    ]
    # Once forgotten, the same request is new again.
    [event] = layer.receive(options, CLIENT, reliable=reliable, now=100.0)
    assert isinstance(event, RequestReceived)
    assert event.transaction is not transaction


def test_respond_refuses_a_second_final_response() -> None:
    options = request("OPTIONS")
    layer, transaction = server_with(options)
    layer.respond(transaction, make_response(options, 200, to_tag="t"), now=0.0)
    with pytest.raises(TransactionError, match="Completed"):
        layer.respond(transaction, make_response(options, 500, to_tag="t"), now=0.1)


def test_respond_refuses_a_response_to_another_request() -> None:
    options = request("OPTIONS")
    layer, transaction = server_with(options)
    with pytest.raises(TransactionError, match="does not belong"):
        layer.respond(transaction, make_response(request("OPTIONS", cseq=7), 200), now=0.0)


# -- matching ---------------------------------------------------------------------------------


def test_cancel_gets_its_own_server_transaction() -> None:
    invite = request()
    layer, invite_transaction = server_with(invite)
    cancel = make_cancel(invite)

    [event] = layer.receive(cancel, CLIENT, reliable=False, now=0.1)

    assert isinstance(event, RequestReceived)
    cancel_transaction = event.transaction
    assert cancel_transaction is not None
    assert cancel_transaction is not invite_transaction
    assert layer.cancel_target(cancel) is invite_transaction
    layer.respond(cancel_transaction, make_response(cancel, 200, to_tag="callee"), now=0.1)
    assert invite_transaction.state == "Proceeding"
    terminated = make_response(invite, 487, to_tag="callee")
    layer.respond(invite_transaction, terminated, now=0.1)
    assert invite_transaction.state == "Completed"


def test_requests_match_on_sent_by_as_well_as_branch() -> None:
    invite = request()
    layer, _ = server_with(invite)
    elsewhere = invite.replace_header(
        "Via", (invite.header("Via") or "").replace("192.0.2.1:5070", "192.0.2.77:5070")
    )
    [event] = layer.receive(elsewhere, ("192.0.2.77", 5070), reliable=False, now=0.1)
    assert isinstance(event, RequestReceived)
    assert layer.transaction_count == 2


def test_rfc_2543_requests_match_without_a_branch() -> None:
    invite = legacy_request()
    layer, transaction = server_with(invite)
    assert transaction.branch == ""
    busy = make_response(invite, 486, to_tag="callee")
    layer.respond(transaction, busy, now=0.0)
    sent(layer)

    # The same INVITE again is a retransmission, answered with the final response.
    assert layer.receive(invite, CLIENT, reliable=False, now=0.3) == []
    assert sent(layer) == [busy]

    # Another From tag is another request.
    [other] = layer.receive(legacy_request(from_tag="other"), CLIENT, reliable=False, now=0.4)
    assert isinstance(other, RequestReceived)
    assert other.transaction is not transaction


def test_rfc_2543_ack_matches_by_the_to_tag_of_the_response_sent() -> None:
    invite = legacy_request()
    layer, transaction = server_with(invite)
    layer.respond(transaction, make_response(invite, 486, to_tag="callee"), now=0.0)
    ack = dataclasses.replace(
        invite,
        method="ACK",
        headers=tuple(
            Header("CSeq", "1 ACK") if item.key == "cseq" else item for item in invite.headers
        ),
    )

    wrong_tag = ack.replace_header("To", "<sip:2000@example.com>;tag=someone-else")
    assert layer.receive(wrong_tag, CLIENT, reliable=False, now=0.5) == [
        RequestReceived(wrong_tag, CLIENT, None)
    ]
    assert transaction.state == "Completed"

    right_tag = ack.replace_header("To", "<sip:2000@example.com>;tag=callee")
    assert layer.receive(right_tag, CLIENT, reliable=False, now=0.6) == []
    assert transaction.state == "Confirmed"


def test_rfc_2543_cancel_gets_its_own_transaction_and_finds_the_invite() -> None:
    invite = legacy_request()
    layer, invite_transaction = server_with(invite)
    cancel = make_cancel(invite)
    [event] = layer.receive(cancel, CLIENT, reliable=False, now=0.1)
    assert isinstance(event, RequestReceived)
    assert event.transaction is not invite_transaction
    assert layer.cancel_target(cancel) is invite_transaction


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (request().without_header("Via"), "missing Via"),
        (request().without_header("CSeq"), "missing CSeq"),
        (request().replace_header("CSeq", "1 BYE"), "does not match"),
        (request().replace_header("Via", "nonsense"), "Via"),
    ],
)
def test_messages_the_layer_cannot_place_are_reported(message: Request, reason: str) -> None:
    [event] = TransactionLayer().receive(message, CLIENT, reliable=False, now=0.0)
    assert isinstance(event, MalformedMessage)
    assert reason in event.reason


def test_timers_reject_nonsense_values() -> None:
    with pytest.raises(ValueError, match=r"Timers\.t1"):
        Timers(t1=0)
    with pytest.raises(ValueError, match="t2"):
        Timers(t1=1.0, t2=0.5)


def test_a_late_timer_call_fires_what_is_due_in_deadline_order() -> None:
    layer = TransactionLayer()
    transaction = layer.send_request(request(), SERVER, reliable=False, now=0.0)
    sent(layer)
    events = layer.handle_timer(40.0)
    assert events == [TransactionTimeout(transaction), TransactionTerminated(transaction)]
    assert layer.next_timer() is None


# -- a client and a server over a lossy link --------------------------------------------------


class Link:
    """Two transaction layers wired back to back; drops the messages whose index is listed."""

    def __init__(self, drop: set[int], reliable: bool = False) -> None:
        self.client = TransactionLayer()
        self.server = TransactionLayer()
        self.drop = drop
        self.reliable = reliable
        self.count = 0
        self.now = 0.0
        self.client_events: list[Event] = []
        self.server_events: list[Event] = []
        self.on_server: Callable[[Event], None] = lambda event: None
        self.on_client: Callable[[Event], None] = lambda event: None

    def deliver(self) -> None:
        moved = True
        while moved:
            moved = False
            for layer, peer, source in (
                (self.client, self.server, CLIENT),
                (self.server, self.client, SERVER),
            ):
                for message, _ in layer.messages_to_send():
                    moved = True
                    index, self.count = self.count, self.count + 1
                    if index in self.drop:
                        continue
                    self.dispatch(
                        peer, peer.receive(message, source, reliable=self.reliable, now=self.now)
                    )

    def dispatch(self, layer: TransactionLayer, events: list[Event]) -> None:
        for event in events:
            if layer is self.client:
                self.client_events.append(event)
                self.on_client(event)
            else:
                self.server_events.append(event)
                self.on_server(event)

    def run(self, until: float) -> None:
        self.deliver()
        while True:
            deadlines = [
                d for d in (self.client.next_timer(), self.server.next_timer()) if d is not None
            ]
            if not deadlines or min(deadlines) > until:
                return
            self.now = min(deadlines)
            for layer in (self.client, self.server):
                self.dispatch(layer, layer.handle_timer(self.now))
            self.deliver()


def finals(events: list[Event]) -> list[int]:
    return [
        event.response.status
        for event in events
        if isinstance(event, ResponseReceived) and event.response.status >= 200
    ]


def requests_seen(events: list[Event], method: str) -> int:
    return sum(isinstance(e, RequestReceived) and e.request.method == method for e in events)


def timeouts(link: Link) -> list[Event]:
    return [e for e in link.client_events + link.server_events if isinstance(e, TransactionTimeout)]


@pytest.mark.parametrize("drop", [set(), {0}, {0, 1, 2}, {1}, {1, 2, 3}, {0, 2, 4}])
def test_non_invite_survives_a_lossy_link(drop: set[int]) -> None:
    link = Link(drop)
    options = request("OPTIONS")

    def answer(event: Event) -> None:
        if isinstance(event, RequestReceived) and event.transaction is not None:
            response = make_response(event.request, 200, to_tag="callee")
            link.server.respond(event.transaction, response, now=link.now)

    link.on_server = answer
    link.client.send_request(options, SERVER, reliable=False, now=0.0)
    link.run(until=100.0)

    assert finals(link.client_events) == [200]
    assert requests_seen(link.server_events, "OPTIONS") == 1
    assert timeouts(link) == []
    assert link.client.transaction_count == link.server.transaction_count == 0


@pytest.mark.parametrize("drop", [set(), {0}, {0, 1}, {1}, {2}, {1, 2, 3}])
def test_rejected_invite_survives_a_lossy_link(drop: set[int]) -> None:
    link = Link(drop)
    invite = request()

    def answer(event: Event) -> None:
        if isinstance(event, RequestReceived) and event.transaction is not None:
            response = make_response(event.request, 486, to_tag="callee")
            link.server.respond(event.transaction, response, now=link.now)

    link.on_server = answer
    link.client.send_request(invite, SERVER, reliable=False, now=0.0)
    link.run(until=100.0)

    assert finals(link.client_events) == [486]
    assert requests_seen(link.server_events, "INVITE") == 1
    assert requests_seen(link.server_events, "ACK") == 0  # the ACK stays in the transaction
    assert timeouts(link) == []
    assert link.client.transaction_count == link.server.transaction_count == 0


@pytest.mark.parametrize("drop", [set(), {0}, {1}, {2}, {1, 2}, {2, 3, 4}, {0, 1, 2, 3}])
def test_accepted_invite_survives_a_lossy_link(drop: set[int]) -> None:
    link = Link(drop)
    invite = request()
    dialogs: list[Dialog] = []

    def answer(event: Event) -> None:
        if isinstance(event, RequestReceived) and event.transaction is not None:
            response = make_response(
                event.request, 200, to_tag="callee", contact="<sip:2000@192.0.2.2:5060>"
            )
            link.server.respond(event.transaction, response, now=link.now)

    def acknowledge(event: Event) -> None:
        # The UAC core: ACK the 2xx, and ACK each retransmission of it again.
        if isinstance(event, ResponseReceived) and event.response.status == 200:
            dialogs.append(Dialog.from_uac(invite, event.response))
            link.client.send_stateless(dialogs[0].create_ack(), SERVER)
        elif isinstance(event, StrayResponse) and dialogs:
            link.client.send_stateless(dialogs[0].create_ack(event.response.cseq[0]), SERVER)

    link.on_server = answer
    link.on_client = acknowledge
    link.client.send_request(invite, SERVER, reliable=False, now=0.0)
    link.run(until=100.0)

    assert finals(link.client_events) == [200]
    assert requests_seen(link.server_events, "INVITE") == 1
    # Every ACK of a 2xx goes up (the dialog ignores repeats): a lost 2xx can bring two.
    assert requests_seen(link.server_events, "ACK") >= 1
    assert timeouts(link) == []
    assert link.client.transaction_count == link.server.transaction_count == 0


def test_unanswered_invite_gets_100_trying_and_then_waits_for_the_tu() -> None:
    link = Link(set(), reliable=True)
    link.client.send_request(request(), SERVER, reliable=True, now=0.0)
    link.run(until=1000.0)
    # An INVITE client transaction in Proceeding has no timer (§17.1.1.2): its TU ends it
    # with a CANCEL. So after the 100 Trying nothing more happens on either side.
    statuses = [e.response.status for e in link.client_events if isinstance(e, ResponseReceived)]
    assert statuses == [100]
    assert timeouts(link) == []
    assert link.count == 2
