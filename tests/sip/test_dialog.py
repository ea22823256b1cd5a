"""RFC 3261 §12 dialogs: creation on both sides, route sets, CSeq, in-dialog requests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.sip.address import Address
from harness.sip.builder import make_response, new_request
from harness.sip.dialog import (
    Dialog,
    DialogError,
    dialog_id_of_request,
    dialog_id_of_response,
)
from harness.sip.message import Request, Response, parse_message
from harness.sip.uri import URI
from harness.sip.via import MAGIC_COOKIE, Via

ALICE = ("192.0.2.1", 5070)
BOB = ("192.0.2.2", 5060)
PROXIES = ("<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>")


def invite(record_route: tuple[str, ...] = PROXIES, cseq: int = 41) -> Request:
    built = new_request(
        "INVITE",
        "sip:bob@example.com",
        from_address='"Alice" <sip:alice@example.com>',
        to_address="<sip:bob@example.com>",
        local=ALICE,
        call_id="call-7",
        cseq=cseq,
        from_tag="alice-tag",
        contact="<sip:alice@192.0.2.1:5070>",
    )
    # As received by Bob: the proxies have added their Record-Route, first proxy last.
    return built.with_headers(*(("Record-Route", route) for route in record_route))


def ok(request: Request, status: int = 200) -> Response:
    return make_response(request, status, to_tag="bob-tag", contact="<sip:bob@192.0.2.2:5060>")


def uac(record_route: tuple[str, ...] = PROXIES) -> Dialog:
    request = invite(record_route)
    return Dialog.from_uac(request, ok(request))


def uas(record_route: tuple[str, ...] = PROXIES) -> Dialog:
    request = invite(record_route)
    return Dialog.from_uas(request, ok(request), local=BOB)


def reparsed(request: Request) -> Request:
    """The request after a trip through the codec, with each structured header re-read."""
    again = parse_message(request.to_bytes())
    assert isinstance(again, Request)
    for name in ("From", "To", "Contact", "Route"):
        for value in again.header_values(name):
            Address.parse(value)
    for value in again.header_values("Via"):
        Via.parse(value)
    URI.parse(again.uri)
    return again


def test_uac_dialog_from_a_2xx() -> None:
    dialog = uac()
    assert dialog.id == ("call-7", "alice-tag", "bob-tag")
    assert str(dialog.remote_target) == "sip:bob@192.0.2.2:5060"
    assert [str(route.uri) for route in dialog.route_set] == [
        "sip:p2.example.com;lr",
        "sip:p1.example.com;lr",
    ]
    assert (dialog.local_cseq, dialog.remote_cseq) == (41, None)
    assert str(dialog.local_uri) == "sip:alice@example.com"
    assert str(dialog.remote_uri) == "sip:bob@example.com"
    assert dialog.local_address.tag is None
    assert not dialog.early
    assert not dialog.secure


def test_uas_dialog_from_the_request() -> None:
    dialog = uas()
    assert dialog.id == ("call-7", "bob-tag", "alice-tag")
    assert str(dialog.remote_target) == "sip:alice@192.0.2.1:5070"
    assert [str(route.uri) for route in dialog.route_set] == [
        "sip:p1.example.com;lr",
        "sip:p2.example.com;lr",
    ]
    assert (dialog.local_cseq, dialog.remote_cseq) == (None, 41)
    assert dialog.local_address.display_name is None
    assert dialog.remote_address.display_name == "Alice"


def test_both_sides_agree_on_the_dialog_id_of_messages() -> None:
    request = invite()
    response = ok(request)
    caller = Dialog.from_uac(request, response)
    callee = Dialog.from_uas(request, response, local=BOB)
    assert dialog_id_of_response(response) == caller.id
    assert dialog_id_of_request(caller.create_request("BYE")) == callee.id


def test_in_dialog_request_with_loose_routing() -> None:
    dialog = uac()
    bye = dialog.create_request("BYE")

    assert bye.method == "BYE"
    assert bye.uri == "sip:bob@192.0.2.2:5060"
    assert bye.header_values("Route") == ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
    assert bye.cseq == (42, "BYE")
    assert bye.call_id == "call-7"
    assert Address.parse(bye.header("From") or "").tag == "alice-tag"
    assert Address.parse(bye.header("To") or "").tag == "bob-tag"
    assert bye.header("Max-Forwards") == "70"
    assert not bye.has("Contact")
    via = Via.parse(bye.header("Via") or "")
    assert (via.transport, via.host, via.port) == ("UDP", "192.0.2.1", 5070)
    assert (via.branch or "").startswith(MAGIC_COOKIE)
    assert via.param("rport") == ""
    assert reparsed(bye).without_header("Content-Length") == bye


def test_each_request_gets_the_next_cseq_and_a_new_branch() -> None:
    dialog = uac()
    first = dialog.create_request("INFO", body=b"x", content_type="text/plain")
    second = dialog.create_request("BYE")
    assert (first.cseq, second.cseq) == ((42, "INFO"), (43, "BYE"))
    assert (
        Via.parse(first.header("Via") or "").branch != Via.parse(second.header("Via") or "").branch
    )
    assert dialog.local_cseq == 43


def test_uas_side_starts_its_own_cseq() -> None:
    dialog = uas()
    notify = dialog.create_request("NOTIFY")
    assert notify.cseq == (1, "NOTIFY")
    assert notify.uri == "sip:alice@192.0.2.1:5070"
    assert notify.header_values("Route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert Address.parse(notify.header("From") or "").tag == "bob-tag"
    assert Address.parse(notify.header("To") or "").tag == "alice-tag"
    # NOTIFY refreshes the target (RFC 6665), so it carries our Contact.
    assert notify.header("Contact") == "<sip:bob@192.0.2.2:5060>"
    assert Via.parse(notify.header("Via") or "").host == "192.0.2.2"
    reparsed(notify)


def test_in_dialog_request_with_strict_routing() -> None:
    dialog = uac(
        record_route=(
            "<sip:p1.example.com;lr>",
            "<sip:strict.example.com;maddr=10.0.0.1;method=INVITE>",
        )
    )
    # Reversed for the UAC: the strict router comes first.
    bye = dialog.create_request("BYE")
    assert bye.uri == "sip:strict.example.com;maddr=10.0.0.1"
    assert bye.header_values("Route") == [
        "<sip:p1.example.com;lr>",
        "<sip:bob@192.0.2.2:5060>",
    ]
    reparsed(bye)


def test_no_route_set_means_no_route_headers() -> None:
    dialog = uac(record_route=())
    bye = dialog.create_request("BYE")
    assert bye.uri == "sip:bob@192.0.2.2:5060"
    assert not bye.has("Route")


def test_ack_of_a_2xx_carries_the_invite_cseq() -> None:
    dialog = uac()
    dialog.create_request("INFO")
    ack = dialog.create_ack()
    assert ack.method == "ACK"
    assert ack.cseq == (41, "ACK")
    assert ack.uri == "sip:bob@192.0.2.2:5060"
    assert ack.header_values("Route") == ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
    assert dialog.local_cseq == 42
    reinvite = dialog.create_request("INVITE")
    assert dialog.create_ack().cseq == (reinvite.cseq[0], "ACK")
    assert reinvite.header("Contact") == "<sip:alice@192.0.2.1:5070>"
    assert dialog.create_ack(41).cseq == (41, "ACK")


def test_ack_needs_an_invite() -> None:
    with pytest.raises(DialogError, match="no INVITE"):
        uas().create_ack()


@pytest.mark.parametrize("method", ["ACK", "CANCEL"])
def test_create_request_refuses_ack_and_cancel(method: str) -> None:
    with pytest.raises(DialogError, match=method):
        uac().create_request(method)


def test_remote_cseq_lower_is_out_of_order() -> None:
    caller = uac()
    callee = uas()
    first = caller.create_request("INFO")
    second = caller.create_request("INFO")

    assert callee.receive_request(second) is True
    assert callee.remote_cseq == 43
    assert callee.receive_request(first) is False  # the caller answers 500
    assert callee.remote_cseq == 43


def test_ack_and_cancel_do_not_move_the_remote_cseq() -> None:
    caller = uac()
    callee = uas()
    caller.create_request("INFO")
    callee.receive_request(caller.create_request("INFO"))
    assert callee.receive_request(caller.create_ack()) is True
    assert callee.remote_cseq == 43


def test_target_refresh_updates_the_remote_target() -> None:
    caller = uac()
    callee = uas()
    reinvite = caller.create_request("INVITE").replace_header(
        "Contact", "<sip:alice@198.51.100.5:5080>"
    )
    assert callee.receive_request(reinvite)
    assert str(callee.remote_target) == "sip:alice@198.51.100.5:5080"

    info = caller.create_request("INFO").with_header("Contact", "<sip:alice@203.0.113.1>")
    callee.receive_request(info)
    assert str(callee.remote_target) == "sip:alice@198.51.100.5:5080"


def test_request_of_another_dialog_is_refused() -> None:
    caller = uac()
    stranger = caller.create_request("BYE").replace_header("Call-ID", "other")
    with pytest.raises(DialogError, match="does not belong"):
        uas().receive_request(stranger)


def test_early_dialog_is_confirmed_by_the_2xx_and_takes_its_route_set() -> None:
    request = invite()
    ringing = make_response(request, 180, to_tag="bob-tag", contact="<sip:bob@192.0.2.2:5060>")
    dialog = Dialog.from_uac(request, ringing)
    assert dialog.early

    final = make_response(
        request.without_header("Record-Route").with_header(
            "Record-Route", "<sip:p9.example.com;lr>"
        ),
        200,
        to_tag="bob-tag",
        contact="<sip:bob@192.0.2.99>",
    )
    dialog.receive_response(final)

    assert not dialog.early
    assert [str(route) for route in dialog.route_set] == ["<sip:p9.example.com;lr>"]
    assert str(dialog.remote_target) == "sip:bob@192.0.2.99"


def test_uas_early_dialog_is_confirmed_when_it_answers() -> None:
    request = invite()
    ringing = make_response(request, 180, to_tag="bob-tag", contact="<sip:bob@192.0.2.2>")
    dialog = Dialog.from_uas(request, ringing, local=BOB)
    assert dialog.early
    dialog.confirm()
    assert not dialog.early


@pytest.mark.parametrize(
    ("response_of", "reason"),
    [
        (lambda r: make_response(r, 100), "only 101-299"),
        (lambda r: make_response(r, 486, to_tag="x"), "only 101-299"),
        (lambda r: make_response(r, 200, to_tag="x"), "no Contact"),
        (
            lambda r: make_response(r, 200, contact="<sip:b@h>").replace_header(
                "To", "<sip:bob@example.com>"
            ),
            "no To tag",
        ),
    ],
)
def test_responses_that_cannot_make_a_uac_dialog(
    response_of: Callable[[Request], Response], reason: str
) -> None:
    request = invite()
    with pytest.raises(DialogError, match=reason):
        Dialog.from_uac(request, response_of(request))


def test_uas_dialog_needs_the_request_contact() -> None:
    request = invite().without_header("Contact")
    with pytest.raises(DialogError, match="received INVITE has no Contact"):
        Dialog.from_uas(request, ok(request), local=BOB)


def test_secure_only_for_sips_over_tls() -> None:
    request = new_request(
        "INVITE",
        "sips:bob@example.com",
        from_address="<sips:alice@example.com>",
        to_address="<sips:bob@example.com>",
        local=ALICE,
        transport="TLS",
    )
    assert Dialog.from_uac(request, ok(request)).secure
    plain = invite()
    assert not Dialog.from_uac(plain, ok(plain)).secure


def test_ipv6_dialog_requests_parse_back() -> None:
    request = invite()
    dialog = Dialog.from_uas(request, ok(request), local=("2001:db8::2", 5060), transport="tcp")
    bye = reparsed(dialog.create_request("BYE"))
    via = Via.parse(bye.header("Via") or "")
    assert (via.transport, via.host, via.port) == ("TCP", "[2001:db8::2]", 5060)
