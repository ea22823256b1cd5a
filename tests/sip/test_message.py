"""The SIP message codec: parsing, stream framing, byte-exact round trip and the wire switches."""

import dataclasses
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.sip.errors import SIPParseError
from harness.sip.message import (
    COMPACT_FORMS,
    LIST_HEADERS,
    Header,
    Message,
    Request,
    Response,
    StreamParser,
    canonical_name,
    encode,
    header_key,
    parse_message,
    split_list,
)

START = "OPTIONS sip:bob@example.com SIP/2.0"
BASIC = (
    "Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds",
    "Max-Forwards: 70",
    "To: Bob <sip:bob@example.com>",
    "From: Alice <sip:alice@example.com>;tag=1928301774",
    "Call-ID: a84b4c76e66710@pc33.example.com",
    "CSeq: 314159 OPTIONS",
)


def wire(*headers: str, body: bytes = b"", start: str = START, length: bool = True) -> bytes:
    """A message with CRLF line ends; Content-Length added when ``length``."""
    lines = [start, *headers]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def parse_request(data: bytes, *, lenient: bool = False) -> Request:
    message = parse_message(data, lenient=lenient)
    assert isinstance(message, Request)
    return message


def parse_response(data: bytes, *, lenient: bool = False) -> Response:
    message = parse_message(data, lenient=lenient)
    assert isinstance(message, Response)
    return message


# --------------------------------------------------------------------------- start lines


def test_request_line_and_headers() -> None:
    request = parse_request(wire(*BASIC, body=b"hello", start="INVITE sip:bob@example.com SIP/2.0"))

    assert (request.method, request.uri, request.version) == (
        "INVITE",
        "sip:bob@example.com",
        "SIP/2.0",
    )
    assert request.header("max-forwards") == "70"
    assert request.call_id == "a84b4c76e66710@pc33.example.com"
    assert request.cseq == (314159, "OPTIONS")
    assert request.body == b"hello"


@pytest.mark.parametrize(
    ("line", "status", "reason"),
    [
        ("SIP/2.0 200 OK", 200, "OK"),
        ("SIP/2.0 100 ", 100, ""),
        ("SIP/2.0 486 Busy  Here ", 486, "Busy  Here "),
        (
            "SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять - простое",
            200,
            "= 2**3 * 5**2 но сто девяносто девять - простое",
        ),
    ],
)
def test_status_line(line: str, status: int, reason: str) -> None:
    response = parse_response(wire(*BASIC, start=line))

    assert (response.version, response.status, response.reason) == ("SIP/2.0", status, reason)


@pytest.mark.parametrize(
    ("line", "offset", "reason"),
    [
        ("INVITE  sip:bob@example.com SIP/2.0", 7, "more than one SP"),
        ("INVITE sip:bob@example.com SIP/2.0 ", 34, "white space after the SIP version"),
        ("INVITE sip:bob@example.com; lr SIP/2.0", 27, "SP inside the Request-URI"),
        ("INVITE sip:bob@example.com", 26, "malformed request line"),
        ("INV@TE sip:bob@example.com SIP/2.0", 0, "invalid method"),
        ("INVITE sip:bob@example.com SIP/2", 27, "invalid SIP version"),
        ("INVITE sip:bob@example.com HTTP/1.1", 27, "invalid SIP version"),
        ("SIP/2.0 4294967301 better not break the receiver", 8, "invalid status code '4294967301'"),
        ("SIP/2.0 20 OK", 8, "invalid status code"),
        ("SIP/2.0 200", 11, "expected SP after the status code"),
        ("SIP/2.0  200 OK", 8, "invalid status code"),
        ("SIP/x.0 200 OK", 0, "invalid SIP version"),
        (" INVITE sip:bob@example.com SIP/2.0", 0, "start line begins with white space"),
    ],
)
def test_malformed_start_lines_are_rejected_at_the_offending_byte(
    line: str, offset: int, reason: str
) -> None:
    with pytest.raises(SIPParseError) as caught:
        parse_message(wire(*BASIC, start=line))

    assert reason in caught.value.reason
    assert caught.value.offset == offset


