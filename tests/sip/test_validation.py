"""How a server answers a parsed request, and when a response is dropped."""

import pytest

from harness.sip.message import Header, Request, Response, parse_message
from harness.sip.validation import Discard, Rejection, check_request, check_response

HEADERS = {
    "Via": "SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds",
    "Max-Forwards": "70",
    "To": "Bob <sip:bob@example.com>",
    "From": "Alice <sip:alice@example.com>;tag=1928301774",
    "Call-ID": "a84b4c76e66710@pc33.example.com",
    "CSeq": "314159 INVITE",
    "Contact": "<sip:alice@pc33.example.com>",
}


def request(
    method: str = "INVITE",
    uri: str = "sip:bob@example.com",
    *,
    drop: tuple[str, ...] = (),
    extra: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
    version: str = "SIP/2.0",
    replace: dict[str, str] | None = None,
    **changes: str,
) -> Request:
    changes = {**changes, **(replace or {})}
    values = {**HEADERS, **{name.replace("_", "-"): value for name, value in changes.items()}}
    headers = [Header(name, value) for name, value in values.items() if name not in drop]
    headers += [Header(name, value) for name, value in extra]
    return Request(method, uri, tuple(headers), body, version)


def response(
    status: int = 200,
    *,
    drop: tuple[str, ...] = (),
    replace: dict[str, str] | None = None,
    **changes: str,
) -> Response:
    changes = {**changes, **(replace or {})}
    values = {**HEADERS, **{name.replace("_", "-"): value for name, value in changes.items()}}
    headers = tuple(Header(name, value) for name, value in values.items() if name not in drop)
    return Response(status, "OK", headers)


def test_a_well_formed_request_passes() -> None:
    assert check_request(request()) is None


def test_rejection_is_a_frozen_value() -> None:
    rejection = check_request(request(CSeq="1 OPTIONS"))

    assert rejection == Rejection(
        400, "Bad Request: CSeq method OPTIONS does not match request method INVITE"
    )
    with pytest.raises(AttributeError):
        rejection.status = 500  # type: ignore[misc]


@pytest.mark.parametrize("version", ["SIP/7.0", "SIP/1.0", "SIP/2.1"])
def test_other_versions_get_505(version: str) -> None:
    assert check_request(request(version=version)) == Rejection(
        505, f"Version Not Supported: {version}"
    )


def test_version_is_case_insensitive() -> None:
    assert check_request(request(version="sip/2.0")) is None


@pytest.mark.parametrize(
    ("uri", "detail"),
    [
        ("<sip:bob@example.com>", "the Request-URI must not be enclosed in <>"),
        ("sip:bob@example.com?Route=%3Csip:x%3E", "the Request-URI must not carry headers"),
        ("bob@example.com", "malformed Request-URI: not a URI"),
        ("sip:bob@exa_mple.com", "malformed Request-URI: invalid host"),
        ("sip:bob@example.com;;lr", "malformed Request-URI: empty URI parameter"),
    ],
)
def test_bad_request_uris(uri: str, detail: str) -> None:
    rejection = check_request(request(uri=uri))

    assert rejection is not None
    assert rejection.status == 400
    assert rejection.reason.startswith(f"Bad Request: {detail}")


def test_lenient_check_ignores_brackets_and_headers_of_the_request_uri() -> None:
    assert check_request(request(uri="<sip:bob@example.com>"), lenient=True) is None
    assert check_request(request(uri="sip:bob@example.com?Route=%3Csip:x%3E"), lenient=True) is None


def test_other_uri_schemes_are_left_to_the_application() -> None:
    assert check_request(request(uri="tel:+15551234")) is None
    assert check_request(request(uri="nobodyKnowsThisScheme:totallyopaquecontent")) is None


@pytest.mark.parametrize(
    ("drop", "reason"),
    [
        (("Via",), "Bad Request: missing mandatory header Via"),
        (("To", "From", "Call-ID"), "Bad Request: missing mandatory headers From, To, Call-ID"),
        (("CSeq",), "Bad Request: missing mandatory header CSeq"),
    ],
)
def test_missing_mandatory_headers(drop: tuple[str, ...], reason: str) -> None:
    assert check_request(request(drop=drop)) == Rejection(400, reason)


def test_missing_max_forwards_is_tolerated() -> None:
    assert check_request(request(drop=("Max-Forwards",))) is None


@pytest.mark.parametrize(
    "name", ["From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Type", "Expires"]
)
def test_single_value_headers_must_not_repeat(name: str) -> None:
    value = HEADERS.get(name, "60")
    message = request(
        extra=((name, value), (name.lower(), value))
        if name not in HEADERS
        else ((name.lower(), value),)
    )
    if name == "Content-Type":
        message = request(extra=(("Content-Type", "a/b"), ("c", "a/b")), body=b"x")

    rejection = check_request(message)

    assert rejection is not None
    assert rejection.reason == f"Bad Request: {name} appears 2 times but takes one value"


