"""MWI core: message-summary bodies as real servers write them, tolerant parsing, lamp state."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.core.mwi import (
    CONTENT_TYPE,
    EVENT,
    MESSAGE_CLASSES,
    STYLES,
    VOICE,
    Counts,
    Lamp,
    LampExpectation,
    MailboxCounts,
    MessageSummary,
    MwiError,
    Style,
    build,
    parse_summary,
    summary_for,
)

# Bodies from the protocol reference (§2.1, §2.2, §5.3, §5b), byte for byte.
CHAN_SIP_BODY = (
    b"Messages-Waiting: yes\r\n"
    b"Message-Account: sip:asterisk@192.0.2.10\r\n"
    b"Voice-Message: 3/7 (0/0)\r\n"
)
CHAN_SIP_OBSERVED = (
    b"Messages-Waiting: yes\r\n"
    b"Message-Account: sip:asterisk@127.0.0.1:5080\r\n"
    b"Voice-Message: 1/0 (0/0)\r\n"
)
TESTSUITE_BODY = (
    b"Messages-Waiting: yes\r\n"
    b"Message-Account: sip:alice@127.0.0.1:5061\r\n"
    b"Voice-Message: 1/2 (0/0)\r\n"
)
PJSIP_NO_ACCOUNT = b"Messages-Waiting: no\r\nVoice-Message: 0/2 (0/0)\r\n"


def voice_summary(
    new: int, old: int, *urgent: int, waiting: bool, account: str | None = None
) -> MessageSummary:
    return MessageSummary(waiting, account, ((VOICE, Counts(new, old, *urgent)),))


# --- constants -------------------------------------------------------------------------------


def test_package_names() -> None:
    assert CONTENT_TYPE == "application/simple-message-summary"
    assert EVENT == "message-summary"
    assert MESSAGE_CLASSES[0] == VOICE == "voice-message"


# --- Counts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "counts"),
    [
        ("1/0", Counts(1, 0)),
        ("1/0 (0/0)", Counts(1, 0, 0, 0)),
        ("2/8 (0/2)", Counts(2, 8, 0, 2)),
        (" 12 / 3 ( 1 / 0 ) ", Counts(12, 3, 1, 0)),
        ("1/0(0/0)", Counts(1, 0, 0, 0)),
        ("0/0", Counts(0, 0)),
    ],
)
def test_counts_parse(text: str, counts: Counts) -> None:
    assert Counts.parse(text) == counts


@pytest.mark.parametrize(
    "text", ["", "1", "1/", "/1", "-1/0", "1/0 (0)", "1/0 (0/0", "a/b", "\u0661/\u0660"]
)
def test_counts_parse_rejects_bad_text_naming_it(text: str) -> None:
    with pytest.raises(MwiError, match="bad message counts") as caught:
        Counts.parse(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize(
    ("counts", "style", "text"),
    [
        (Counts(1, 0), "asterisk", "1/0 (0/0)"),
        (Counts(1, 0, 1, 0), "asterisk", "1/0 (0/0)"),
        (Counts(1, 0, 1, 0), "buggymwi", "1/0"),
        (Counts(1, 0, 1, 0), "rfc3842", "1/0 (1/0)"),
        (Counts(1, 0), "rfc3842", "1/0"),
    ],
)
def test_counts_format(counts: Counts, style: Style, text: str) -> None:
    assert counts.format(style) == text


def test_counts_str_is_rfc3842_form() -> None:
    assert str(Counts(2, 8, 0, 2)) == "2/8 (0/2)"
    assert str(Counts(2, 8)) == "2/8"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ((-1, 0), "new count"),
        ((0, -2), "old count"),
        ((True, 0), "new count"),
        ((1.0, 0), "new count"),
        ((1, 0, 1, None), "pair"),
        ((1, 0, None, 1), "pair"),
        ((1, 0, -1, 0), "new urgent count"),
        ((1, 0, 0, -1), "old urgent count"),
    ],
)
def test_counts_validate(args: tuple[object, ...], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        Counts(*args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("expected", "actual", "matches"),
    [
        (Counts(1, 0), Counts(1, 0, 0, 0), True),
        (Counts(1, 0), Counts(1, 0), True),
        (Counts(1, 0), Counts(1, 1), False),
        (Counts(1, 0), Counts(0, 0), False),
        (Counts(1, 0), None, False),
        (Counts(1, 0, 1, 0), Counts(1, 0, 1, 0), True),
        (Counts(1, 0, 1, 0), Counts(1, 0, 0, 0), False),
        (Counts(1, 0, 1, 0), Counts(1, 0), False),
    ],
)
def test_counts_matches(expected: Counts, actual: Counts | None, matches: bool) -> None:
    assert expected.matches(actual) is matches


# --- building --------------------------------------------------------------------------------


def test_asterisk_style_reproduces_chan_sip() -> None:
    body = build(Counts(3, 7), account="sip:asterisk@192.0.2.10")
    assert body == CHAN_SIP_BODY


def test_asterisk_style_writes_zero_urgent_even_when_known() -> None:
    body = build(Counts(3, 7, 2, 1), account="sip:asterisk@192.0.2.10", style="asterisk")
    assert body == CHAN_SIP_BODY


def test_asterisk_style_without_account_reproduces_res_pjsip() -> None:
    assert build(Counts(0, 2)) == PJSIP_NO_ACCOUNT


def test_buggymwi_drops_the_urgent_part() -> None:
    body = build(Counts(1, 0, 0, 0), account="sip:asterisk@192.0.2.10", style="buggymwi")
    assert body == (
        b"Messages-Waiting: yes\r\n"
        b"Message-Account: sip:asterisk@192.0.2.10\r\n"
        b"Voice-Message: 1/0\r\n"
    )


@pytest.mark.parametrize(
    ("counts", "line"),
    [
        (Counts(2, 8, 0, 2), b"Voice-Message: 2/8 (0/2)\r\n"),
        (Counts(2, 8), b"Voice-Message: 2/8\r\n"),
    ],
)
def test_rfc3842_style_writes_urgent_counts_when_known(counts: Counts, line: bytes) -> None:
    assert build(counts, style="rfc3842") == b"Messages-Waiting: yes\r\n" + line


@pytest.mark.parametrize(
    ("counts", "waiting"), [(Counts(1, 0), True), (Counts(0, 5), False), (Counts(0, 0), False)]
)
def test_waiting_defaults_to_new_messages(counts: Counts, waiting: bool) -> None:
    assert MessageSummary.of(counts).waiting is waiting


def test_waiting_counts_new_messages_of_any_class() -> None:
    summary = MessageSummary.of(Counts(0, 1), others={"fax-message": Counts(1, 0)})
    assert summary.waiting is True


def test_explicit_waiting_wins_over_counts() -> None:
    assert build(Counts(1, 0), waiting=False).startswith(b"Messages-Waiting: no\r\n")


def test_other_classes_and_extra_headers() -> None:
    body = build(
        Counts(1, 0),
        others={"fax-message": Counts(0, 1), "multimedia-message": Counts(2, 0, 1, 0)},
        headers=[("To", "<sip:alice@example.com>"), ("Subject", "hello")],
        style="rfc3842",
    )
    assert body == (
        b"Messages-Waiting: yes\r\n"
        b"Voice-Message: 1/0\r\n"
        b"Fax-Message: 0/1\r\n"
        b"Multimedia-Message: 2/0 (1/0)\r\n"
        b"\r\n"
        b"To: <sip:alice@example.com>\r\n"
        b"Subject: hello\r\n"
    )


def test_summary_without_classes_is_just_the_status_line() -> None:
    assert MessageSummary(False).to_body() == b"Messages-Waiting: no\r\n"


def test_unknown_style_is_refused() -> None:
    with pytest.raises(ValueError, match="'chan_sip'"):
        MessageSummary(True).to_body("chan_sip")  # type: ignore[arg-type]


def test_class_names_are_normalised_and_looked_up_case_insensitively() -> None:
    summary = MessageSummary(True, classes=(("Voice-Message", Counts(1, 0)),))
    assert summary.classes == ((VOICE, Counts(1, 0)),)
    assert summary.voice == summary.counts("VOICE-MESSAGE") == Counts(1, 0)
    assert summary.counts("fax-message") is None


def test_summary_without_voice_line_has_no_voice_counts() -> None:
    assert MessageSummary(False).voice is None


def test_describe() -> None:
    summary = MessageSummary.of(Counts(1, 0, 0, 0), others={"fax-message": Counts(0, 2)})
    assert summary.describe() == "waiting=yes, voice-message 1/0 (0/0), fax-message 0/2"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"waiting": "yes"}, "waiting"),
        ({"waiting": True, "account": ""}, "Message-Account"),
        ({"waiting": True, "account": " sip:a@b"}, "Message-Account"),
        ({"waiting": True, "account": "sip:a@b\r\nX: y"}, "Message-Account"),
        ({"waiting": True, "classes": (("voice message", Counts(0, 0)),)}, "class name"),
        ({"waiting": True, "classes": (("Messages-Waiting", Counts(0, 0)),)}, "class name"),
        (
            {"waiting": True, "classes": ((VOICE, Counts(0, 0)), ("Voice-Message", Counts(1, 0)))},
            "twice",
        ),
        ({"waiting": True, "classes": ((VOICE, (1, 0)),)}, "must be Counts"),
        ({"waiting": True, "headers": (("To:", "x"),)}, "header name"),
        ({"waiting": True, "headers": (("X-A", "a\r\nb"),)}, "X-A"),
        ({"waiting": True, "headers": (("X-A", " a"),)}, "X-A"),
    ],
)
def test_summary_validates(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        MessageSummary(**kwargs)  # type: ignore[arg-type]


def test_voice_given_twice_through_others_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        MessageSummary.of(Counts(1, 0), others={"Voice-Message": Counts(2, 0)})


# --- parsing the reference bodies ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "summary"),
    [
        (CHAN_SIP_BODY, voice_summary(3, 7, 0, 0, waiting=True, account="sip:asterisk@192.0.2.10")),
        (
            CHAN_SIP_OBSERVED,
            voice_summary(1, 0, 0, 0, waiting=True, account="sip:asterisk@127.0.0.1:5080"),
        ),
        (
            TESTSUITE_BODY,
            voice_summary(1, 2, 0, 0, waiting=True, account="sip:alice@127.0.0.1:5061"),
        ),
        (PJSIP_NO_ACCOUNT, voice_summary(0, 2, 0, 0, waiting=False)),
        (
            b"Messages-Waiting: yes\r\nVoice-Message: 2/8 (0/2)\r\n",
            voice_summary(2, 8, 0, 2, waiting=True),
        ),
        (b"Messages-Waiting: yes\r\nVoice-Message: 1/0\r\n", voice_summary(1, 0, waiting=True)),
    ],
)
@pytest.mark.parametrize("strict", [False, True])
def test_parse_reference_bodies(body: bytes, summary: MessageSummary, strict: bool) -> None:
    assert parse_summary(body, strict=strict) == summary


@pytest.mark.parametrize(
    ("new", "old", "waiting"), [(2, 0, "yes"), (1, 1, "yes"), (0, 2, "no"), (0, 0, "no")]
)
def test_parse_testsuite_count_changes(new: int, old: int, waiting: str) -> None:
    body = f"Messages-Waiting: {waiting}\r\nVoice-Message: {new}/{old} (0/0)\r\n"
    summary = parse_summary(body)
    assert summary.waiting is (waiting == "yes")
    assert summary.voice == Counts(new, old, 0, 0)


# --- tolerant parsing of odd bodies ----------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "messages-waiting: yes\r\nmessage-account: sip:vm@example.com\r\n"
        "voice-message: 1/0 (0/0)\r\n",
        "MESSAGES-WAITING: YES\r\nMESSAGE-ACCOUNT: sip:vm@example.com\r\n"
        "VOICE-MESSAGE: 1/0 (0/0)\r\n",
        "Messages-Waiting:yes\r\nMessage-Account:sip:vm@example.com\r\nVoice-Message:1/0(0/0)\r\n",
        "Messages-Waiting : yes \r\nMessage-Account :  sip:vm@example.com \r\n"
        "Voice-Message :  1 / 0  ( 0 / 0 ) \r\n",
        "Messages-Waiting:\tyes\nMessage-Account:\tsip:vm@example.com\nVoice-Message:\t1/0 (0/0)\n",
        "Messages-Waiting: yes\nMessage-Account: sip:vm@example.com\nVoice-Message: 1/0 (0/0)",
        "\r\n\r\nMessages-Waiting: yes\r\nMessage-Account: sip:vm@example.com\r\n"
        "Voice-Message: 1/0 (0/0)\r\n",
        "Voice-Message: 1/0 (0/0)\r\nMessage-Account: sip:vm@example.com\r\n"
        "Messages-Waiting: yes\r\n",
        "Messages-Waiting: yes\r\nX-Vendor: whatever\r\nMessage-Account: sip:vm@example.com\r\n"
        "no colon here\r\nVoice-Message: 1/0 (0/0)\r\n",
    ],
)
def test_tolerant_parse_reads_odd_shapes_alike(body: str) -> None:
    assert parse_summary(body) == voice_summary(
        1, 0, 0, 0, waiting=True, account="sip:vm@example.com"
    )


def test_missing_account_and_urgent_part() -> None:
    summary = parse_summary("Messages-Waiting: no\nVoice-Message: 0/3\n")
    assert summary.account is None
    assert summary.voice == Counts(0, 3)


def test_empty_account_reads_as_none() -> None:
    assert parse_summary("Messages-Waiting: no\r\nMessage-Account:\r\n").account is None


def test_extra_classes_are_kept_in_order() -> None:
    summary = parse_summary(
        "Messages-Waiting: yes\r\n"
        "Fax-Message: 1/0\r\n"
        "Voice-Message: 0/0 (0/0)\r\n"
        "pager-message: 3/4 (1/1)\r\n"
        "X-Custom-Message: 5/6\r\n"
    )
    assert summary.classes == (
        ("fax-message", Counts(1, 0)),
        (VOICE, Counts(0, 0, 0, 0)),
        ("pager-message", Counts(3, 4, 1, 1)),
        ("x-custom-message", Counts(5, 6)),
    )


def test_unknown_lines_without_counts_are_ignored() -> None:
    summary = parse_summary("Messages-Waiting: no\r\nX-Note: hello\r\nFoo/Bar\r\nVoicemail 3\r\n")
    assert summary == MessageSummary(False)


def test_extra_headers_after_the_blank_line() -> None:
    summary = parse_summary(
        "Messages-Waiting: yes\r\n"
        "Voice-Message: 1/0\r\n"
        "\r\n"
        "To: <sip:alice@example.com>\r\n"
        "Subject: a very\r\n"
        "  long subject\r\n"
        "Voice-Message: 9/9\r\n"
        "garbage\r\n"
    )
    assert summary.voice == Counts(1, 0)
    assert summary.headers == (
        ("To", "<sip:alice@example.com>"),
        ("Subject", "a very long subject"),
        ("Voice-Message", "9/9"),
    )


def test_repeated_lines_last_one_wins() -> None:
    summary = parse_summary(
        "Messages-Waiting: no\r\nVoice-Message: 0/1\r\n"
        "Messages-Waiting: yes\r\nVoice-Message: 2/1\r\n"
    )
    assert summary.waiting is True
    assert summary.voice == Counts(2, 1)


def test_bare_cr_ends_a_line() -> None:
    summary = parse_summary(b"Messages-Waiting: yes\rVoice-Message: 1/0\r\rTo: x\ry\r")
    assert summary == MessageSummary.of(Counts(1, 0), headers=[("To", "x")])


def test_str_and_bytes_parse_alike() -> None:
    assert parse_summary(TESTSUITE_BODY) == parse_summary(TESTSUITE_BODY.decode())


def test_non_utf8_bytes_do_not_hide_the_counts() -> None:
    body = b"Messages-Waiting: yes\r\nVoice-Message: 1/0\r\n\r\nSubject: caf\xe9\r\n"
    summary = parse_summary(body)
    assert summary.voice == Counts(1, 0)
    assert summary.headers == (("Subject", "caf\u00e9"),)


@pytest.mark.parametrize(
    ("body", "reason", "line"),
    [
        ("", "no Messages-Waiting line", None),
        ("Voice-Message: 1/0 (0/0)\r\n", "no Messages-Waiting line", None),
        ("Messages-Waiting yes\r\n", "no Messages-Waiting line", None),
        ("Message-Account: sip:a@b\r\n\r\nMessages-Waiting: yes\r\n", "no Messages-Waiting", None),
        ("Messages-Waiting: maybe\r\n", "'yes' or 'no'", 1),
        ("Messages-Waiting: \r\n", "'yes' or 'no'", 1),
        ("Messages-Waiting: 1\r\n", "'yes' or 'no'", 1),
        ("Messages-Waiting: true\r\n", "'yes' or 'no'", 1),
        ("Message-Account: sip:a@b\nMessages-Waiting: yess\n", "'yes' or 'no'", 2),
        ("Messages-Waiting: yes\r\nVoice-Message: 1\r\n", "bad Voice-Message counts", 2),
        ("Messages-Waiting: yes\r\nVoice-Message: -1/0\r\n", "bad Voice-Message counts", 2),
        ("Messages-Waiting: yes\r\nvoice-message: 1/0 (0)\r\n", "bad voice-message counts", 2),
        ("Messages-Waiting: yes\r\nFax-Message: many\r\n", "bad Fax-Message counts", 2),
    ],
)
def test_parse_errors_name_the_line(body: str, reason: str, line: int | None) -> None:
    with pytest.raises(MwiError, match=reason) as caught:
        parse_summary(body)
    assert caught.value.line == line
    if line is not None:
        assert caught.value.text == body.replace("\r\n", "\n").split("\n")[line - 1]
        assert f"line {line}" in str(caught.value)


def test_mwi_error_is_a_value_error() -> None:
    assert issubclass(MwiError, ValueError)


# --- strict parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason", "line"),
    [
        ("Messages-Waiting: yes\nVoice-Message: 1/0\r\n", "LF, not CRLF", 1),
        ("Messages-Waiting: yes\r\nVoice-Message: 1/0", "does not end with CRLF", 2),
        ("Messages-Waiting: yes\r\nVoice\rMessage: 1/0\r\n", "bare CR", 2),
        ("\r\nMessages-Waiting: yes\r\n", "blank line before", 1),
        ("Voice-Message: 1/0\r\nMessages-Waiting: yes\r\n", "first line", 1),
        ("Messages-Waiting: yes\r\nMessages-Waiting: yes\r\n", "first line, once", 2),
        (
            "Messages-Waiting: yes\r\nVoice-Message: 1/0\r\nMessage-Account: sip:a@b\r\n",
            "right after",
            3,
        ),
        (
            "Messages-Waiting: yes\r\nMessage-Account: sip:a@b\r\nMessage-Account: sip:c@d\r\n",
            "right after",
            3,
        ),
        ("Messages-Waiting: yes\r\nMessage-Account:\r\n", "empty Message-Account", 2),
        ("Messages-Waiting: yes\r\nVoice-Message: 1/0\r\nvoice-message: 2/0\r\n", "twice", 3),
        ("Messages-Waiting: yes\r\nX-Note: hello\r\n", "bad X-Note counts", 2),
        ("Messages-Waiting: yes\r\nno colon\r\n", "not a message-summary line", 2),
        ("Messages-Waiting: yes\r\n\r\nnot a header\r\n", "not a header line", 3),
        ("Messages-Waiting: yes\r\n\r\nTo: a\r\n folded\r\n", "not a header line", 4),
    ],
)
def test_strict_parse_rejects_deviations(body: str, reason: str, line: int) -> None:
    parse_summary(body)  # the tolerant reading accepts all of these
    with pytest.raises(MwiError, match=reason) as caught:
        parse_summary(body, strict=True)
    assert caught.value.line == line


def test_strict_parse_rejects_non_utf8() -> None:
    with pytest.raises(MwiError, match=r"not UTF-8 \(byte 37\)"):
        parse_summary(b"Messages-Waiting: yes\r\n\r\nSubject: caf\xe9\r\n", strict=True)


# --- round trips -----------------------------------------------------------------------------

_COUNT = st.integers(min_value=0, max_value=10_000)
_COUNTS = st.builds(Counts, _COUNT, _COUNT) | st.builds(Counts, _COUNT, _COUNT, _COUNT, _COUNT)
_CLASS_NAMES = st.sampled_from(MESSAGE_CLASSES) | st.from_regex(
    r"x-[a-z0-9]{1,8}-message", fullmatch=True
)
_ACCOUNT = st.none() | st.from_regex(
    r"sips?:[a-z0-9]{1,8}@[a-z0-9.]{1,15}(:[0-9]{1,5})?", fullmatch=True
)
_HEADER_VALUE = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E) | st.just(" "), max_size=20
).map(str.strip)
_HEADERS = st.lists(
    st.tuples(st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,10}", fullmatch=True), _HEADER_VALUE),
    max_size=3,
)
_SUMMARIES = st.builds(
    MessageSummary,
    st.booleans(),
    _ACCOUNT,
    st.dictionaries(_CLASS_NAMES, _COUNTS, max_size=4).map(lambda d: tuple(d.items())),
    _HEADERS.map(tuple),
)


@given(_SUMMARIES)
def test_rfc3842_round_trip_keeps_everything(summary: MessageSummary) -> None:
    body = summary.to_body("rfc3842")
    assert parse_summary(body) == summary
    assert parse_summary(body, strict=True) == summary


def expected_counts(sent: Counts, style: Style) -> Counts:
    """What a reader gets back from ``sent`` written in ``style``."""
    if style == "asterisk":
        return Counts(sent.new, sent.old, 0, 0)
    if style == "buggymwi":
        return Counts(sent.new, sent.old)
    return sent


@given(_SUMMARIES, st.sampled_from(STYLES))
def test_round_trip_in_each_style(summary: MessageSummary, style: Style) -> None:
    parsed = parse_summary(summary.to_body(style), strict=True)
    assert parsed == MessageSummary(
        summary.waiting,
        summary.account,
        tuple((name, expected_counts(counts, style)) for name, counts in summary.classes),
        summary.headers,
    )


@given(_SUMMARIES)
def test_tolerant_parse_ignores_line_end_style(summary: MessageSummary) -> None:
    body = summary.to_body("rfc3842")
    assert parse_summary(body.replace(b"\r\n", b"\n")) == parse_summary(body)


@given(
    st.text(st.sampled_from("Messages-Waiting: yes no Voice-Message 1/0 (0/0)\r\n\t:/()x\x00é"))
    | st.binary(max_size=80),
    st.booleans(),
)
def test_any_input_gives_a_summary_or_mwi_error(body: str | bytes, strict: bool) -> None:
    try:
        summary = parse_summary(body, strict=strict)
    except MwiError:
        return
    assert parse_summary(summary.to_body("rfc3842")) == summary


@given(_COUNTS)
def test_counts_text_round_trips(counts: Counts) -> None:
    assert Counts.parse(str(counts)) == counts


# --- aggregation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("boxes", "voice", "waiting"),
    [
        ([], Counts(0, 0, 0, 0), False),
        ([MailboxCounts(1, 0)], Counts(1, 0, 0, 0), True),
        ([MailboxCounts(0, 3)], Counts(0, 3, 0, 0), False),
        ([MailboxCounts(0, 0, urgent=1)], Counts(1, 0, 1, 0), True),
        (
            [MailboxCounts(1, 2, 1), MailboxCounts(0, 1), MailboxCounts(3, 0, 2)],
            Counts(7, 3, 3, 0),
            True,
        ),
        ([MailboxCounts(0, 2), MailboxCounts(0, 5)], Counts(0, 7, 0, 0), False),
    ],
)
def test_summary_for_aggregates_mailboxes(
    boxes: list[MailboxCounts], voice: Counts, waiting: bool
) -> None:
    summary = summary_for(boxes)
    assert summary.voice == voice
    assert summary.waiting is waiting


def test_summary_for_writes_the_asterisk_body() -> None:
    summary = summary_for(
        (MailboxCounts(1, 0, 1), MailboxCounts(0, 2)), account="sip:asterisk@192.0.2.10"
    )
    assert summary.to_body("asterisk") == (
        b"Messages-Waiting: yes\r\n"
        b"Message-Account: sip:asterisk@192.0.2.10\r\n"
        b"Voice-Message: 2/2 (0/0)\r\n"
    )
    assert summary.to_body("rfc3842").endswith(b"Voice-Message: 2/2 (1/0)\r\n")


def test_summary_for_accepts_a_generator() -> None:
    assert summary_for(MailboxCounts(n) for n in range(4)).voice == Counts(6, 0, 0, 0)


@given(st.lists(st.builds(MailboxCounts, _COUNT, _COUNT, _COUNT), max_size=5))
def test_summary_for_sums(boxes: list[MailboxCounts]) -> None:
    summary = summary_for(boxes)
    assert summary.voice is not None
    assert summary.voice.new == sum(b.new + b.urgent for b in boxes)
    assert summary.voice.old == sum(b.old for b in boxes)
    assert summary.waiting is any(b.waiting for b in boxes)


@pytest.mark.parametrize(
    ("counts", "waiting"),
    [
        (MailboxCounts(), False),
        (MailboxCounts(1), True),
        (MailboxCounts(0, 9), False),
        (MailboxCounts(urgent=1), True),
    ],
)
def test_mailbox_counts_waiting(counts: MailboxCounts, waiting: bool) -> None:
    assert counts.waiting is waiting


@pytest.mark.parametrize(
    ("args", "fragment"),
    [((-1,), "new count"), ((0, -1), "old count"), ((0, 0, -1), "urgent"), ((False,), "new")],
)
def test_mailbox_counts_validate(args: tuple[int, ...], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        MailboxCounts(*args)


# --- the lamp --------------------------------------------------------------------------------

YES_1_0 = build(Counts(1, 0), account="sip:asterisk@127.0.0.1:5080")
NO_0_1 = build(Counts(0, 1), account="sip:asterisk@127.0.0.1:5080")


def test_new_lamp_is_off_with_nothing_received() -> None:
    lamp = Lamp()
    assert lamp.on is False
    assert lamp.latest is None
    assert lamp.voice is None
    assert lamp.history == ()
    assert lamp.changes() == ()


def test_lamp_follows_the_latest_summary() -> None:
    lamp = Lamp()
    lamp.receive(YES_1_0, now=1.0)
    assert lamp.on is True
    assert lamp.voice == Counts(1, 0, 0, 0)
    lamp.receive(NO_0_1.decode(), now=2.0)
    assert lamp.on is False
    assert lamp.voice == Counts(0, 1, 0, 0)
    lamp.receive(MessageSummary.of(Counts(2, 1)), now=3.0)
    assert lamp.on is True
    assert lamp.latest is not None
    assert lamp.latest.at == 3.0


def test_redundant_notifies_are_harmless() -> None:
    lamp = Lamp()
    for at in (0.0, 0.002, 0.004):  # Asterisk's two start-up rounds and a post-login repeat
        lamp.receive(NO_0_1, now=at)
    lamp.receive(YES_1_0, now=5.0)
    lamp.receive(YES_1_0, now=5.001)
    assert lamp.on is True
    assert len(lamp.history) == 5
    assert [state.at for state in lamp.changes()] == [0.0, 5.0]


def test_receive_returns_the_recorded_state() -> None:
    state = Lamp().receive(YES_1_0, now=4.5)
    assert state.at == 4.5
    assert state.on is True
    assert state.voice == Counts(1, 0, 0, 0)


def test_lamp_refuses_time_running_backwards() -> None:
    lamp = Lamp()
    lamp.receive(YES_1_0, now=2.0)
    lamp.receive(YES_1_0, now=2.0)
    with pytest.raises(ValueError, match=r"t=1\.0 before"):
        lamp.receive(NO_0_1, now=1.0)
    assert lamp.on is True


def test_unreadable_body_is_not_recorded() -> None:
    lamp = Lamp()
    with pytest.raises(MwiError):
        lamp.receive(b"Voice-Message: 1/0\r\n", now=1.0)
    assert lamp.history == ()


EXPECT_ON = LampExpectation(waiting=True, voice=Counts(1, 0), within=5.0)


def test_check_met_when_the_latest_summary_matches() -> None:
    lamp = Lamp()
    lamp.receive(YES_1_0, now=11.2)
    check = lamp.check(EXPECT_ON, since=10.0, now=11.2)
    assert check.status == "met"
    assert check.state is not None
    assert check.state.at == 11.2
    assert "voice-message 1/0 (0/0)" in check.detail


def test_check_pending_then_failed_without_a_notify() -> None:
    lamp = Lamp()
    pending = lamp.check(EXPECT_ON, since=10.0, now=12.0)
    assert pending.status == "pending"
    assert pending.deadline == 15.0
    failed = lamp.check(EXPECT_ON, since=10.0, now=15.0)
    assert failed.status == "failed"
    assert failed.state is None
    assert "no summary received" in failed.detail
    assert "waiting=yes, voice 1/0 within 5 s" in failed.detail


def test_check_ignores_summaries_from_before_since() -> None:
    lamp = Lamp()
    lamp.receive(YES_1_0, now=1.0)
    assert lamp.on is True
    assert lamp.check(EXPECT_ON, since=10.0, now=20.0).status == "failed"


def test_check_reports_what_was_seen_instead() -> None:
    lamp = Lamp(origin=9.0)  # times read from when the scenario began
    lamp.receive(NO_0_1, now=11.0)
    check = lamp.check(EXPECT_ON, since=10.0, now=16.0)
    assert check.status == "failed"
    assert "within 5 s of 1.00 s;" in check.detail
    assert "latest at 2.00 s: waiting=no, voice-message 0/1 (0/0)" in check.detail


def test_check_latest_in_window_wins() -> None:
    lamp = Lamp()
    lamp.receive(YES_1_0, now=11.0)
    lamp.receive(NO_0_1, now=12.0)
    assert lamp.check(EXPECT_ON, since=10.0, now=11.5).status == "met"
    assert lamp.check(EXPECT_ON, since=10.0, now=12.0).status == "pending"
    assert lamp.check(EXPECT_ON, since=10.0, now=16.0).status == "failed"


def test_check_survives_duplicates_after_the_match() -> None:
    lamp = Lamp()
    lamp.receive(NO_0_1, now=10.5)
    lamp.receive(YES_1_0, now=11.0)
    lamp.receive(YES_1_0, now=11.001)
    assert lamp.check(EXPECT_ON, since=10.0, now=11.001).status == "met"


def test_check_judges_at_the_deadline_and_notes_a_late_match() -> None:
    lamp = Lamp(origin=10.0)
    lamp.receive(YES_1_0, now=16.0)
    check = lamp.check(EXPECT_ON, since=10.0, now=17.0)
    assert check.status == "failed"
    assert "came late, at 6.00 s" in check.detail


@pytest.mark.parametrize(
    ("expect", "body", "met"),
    [
        (LampExpectation(waiting=True), YES_1_0, True),
        (LampExpectation(waiting=False), YES_1_0, False),
        (LampExpectation(voice=Counts(1, 0)), build(Counts(1, 0), style="buggymwi"), True),
        (
            LampExpectation(voice=Counts(1, 0, 1, 0)),
            build(Counts(1, 0, 1, 0), style="rfc3842"),
            True,
        ),
        (LampExpectation(voice=Counts(1, 0, 1, 0)), YES_1_0, False),
        (LampExpectation(voice=Counts(0, 0)), b"Messages-Waiting: no\r\n", False),
        (LampExpectation(), b"Messages-Waiting: no\r\n", True),
    ],
)
def test_expectation_matching(expect: LampExpectation, body: bytes, met: bool) -> None:
    lamp = Lamp()
    lamp.receive(body, now=1.0)
    assert expect.matches(parse_summary(body)) is met
    assert (lamp.check(expect, since=0.0, now=1.0).status == "met") is met


@pytest.mark.parametrize(
    ("expect", "text"),
    [
        (EXPECT_ON, "waiting=yes, voice 1/0 within 5 s"),
        (LampExpectation(waiting=False, within=0.5), "waiting=no within 0.5 s"),
        (LampExpectation(voice=Counts(0, 0, 0, 0)), "voice 0/0 (0/0) within 5 s"),
        (LampExpectation(), "any summary within 5 s"),
    ],
)
def test_expectation_reads_well(expect: LampExpectation, text: str) -> None:
    assert str(expect) == text


@pytest.mark.parametrize("within", [-1.0, float("nan"), float("inf")])
def test_expectation_validates_within(within: float) -> None:
    with pytest.raises(ValueError, match="within"):
        LampExpectation(waiting=True, within=within)


def test_deposit_then_retrieval_scenario() -> None:
    """A deposit lights the lamp, a retrieval that deletes the message puts it out."""
    lamp = Lamp()
    lamp.receive(build(Counts(0, 0)), now=0.0)
    deposit_done = 4.0
    lamp.receive(build(Counts(1, 0)), now=4.001)
    assert lamp.check(EXPECT_ON, since=deposit_done, now=4.001).status == "met"
    retrieval_done = 20.0
    expect_off = LampExpectation(waiting=False, voice=Counts(0, 0))
    assert lamp.check(expect_off, since=retrieval_done, now=20.0).status == "pending"
    lamp.receive(build(Counts(0, 0)), now=20.002)
    assert lamp.check(expect_off, since=retrieval_done, now=20.002).status == "met"
    assert [s.on for s in lamp.changes()] == [False, True, False]
