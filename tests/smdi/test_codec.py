"""SMDI codec: message shapes, vendor variants, commands, and framing of a byte stream."""

from __future__ import annotations

import pytest

from harness.smdi.codec import (
    CallType,
    MdMessage,
    MwiCommand,
    MwiError,
    Noise,
    Received,
    SmdiCommandReader,
    SmdiError,
    SmdiReader,
)

BUSY = b"\r\nMD0010007B5551234 5559876 \r\n\x19"
DIRECT = b"\r\nMD0010007D 3500 \r\n\x19"
NO_ANSWER_NO_CALLER = b"\r\nMD0010007N5551234  \r\n\x19"
MWI_INV = b"\r\nMWI5551234 INV\r\n\x7f\x7f\x19"


def messages(events: list[Received[MdMessage | MwiError] | Noise]) -> list[MdMessage | MwiError]:
    return [event.message for event in events if isinstance(event, Received)]


def noise(events: list[Received[MdMessage | MwiError] | Noise]) -> list[Noise]:
    return [event for event in events if isinstance(event, Noise)]


# --- MD messages


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (BUSY, MdMessage("001", "0007", "B", "5551234", "5559876")),
        (DIRECT, MdMessage("001", "0007", "D", "", "3500")),
        (NO_ANSWER_NO_CALLER, MdMessage("001", "0007", "N", "5551234", "")),
        (
            b"\r\nMD0630123A2125551234 9175559876 \r\n\x19",
            MdMessage("063", "0123", "A", "2125551234", "9175559876"),
        ),
        (b"\r\nMD0012047U  \r\n\x19", MdMessage("001", "2047", "U", "", "")),
        # Tolerated like Asterisk: extra spaces, no trailing space, a bare CR as the end.
        (b"MD0010007B5551234   5559876\r", MdMessage("001", "0007", "B", "5551234", "5559876")),
    ],
    ids=["both", "blank-forwarding", "blank-calling", "ten-digit", "both-blank", "loose-spacing"],
)
def test_md_shapes_parse(wire: bytes, expected: MdMessage) -> None:
    assert MdMessage.parse(wire) == expected
    [event] = SmdiReader().feed(wire, now=5.0)
    assert event == Received(expected, 5.0, wire.strip(b"\r\n\x19"))


def test_md_encode_is_the_standard_framing() -> None:
    message = MdMessage("001", "0007", "B", "5551234", "5559876")
    assert message.encode() == BUSY
    assert MdMessage("001", "0007", "D", "", "3500").encode() == DIRECT
    assert MdMessage("001", "0007", "N", "5551234", "").encode() == NO_ANSWER_NO_CALLER


@pytest.mark.parametrize("calling", ["", "3500", "5559876", "9175559876"])
@pytest.mark.parametrize("forwarding", ["", "2000", "5551234", "2125551234"])
def test_md_round_trips(forwarding: str, calling: str) -> None:
    message = MdMessage("001", "0001", "N", forwarding, calling)
    assert MdMessage.parse(message.encode()) == message


def test_msdstrip_drops_leading_digits_of_both_stations() -> None:
    wire = MdMessage("001", "0007", "B", "2125551234", "9175559876").encode()
    assert MdMessage.parse(wire, msdstrip=3) == MdMessage("001", "0007", "B", "5551234", "5559876")
    [event] = SmdiReader(msdstrip=3).feed(DIRECT, now=0.0)
    assert isinstance(event, Received)
    assert event.message == MdMessage("001", "0007", "D", "", "0")