@pytest.mark.parametrize(
    ("cseq", "detail"),
    [
        ("2147483648 INVITE", "CSeq number 2147483648 exceeds 2**31-1"),
        ("36893488147419103232 INVITE", "CSeq number 36893488147419103232 exceeds 2**31-1"),
        ("abc INVITE", "malformed CSeq 'abc INVITE': expected 'number METHOD'"),
        ("1", "malformed CSeq '1'"),
        ("1 INVITE extra", "malformed CSeq"),
        ("1 INV@TE", "malformed CSeq method 'INV@TE'"),
        ("8 OPTIONS", "CSeq method OPTIONS does not match request method INVITE"),
        ("8 invite", "CSeq method invite does not match request method INVITE"),
    ],
)
def test_cseq(cseq: str, detail: str) -> None:
    rejection = check_request(request(CSeq=cseq))

    assert rejection is not None
    assert rejection.reason.startswith(f"Bad Request: {detail}")


def test_cseq_limits_and_leading_zeros() -> None:
    assert check_request(request(CSeq="2147483647 INVITE")) is None
    assert check_request(request(CSeq="0009 INVITE")) is None


@pytest.mark.parametrize(
    ("value", "strict", "lenient"),
    [
        ("255", None, None),
        ("0068", None, None),
        ("256", "Bad Request: Max-Forwards 256 exceeds 255", None),
        (
            "-1",
            "Bad Request: malformed Max-Forwards '-1'",
            "Bad Request: malformed Max-Forwards '-1'",
        ),
        (
            "seventy",
            "Bad Request: malformed Max-Forwards 'seventy'",
            "Bad Request: malformed Max-Forwards 'seventy'",
        ),
    ],
)
def test_max_forwards(value: str, strict: str | None, lenient: str | None) -> None:
    message = request(Max_Forwards=value)

    assert getattr(check_request(message), "reason", None) == strict
    assert getattr(check_request(message, lenient=True), "reason", None) == lenient


@pytest.mark.parametrize(
    ("name", "value", "detail"),
    [
        (
            "From",
            '"Mr. J. User <sip:j.user@example.com>',
            "malformed From header: unterminated quoted string",
        ),
        ("To", "Bell, Alexander <sip:a.g.bell@example.com>", "malformed To header: display name"),
        ("To", '"Watson" < sip:t.watson@example.org >', "malformed To header: character ' '"),
        ("From", "<sip:a@example.com>;tag=1;;", "malformed From header: empty parameter"),
        (
            "Contact",
            "sip:user@example.com?Route=%3Csip:x%3E",
            "malformed Contact header: a URI with '?'",
        ),
        (
            "Contact",
            "<sip:a@example.com>,,<sip:b@example.com>",
            "empty element in the Contact list",
        ),
        ("Via", "SIP/2.0/UDP 192.0.2.15;;,;,,", "empty element in the Via list"),
        ("Via", "SIP/2.0/UDP 192.0.2.15;;", "malformed Via header: empty parameter"),
        ("Via", "SIP/2.0 192.0.2.15", "malformed Via header"),
        ("Call-ID", "", "empty Call-ID"),
        ("Call-ID", "a b@c", "malformed Call-ID 'a b@c'"),
        ("Call-ID", "a@b@c", "malformed Call-ID"),
    ],
)
def test_malformed_headers(name: str, value: str, detail: str) -> None:
    rejection = check_request(request(replace={name: value}))

    assert rejection is not None
    assert rejection.status == 400
    assert rejection.reason.startswith(f"Bad Request: {detail}")


def test_route_and_record_route_must_be_addresses() -> None:
    rejection = check_request(request(extra=(("Route", "<sip:p1.example.com;lr>, sip:p2 junk"),)))

    assert rejection is not None
    assert rejection.reason.startswith("Bad Request: malformed Route header")
    assert check_request(request(extra=(("Record-Route", "<sip:p1.example.com;lr>"),))) is None


def test_call_id_may_hold_every_word_character() -> None:
    assert check_request(request(Call_ID="intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")) is None


def test_contact_star_only_alone_in_register() -> None:
    register = request("REGISTER", "sip:example.com", CSeq="1 REGISTER", Contact="*", Expires="0")

    assert check_request(register) is None
    assert check_request(request(Contact="*")) is not None
    assert check_request(
        request("REGISTER", "sip:example.com", CSeq="1 REGISTER", Contact="*, <sip:a@b>")
    ) == Rejection(400, "Bad Request: Contact * is only allowed alone, in a REGISTER")


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"Expires": "4294967296"}, "Expires 4294967296 exceeds 2**32-1"),
        ({"Expires": "1" + "0" * 100}, "Expires 1000000000000000000000000000000000000000..."),
        ({"Expires": "soon"}, "malformed Expires 'soon'"),
        (
            {"Contact": "<sip:a@b>;expires=280297596632815"},
            "Contact expires 280297596632815 exceeds 2**32-1",
        ),
        ({"Contact": "<sip:a@b>;expires=never"}, "malformed Contact expires 'never'"),
    ],
)
def test_expiry_values_are_rejected_strictly_and_tolerated_leniently(
    changes: dict[str, str], detail: str
) -> None:
    message = request(replace=changes)

    rejection = check_request(message)

    assert rejection is not None
    assert rejection.reason.startswith(f"Bad Request: {detail}")
    assert check_request(message, lenient=True) is None


