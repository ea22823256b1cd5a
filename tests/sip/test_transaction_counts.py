"""What the transaction layer counts as in progress (the 503 bound) and as completed (memory).

A completed transaction only absorbs retransmissions with its cached response; it is held up to
64*T1 on UDP, so at a steady call rate thousands are held with nothing in progress.
"""

from __future__ import annotations

import dataclasses
import gc

from harness.sip.builder import make_response, new_request
from harness.sip.message import Request, parse_message
from harness.sip.transaction import (
    Peer,
    RequestReceived,
    ServerTransaction,
    TransactionLayer,
)

CLIENT: Peer = ("192.0.2.1", 5070)
#: The bound the voicemail server puts on transactions in progress.
BOUND = 5000


def request(method: str, number: int) -> Request:
    return new_request(
        method,
        "sip:2000@192.0.2.2",
        from_address="<sip:1000@example.com>",
        to_address="<sip:2000@example.com>",
        local=CLIENT,
        call_id=f"call-{number}",
        cseq=2 if method == "BYE" else 1,
        from_tag="caller",
    )


def open_transaction(layer: TransactionLayer, message: Request, now: float) -> ServerTransaction:
    [event] = layer.receive(message, CLIENT, reliable=False, now=now)
    assert isinstance(event, RequestReceived)
    assert event.transaction is not None
    return event.transaction


def answer_byes(
    layer: TransactionLayer, count: int, *, start: float, every: float
) -> list[Request]:
    """``count`` BYEs received and answered 200 at once, one each ``every`` seconds."""
    byes = []
    for number in range(count):
        now = start + number * every
        bye = request("BYE", number)
        transaction = open_transaction(layer, bye, now)
        layer.respond(transaction, make_response(bye, 200, to_tag="callee"), now=now)
        byes.append(bye)
    layer.messages_to_send()
    return byes


def test_6000_answered_byes_within_32_s_leave_nothing_in_progress() -> None:
    layer = TransactionLayer()
    byes = answer_byes(layer, 6000, start=0.0, every=0.005)

    # All held (30 s of BYEs at 200/s, none past Timer J) to absorb retransmissions...
    assert layer.handle_timer(30.0) == []
    assert layer.transaction_count == 6000
    assert layer.completed_count == 6000
    # ...yet none counts toward the bound, so a new INVITE is not refused.
    assert layer.in_progress_count == 0
    assert layer.in_progress_count < BOUND
    # The first BYE's retransmission still gets its 200.
    assert layer.receive(byes[0], CLIENT, reliable=False, now=30.0) == []
    [(answer, destination)] = layer.messages_to_send()
    assert destination == CLIENT
    assert getattr(answer, "status", None) == 200


def test_5001_unanswered_invites_are_all_in_progress() -> None:
    layer = TransactionLayer()
    answer_byes(layer, 1000, start=0.0, every=0.001)
    for number in range(BOUND + 1):
        open_transaction(layer, request("INVITE", 10_000 + number), now=1.0)

    assert layer.in_progress_count == BOUND + 1
    assert layer.in_progress_count >= BOUND
    assert layer.completed_count == 1000


def test_answered_invites_count_until_acked_and_rejected_ones_until_acked() -> None:
    layer = TransactionLayer()
    accepted_invite = request("INVITE", 1)
    accepted = open_transaction(layer, accepted_invite, now=0.0)
    ok = make_response(accepted_invite, 200, to_tag="callee")
    layer.respond(accepted, ok, now=0.1)
    rejected_invite = request("INVITE", 2)
    rejected = open_transaction(layer, rejected_invite, now=0.0)
    busy = make_response(rejected_invite, 486, to_tag="callee")
    layer.respond(rejected, busy, now=0.1)

    # Both finals are re-sent on a timer until their ACK: still work in progress.
    assert layer.in_progress_count == 2

    layer.receive(new_ack(accepted_invite, "callee"), CLIENT, reliable=False, now=0.2)
    layer.receive(new_ack(rejected_invite, "callee"), CLIENT, reliable=False, now=0.2)

    assert layer.in_progress_count == 0
    # The rejected INVITE is Confirmed (Timer I absorbs ACK retransmissions); the accepted
    # one is gone.
    assert (layer.transaction_count, layer.completed_count) == (1, 1)


def new_ack(invite: Request, to_tag: str) -> Request:
    ack = invite.replace_header("CSeq", "1 ACK").replace_header(
        "To", f"<sip:2000@example.com>;tag={to_tag}"
    )
    return dataclasses.replace(ack, method="ACK")


def test_completed_transactions_beyond_the_memory_bound_are_dropped_oldest_first() -> None:
    layer = TransactionLayer(max_completed=100)
    byes = answer_byes(layer, 150, start=0.0, every=0.01)

    assert layer.completed_count == 100
    assert layer.transaction_count == 100
    # The newest still answers its retransmission from the cache...
    assert layer.receive(byes[-1], CLIENT, reliable=False, now=2.0) == []
    assert len(layer.messages_to_send()) == 1
    # ...the oldest is forgotten: its retransmission is a new request for the TU.
    [event] = layer.receive(byes[0], CLIENT, reliable=False, now=2.0)
    assert isinstance(event, RequestReceived)
    # Timer J ends the 100 held; those dropped earlier fire nothing.
    assert len(layer.handle_timer(100.0)) == 100
    assert layer.transaction_count == layer.in_progress_count == 1


def test_held_byes_cost_the_garbage_collector_almost_nothing_and_still_answer() -> None:
    layer = TransactionLayer()
    held = 5000
    received: list[bytes] = []
    answered: list[bytes] = []
    gc.collect()
    tracked_before = len(gc.get_objects())
    for number in range(held):
        # As off the wire: a parsed BYE, answered 200 at 200 calls/s.
        bye = parse_message(request("BYE", number).to_bytes())
        assert isinstance(bye, Request)
        transaction = open_transaction(layer, bye, now=number * 0.005)
        layer.respond(transaction, make_response(bye, 200, to_tag="callee"), now=number * 0.005)
        [(answer, _)] = layer.messages_to_send()
        received.append(bye.to_bytes())
        answered.append(answer.to_bytes())
    del bye, transaction, answer
    gc.collect()
    gc.collect()
    grown = len(gc.get_objects()) - tracked_before

    assert layer.completed_count == held
    # Each held BYE transaction was some 21 objects for every full collection to walk.
    assert grown <= 2 * held
    # Every one still answers its retransmission with its 200, byte for byte.
    for number in (0, held // 2, held - 1):
        again = parse_message(received[number])
        assert layer.receive(again, CLIENT, reliable=False, now=30.0) == []
        [(answer, destination)] = layer.messages_to_send()
        assert destination == CLIENT
        assert answer.to_bytes() == answered[number]


def test_a_held_transaction_still_shows_its_request_and_final_response() -> None:
    bye = request("BYE", 1)
    layer = TransactionLayer()
    transaction = open_transaction(layer, bye, now=0.0)
    ok = make_response(bye, 200, to_tag="callee")
    layer.respond(transaction, ok, now=0.0)

    assert transaction.state == "Completed"
    assert transaction.request == bye
    assert transaction.request.to_bytes() == bye.to_bytes()
    assert transaction.last_response == ok
    assert transaction.last_response is not None
    assert transaction.last_response.to_bytes() == ok.to_bytes()