@pytest.mark.parametrize(
    "line",
    ["INVITE  sip:bob@example.com  SIP/2.0", "INVITE sip:bob@example.com SIP/2.0  "],
)
def test_lenient_parser_accepts_extra_sp_in_the_request_line(line: str) -> None:
    request = parse_request(wire(*BASIC, start=line), lenient=True)

    assert (request.method, request.uri, request.version) == (
        "INVITE",
        "sip:bob@example.com",
        "SIP/2.0",
    )
    assert request.start_line() == "INVITE sip:bob@example.com SIP/2.0"


def test_lenient_parser_accepts_a_status_line_without_a_reason_or_its_sp() -> None:
    response = parse_response(wire(*BASIC, start="SIP/2.0 180"), lenient=True)

    assert (response.status, response.reason) == (180, "")


# --------------------------------------------------------------------------- header names


@pytest.mark.parametrize(("short", "long"), sorted(COMPACT_FORMS.items()))
def test_every_compact_form_reads_as_its_long_name(short: str, long: str) -> None:
    request = parse_request(wire(f"{short.upper()}: 0", length=False))

    assert request.header(long) == "0"
    assert request.header(long.upper()) == "0"
    assert request.header(short) == "0"
    assert request.has(long)
    assert header_key(short) == long.lower()


def test_rfc3261_compact_forms_are_all_known() -> None:
    expected = {
        "c": "Content-Type",
        "e": "Content-Encoding",
        "f": "From",
        "i": "Call-ID",
        "k": "Supported",
    }
    expected |= {"l": "Content-Length", "m": "Contact", "s": "Subject", "t": "To", "v": "Via"}

    assert expected.items() <= COMPACT_FORMS.items()


@pytest.mark.parametrize("name", ["CALL-ID", "call-id", "Call-Id", "cAlL-iD", "i", "I"])
def test_header_names_are_case_insensitive(name: str) -> None:
    request = parse_request(wire(*BASIC[:4], f"{name}: abc@host", BASIC[5]))

    assert request.call_id == "abc@host"


def test_canonical_names() -> None:
    assert canonical_name("v") == "Via"
    assert canonical_name("call-id") == "Call-ID"
    assert canonical_name("CSEQ") == "CSeq"
    assert canonical_name("x-my-HEADER") == "X-My-Header"


def test_percent_escapes_do_not_name_a_known_header() -> None:
    request = parse_request(wire(*BASIC, "Contact: <sip:a@h1>", "C%6Fntact: <sip:b@h2>"))

    assert request.header_values("Contact") == ["<sip:a@h1>"]
    assert request.header("C%6Fntact") == "<sip:b@h2>"


def test_white_space_around_the_colon_and_empty_values() -> None:
    request = parse_request(wire(*BASIC, "Subject   :    hello  ", "s :", "X-Empty:"))

    assert request.header_values("Subject") == ["hello", ""]
    assert request.header("X-Empty") == ""


# --------------------------------------------------------------------------- values


def test_comma_lists_and_repeated_lines_give_every_value_in_order() -> None:
    request = parse_request(
        wire(
            *BASIC[1:],
            "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP b.example.com;branch=z",
            "v: SIP/2.0/UDP c.example.com;branch=z9hG4bK3",
            'Contact: "Smith, J" <sip:j@example.com>, <sip:k@example.com;x=a,b>',
        )
    )

    assert [via.host for via in request.vias()] == [
        "a.example.com",
        "b.example.com",
        "c.example.com",
    ]
    assert request.header("Via") == "SIP/2.0/UDP a.example.com;branch=z9hG4bK1"
    assert request.header_values("Contact") == [
        '"Smith, J" <sip:j@example.com>',
        "<sip:k@example.com;x=a,b>",
    ]
    assert request.count("Via") == 2


def test_commas_in_non_list_headers_are_kept() -> None:
    request = parse_request(wire(*BASIC, "Date: Sat, 13 Nov 2010 23:29:00 GMT"))

    assert request.header_values("Date") == ["Sat, 13 Nov 2010 23:29:00 GMT"]
    assert "date" not in LIST_HEADERS


def test_split_list() -> None:
    assert split_list('a, "b,c" , <d,e>,,f') == ["a", '"b,c"', "<d,e>", "f"]
    assert split_list("a,,b", keep_empty=True) == ["a", "", "b"]