@pytest.mark.parametrize(
    ("letter", "kind", "description", "forwarded", "greeting"),
    [
        ("D", CallType.DIRECT, "direct call", False, "unavailable"),
        ("A", CallType.FORWARD_ALL, "forward all calls", True, "unavailable"),
        ("B", CallType.FORWARD_BUSY, "forward on busy", True, "busy"),
        ("N", CallType.FORWARD_NO_ANSWER, "forward on no answer", True, "unavailable"),
        ("U", CallType.FORWARD_UNKNOWN, "forward, reason unknown", True, "unavailable"),
        ("C", None, "vendor-specific call type 'C'", False, "unavailable"),
        ("R", None, "vendor-specific call type 'R'", False, "unavailable"),
    ],
)
def test_call_type_meaning(
    letter: str, kind: CallType | None, description: str, forwarded: bool, greeting: str
) -> None:
    message = MdMessage.parse(f"MD0010007{letter}5551234 5559876 \r".encode())
    assert message.call_type == letter
    assert message.kind is kind
    assert message.description == description
    assert message.is_forwarded is forwarded
    assert message.greeting == greeting


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        (MdMessage("01", "0007", "B", "", ""), "desk number must be 3 digits"),
        (MdMessage("001", "07", "B", "", ""), "terminal must be 4 digits"),
        (MdMessage("001", "00a7", "B", "", ""), "terminal must be 4 digits"),
        (MdMessage("001", "0007", "b", "", ""), "call type must be one capital letter"),
        (MdMessage("001", "0007", "BB", "", ""), "call type must be one capital letter"),
        (MdMessage("001", "0007", "B", "12345678901", ""), "forwarding station"),
        (MdMessage("001", "0007", "B", "", "555-1234"), "calling station"),
    ],
)
def test_md_encode_names_the_bad_field(message: MdMessage, complaint: str) -> None:
    with pytest.raises(SmdiError, match=complaint):
        message.encode()


def test_md_encode_unchecked_writes_fields_verbatim() -> None:
    odd = MdMessage("1", "7", "x", "ab", "c")
    assert odd.encode(strict=False) == b"\r\nMD17xab c \r\n\x19"


@pytest.mark.parametrize(
    ("wire", "complaint"),
    [
        (b"MD0010007B5551234", "cut short"),
        (
            b"MD00A0007B5551234 5559876 \r",
            "message desk number must be 3 digits, got b'A' at byte 4",
        ),
        (b"MD0010007b5551234 5559876 \r", "call type must be 1 capital letter"),
        (b"MD0010007B55512345678 \r", "forwarding station longer than 10 digits"),
        (b"MD0010007B5551234 55598761234 \r", "calling station longer than 10 digits"),
        (b"MD0010007B5551234 555 9876 \r", "calling station must not contain a space"),
        (b"MD0010007B5551234x \r", "forwarding station must be ended by a space"),
        (b"MWI5551234 INV", "expected MdMessage, got MwiError"),
        (b"MD0010007D 3500 \rxyz", "unexpected b'xyz'"),
        (b"\r\n\x19", "only framing bytes"),
    ],
)
def test_md_parse_errors_say_what_and_where(wire: bytes, complaint: str) -> None:
    with pytest.raises(SmdiError, match=complaint.replace("(", r"\(")):
        MdMessage.parse(wire)


# --- MWI error messages


@pytest.mark.parametrize(
    ("wire", "station", "cause", "style"),
    [
        (MWI_INV, "5551234", "INV", "dms"),
        (b"\r\nMWI2125551234 BLK\r\n\x7f\x7f\x19", "2125551234", "BLK", "dms"),
        (b"\r\nMWI 5551234 INV\r\n\x19", "5551234", "INV", "toshiba"),
        (b"\r\nMWI5551234! BLK\r\n\x19", "5551234", "BLK", "cisco"),
        (b"\r\nMWI 5551234! INV\r\n\x19", "5551234", "INV", "cisco"),
    ],
)
def test_mwi_error_layouts(wire: bytes, station: str, cause: str, style: str) -> None:
    parsed = MwiError.parse(wire)
    assert (parsed.station, parsed.cause, parsed.style) == (station, cause, style)
    [event] = SmdiReader().feed(wire, now=1.0)
    assert isinstance(event, Received)
    assert event.message == MwiError(station, cause)


@pytest.mark.parametrize(
    ("style", "wire"),
    [
        ("dms", MWI_INV),
        ("toshiba", b"\r\nMWI 5551234 INV\r\n\x19"),
        ("cisco", b"\r\nMWI5551234! INV\r\n\x19"),
    ],
)
def test_mwi_error_encode_per_style(style: str, wire: bytes) -> None:
    message = MwiError("5551234", "INV", style)  # type: ignore[arg-type]
    assert message.encode() == wire
    assert MwiError.parse(wire).style == style


