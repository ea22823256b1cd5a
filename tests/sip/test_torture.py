"""RFC 4475 torture messages (tests/sip/torture/*.dat, listed in its README.md).

Valid messages (§3.1.1) parse, read right and round-trip byte-exact; invalid ones (§3.1.2) are
refused by the parser or answered with the status the RFC recommends; where the RFC lets a
liberal element accept a message, the lenient mode does, and the test says so. §3.2-§3.4
messages that only a transaction layer or an application can refuse parse cleanly.
"""

from pathlib import Path

import pytest

from harness.sip.errors import SIPParseError
from harness.sip.message import Message, Request, Response, StreamParser, encode, parse_message
from harness.sip.validation import Discard, check_request, check_response

TORTURE = Path(__file__).parent / "torture"

#: §3.1.1 valid messages, plus the §3.2-§3.4 ones whose refusal is not the parser's business.
ACCEPTED = [
    "wsinv",
    "intmeth",
    "esc01",
    "escnull",
    "esc02",
    "lwsdisp",
    "longreq",
    "semiuri",
    "transports",
    "mpart01",
    "unreason",
    "noreason",
    "badbranch",
    "unkscm",
    "novelsc",
    "unksm2",
    "bext01",
    "invut",
    "regaut01",
    "bcast",
    "zeromf",
    "cparam01",
    "cparam02",
    "regescrt",
    "sdp01",
    "inv2543",
]


def load(name: str) -> bytes:
    return (TORTURE / f"{name}.dat").read_bytes()


def parse(name: str, *, lenient: bool = False) -> Message:
    return parse_message(load(name), lenient=lenient)


def parse_request(name: str) -> Request:
    message = parse(name)
    assert isinstance(message, Request)
    return message


def outcome(message: Message, *, lenient: bool = False) -> object:
    if isinstance(message, Request):
        return check_request(message, lenient=lenient)
    return check_response(message, lenient=lenient)


def test_every_file_is_listed_in_the_readme() -> None:
    readme = (TORTURE / "README.md").read_text()
    files = sorted(path.stem for path in TORTURE.glob("*.dat"))

    assert len(files) == 49
    for name in files:
        assert f"| {name} |" in readme


@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted_messages_parse_round_trip_and_pass_validation(name: str) -> None:
    data = load(name)

    message = parse_message(data)

    assert message.to_bytes() == data
    assert encode(message, content_length="keep") == data
    assert outcome(message) is None


def test_dblreq_is_the_register_only() -> None:
    data = load("dblreq")
    register_end = data.index(b"\r\n\r\n") + 4

    message = parse_request("dblreq")

    assert message.method == "REGISTER"
    assert message.body == b""
    assert message.to_bytes() == data[:register_end]
    assert b"INVITE" not in message.to_bytes()
    assert check_request(message) is None