def test_folded_values_are_unfolded_and_keep_their_raw_bytes() -> None:
    data = wire(
        *BASIC,
        "Subject: first line",
        " second line",
        "\t third line",
        "X-Fold:",
        "   only continuation",
    )
    request = parse_request(data)

    assert request.header("Subject") == "first line second line third line"
    assert request.header("X-Fold") == "only continuation"
    subject = next(item for item in request.headers if item.name == "Subject")
    assert subject.raw == b"Subject: first line\r\n second line\r\n\t third line\r\n"


def test_accessors_parse_addresses_and_vias() -> None:
    request = parse_request(
        wire(*BASIC, "Contact: <sip:a@h1>;expires=60, sip:b@h2", "Route: <sip:p1;lr>")
    )

    assert request.address("From") is not None
    assert request.address("From").tag == "1928301774"  # type: ignore[union-attr]
    assert request.address("Reply-To") is None
    assert [address.uri.user for address in request.addresses("Contact")] == ["a", "b"]
    assert request.addresses("Route")[0].uri.param("lr") == ""
    assert request.vias()[0].branch == "z9hG4bK776asdhds"


def test_header_values_that_are_not_utf8() -> None:
    data = wire(*BASIC).replace(b"Max-Forwards: 70", b"X-Latin: caf\xe9")
    at = data.index(b"\xe9")

    with pytest.raises(SIPParseError) as caught:
        parse_message(data)
    lenient = parse_request(data, lenient=True)

    assert caught.value.offset == at
    assert "not UTF-8" in caught.value.reason
    assert lenient.header("X-Latin") == "caf\udce9"
    assert encode(dataclasses.replace(lenient, raw=None), compact=True).count(b"caf\xe9") == 1


# --------------------------------------------------------------------------- line structure


def test_crlf_before_the_start_line_is_ignored() -> None:
    data = wire(*BASIC)

    assert parse_message(b"\r\n\r\n" + data).to_bytes() == data


def test_bare_lf_is_an_error_unless_lenient() -> None:
    data = wire(*BASIC, body=b"x").replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\n")

    with pytest.raises(SIPParseError) as caught:
        parse_message(data)
    request = parse_request(data, lenient=True)

    assert caught.value.offset == data.index(b"70\n") + 2
    assert request.header("Max-Forwards") == "70"
    assert request.body == b"x"
    assert request.to_bytes() == data


def test_lenient_parser_reads_a_message_with_only_lf_line_ends() -> None:
    data = wire(*BASIC, body=b"ab").replace(b"\r\n", b"\n")

    request = parse_request(data, lenient=True)

    assert request.cseq == (314159, "OPTIONS")
    assert request.body == b"ab"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("No colon here", "header line without a colon"),
        (": value", "header line without a name"),
        ("Bad Name: value", "invalid name 'Bad Name'"),
        ("Bad(Name): value", "invalid name"),
        ("X-Bad: a\rb", "bare CR inside a line"),
    ],
)
def test_malformed_header_lines(header: str, reason: str) -> None:
    data = wire(*BASIC, header)
    line_at = data.index(header.encode())

    with pytest.raises(SIPParseError) as caught:
        parse_message(data)

    assert reason in caught.value.reason
    expected = line_at + header.index("\r") if "\r" in header else line_at
    assert caught.value.offset == expected


def test_continuation_before_any_header() -> None:
    data = f"{START}\r\n folded\r\n{BASIC[0]}\r\n\r\n".encode()

    with pytest.raises(SIPParseError) as caught:
        parse_message(data)

    assert caught.value.offset == len(START) + 2
    assert "continuation line before any header" in caught.value.reason