def test_mwi_error_cause_helpers_and_msdstrip() -> None:
    assert MwiError("1", "INV").is_invalid_station
    assert not MwiError("1", "INV").is_blocked
    assert MwiError("1", "BLK").is_blocked
    assert MwiError.parse(b"MWI2125551234 BLK", msdstrip=3) == MwiError("5551234", "BLK")


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        (MwiError("", "INV"), "station must be 1 to 10 digits"),
        (MwiError("55512345678", "INV"), "station must be 1 to 10 digits"),
        (MwiError("5551234", "IN"), "cause must be 3 capital letters"),
        (MwiError("5551234", "MAX"), "other than M"),
    ],
)
def test_mwi_error_encode_names_the_bad_field(message: MwiError, complaint: str) -> None:
    with pytest.raises(SmdiError, match=complaint):
        message.encode()


@pytest.mark.parametrize(
    ("wire", "complaint"),
    [
        (b"MWX5551234 INV", "expected 'WI'"),
        (b"MWI INV", "station must be at least 1 digit"),
        (b"MWI5551234INV", "station must be followed by a space"),
        (b"MWI5551234 in", "cause must be 3 capital letters other than M"),
    ],
)
def test_mwi_error_parse_errors(wire: bytes, complaint: str) -> None:
    with pytest.raises(SmdiError, match=complaint):
        MwiError.parse(wire)


# --- lamp commands


@pytest.mark.parametrize(
    ("command", "msdstrip", "wire"),
    [
        (MwiCommand("5551234", on=True), 0, b"OP:MWI 5551234!\x04"),
        (MwiCommand("5551234", on=False), 0, b"RMV:MWI 5551234!\x04"),
        (MwiCommand("2000", on=True), 3, b"OP:MWI 0002000!\x04"),
        (MwiCommand("2000", on=False), 1, b"RMV:MWI 02000!\x04"),
    ],
)
def test_command_encode_and_parse(command: MwiCommand, msdstrip: int, wire: bytes) -> None:
    assert command.encode(msdstrip) == wire
    assert MwiCommand.parse(wire, msdstrip=msdstrip) == command
    [event] = SmdiCommandReader(msdstrip=msdstrip).feed(wire, now=2.0)
    assert event == Received(command, 2.0, wire[:-1])


def test_command_verb() -> None:
    assert MwiCommand("1", on=True).verb == "OP"
    assert MwiCommand("1", on=False).verb == "RMV"


def test_command_station_with_context_is_kept_verbatim() -> None:
    # Asterisk's smdi.conf poller writes "mailbox@context" as the station.
    assert MwiCommand.parse(b"OP:MWI 2000@default!\x04") == MwiCommand("2000@default", on=True)


@pytest.mark.parametrize(
    ("wire", "msdstrip", "complaint"),
    [
        (b"OP:MWI 2000!\x04", 3, "does not start with the 3 zero"),
        (b"OP:MWI 000!\x04", 3, "empty once msdstrip=3 zeros are dropped"),
        (b"OP: MWI 2000!\x04", 0, "expected 'OP:MWI '"),
        (b"OP:MWI !\x04", 0, "station missing"),
        (b"RMV:MWI 2000 x!\x04", 0, "station must be ended by '!', got b' ' at byte 12"),
        (b"OP:MWI 2000", 0, "cut short"),
    ],
)
def test_command_parse_errors(wire: bytes, msdstrip: int, complaint: str) -> None:
    with pytest.raises(SmdiError, match=complaint):
        MwiCommand.parse(wire, msdstrip=msdstrip)


@pytest.mark.parametrize(
    ("command", "complaint"),
    [
        (MwiCommand("", on=True), "1 to 80 characters"),
        (MwiCommand("20 00", on=True), "contains ' '"),
        (MwiCommand("20!0", on=True), "contains '!'"),
    ],
)
def test_command_encode_names_the_bad_station(command: MwiCommand, complaint: str) -> None:
    with pytest.raises(SmdiError, match=complaint):
        command.encode()


def test_msdstrip_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="msdstrip must be between 0 and 9, got 10"):
        MwiCommand("1", on=True).encode(10)
    with pytest.raises(ValueError, match="msdstrip"):
        SmdiReader(msdstrip=-1)


