"""URI parsing and serialising: parts, parameters, headers, %-escapes, errors."""

import pytest

from harness.sip.errors import SIPParseError
from harness.sip.uri import (
    URI,
    format_header_params,
    parse_params,
    split_hostport,
)


def test_sip_uri_with_every_part() -> None:
    uri = URI.parse(
        "sips:alice:secret@example.com:5061;transport=tcp;lr?Subject=hi&Priority=urgent"
    )

    assert uri.scheme == "sips"
    assert (uri.user, uri.password, uri.host, uri.port) == ("alice", "secret", "example.com", 5061)
    assert uri.params == (("transport", "tcp"), ("lr", None))
    assert uri.headers == (("Subject", "hi"), ("Priority", "urgent"))
    assert uri.param("LR") == ""
    assert uri.param("maddr") is None
    assert uri.hostport == "example.com:5061"
    assert uri.is_sip


def test_unmodified_uri_serialises_to_the_received_text() -> None:
    text = "sip:%61lice@EXAMPLE.com;Transport=TCP"

    assert str(URI.parse(text)) == text


def test_escapes_are_decoded_in_user_password_parameters_and_headers() -> None:
    uri = URI.parse(
        "sip:I%20have%20spaces:p%40ss@example.net;n%61me=v%61lue%25%34%31?Route=%3Csip:x%3E"
    )

    assert uri.user == "I have spaces"
    assert uri.password == "p@ss"
    # Unescaping is done once: "value%41" is not "valueA" (RFC 4475 §3.1.1.3).
    assert uri.params == (("name", "value%41"),)
    assert uri.headers == (("Route", "<sip:x>"),)


def test_escaped_null_survives_and_is_escaped_again_when_rebuilt() -> None:
    uri = URI.parse("sip:null-%00-null@example.com")

    assert uri.user == "null-\x00-null"
    assert str(uri.with_params(lr=None)) == "sip:null-%00-null@example.com;lr"


def test_octets_that_are_not_utf8_round_trip_through_escapes() -> None:
    uri = URI.parse("sip:%FF%FE@example.com")

    assert str(uri.with_user(uri.user)) == "sip:%FF%FE@example.com"


def test_user_part_may_hold_semicolon_question_mark_and_comma() -> None:
    semi = URI.parse("sip:user;par=u%40example.net@example.com")
    odd = URI.parse(
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too."
        "(doesn't-it)@example.com"
    )

    assert (semi.user, semi.host, semi.params) == ("user;par=u@example.net", "example.com", ())
    assert odd.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert odd.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert odd.host == "example.com"


def test_rebuilt_uri_escapes_what_its_part_does_not_allow() -> None:
    uri = URI(scheme="sip", user="a b@c", host="example.com", params=(("x", "1 2"),))

    assert str(uri) == "sip:a%20b%40c@example.com;x=1%202"
    assert URI.parse(str(uri)) == uri


def test_ipv6_reference_and_port() -> None:
    uri = URI.parse("sip:[2001:db8::10]:5070;transport=udp")

    assert (uri.host, uri.port) == ("[2001:db8::10]", 5070)


@pytest.mark.parametrize(
    ("text", "user", "params"),
    [
        ("tel:+1-201-555-0123", "+1-201-555-0123", ()),
        ("tel:7042;phone-context=example.com", "7042", (("phone-context", "example.com"),)),
    ],
)
def test_tel_uri(text: str, user: str, params: tuple[tuple[str, str | None], ...]) -> None:
    uri = URI.parse(text)

    assert (uri.scheme, uri.user, uri.params) == ("tel", user, params)
    assert not uri.is_sip


@pytest.mark.parametrize(
    "text",
    [
        "nobodyKnowsThisScheme:totallyopaquecontent",
        "soap.beep://192.0.2.103:3002",
        "isbn:2983792873",
    ],
)
def test_other_schemes_are_kept_opaque(text: str) -> None:
    uri = URI.parse(text)

    assert uri.opaque == text.partition(":")[2]
    assert str(uri) == text