@pytest.mark.parametrize(
    ("data", "offset", "reason"),
    [
        (b"", 0, "empty message"),
        (b"\r\n\r\n", 4, "empty message"),
        (b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n", 33, "not terminated by an empty line"),
    ],
)
def test_incomplete_datagrams(data: bytes, offset: int, reason: str) -> None:
    with pytest.raises(SIPParseError) as caught:
        parse_message(data)

    assert reason in caught.value.reason
    assert caught.value.offset == offset


# --------------------------------------------------------------------------- datagram framing


def test_datagram_without_content_length_takes_the_rest_as_body() -> None:
    request = parse_request(wire(*BASIC, length=False) + b"v=0\r\n")

    assert request.body == b"v=0\r\n"


def test_datagram_octets_beyond_content_length_are_discarded() -> None:
    data = wire(*BASIC, body=b"12345")

    request = parse_request(data + b"trailing junk")

    assert request.body == b"12345"
    assert request.to_bytes() == data


def test_content_length_larger_than_the_datagram() -> None:
    data = wire(*BASIC, "Content-Length: 9999", body=b"12345", length=False)

    with pytest.raises(SIPParseError) as caught:
        parse_message(data)

    assert caught.value.offset == data.index(b"9999")
    assert "Content-Length 9999 exceeds the 5 bytes after the head" in caught.value.reason


@pytest.mark.parametrize("value", ["-999", "12a", "1 2", "", "+5", "٣"])
def test_content_length_must_be_digits(value: str) -> None:
    data = wire(*BASIC, f"Content-Length:  {value}", length=False)

    with pytest.raises(SIPParseError) as caught:
        parse_message(data)

    assert "invalid Content-Length" in caught.value.reason
    assert caught.value.offset == data.index(b"Content-Length:") + 17 - (0 if value else 2)


def test_huge_content_length_is_refused_without_converting_it() -> None:
    with pytest.raises(SIPParseError, match="too large"):
        parse_message(wire(*BASIC, "l: " + "9" * 5000, length=False))


def test_conflicting_content_lengths_are_an_error_identical_ones_are_not() -> None:
    conflicting = wire(
        *BASIC, "Content-Length: 13", "Max-Forwards: 60", "l: 5", body=b"12345", length=False
    )
    identical = wire(*BASIC, "Content-Length: 5", "l: 5", body=b"12345", length=False)

    with pytest.raises(SIPParseError) as caught:
        parse_message(conflicting)

    assert caught.value.offset == conflicting.index(b"l: 5")
    assert "conflicting Content-Length values 13 and 5" in caught.value.reason
    assert parse_request(identical).body == b"12345"


# --------------------------------------------------------------------------- round trip


def test_unmodified_message_serialises_to_the_received_bytes() -> None:
    data = wire(
        *BASIC,
        "cOnTaCt :  <sip:a@h1> ,",
        "   <sip:b@h2>",
        "Content-Type: application/sdp",
        body=b"v=0\r\n\x00\xff",
    )

    message = parse_message(data)

    assert message.to_bytes() == data
    assert encode(message, content_length="keep") == data
    assert encode(dataclasses.replace(message, raw=None)) == data


def test_a_changed_message_is_rebuilt_keeping_untouched_headers_as_received() -> None:
    data = wire(*BASIC, "Subject:   folded", "  value")
    message = parse_request(data)

    changed = message.replace_header("Max-Forwards", "69")

    assert changed.raw is None
    assert changed.to_bytes() == data.replace(b"Max-Forwards: 70", b"Max-Forwards: 69")


def test_editing_helpers() -> None:
    message = parse_request(wire(*BASIC))

    added = (
        message.with_header("X-A", "1")
        .with_header("X-B", "2", first=True)
        .with_headers(("X-A", "3"))
    )
    assert [item.name for item in added.headers][:1] == ["X-B"]
    assert added.header_values("X-A") == ["1", "3"]
    assert added.without_header("x-a").has("X-A") is False
    assert message.replace_header("X-New", "v").header("X-New") == "v"
    with_body = message.with_body(b"hi", "text/plain")
    assert with_body.body == b"hi"
    assert with_body.header("Content-Type") == "text/plain"
    assert b"Content-Length: 2\r\n" in with_body.to_bytes()


# --------------------------------------------------------------------------- encode switches


def built(*headers: tuple[str, str], body: bytes = b"") -> Request:
    return Request(
        "OPTIONS",
        "sip:bob@example.com",
        tuple(Header(name, value) for name, value in headers),
        body,
    )


def test_content_length_auto_writes_the_truth_once() -> None:
    message = built(("Via", "SIP/2.0/UDP h"), ("Content-Length", "99"), ("l", "98"), body=b"abc")

    data = encode(message)

    assert (
        data == b"OPTIONS sip:bob@example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP h\r\nContent-Length: 3\r\n\r\nabc"
    )
    assert encode(built(("Via", "x"))).endswith(b"Via: x\r\nContent-Length: 0\r\n\r\n")


def test_content_length_keep_writes_lies_and_duplicates_as_given() -> None:
    message = built(("Content-Length", "99"), ("Content-Length", "3"), body=b"abc")

    data = encode(message, content_length="keep")

    assert data.count(b"Content-Length:") == 2
    assert b"Content-Length: 99\r\n" in data
    with pytest.raises(SIPParseError, match="conflicting"):
        parse_message(data)


def test_content_length_omit_and_explicit_number() -> None:
    message = built(("Content-Length", "3"), body=b"abc")

    assert b"Content-Length" not in encode(message, content_length="omit")
    wrong = encode(message, content_length=10)
    assert b"Content-Length: 10\r\n" in wrong
    with pytest.raises(SIPParseError, match="exceeds"):
        parse_message(wrong)


def test_compact_switch_uses_compact_names_where_they_exist() -> None:
    message = built(
        ("Via", "SIP/2.0/UDP h"), ("Call-ID", "x"), ("CSeq", "1 OPTIONS"), ("Subject", "s")
    )

    data = encode(message, compact=True)

    assert b"\r\nv: SIP/2.0/UDP h\r\ni: x\r\nCSeq: 1 OPTIONS\r\ns: s\r\nl: 0\r\n" in data
    assert parse_message(data).header("Call-ID") == "x"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("lower", b"call-id: x\r\nx-odd-name: y"),
        ("upper", b"CALL-ID: x\r\nX-ODD-NAME: y"),
        ("canonical", b"Call-ID: x\r\nX-Odd-Name: y"),
        ("keep", b"cAlL-iD: x\r\nx-ODD-name: y"),
    ],
)
def test_header_case_switch(case: str, expected: bytes) -> None:
    message = built(("cAlL-iD", "x"), ("x-ODD-name", "y"))

    assert expected in encode(message, header_case=case)  # type: ignore[arg-type]


