"""name-addr and addr-spec parsing (RFC 3261 §20.10) and serialising."""

import pytest

from harness.sip.address import Address
from harness.sip.errors import SIPParseError
from harness.sip.uri import URI


def test_name_addr_with_quoted_display_name_uri_params_and_header_params() -> None:
    address = Address.parse(
        '"Alice Smith" <sip:alice@example.com;transport=tcp>;tag=1928301774;x=y'
    )

    assert address.display_name == "Alice Smith"
    assert address.uri.user == "alice"
    assert address.uri.params == (("transport", "tcp"),)
    assert address.params == (("tag", "1928301774"), ("x", "y"))
    assert address.tag == "1928301774"
    assert address.angle


def test_addr_spec_parameters_belong_to_the_header_not_the_uri() -> None:
    address = Address.parse("sip:+19725552222@gw1.example.net;unknownparam;tag=5")

    assert address.uri.params == ()
    assert address.params == (("unknownparam", None), ("tag", "5"))
    assert not address.angle


def test_quoted_pairs_in_display_name_are_resolved() -> None:
    address = Address.parse('"J Rosenberg \\\\\\""       <sip:jdrosen@example.com>')

    assert address.display_name == 'J Rosenberg \\"'


def test_quoted_display_name_may_hold_control_characters_as_quoted_pairs() -> None:
    address = Address.parse('"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:x@example.com>')

    assert address.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"


def test_percent_is_literal_in_a_display_name() -> None:
    assert Address.parse('"%Z%45" <sip:resource@example.com>').display_name == "%Z%45"


@pytest.mark.parametrize(
    ("text", "display"),
    [
        ("caller<sip:caller@example.com>", "caller"),
        (
            "token1~` token2'+_ token3*%!.- <sip:mundane@example.com>",
            "token1~` token2'+_ token3*%!.-",
        ),
        ("<sip:caller@example.com>", None),
    ],
)
def test_unquoted_display_names_are_tokens(text: str, display: str | None) -> None:
    assert Address.parse(text).display_name == display


def test_white_space_around_parameters_is_allowed() -> None:
    address = Address.parse(
        '"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam = newvalue ;'
        " secondparam ; q = 0.33"
    )

    assert address.display_name == 'Quoted string ""'
    assert address.params == (("newparam", "newvalue"), ("secondparam", None), ("q", "0.33"))


def test_quoted_header_parameter_value_with_utf8() -> None:
    address = Address.parse(
        "<sip:mundane@example.com>;fromParam''~+*_!.-%=\"работающий\";tag=_token~1'+`*%!-."
    )

    assert address.param("fromParam''~+*_!.-%") == "работающий"
    assert address.tag == "_token~1'+`*%!-."


def test_unknown_schemes_parse_as_opaque_uris() -> None:
    assert Address.parse("isbn:2983792873").uri.opaque == "2983792873"
    assert Address.parse("<name:John_Smith>").uri.scheme == "name"


@pytest.mark.parametrize(
    ("text", "offset", "reason"),
    [
        ('"Mr. J. User <sip:j.user@example.com>', 0, "unterminated quoted string"),
        ("Bell, Alexander <sip:a.g.bell@example.com>;tag=43", 4, "needs quotes"),
        ('"Watson, Thomas" < sip:t.watson@example.org >', 18, "character ' ' not allowed"),
        ("sip:user@example.com?Route=%3Csip:sip.example.com%3E", 20, "must be enclosed in <>"),
        ("<sip:a@example.com", 0, "unterminated <URI>"),
        ('"Joe" sip:joe@example.org', 6, "not followed by <URI>"),
        ('"Joe" <sip:joe@example.org>;;;;', 28, "empty parameter"),
        ("<sip:a@example.com> junk", 20, "unexpected text after the address"),
        ("   ", 0, "empty address"),
    ],
)
def test_malformed_addresses(text: str, offset: int, reason: str) -> None:
    with pytest.raises(SIPParseError) as caught:
        Address.parse(text)

    assert reason in caught.value.reason
    assert caught.value.offset == offset


def test_lenient_parse_ignores_white_space_inside_angle_brackets() -> None:
    address = Address.parse('"Watson, Thomas" < sip:t.watson@example.org >', lenient=True)

    assert address.display_name == "Watson, Thomas"
    assert address.uri.host == "example.org"


def test_lenient_parse_infers_the_brackets_of_an_addr_spec_with_headers() -> None:
    address = Address.parse(
        "sip:user@example.com?Route=%3Csip:sip.example.com%3E;expires=30", lenient=True
    )

    assert address.uri.headers == (("Route", "<sip:sip.example.com>"),)
    assert address.params == (("expires", "30"),)


def test_unmodified_address_serialises_as_received() -> None:
    text = "caller<sip:caller@example.com> ;  tag=323"

    assert str(Address.parse(text)) == text


def test_built_address_quotes_the_display_name_and_encloses_the_uri() -> None:
    address = Address(
        URI(scheme="sip", user="bob", host="example.com"), display_name='Bob "B" Jones'
    )

    assert (
        str(address.with_params(tag="abc")) == '"Bob \\"B\\" Jones" <sip:bob@example.com>;tag=abc'
    )


def test_addr_spec_form_is_bracketed_when_its_uri_needs_it() -> None:
    uri = URI(scheme="sip", user="bob", host="example.com", params=(("lr", None),))

    assert str(Address(uri, angle=False)) == "<sip:bob@example.com;lr>"
    assert (
        str(Address(URI(scheme="sip", user="bob", host="example.com"), angle=False))
        == "sip:bob@example.com"
    )


def test_with_params_replaces_the_tag() -> None:
    address = Address.parse("<sip:a@example.com>;tag=1;x=2")

    assert address.with_params(tag="9").params == (("tag", "9"), ("x", "2"))
    assert address.with_uri(URI.parse("sip:b@example.com")).uri.user == "b"