def test_command_reader_frames_pipelined_commands_with_and_without_eot() -> None:
    reader = SmdiCommandReader(msdstrip=2)
    events = reader.feed(
        b"OP:MWI 002000!\x04RMV:MWI 002001!OP:MWI 2002!\x04junk\r\nRMV:MWI 002003!", now=0.0
    )
    assert [e.message for e in events if isinstance(e, Received)] == [
        MwiCommand("2000", on=True),
        MwiCommand("2001", on=False),
        MwiCommand("2003", on=False),
    ]
    rejected, junk = [e for e in events if isinstance(e, Noise)]
    assert rejected.data == b"OP:MWI 2002!"
    assert "msdstrip=2" in rejected.reason
    assert junk.data == b"junk"


def test_command_reader_resyncs_after_a_truncated_command() -> None:
    events = SmdiCommandReader().feed(b"OP:MWI 20RMV:MWI 2001!\x04", now=0.0)
    [broken] = noise(events)  # type: ignore[arg-type]
    assert broken.data == b"OP:MWI 20"
    assert [e.message for e in events if isinstance(e, Received)] == [MwiCommand("2001", on=False)]


# --- stream framing


def test_byte_by_byte_feeding_gives_the_same_messages() -> None:
    stream = BUSY + DIRECT + MWI_INV + NO_ANSWER_NO_CALLER
    reader = SmdiReader()
    events = [event for byte in stream for event in reader.feed(bytes([byte]), now=0.0)]
    assert messages(events) == [
        MdMessage.parse(BUSY),
        MdMessage.parse(DIRECT),
        MwiError("5551234", "INV"),
        MdMessage.parse(NO_ANSWER_NO_CALLER),
    ]
    assert noise(events) == []
    assert reader.pending == b""


def test_message_completes_only_when_its_terminator_arrives() -> None:
    reader = SmdiReader()
    assert reader.feed(b"MD0010007B5551234 5559876 ", now=1.0) == []
    assert reader.pending == b"MD0010007B5551234 5559876 "
    [event] = reader.feed(b"\r\n\x19", now=1.2)
    assert isinstance(event, Received)
    assert event.time == 1.2
    assert event.raw == b"MD0010007B5551234 5559876 "


def test_pipelined_messages_without_line_ends() -> None:
    stream = b"MD0010007D 3500 MD0010008B5551234 5559876 MWI5551234 BLKMWI 5551235 INV\r"
    assert messages(SmdiReader().feed(stream, now=0.0)) == [
        MdMessage("001", "0007", "D", "", "3500"),
        MdMessage("001", "0008", "B", "5551234", "5559876"),
        MwiError("5551234", "BLK"),
        MwiError("5551235", "INV"),
    ]


def test_noise_before_and_between_messages_is_reported() -> None:
    events = SmdiReader().feed(b"ATZ\r\nOK\r\n" + BUSY + b"\x00\xffline hit\x7f" + DIRECT, now=3.0)
    assert messages(events) == [MdMessage.parse(BUSY), MdMessage.parse(DIRECT)]
    assert [(n.data, n.reason) for n in noise(events)] == [
        (b"ATZ\r\nOK", "bytes outside any SMDI message"),
        (b"line hit", "bytes outside any SMDI message"),
    ]


def test_noise_split_over_reads_is_one_event() -> None:
    reader = SmdiReader()
    assert reader.feed(b"li", now=0.0) == []
    assert reader.feed(b"ne ", now=0.0) == []
    events = reader.feed(b"hit" + DIRECT, now=0.0)
    assert [n.data for n in noise(events)] == [b"line hit"]
    assert messages(events) == [MdMessage.parse(DIRECT)]


def test_framing_bytes_alone_are_not_noise() -> None:
    assert SmdiReader().feed(b"\r\n\x19\x7f\x7f\x04\x00 \xff\r\n", now=0.0) == []


@pytest.mark.parametrize("cut", range(1, len(BUSY.strip(b"\r\n\x19")) - 1))
def test_truncated_md_never_hides_the_next_message(cut: int) -> None:
    truncated = BUSY[: 2 + cut]
    events = SmdiReader().feed(truncated + DIRECT, now=0.0)
    assert messages(events)[-1] == MdMessage.parse(DIRECT)
    # Cut inside the calling station, the switch's message is still well formed (a shorter
    # caller); everywhere else the broken part is reported, not dropped silently.
    if cut < len(b"MD0010007B5551234 "):
        [broken] = noise(events)
        assert broken.data == truncated.strip(b"\r\n")


