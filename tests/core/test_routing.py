"""Routing core: each header convention applied by the proxy resolves back to the same mailbox."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.core.mailbox import MailboxId
from harness.core.routing import (
    CONVENTIONS,
    DEFAULT_CHAIN,
    Convention,
    Reason,
    Redirect,
    Resolution,
    Routed,
    Router,
    RoutingError,
    convention,
)
from harness.sip.builder import new_request
from harness.sip.message import Request, parse_message
from harness.sip.uri import URI

VOICEMAIL = URI(scheme="sip", host="192.0.2.10", port=5070)
#: Conventions whose headers carry the redirect reason.
WITH_REASON = ("diversion", "history-info", "rfc4458")
#: Conventions whose headers carry the voicemail context too.
WITH_CONTEXT = ("x-voicemail",)


def invite(
    uri: str = "sip:2000@pbx.example.com",
    *,
    headers: tuple[tuple[str, str], ...] = (),
    to: str = "<sip:2000@pbx.example.com>",
) -> Request:
    """An INVITE as a phone sends it to the proxy: Alice calls 2000, with an SDP offer."""
    return new_request(
        "INVITE",
        uri,
        from_address='"Alice" <sip:5551234@pbx.example.com>',
        to_address=to,
        local=("192.0.2.5", 5060),
        headers=headers,
        body=b"v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n",
        content_type="application/sdp",
    )


def on_the_wire(request: Request) -> Request:
    """What the voicemail server receives: the request serialised and parsed again."""
    parsed = parse_message(request.to_bytes())
    assert isinstance(parsed, Request)
    return parsed


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", sorted(CONVENTIONS))
@pytest.mark.parametrize("reason", list(Reason))
def test_apply_then_resolve_gives_back_mailbox_and_reason(name: Convention, reason: Reason) -> None:
    context = "from-proxy" if name in WITH_CONTEXT else "default"
    mailbox = MailboxId("2000", context)
    forwarded = CONVENTIONS[name].apply(
        invite(), Redirect(mailbox, reason, "pbx.example.com"), VOICEMAIL
    )

    found = CONVENTIONS[name].resolve(on_the_wire(forwarded), "default")

    assert found is not None
    assert found.mailbox == mailbox
    assert found.convention == name
    if name in WITH_REASON:
        assert found.reason is reason
        assert found.redirecting == "2000"
    else:
        assert found.reason is None
        assert found.redirecting is None


@pytest.mark.parametrize("name", sorted(CONVENTIONS))
def test_applied_request_is_addressed_to_the_voicemail_server(name: Convention) -> None:
    redirect = Redirect(MailboxId("2000"), Reason.USER_BUSY, "pbx.example.com")
    original = invite()

    forwarded = on_the_wire(CONVENTIONS[name].apply(original, redirect, VOICEMAIL))

    target = URI.parse(forwarded.uri)
    assert (target.host, target.port) == ("192.0.2.10", 5070)
    # Everything a UAS needs to answer is carried over untouched.
    for header in ("Via", "From", "Call-ID", "CSeq", "Contact"):
        assert forwarded.header(header) == original.header(header)
    assert forwarded.body == original.body
    assert forwarded.header("Content-Type") == "application/sdp"


@pytest.mark.parametrize("name", sorted(CONVENTIONS))
def test_router_of_one_convention_resolves_what_it_applied(name: Convention) -> None:
    redirect = Redirect(MailboxId("2000"), Reason.NO_ANSWER, "pbx.example.com")
    forwarded = on_the_wire(CONVENTIONS[name].apply(invite(), redirect, VOICEMAIL))

    found = Router.of([name]).resolve(forwarded)

    assert found is not None
    assert found.mailbox == MailboxId("2000")


@pytest.mark.parametrize("name", sorted(set(CONVENTIONS) - {"to"}))
def test_default_router_reads_every_convention_but_to(name: Convention) -> None:
    redirect = Redirect(MailboxId("2001"), Reason.USER_BUSY, "pbx.example.com")
    # The caller dialled 2000; the proxy forwards to voicemail box 2001.
    forwarded = on_the_wire(CONVENTIONS[name].apply(invite(), redirect, VOICEMAIL))

    found = Router().resolve(forwarded)

    assert found is not None
    assert (found.mailbox, found.convention) == (MailboxId("2001"), name)


def test_default_router_does_not_read_the_to_convention() -> None:
    redirect = Redirect(MailboxId("2001"), Reason.USER_BUSY, "pbx.example.com")
    forwarded = on_the_wire(CONVENTIONS[Convention.TO].apply(invite(), redirect, VOICEMAIL))

    assert "to" not in DEFAULT_CHAIN
    # The Request-URI names only the server, so nothing in the default chain names a box.
    assert Router().resolve(forwarded) is None


# --------------------------------------------------------------------------- X-Voicemail


def test_x_voicemail_headers_are_written_once_and_replace_stale_ones() -> None:
    stale = invite(headers=(("X-Voicemail-Mailbox", "9999"), ("X-Voicemail-Context", "old")))
    redirect = Redirect(MailboxId("2000", "sales"), Reason.UNAVAILABLE)

    forwarded = on_the_wire(CONVENTIONS[Convention.X_VOICEMAIL].apply(stale, redirect, VOICEMAIL))

    assert forwarded.header_values("X-Voicemail-Mailbox") == ["2000"]
    assert forwarded.header_values("X-Voicemail-Context") == ["sales"]
    assert URI.parse(forwarded.uri).user == "2000"


def test_x_voicemail_without_context_uses_the_default_context() -> None:
    request = invite(headers=(("X-Voicemail-Mailbox", " 2000 "),))

    found = CONVENTIONS[Convention.X_VOICEMAIL].resolve(request, "from-proxy")

    assert found == Resolution(MailboxId("2000", "from-proxy"), None, "x-voicemail")


def test_x_voicemail_absent_or_empty_is_not_this_convention() -> None:
    assert CONVENTIONS[Convention.X_VOICEMAIL].resolve(invite(), "default") is None
    empty = invite(headers=(("X-Voicemail-Mailbox", ""),))
    assert CONVENTIONS[Convention.X_VOICEMAIL].resolve(empty, "default") is None


def test_x_voicemail_with_a_bad_box_is_a_routing_error_naming_the_header() -> None:
    request = invite(headers=(("X-Voicemail-Mailbox", "20 00"),))

    with pytest.raises(RoutingError, match=r"X-Voicemail-Mailbox.*'20 00'"):
        CONVENTIONS[Convention.X_VOICEMAIL].resolve(request, "default")


# --------------------------------------------------------------------------- Diversion


def test_diversion_written_as_rfc_5806_shows_it() -> None:
    redirect = Redirect(MailboxId("2000"), Reason.NO_ANSWER, "pbx.example.com")

    forwarded = on_the_wire(CONVENTIONS[Convention.DIVERSION].apply(invite(), redirect, VOICEMAIL))

    assert forwarded.header("Diversion") == (
        "<sip:2000@pbx.example.com>;reason=no-answer;counter=1;privacy=off"
    )
    assert forwarded.uri == "sip:192.0.2.10:5070"


def test_diversion_is_added_on_top_of_earlier_diversions_and_keeps_via_first() -> None:
    earlier = invite(headers=(("Diversion", "<sip:3000@pbx.example.com>;reason=unconditional"),))
    redirect = Redirect(MailboxId("2000"), Reason.USER_BUSY, "pbx.example.com")

    forwarded = on_the_wire(CONVENTIONS[Convention.DIVERSION].apply(earlier, redirect, VOICEMAIL))

    assert forwarded.headers[0].name == "Via"
    values = forwarded.header_values("Diversion")
    assert len(values) == 2
    assert values[0].startswith("<sip:2000@pbx.example.com>;reason=user-busy")
    assert values[1] == "<sip:3000@pbx.example.com>;reason=unconditional"
    found = CONVENTIONS[Convention.DIVERSION].resolve(forwarded, "default")
    assert found is not None
    assert (found.mailbox.box, found.reason) == ("2000", Reason.USER_BUSY)


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param(
            (
                "Diversion: <sip:2000@pbx.example.com>;reason=user-busy;counter=1",
                "Diversion: <sip:3000@pbx.example.com>;reason=no-answer;counter=1",
            ),
            id="repeated-lines",
        ),
        pytest.param(
            (
                "Diversion: <sip:2000@pbx.example.com>;reason=user-busy;counter=1, "
                "<sip:3000@pbx.example.com>;reason=no-answer;counter=1",
            ),
            id="comma-list",
        ),
        pytest.param(
            (
                'Diversion: "Bob, Sales" <sip:2000@pbx.example.com>;reason="user-busy",'
                "sip:3000@pbx.example.com;reason=no-answer",
            ),
            id="quoted-comma-and-addr-spec",
        ),
        pytest.param(
            (
                "diversion: <sip:2000@pbx.example.com>;reason=USER-BUSY",
                "DIVERSION: <sip:3000@pbx.example.com>;reason=unconditional",
            ),
            id="odd-case",
        ),
    ],
)
def test_topmost_diversion_entry_wins(lines: tuple[str, ...]) -> None:
    wire = (
        "INVITE sip:192.0.2.10:5070 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\r\n"
        "From: <sip:5551234@pbx.example.com>;tag=1\r\n"
        "To: <sip:3000@pbx.example.com>\r\n"
        "Call-ID: c1\r\n"
        "CSeq: 1 INVITE\r\n"
        + "".join(f"{line}\r\n" for line in lines)
        + "Content-Length: 0\r\n\r\n"
    ).encode()
    request = parse_message(wire)
    assert isinstance(request, Request)

    found = CONVENTIONS[Convention.DIVERSION].resolve(request, "default")

    assert found == Resolution(MailboxId("2000"), Reason.USER_BUSY, "diversion", "2000")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<sip:2000@pbx.example.com>", Reason.UNKNOWN),
        ("<sip:2000@pbx.example.com>;reason=time-of-day", Reason.UNKNOWN),
        ("<sip:2000@pbx.example.com>;reason=send_to_vm", Reason.UNKNOWN),
        ("<sip:2000@pbx.example.com>;reason=deflection", Reason.DEFLECTION),
        ("<sip:2000@pbx.example.com>;reason=Unavailable", Reason.UNAVAILABLE),
    ],
)
def test_diversion_reason_tokens(value: str, expected: Reason) -> None:
    found = CONVENTIONS[Convention.DIVERSION].resolve(
        invite(headers=(("Diversion", value),)), "default"
    )

    assert found is not None
    assert found.reason is expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "<sip:2000@pbx.example.com",
            r"Diversion: unterminated <URI> at character 0 of '<sip:2000@pbx.example.com'",
        ),
        ("<sip:pbx.example.com>;reason=user-busy", r"Diversion: no user part"),
        ("<sip:+15551234@pbx.example.com>;reason=no-answer", r"Diversion .*'\+15551234'"),
        ("Bob <sip:2000@pbx.example.com>;;reason=user-busy", r"Diversion: empty parameter"),
        ("<mailto:2000@pbx.example.com>", r"Diversion: no user part"),
    ],
)
def test_malformed_diversion_raises_a_readable_routing_error(value: str, message: str) -> None:
    request = invite(headers=(("Diversion", value),))

    with pytest.raises(RoutingError, match=message):
        CONVENTIONS[Convention.DIVERSION].resolve(request, "default")


def test_diversion_reason_flag_without_value_reads_as_unknown() -> None:
    request = invite(headers=(("Diversion", "sip:2000@pbx.example.com;reason"),))

    found = CONVENTIONS[Convention.DIVERSION].resolve(request, "default")

    assert found == Resolution(MailboxId("2000"), Reason.UNKNOWN, "diversion", "2000")


def test_malformed_diversion_is_an_error_through_the_router_too() -> None:
    request = invite(headers=(("Diversion", "<sip:2000@pbx.example.com"),))

    with pytest.raises(RoutingError, match="Diversion"):
        Router().resolve(request)


# --------------------------------------------------------------------------- History-Info


def test_history_info_written_as_chan_pjsip_does() -> None:
    redirect = Redirect(MailboxId("2000"), Reason.USER_BUSY, "pbx.example.com")

    forwarded = on_the_wire(
        CONVENTIONS[Convention.HISTORY_INFO].apply(invite(), redirect, VOICEMAIL)
    )

    assert forwarded.header_values("History-Info") == [
        "<sip:2000@pbx.example.com?Reason=SIP%3Bcause%3D486>;index=1",
        "<sip:192.0.2.10:5070;cause=486>;index=1.1;mp=1",
    ]
    assert "histinfo" in forwarded.header_values("Supported")
    owner = forwarded.addresses("History-Info")[0]
    assert owner.uri.headers == (("Reason", "SIP;cause=486"),)


def test_history_info_keeps_existing_supported_tags_once() -> None:
    request = invite(headers=(("Supported", "replaces, histinfo, timer"),))
    redirect = Redirect(MailboxId("2000"), Reason.USER_BUSY)

    forwarded = on_the_wire(
        CONVENTIONS[Convention.HISTORY_INFO].apply(request, redirect, VOICEMAIL)
    )

    assert forwarded.header_values("Supported") == ["replaces", "timer", "histinfo"]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(
            "<sip:2000@pbx.example.com?Reason=SIP%3Bcause%3D486%3Btext%3D%22Busy%20Here%22>"
            ";index=1, <sip:vm@192.0.2.10;cause=486>;index=1.1;mp=1",
            id="two-entries-comma-list",
        ),
        pytest.param(
            "<sip:3000@pbx.example.com>;index=1,"
            "<sip:2000@pbx.example.com?Reason=SIP%3Bcause%3D486>;index=1.1;mp=1,"
            "<sip:vm@192.0.2.10;cause=486>;index=1.1.1;mp=1.1",
            id="three-entries-parent-by-mp",
        ),
        pytest.param(
            "<sip:2000@pbx.example.com?Reason=SIP%3Bcause%3D486>;index=1,"
            "<sip:2000@192.0.2.77>;index=1.1;rc=1,"
            "<sip:vm@192.0.2.10;cause=486>;index=1.2;mp=1",
            id="registered-contact-between",
        ),
        pytest.param(
            "<sip:2000@pbx.example.com>;index=1, <sip:vm@192.0.2.10;cause=486>;index=1.1",
            id="parent-from-dotted-index",
        ),
    ],
)
def test_history_info_owner_is_the_entry_the_caused_target_came_from(value: str) -> None:
    request = invite(headers=(("History-Info", value),))

    found = CONVENTIONS[Convention.HISTORY_INFO].resolve(request, "default")

    assert found == Resolution(MailboxId("2000"), Reason.USER_BUSY, "history-info", "2000")


def test_history_info_latest_retarget_with_a_cause_decides() -> None:
    # 3000 forwarded unconditionally to 2000, who was busy: the mailbox is 2000's.
    value = (
        "<sip:3000@pbx.example.com>;index=1,"
        "<sip:2000@pbx.example.com;cause=302>;index=1.1;mp=1,"
        "<sip:vm@192.0.2.10;cause=486>;index=1.1.1;mp=1.1"
    )

    found = CONVENTIONS[Convention.HISTORY_INFO].resolve(
        invite(headers=(("History-Info", value),)), "x"
    )

    assert found == Resolution(MailboxId("2000", "x"), Reason.USER_BUSY, "history-info", "2000")


def test_history_info_without_a_cause_is_not_this_convention() -> None:
    value = "<sip:2000@pbx.example.com>;index=1, <sip:2000@192.0.2.77>;index=1.1;rc=1"

    assert CONVENTIONS[Convention.HISTORY_INFO].resolve(
        invite(headers=(("History-Info", value),)), "d"
    ) is (None)
    assert CONVENTIONS[Convention.HISTORY_INFO].resolve(invite(), "default") is None


def test_history_info_owner_without_user_is_a_routing_error() -> None:
    value = "<sip:pbx.example.com>;index=1, <sip:vm@192.0.2.10;cause=408>;index=1.1;mp=1"

    with pytest.raises(RoutingError, match=r"History-Info: entry 1 has no user part"):
        CONVENTIONS[Convention.HISTORY_INFO].resolve(
            invite(headers=(("History-Info", value),)), "d"
        )


def test_malformed_history_info_is_a_routing_error() -> None:
    value = "<sip:2000@pbx.example.com;index=1"

    with pytest.raises(RoutingError, match=r"History-Info: unterminated <URI>"):
        CONVENTIONS[Convention.HISTORY_INFO].resolve(
            invite(headers=(("History-Info", value),)), "d"
        )


# --------------------------------------------------------------------------- RFC 4458


def test_rfc4458_request_uri_escapes_the_target() -> None:
    redirect = Redirect(MailboxId("2000"), Reason.USER_BUSY, "example.com")

    forwarded = on_the_wire(CONVENTIONS[Convention.RFC4458].apply(invite(), redirect, VOICEMAIL))

    assert forwarded.uri == "sip:voicemail@192.0.2.10:5070;target=sip:2000%40example.com;cause=486"


def test_rfc4458_keeps_a_voicemail_user_that_is_configured() -> None:
    redirect = Redirect(MailboxId("2000"), Reason.NO_ANSWER, "example.com")
    server = VOICEMAIL.with_user("vm")

    forwarded = CONVENTIONS[Convention.RFC4458].apply(invite(), redirect, server)

    assert forwarded.uri.startswith("sip:vm@192.0.2.10:5070;")


@pytest.mark.parametrize(
    ("uri", "box", "reason"),
    [
        ("sip:voicemail@vm;target=sip:2000%40example.com;cause=486", "2000", "user-busy"),
        ("sip:voicemail@vm;cause=408;target=sip:2000%40example.com", "2000", "no-answer"),
        ("sip:voicemail@vm;target=sip%3A2001%40example.com;cause=302", "2001", "unconditional"),
        ("sip:vm@vm;target=sip:2002%40example.com%3Buser%3Dphone", "2002", "unknown"),
        ("sip:vm@vm;target=sip:alice.smith%40example.com;cause=487", "alice.smith", "deflection"),
    ],
)
def test_rfc4458_resolves_the_escaped_target(uri: str, box: str, reason: str) -> None:
    found = CONVENTIONS[Convention.RFC4458].resolve(invite(uri), "default")

    assert found == Resolution(MailboxId(box), Reason(reason), "rfc4458", box)


def test_rfc4458_target_is_unescaped_exactly_once() -> None:
    # The target carries an escaped header of its own (a space, %20, escaped again as %2520):
    # unescaping twice would turn it into a bare space and make the target unreadable.
    uri = "sip:voicemail@vm;target=sip:2000%40example.com%3Fsubject%3Dhi%2520there;cause=486"

    found = CONVENTIONS[Convention.RFC4458].resolve(invite(uri), "default")

    assert found == Resolution(MailboxId("2000"), Reason.USER_BUSY, "rfc4458", "2000")


def test_rfc4458_without_target_is_not_this_convention() -> None:
    assert (
        CONVENTIONS[Convention.RFC4458].resolve(invite("sip:voicemail@vm;cause=486"), "d") is None
    )
    assert CONVENTIONS[Convention.RFC4458].resolve(invite("sip:voicemail@vm;target"), "d") is None


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("sip:voicemail@vm;target=sip:vm.example.com", r"target 'sip:vm.example.com' has no user"),
        ("sip:voicemail@vm;target=2000", r"Request-URI target: not a URI"),
        ("sip:voicemail@vm;target=sip:%2B1555%40example.com", r"target .*does not name a mailbox"),
    ],
)
def test_rfc4458_bad_target_is_a_routing_error(uri: str, message: str) -> None:
    with pytest.raises(RoutingError, match=message):
        CONVENTIONS[Convention.RFC4458].resolve(invite(uri), "default")


# --------------------------------------------------------------------------- Request-URI and To


def test_request_uri_user_is_the_mailbox() -> None:
    found = CONVENTIONS[Convention.REQUEST_URI].resolve(invite("sip:2000@vm.example.com"), "ctx")

    assert found == Resolution(MailboxId("2000", "ctx"), None, "request-uri")


def test_request_uri_without_user_is_not_this_convention() -> None:
    assert (
        CONVENTIONS[Convention.REQUEST_URI].resolve(invite("sip:vm.example.com"), "default") is None
    )


def test_request_uri_user_that_is_no_mailbox_name_is_a_routing_error() -> None:
    with pytest.raises(RoutingError, match=r"Request-URI user does not name a mailbox"):
        CONVENTIONS[Convention.REQUEST_URI].resolve(
            invite("sip:%2B15551234@vm.example.com"), "default"
        )


def test_unparsable_request_uri_is_a_routing_error() -> None:
    request = Request("INVITE", "not a uri", invite().headers)

    with pytest.raises(RoutingError, match=r"Request-URI: .*'not a uri'"):
        CONVENTIONS[Convention.REQUEST_URI].resolve(request, "default")


def test_to_convention_rewrites_to_and_keeps_a_tag() -> None:
    request = invite(to="<sip:3000@pbx.example.com>;tag=abc")
    redirect = Redirect(MailboxId("2000"), Reason.NO_ANSWER, "pbx.example.com")

    forwarded = on_the_wire(CONVENTIONS[Convention.TO].apply(request, redirect, VOICEMAIL))

    assert forwarded.header("To") == "<sip:2000@pbx.example.com>;tag=abc"
    assert forwarded.uri == "sip:192.0.2.10:5070"


def test_to_without_user_is_not_this_convention() -> None:
    request = invite(to="<sip:pbx.example.com>")

    assert CONVENTIONS[Convention.TO].resolve(request, "default") is None
    assert CONVENTIONS[Convention.TO].resolve(request.without_header("To"), "default") is None


def test_malformed_to_is_a_routing_error() -> None:
    request = invite().replace_header("To", "<sip:2000@pbx.example.com")

    with pytest.raises(RoutingError, match=r"To: unterminated <URI>"):
        CONVENTIONS[Convention.TO].resolve(request, "default")


# --------------------------------------------------------------------------- Reason


@pytest.mark.parametrize(
    ("reason", "cause"),
    [
        (Reason.USER_BUSY, 486),
        (Reason.NO_ANSWER, 408),
        (Reason.UNCONDITIONAL, 302),
        (Reason.UNAVAILABLE, 503),
        (Reason.DEFLECTION, 480),
        (Reason.UNKNOWN, 404),
    ],
)
def test_reason_cause_table_both_ways(reason: Reason, cause: int) -> None:
    assert reason.cause == cause
    assert Reason.from_cause(cause) is reason
    assert Reason.from_cause(str(cause)) is reason
    assert Reason.from_token(reason.value) is reason


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        (487, Reason.DEFLECTION),
        ("487", Reason.DEFLECTION),
        (" 486 ", Reason.USER_BUSY),
        (None, Reason.UNKNOWN),
        ("", Reason.UNKNOWN),
        ("busy", Reason.UNKNOWN),
        (200, Reason.UNKNOWN),
        (999, Reason.UNKNOWN),
        (-486, Reason.UNKNOWN),
    ],
)
def test_reason_from_cause_odd_values(cause: str | int | None, expected: Reason) -> None:
    assert Reason.from_cause(cause) is expected


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("user-busy", Reason.USER_BUSY),
        ("USER-BUSY", Reason.USER_BUSY),
        (' "no-answer" ', Reason.NO_ANSWER),
        ("unconditional", Reason.UNCONDITIONAL),
        ("away", Reason.UNKNOWN),
        ("follow-me", Reason.UNKNOWN),
        ("", Reason.UNKNOWN),
        (None, Reason.UNKNOWN),
    ],
)
def test_reason_from_token(token: str | None, expected: Reason) -> None:
    assert Reason.from_token(token) is expected


def test_only_user_busy_plays_the_busy_greeting() -> None:
    assert [reason for reason in Reason if reason.busy] == [Reason.USER_BUSY]


# --------------------------------------------------------------------------- Router


def test_router_takes_the_first_convention_in_chain_order() -> None:
    # X-Voicemail says 2000, the Request-URI user says 3000.
    request = invite("sip:3000@vm.example.com", headers=(("X-Voicemail-Mailbox", "2000"),))

    first = Router.of(["x-voicemail", "request-uri"]).resolve(request)
    second = Router.of(["request-uri", "x-voicemail"]).resolve(request)

    assert first is not None
    assert second is not None
    assert (first.mailbox.box, first.convention) == ("2000", "x-voicemail")
    assert (second.mailbox.box, second.convention) == ("3000", "request-uri")


def test_router_fills_in_the_reason_from_a_later_convention() -> None:
    request = invite(
        "sip:2000@vm.example.com",
        headers=(
            ("X-Voicemail-Mailbox", "2000"),
            ("X-Voicemail-Context", "sales"),
            ("Diversion", "<sip:2000@pbx.example.com>;reason=user-busy;counter=1"),
        ),
    )

    found = Router().resolve(request)

    assert found == Resolution(MailboxId("2000", "sales"), Reason.USER_BUSY, "x-voicemail", "2000")


def test_router_fill_in_skips_later_conventions_without_a_reason() -> None:
    request = invite(
        "sip:voicemail@vm;target=sip:2000%40example.com;cause=408",
        headers=(("X-Voicemail-Mailbox", "2000"),),
    )

    found = Router.of(["x-voicemail", "request-uri", "rfc4458"]).resolve(request)

    assert found is not None
    assert (found.convention, found.reason, found.redirecting) == (
        "x-voicemail",
        Reason.NO_ANSWER,
        "2000",
    )


def test_router_winner_with_a_reason_is_not_overridden() -> None:
    request = invite(
        "sip:voicemail@vm;target=sip:2000%40example.com;cause=486",
        headers=(("Diversion", "<sip:3000@pbx.example.com>;reason=no-answer"),),
    )

    found = Router().resolve(request)

    assert found == Resolution(MailboxId("2000"), Reason.USER_BUSY, "rfc4458", "2000")


def test_router_fill_in_ignores_an_unreadable_later_header() -> None:
    request = invite(
        headers=(("X-Voicemail-Mailbox", "2000"), ("Diversion", "<sip:2000@pbx.example.com")),
    )

    found = Router().resolve(request)

    assert found == Resolution(MailboxId("2000"), None, "x-voicemail")


def test_router_without_any_match_returns_none() -> None:
    assert Router.of(["x-voicemail", "diversion"]).resolve(invite()) is None


def test_router_uses_its_default_context() -> None:
    found = Router.of(["request-uri"], default_context="from-proxy").resolve(invite())

    assert found is not None
    assert found.mailbox == MailboxId("2000", "from-proxy")


def test_default_chain_order() -> None:
    assert Router().chain == DEFAULT_CHAIN
    assert DEFAULT_CHAIN == ("x-voicemail", "rfc4458", "diversion", "history-info", "request-uri")


@pytest.mark.parametrize(
    "build",
    [Router.of, lambda names: Router(tuple(names))],
    ids=["Router.of", "Router"],
)
def test_unknown_convention_lists_the_known_ones(build: Callable[[list[str]], Router]) -> None:
    with pytest.raises(ValueError, match="unknown convention 'sip-header'") as caught:
        build(["diversion", "sip-header"])

    for name in CONVENTIONS:
        assert name in str(caught.value)


def test_convention_lookup() -> None:
    assert convention("diversion") is CONVENTIONS[Convention.DIVERSION]
    assert sorted(CONVENTIONS) == sorted(
        ["x-voicemail", "diversion", "history-info", "rfc4458", "request-uri", "to"]
    )
    with pytest.raises(ValueError, match=r"known: x-voicemail, diversion, history-info"):
        convention("X-Voicemail")


def test_convention_names_are_the_strings_profiles_and_configs_use() -> None:
    assert [str(name) for name in Convention] == [
        "x-voicemail",
        "diversion",
        "history-info",
        "rfc4458",
        "request-uri",
        "to",
    ]
    assert Convention.named("history-info") is Convention.HISTORY_INFO
    assert str(Convention.DIVERSION) == "diversion"
    assert set(CONVENTIONS) == set(Convention)
    for name, rule in CONVENTIONS.items():
        assert rule.name is name
    with pytest.raises(ValueError, match=r"unknown convention 'sip-header' \(known: x-voicemail, "):
        Convention.named("sip-header")


def test_router_types_the_names_it_is_given() -> None:
    router = Router.of(["diversion", "to"])

    assert router.chain == (Convention.DIVERSION, Convention.TO)
    assert all(isinstance(name, Convention) for name in Router(("rfc4458",)).chain)  # type: ignore[arg-type]


# --------------------------------------------------------------------- deposit or retrieval


def call_from(caller: str, uri: str, headers: tuple[tuple[str, str], ...] = ()) -> Request:
    return new_request(
        "INVITE",
        uri,
        from_address=f"<sip:{caller}@pbx.example.com>",
        to_address=f"<{uri}>",
        local=("192.0.2.5", 5060),
        headers=headers,
    )


def test_call_to_the_retrieval_number_retrieves_the_callers_own_mailbox() -> None:
    routed = Router().classify(call_from("2000", "sip:*97@vm.example.com"))
    assert routed.kind == "retrieve"
    assert routed.resolution is not None
    assert routed.resolution.mailbox == MailboxId("2000")


def test_retrieval_number_with_x_voicemail_logs_in_to_the_named_mailbox() -> None:
    headers = (("X-Voicemail-Mailbox", "2001"), ("X-Voicemail-Context", "sales"))
    routed = Router().classify(call_from("2000", "sip:*97@vm.example.com", headers))
    assert routed.kind == "retrieve"
    assert routed.resolution is not None
    assert routed.resolution.mailbox == MailboxId("2001", "sales")


def test_retrieval_from_an_outside_number_leaves_the_mailbox_to_the_menu() -> None:
    routed = Router().classify(call_from("+15551234", "sip:*97@vm.example.com"))
    assert routed == Routed("retrieve", None)


def test_calling_ones_own_forwarded_number_retrieves() -> None:
    headers = (("Diversion", "<sip:2000@pbx.example.com>;reason=user-busy"),)
    routed = Router().classify(call_from("2000", "sip:vm@vm.example.com", headers))
    assert routed.kind == "retrieve"


def test_a_forwarded_call_from_someone_else_deposits() -> None:
    headers = (("Diversion", "<sip:2000@pbx.example.com>;reason=user-busy"),)
    routed = Router().classify(call_from("2001", "sip:vm@vm.example.com", headers))
    assert routed.kind == "deposit"
    assert routed.resolution is not None
    assert routed.resolution.reason is Reason.USER_BUSY


def test_x_voicemail_ampersand_list_leaves_one_copy_in_each_mailbox() -> None:
    headers = (("X-Voicemail-Mailbox", "2000&2001&3000@sales"),)
    resolution = Router().resolve(call_from("+15551234", "sip:2000@vm.example.com", headers))
    assert resolution is not None
    assert resolution.mailboxes == (
        MailboxId("2000"),
        MailboxId("2001"),
        MailboxId("3000", "sales"),
    )