def test_wsinv_reads_right() -> None:
    message = parse_request("wsinv")

    assert message.uri == "sip:vivekg@chair-dnrc.example.com;unknownparam"
    vias = message.vias()
    assert [(via.transport, via.host, via.branch) for via in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    sender, recipient = message.address("From"), message.address("To")
    assert sender is not None
    assert recipient is not None
    assert sender.display_name == 'J Rosenberg \\"'
    assert sender.tag == "98asjd8"
    assert recipient.tag == "1918181833n"
    assert message.header("Subject") == ""
    assert message.header("NewFangledHeader") == "newfangled value continued newfangled value"
    assert message.header("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert message.header("Max-Forwards") == "0068"
    assert message.cseq == (9, "INVITE")
    assert message.header("Content-Length") == "150"
    assert len(message.body) == 150
    route = message.addresses("Route")[0]
    assert route.uri.params == (("lr", None), ("unknownwith", "value"), ("unknown-no-value", None))
    contact = message.addresses("Contact")
    assert len(contact) == 1
    assert contact[0].display_name == 'Quoted string ""'
    assert contact[0].params == (("newparam", "newvalue"), ("secondparam", None), ("q", "0.33"))


def test_intmeth_reads_right() -> None:
    message = parse_request("intmeth")

    assert message.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert message.cseq == (139122385, message.method)
    recipient, sender = message.address("To"), message.address("From")
    assert recipient is not None
    assert sender is not None
    assert recipient.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert recipient.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert sender.display_name == "token1~` token2'+_ token3*%!.-"
    assert sender.param("fromParam''~+*_!.-%") == "работающий"
    assert sender.tag == "_token~1'+`*%!-."
    assert message.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert message.header("extensionHeader-!.%*+_`'~") == "\ufeff大停電"
    assert message.vias()[0].branch == "z9hG4bK-.!%66*_+`'~"


def test_esc01_reads_right() -> None:
    message = parse_request("esc01")
    contact = message.addresses("Contact")[0]

    assert message.header("Call-ID") == "esc01.239409asdfakjkn23onasd0-3234"
    assert message.header("Content-Type") == "application/sdp"
    assert message.address("To").uri.user == "user"  # type: ignore[union-attr]
    assert message.address("From").uri.user == "I have spaces"  # type: ignore[union-attr]
    assert contact.uri.user == "caller"
    assert contact.uri.params == (("lr", None), ("name", "value%41"))


def test_escnull_has_two_distinct_contacts() -> None:
    message = parse_request("escnull")

    assert message.address("To").uri.user == "null-\x00-null"  # type: ignore[union-attr]
    assert [contact.uri.user for contact in message.addresses("Contact")] == ["\x00", "\x00\x00"]
    assert message.header("Content-Length") == "0"


def test_esc02_percent_is_not_an_escape() -> None:
    message = parse_request("esc02")

    assert message.method == "RE%47IST%45R"
    assert message.address("To").display_name == "%Z%45"  # type: ignore[union-attr]
    assert len(message.addresses("Contact")) == 2
    assert message.vias()[0].branch == "z9hG4bK209%fzsnel234"


def test_lwsdisp_display_name() -> None:
    assert parse_request("lwsdisp").address("From").display_name == "caller"  # type: ignore[union-attr]


def test_longreq_long_values() -> None:
    message = parse_request("longreq")
    recipient = message.address("To")
    sender = message.address("From")

    assert recipient is not None
    assert sender is not None
    assert recipient.display_name == "I have a user name of " + "extreme" * 10 + " proportion"
    assert recipient.uri.port == 6000
    assert recipient.uri.param("unknownparam1") == "very" + "long" * 20 + "value"
    assert recipient.uri.param("longparam" + "name" * 25) == "shortvalue"
    assert recipient.uri.param("very" + "long" * 25 + "ParameterNameWithNoValue") == ""
    assert sender.uri.user == "amazinglylongcallername" * 5
    assert sender.tag == "12" + "982" * 50 + "424"
    assert message.call_id == "longreq.one" + "really" * 20 + "longcallid"
    vias = message.vias()
    assert len(vias) == 34
    assert [via.host for via in vias[:33]] == [f"sip{n}.example.com" for n in range(33, 0, -1)]
    assert vias[33].branch == "very" + "long" * 50 + "branchvalue"
    assert message.header("Content-Length") == "150"


def test_semiuri_user_part() -> None:
    message = parse_request("semiuri")

    assert message.header_values("Accept") == [
        "application/sdp",
        "application/pkcs7-mime",
        "multipart/mixed",
        "multipart/signed",
        "message/sip",
        "message/sipfrag",
    ]


def test_transports() -> None:
    transports = [via.transport for via in parse_request("transports").vias()]

    assert transports == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def test_mpart01_binary_body_is_framed_by_content_length() -> None:
    message = parse_request("mpart01")

    assert message.header("Content-Length") == "553"
    assert len(message.body) == 553
    assert b"\x00" in message.body
    assert message.body.endswith(b"--7a9cbec02ceef655--\r\n")


def test_reason_phrases() -> None:
    unusual = parse("unreason")
    empty = parse("noreason")

    assert isinstance(unusual, Response)
    assert isinstance(empty, Response)
    assert unusual.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"
    assert (empty.status, empty.reason) == (100, "")


def test_scheme_and_parameter_oddities_parse() -> None:
    assert parse_request("unksm2").address("To").uri.scheme == "isbn"  # type: ignore[union-attr]
    assert parse_request("novelsc").uri == "soap.beep://192.0.2.103:3002"
    assert parse_request("cparam01").addresses("Contact")[0].params == (("unknownparam", None),)
    assert parse_request("cparam02").addresses("Contact")[0].uri.params == (("unknownparam", None),)
    escaped_route = parse_request("regescrt").addresses("Contact")[0].uri.headers
    assert escaped_route == (("Route", "<sip:sip.example.com>"),)
    assert parse_request("inv2543").header("Max-Forwards") is None


# --------------------------------------------------------------------------- invalid messages

#: name -> (strict outcome, lenient outcome). "parse" = SIPParseError; a (status, text) pair is a
#: Rejection whose reason contains the text; "drop" = the response is discarded; None = accepted.
INVALID: dict[str, tuple[object, object]] = {
    "badinv01": ((400, "empty element in the Via list"), (400, "malformed Via header")),
    "clerr": ("parse", "parse"),
    "ncl": ("parse", "parse"),
    "scalar02": ((400, "CSeq number 36893488147419103232 exceeds"), (400, "CSeq number")),
    "scalarlg": ("drop", "drop"),
    "quotbal": ((400, "malformed To header: unterminated quoted string"), (400, "unterminated")),
    # "Elements attempting to be liberal ... may choose to ignore the brackets."
    "ltgtruri": ((400, "must not be enclosed in <>"), None),
    "lwsruri": ("parse", "parse"),
    # "An element that is liberal in what it accepts may ignore these extra SP characters."
    "lwsstart": ("parse", None),
    "trws": ("parse", None),
    # "An element could choose to be liberal in what it accepts and ignore the escaped headers."
    "escruri": ((400, "must not carry headers"), None),
    # "An element wishing to be liberal ... could ignore this value altogether."
    "baddate": ((400, "not an RFC 1123 date in GMT"), None),
    # "An element choosing to be liberal ... could infer the angle brackets."
    "regbadct": ((400, "malformed Contact header"), None),
    # "Elements attempting to be liberal may ignore the spaces."
    "badaspec": ((400, "malformed To header"), None),
    "baddn": ((400, "malformed From header: display name"), (400, "needs quotes")),
    "badvers": ((505, "SIP/7.0"), (505, "SIP/7.0")),
    "mismatch01": (
        (400, "CSeq method INVITE does not match request method OPTIONS"),
        (400, "CSeq"),
    ),
    # The RFC prefers 501 for the unknown method and accepts 400.
    "mismatch02": (
        (400, "CSeq method INVITE does not match request method NEWMETHOD"),
        (400, "CSeq"),
    ),
    "bigcode": ("parse", "parse"),
    "insuf": ((400, "missing mandatory headers From, To, Call-ID"), (400, "missing")),
    "multi01": ((400, "appears 2 times but takes one value"), (400, "appears 2 times")),
    "mcl01": ("parse", "parse"),
}


def observed(name: str, *, lenient: bool) -> object:
    try:
        message = parse(name, lenient=lenient)
    except SIPParseError:
        return "parse"
    result = outcome(message, lenient=lenient)
    if isinstance(result, Discard):
        return "drop"
    return result


def matches(result: object, expected: object) -> bool:
    if isinstance(expected, tuple):
        status, text = expected
        return getattr(result, "status", None) == status and text in getattr(result, "reason", "")
    return result == expected


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_messages_are_refused_as_the_rfc_recommends(name: str) -> None:
    strict, _ = INVALID[name]

    assert matches(observed(name, lenient=False), strict)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_lenient_mode_accepts_only_what_the_rfc_lets_a_liberal_element_accept(name: str) -> None:
    _, lenient = INVALID[name]

    assert matches(observed(name, lenient=True), lenient)


def test_every_file_has_an_expected_outcome() -> None:
    files = {path.stem for path in TORTURE.glob("*.dat")}

    assert files == {*ACCEPTED, *INVALID, "dblreq"}


@pytest.mark.parametrize(
    ("name", "offset_of", "reason"),
    [
        ("clerr", b"9999", "Content-Length 9999 exceeds the 154 bytes after the head"),
        ("ncl", b"-999", "invalid Content-Length '-999'"),
        ("lwsruri", b" lr SIP", "SP inside the Request-URI"),
        ("lwsstart", b" sip:", "more than one SP"),
        ("trws", b"  \r\n", "white space after the SIP version"),
        ("bigcode", b"4294967301", "invalid status code '4294967301'"),
        ("mcl01", b"Content-Length: 5", "conflicting Content-Length values 13 and 5"),
    ],
)
def test_parse_errors_point_at_the_offending_bytes(
    name: str, offset_of: bytes, reason: str
) -> None:
    data = load(name)

    with pytest.raises(SIPParseError) as caught:
        parse_message(data)

    assert reason in caught.value.reason
    assert caught.value.offset == data.index(offset_of)


def test_clerr_on_a_stream_waits_for_the_rest_of_the_body() -> None:
    parser = StreamParser()
    parser.feed(load("clerr"))

    assert list(parser.messages()) == []


def test_valid_messages_frame_on_a_stream_in_any_chunking() -> None:
    names = [name for name in ACCEPTED if name != "inv2543"]  # RFC 2543 style: no Content-Length
    datas = [load(name) for name in names]
    stream = b"".join(datas)

    for size in (1, 7, 512, len(stream)):
        parser = StreamParser()
        seen: list[Message] = []
        for start in range(0, len(stream), size):
            parser.feed(stream[start : start + size])
            seen.extend(parser.messages())
        assert [message.to_bytes() for message in seen] == datas