def test_date_must_be_gmt_unless_lenient() -> None:
    bad = request(Date="Fri, 01 Jan 2010 16:00:00 EST")

    assert check_request(request(Date="Sat, 13 Nov 2010 23:29:00 GMT")) is None
    assert check_request(bad) == Rejection(
        400, "Bad Request: Date 'Fri, 01 Jan 2010 16:00:00 EST' is not an RFC 1123 date in GMT"
    )
    assert check_request(bad, lenient=True) is None


def test_body_needs_content_type() -> None:
    assert check_request(request(body=b"v=0\r\n")) == Rejection(
        400, "Bad Request: a 5-byte body without Content-Type"
    )
    assert check_request(request(body=b"v=0\r\n", Content_Type="application/sdp")) is None


def test_repeated_content_length_in_a_body_less_message() -> None:
    data = (
        b"OPTIONS sip:bob@example.com SIP/2.0\r\n"
        + b"".join(f"{name}: {value}\r\n".encode() for name, value in HEADERS.items())
        + b"Content-Length: 0\r\nl: 0\r\n\r\n"
    ).replace(b"314159 INVITE", b"314159 OPTIONS")
    message = parse_message(data)
    assert isinstance(message, Request)

    assert check_request(message) == Rejection(
        400, "Bad Request: Content-Length appears 2 times but takes one value"
    )


def test_content_length_must_be_a_sane_number() -> None:
    rejection = check_request(request(Content_Length="99999999999"))

    assert rejection == Rejection(400, "Bad Request: Content-Length 99999999999 is too large")


def test_reason_is_one_printable_line_of_bounded_length() -> None:
    rejection = check_request(request(CSeq="1 " + "X" * 300 + "\x00"))

    assert rejection is not None
    assert len(rejection.reason) < 200
    assert rejection.reason.isprintable()


def test_parsed_request_with_non_utf8_value_gives_a_clean_reason() -> None:
    data = (
        b"INVITE sip:bob@example.com SIP/2.0\r\n"
        + b"".join(
            f"{name}: {value}\r\n".encode() for name, value in HEADERS.items() if name != "To"
        )
        + b"To: \xff\x01 <sip:x@y>\r\nContent-Length: 0\r\n\r\n"
    )
    message = parse_message(data, lenient=True)
    assert isinstance(message, Request)

    rejection = check_request(message)

    assert rejection is not None
    assert rejection.reason.startswith("Bad Request: malformed To header: display name")
    assert rejection.reason.isprintable()


# --------------------------------------------------------------------------- responses


def test_a_well_formed_response_passes() -> None:
    assert check_response(response()) is None


@pytest.mark.parametrize("status", [99, 700, 4294967301])
def test_status_codes_outside_100_699_are_dropped(status: int) -> None:
    assert check_response(response(status)) == Discard(f"status code {status} is outside 100-699")


@pytest.mark.parametrize(
    ("changes", "drop", "reason"),
    [
        ({}, ("Call-ID",), "missing mandatory header Call-ID"),
        (
            {"CSeq": "9292394834772304023312 OPTIONS"},
            (),
            "CSeq number 9292394834772304023312 exceeds 2**31-1",
        ),
        ({"Via": "SIP/2.0/UDP"}, (), "malformed Via header: Via without a sent-by host"),
        (
            {"Retry-After": "949302838503028349304023988"},
            (),
            "Retry-After 949302838503028349304023988 exceeds 2**32-1",
        ),
        ({"Warning": '1812 overture "In Progress"'}, (), "Warning code '1812' is not 3 digits"),
    ],
)
def test_malformed_responses_are_dropped(
    changes: dict[str, str], drop: tuple[str, ...], reason: str
) -> None:
    assert check_response(response(drop=drop, replace=changes)) == Discard(reason)


def test_lenient_response_check_tolerates_overlarge_retry_after_and_odd_warnings() -> None:
    message = response(
        Retry_After="949302838503028349304023988 (later);duration=5", Warning="1812 overture x"
    )

    assert check_response(message, lenient=True) is None


def test_response_with_another_version_is_dropped() -> None:
    message = Response(
        200, "OK", tuple(Header(name, value) for name, value in HEADERS.items()), version="SIP/3.0"
    )

    assert check_response(message) == Discard("SIP version SIP/3.0 is not supported")