def test_with_params_replaces_in_place_and_appends_new_ones() -> None:
    uri = URI.parse("sip:a@example.com;transport=udp;lr")

    changed = uri.with_params(TRANSPORT="tcp", maddr="192.0.2.1")

    assert changed.params == (("transport", "tcp"), ("lr", None), ("maddr", "192.0.2.1"))
    assert str(changed) == "sip:a@example.com;transport=tcp;lr;maddr=192.0.2.1"


def test_without_headers() -> None:
    uri = URI.parse("sip:a@example.com?Route=%3Csip:x%3E")

    assert str(uri.without_headers()) == "sip:a@example.com"


@pytest.mark.parametrize(
    ("text", "offset", "reason"),
    [
        ("sip:user@example.com; lr", 21, "character ' ' not allowed"),
        ("sip:bob@exa mple.com", 11, "character ' '"),
        ("<sip:bob@example.com>", 0, "character '<'"),
        ("example.com", 0, "not a URI"),
        ("sip:@example.com", 4, "empty user part"),
        ("sip:bob@exa_mple.com", 8, "invalid host"),
        ("sip:bob@example.com:99999", 20, "port 99999 out of range"),
        ("sip:bob@example.com:", 19, "invalid port"),
        ("sip:bob@[2001:db8::1", 8, "unterminated IPv6 reference"),
        ("sip:b%4@example.com", 5, "bad %-escape in user part"),
        ("sip:bob@example.com;;lr", 20, "empty URI parameter"),
        ("sip:bob@example.com;maddr=", 26, "empty value"),
        ("sip:bob@example.com?Route", 20, "malformed URI header"),
    ],
)
def test_malformed_uris_name_the_problem_and_its_position(
    text: str, offset: int, reason: str
) -> None:
    with pytest.raises(SIPParseError) as caught:
        URI.parse(text)

    assert reason in caught.value.reason
    assert caught.value.offset == offset


def test_error_offsets_are_shifted_by_the_given_offset() -> None:
    with pytest.raises(SIPParseError) as caught:
        URI.parse("sip:bob@exa mple.com", offset=100)

    assert caught.value.offset == 111


def test_header_parameters_allow_white_space_quotes_and_percent() -> None:
    params = parse_params(
        ' tag = 98asjd8 ; q = 0.33;flag ; x="a \\"b\\" ;c";branch=z9hG4bK%fz', escaped=False
    )

    assert params == (
        ("tag", "98asjd8"),
        ("q", "0.33"),
        ("flag", None),
        ("x", 'a "b" ;c'),
        ("branch", "z9hG4bK%fz"),
    )


@pytest.mark.parametrize(
    ("text", "offset", "reason"),
    [
        ("tag=1;;", 6, "empty parameter"),
        ("=1", 0, "parameter without a name"),
        ("t@g=1", 0, "invalid parameter name"),
        ("tag=", 4, "empty value"),
        ('x="open', 2, "unterminated quoted string"),
        ('x="a"b', 5, "text after the quoted value"),
        ("x=a b", 3, "character ' ' not allowed"),
    ],
)
def test_malformed_header_parameters(text: str, offset: int, reason: str) -> None:
    with pytest.raises(SIPParseError) as caught:
        parse_params(text, escaped=False)

    assert reason in caught.value.reason
    assert caught.value.offset == offset


def test_header_parameter_values_are_quoted_only_when_needed() -> None:
    text = format_header_params(
        (("tag", "abc"), ("received", "[2001:db8::1]"), ("x", 'a "b"'), ("lr", None))
    )

    assert text == ';tag=abc;received=[2001:db8::1];x="a \\"b\\"";lr'
    assert parse_params(text[1:], escaped=False)[2] == ("x", 'a "b"')


def test_split_hostport() -> None:
    assert split_hostport("example.com", 0) == ("example.com", None)
    assert split_hostport("192.0.2.1:5060", 0) == ("192.0.2.1", 5060)