def test_fold_switch_folds_long_values_that_parse_back_the_same() -> None:
    value = "<sip:alice@example.com>, <sip:bob@example.com>, <sip:carol@example.com>"
    message = built(("Contact", value))

    data = encode(message, fold_at=30)

    assert (
        b"Contact: <sip:alice@example.com>,\r\n"
        b" <sip:bob@example.com>,\r\n <sip:carol@example.com>\r\n" in data
    )
    assert parse_message(data).header_values("Contact") == split_list(value)


def test_line_end_switch_writes_bare_lf() -> None:
    data = encode(built(("Via", "SIP/2.0/UDP h")), line_end=b"\n")

    assert data == b"OPTIONS sip:bob@example.com SIP/2.0\nVia: SIP/2.0/UDP h\nContent-Length: 0\n\n"
    assert parse_message(data, lenient=True).header("Via") == "SIP/2.0/UDP h"


def test_separator_switch() -> None:
    data = encode(built(("To", "<sip:a@b>")), separator="   :  ")

    assert b"\r\nTo   :  <sip:a@b>\r\n" in data
    assert parse_message(data).header("To") == "<sip:a@b>"


def test_list_style_switch_splits_and_joins_comma_lists() -> None:
    message = built(
        ("Via", "SIP/2.0/UDP a, SIP/2.0/UDP b"), ("To", "<sip:x@y>"), ("v", "SIP/2.0/UDP c")
    )

    split = encode(message, list_style="split")
    joined = encode(message, list_style="join")

    assert (
        b"Via: SIP/2.0/UDP a\r\nVia: SIP/2.0/UDP b\r\nTo: <sip:x@y>\r\nv: SIP/2.0/UDP c\r\n"
        in split
    )
    assert b"Via: SIP/2.0/UDP a, SIP/2.0/UDP b, SIP/2.0/UDP c\r\nTo: <sip:x@y>\r\n" in joined
    for data in (split, joined):
        assert parse_message(data).header_values("Via") == [
            "SIP/2.0/UDP a",
            "SIP/2.0/UDP b",
            "SIP/2.0/UDP c",
        ]