def test_sync_byte_inside_a_broken_field_restarts_the_parse() -> None:
    events = SmdiReader().feed(b"MD001MD0010007" + DIRECT, now=0.0)
    assert [n.data for n in noise(events)] == [b"MD001", b"MD0010007"]
    assert messages(events) == [MdMessage.parse(DIRECT)]


def test_junk_mwi_prefix_does_not_swallow_the_next_mwi_error() -> None:
    # A cause never holds an 'M', so "MWI5 " followed by a Toshiba "MWI 123 INV" is not read as
    # station 5 with cause "MWI".
    events = SmdiReader().feed(b"MWI5 MWI 5551234 INV\r\n\x19", now=0.0)
    assert messages(events) == [MwiError("5551234", "INV")]
    assert [n.data for n in noise(events)] == [b"MWI5 "]


def test_unknown_message_type_is_noise() -> None:
    events = SmdiReader().feed(b"\r\nMX0010007\r\n" + DIRECT, now=0.0)
    [unknown] = noise(events)
    assert unknown.data == b"MX0010007"
    assert "unknown message type" in unknown.reason
    assert messages(events) == [MdMessage.parse(DIRECT)]


def test_endless_spaces_do_not_grow_the_buffer() -> None:
    reader = SmdiReader(timeout=None)
    events = reader.feed(b"MD0010007B5551234" + b" " * 500 + b"\r", now=0.0)
    [long] = noise(events)
    assert "longer than 96 bytes" in long.reason
    assert reader.pending == b""


def test_huge_garbage_is_one_noise_event() -> None:
    junk = bytes(range(0x21, 0x4D)) * 2000
    events = SmdiReader().feed(junk + DIRECT, now=0.0)
    assert [len(n.data) for n in noise(events)] == [len(junk)]
    assert messages(events) == [MdMessage.parse(DIRECT)]


# --- timeouts


def test_timeout_delivers_an_md_that_lacks_only_its_terminator() -> None:
    reader = SmdiReader(timeout=1.0)
    assert reader.feed(b"MD0010007B5551234 5559876 ", now=10.0) == []
    assert reader.deadline == 11.0
    assert reader.expire(10.9) == []
    [event] = reader.expire(11.0)
    assert event == Received(
        MdMessage("001", "0007", "B", "5551234", "5559876"), 10.0, b"MD0010007B5551234 5559876 "
    )
    assert reader.deadline is None


def test_timeout_turns_a_stalled_partial_message_into_noise() -> None:
    reader = SmdiReader(timeout=1.0)
    assert reader.feed(b"MD0010007B555", now=0.0) == []
    # The rest arrives much later: the stale start must not be glued to it.
    events = reader.feed(b"1234 5559876 \r\n\x19" + DIRECT, now=5.0)
    [stale, rest] = noise(events)
    assert stale.data == b"MD0010007B555"
    assert "cut short" in stale.reason
    assert stale.time == 0.0
    assert rest.data == b"1234 5559876"
    assert messages(events) == [MdMessage.parse(DIRECT)]


def test_slow_bytes_within_the_timeout_still_make_a_message() -> None:
    reader = SmdiReader(timeout=1.0)
    events = []
    for k, byte in enumerate(BUSY):
        events += reader.feed(bytes([byte]), now=k * 0.5)
    assert messages(events) == [MdMessage.parse(BUSY)]


def test_flush_closes_the_message_in_progress() -> None:
    reader = SmdiReader(timeout=None)
    reader.feed(b"MD0010007N5551234  ", now=2.0)
    assert reader.deadline is None
    assert messages(reader.flush()) == [MdMessage("001", "0007", "N", "5551234", "")]


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout must be positive"):
        SmdiReader(timeout=0)


def test_trailing_junk_is_reported_when_the_line_goes_quiet() -> None:
    reader = SmdiReader(timeout=1.0)
    assert reader.feed(DIRECT[:-1] + b"\x19garbled", now=0.0) == [
        Received(MdMessage.parse(DIRECT), 0.0, DIRECT.strip(b"\r\n\x19"))
    ]
    assert reader.expire(0.5) == []
    assert reader.expire(1.0) == [Noise(b"garbled", 0.0, "bytes outside any SMDI message")]