def test_duplicated_headers_are_written_as_built() -> None:
    message = built(("To", "<sip:a@b>"), ("To", "<sip:c@d>"))

    assert encode(message).count(b"\r\nTo: ") == 2


def test_switches_restyle_headers_that_carry_received_bytes() -> None:
    message = parse_message(wire("VIA  :  SIP/2.0/UDP h", "Call-ID: x"))

    assert b"\r\nv: SIP/2.0/UDP h\r\ni: x\r\nl: 0\r\n" in encode(message, compact=True)


# --------------------------------------------------------------------------- stream framing


def test_stream_partial_reads() -> None:
    first = wire(*BASIC, body=b"hello")
    parser = StreamParser()

    parser.feed(first[:30])
    assert list(parser.messages()) == []
    parser.feed(first[30:-2])
    assert list(parser.messages()) == []
    parser.feed(first[-2:])
    messages = list(parser.messages())

    assert [message.to_bytes() for message in messages] == [first]
    assert parser.offset == len(first)
    assert parser.buffered == 0


def test_stream_byte_at_a_time_with_keep_alives_between_pipelined_messages() -> None:
    first = wire(*BASIC, body=b"one")
    second = wire(*BASIC, body=b"\r\n\r\ntwo", start="SIP/2.0 200 OK")
    stream = b"\r\n\r\n" + first + b"\r\n" + second
    parser = StreamParser()
    seen: list[Message] = []

    for byte in stream:
        parser.feed(bytes([byte]))
        seen.extend(parser.messages())

    assert [message.to_bytes() for message in seen] == [first, second]
    assert seen[1].body == b"\r\n\r\ntwo"
    assert parser.offset == len(stream)


def test_stream_pipelined_messages_in_one_read() -> None:
    messages = [wire(*BASIC, body=str(n).encode() * n) for n in range(5)]
    parser = StreamParser()

    parser.feed(b"".join(messages))

    assert [message.to_bytes() for message in parser.messages()] == messages


def test_stream_waits_for_a_body_shorter_than_content_length() -> None:
    data = wire(*BASIC, "Content-Length: 9999", body=b"12345", length=False)
    parser = StreamParser()

    parser.feed(data)

    assert list(parser.messages()) == []
    assert parser.buffered == len(data)


def test_stream_needs_content_length_unless_lenient() -> None:
    data = wire(*BASIC, length=False)
    strict = StreamParser()
    lenient = StreamParser(lenient=True)
    strict.feed(b"\r\n" + data)
    lenient.feed(data + data)

    with pytest.raises(SIPParseError) as caught:
        list(strict.messages())

    assert caught.value.offset == 2
    assert "missing Content-Length on a stream" in caught.value.reason
    assert len(list(lenient.messages())) == 2


def test_stream_error_offsets_count_from_the_start_of_the_stream() -> None:
    good = wire(*BASIC)
    bad = wire(*BASIC, "Bad Name: x")
    parser = StreamParser()
    parser.feed(good + bad)

    with pytest.raises(SIPParseError) as caught:
        list(parser.messages())

    assert caught.value.offset == len(good) + bad.index(b"Bad Name")


def test_stream_error_is_final() -> None:
    parser = StreamParser()
    parser.feed(b"garbage without end\r\n\r\n")

    with pytest.raises(SIPParseError) as first:
        list(parser.messages())
    parser.feed(wire(*BASIC))
    with pytest.raises(SIPParseError) as second:
        list(parser.messages())

    assert second.value is first.value


def test_stream_head_limit() -> None:
    parser = StreamParser(max_head=1024)
    parser.feed(START.encode() + b"\r\nX-Long: " + b"a" * 2000)

    with pytest.raises(SIPParseError) as caught:
        list(parser.messages())

    assert "message head longer than 1024 bytes" in caught.value.reason
    assert caught.value.offset == 1024


def test_stream_body_limit() -> None:
    parser = StreamParser(max_body=100)
    data = wire(*BASIC, "Content-Length: 101", length=False)
    parser.feed(data)

    with pytest.raises(SIPParseError) as caught:
        list(parser.messages())

    assert caught.value.offset == data.index(b"101")
    assert "exceeds the limit of 100 bytes" in caught.value.reason


def test_byte_at_a_time_feeding_of_a_large_head_stays_linear() -> None:
    data = wire(*BASIC, *(f"X-Filler-{n}: {'x' * 90}" for n in range(600)))
    assert len(data) > 60000
    parser = StreamParser()
    started = time.perf_counter()

    for index in range(len(data)):
        parser.feed(data[index : index + 1])
        for message in parser.messages():
            assert message.to_bytes() == data

    assert time.perf_counter() - started < 1.0
    assert parser.offset == len(data)


# --------------------------------------------------------------------------- generated messages

_TOKEN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
_WORD = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=8,
)
_NAME = st.one_of(
    st.sampled_from(
        ["Via", "v", "TO", "from", "Call-ID", "i", "CSeq", "Contact", "m", "Subject", "Route"]
    ),
    st.text(alphabet=_TOKEN, min_size=1, max_size=12),
).filter(lambda name: header_key(name) != "content-length")


@st.composite
def header_lines(draw: st.DrawFn) -> tuple[str, str, str]:
    """(wire text of one header, its name, its expected unfolded value)."""
    name = draw(_NAME)
    words = draw(st.lists(_WORD, max_size=6))
    before = draw(st.sampled_from(["", " ", "  ", "\t"]))
    after = draw(st.sampled_from(["", " ", "   "]))
    text = f"{name}{before}:{after}"
    for index, word in enumerate(words):
        if index and draw(st.booleans()):
            text += "\r\n" + draw(st.sampled_from([" ", "\t", "    "]))
        elif index:
            text += " "
        text += word
    return text, name, " ".join(words)


@st.composite
def messages(draw: st.DrawFn) -> tuple[bytes, list[tuple[str, str]], bytes]:
    """(wire bytes with a true Content-Length, expected (name, value) pairs, body)."""
    if draw(st.booleans()):
        method = draw(st.text(alphabet=_TOKEN, min_size=1, max_size=10))
        user = draw(st.text(alphabet="abc123", min_size=1))
        start = f"{method} sip:{user}@example.com SIP/2.0"
    else:
        start = (
            f"SIP/2.0 {draw(st.integers(100, 699))} {' '.join(draw(st.lists(_WORD, max_size=4)))}"
        )
    headers = draw(st.lists(header_lines(), max_size=8))
    body = draw(st.binary(max_size=64))
    length_name = draw(st.sampled_from(["Content-Length", "l", "content-length"]))
    lines = [start, *(text for text, _, _ in headers), f"{length_name}: {len(body)}"]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    expected = [(name, value) for _, name, value in headers] + [(length_name, str(len(body)))]
    return data, expected, body


@settings(max_examples=150, deadline=None)
@given(messages())
def test_generated_messages_parse_and_round_trip_byte_exact(
    generated: tuple[bytes, list[tuple[str, str]], bytes],
) -> None:
    data, expected, body = generated

    message = parse_message(data)

    assert [(item.name, item.value) for item in message.headers] == expected
    assert message.body == body
    assert message.to_bytes() == data
    assert encode(message, content_length="keep") == data
    rebuilt = dataclasses.replace(
        message, headers=tuple(Header(item.name, item.value) for item in message.headers), raw=None
    )
    assert parse_message(rebuilt.to_bytes()) == message


@settings(max_examples=60, deadline=None)
@given(
    st.lists(messages(), min_size=1, max_size=4),
    st.lists(st.integers(1, 40), min_size=1, max_size=30),
)
def test_generated_streams_frame_the_same_whatever_the_reads(
    generated: list[tuple[bytes, list[tuple[str, str]], bytes]], sizes: list[int]
) -> None:
    stream = b"".join(data for data, _, _ in generated)
    parser = StreamParser()
    seen: list[Message] = []
    position = 0
    index = 0
    while position < len(stream):
        size = sizes[index % len(sizes)]
        parser.feed(stream[position : position + size])
        seen.extend(parser.messages())
        position += size
        index += 1

    assert [message.to_bytes() for message in seen] == [data for data, _, _ in generated]
