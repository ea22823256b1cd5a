"""Mailbox identity: parsing, lists and validation of ``box@context``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.core.mailbox import DEFAULT_CONTEXT, MailboxId


@pytest.mark.parametrize(
    ("text", "box", "context"),
    [
        ("2000@ctx", "2000", "ctx"),
        ("2000", "2000", "default"),
        ("  2000@ctx\t", "2000", "ctx"),
        ("sales-1.a_b@office-ny", "sales-1.a_b", "office-ny"),
        ("Alice@Default", "Alice", "Default"),
        ("100@my+ctx~1", "100", "my+ctx~1"),
    ],
)
def test_parse_splits_box_and_context(text: str, box: str, context: str) -> None:
    assert MailboxId.parse(text) == MailboxId(box, context)


def test_parse_uses_the_given_default_context() -> None:
    assert MailboxId.parse("2000", default_context="office") == MailboxId("2000", "office")
    assert MailboxId.parse("2000@x", default_context="office") == MailboxId("2000", "x")


def test_default_context_is_default() -> None:
    assert MailboxId("2000").context == DEFAULT_CONTEXT == "default"


@pytest.mark.parametrize(
    ("mailbox", "text"),
    [(MailboxId("2000", "ctx"), "2000@ctx"), (MailboxId("7"), "7@default")],
)
def test_str_is_box_at_context(mailbox: MailboxId, text: str) -> None:
    assert str(mailbox) == text


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty box"),
        ("   ", "empty box"),
        ("@ctx", "empty box"),
        ("2000@", "empty context"),
        ("2000@a@b", "'a@b'"),
        ("20 00@ctx", "'20 00'"),
        ("2000 @ctx", "'2000 '"),
        ("2000@my ctx", "'my ctx'"),
        ("2000,2001", "'2000,2001'"),
        ("2000&2001", "'2000&2001'"),
        ("200é@ctx", "'200é'"),
        ("2000@ctx,x", "'ctx,x'"),
    ],
)
def test_parse_rejects_bad_text_naming_it(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match="bad mailbox") as caught:
        MailboxId.parse(text)
    assert repr(text) in str(caught.value)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(("box", "context"), [("", "ctx"), ("a b", "ctx"), ("1", ""), ("1", "a@b")])
def test_constructor_validates(box: str, context: str) -> None:
    with pytest.raises(ValueError, match="bad mailbox"):
        MailboxId(box, context)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1000@a,1001@b", [("1000", "a"), ("1001", "b")]),
        ("1000@a, 1001@b ", [("1000", "a"), ("1001", "b")]),
        ("1000", [("1000", "default")]),
        ("1000@a,,1001@b,", [("1000", "a"), ("1001", "b")]),
        ("1000@a,1001@b,1000@a", [("1000", "a"), ("1001", "b")]),
        ("1000@a,1000@b", [("1000", "a"), ("1000", "b")]),
        ("", []),
        (" , ", []),
    ],
)
def test_parse_list_of_sip_conf_mailbox(text: str, expected: list[tuple[str, str]]) -> None:
    assert MailboxId.parse_list(text) == tuple(MailboxId(b, c) for b, c in expected)


def test_parse_list_with_ampersands_as_voicemail_writes_them() -> None:
    assert MailboxId.parse_list("1000&1001@sales", separator="&") == (
        MailboxId("1000", "default"),
        MailboxId("1001", "sales"),
    )


def test_parse_list_with_ampersand_separator_rejects_commas_in_items() -> None:
    with pytest.raises(ValueError, match="item 1"):
        MailboxId.parse_list("1000,1001", separator="&")


def test_parse_list_error_names_the_item_and_the_list() -> None:
    with pytest.raises(ValueError, match="bad mailbox") as caught:
        MailboxId.parse_list("1000@a,10 01@b")
    message = str(caught.value)
    assert "'10 01@b'" in message
    assert "item 2" in message
    assert "'1000@a,10 01@b'" in message


def test_mailbox_ids_are_hashable_and_ordered() -> None:
    boxes = {MailboxId("2"), MailboxId("1"), MailboxId.parse("1@default")}
    assert sorted(boxes) == [MailboxId("1"), MailboxId("2")]


_BOX = st.text("0123456789abcXYZ-_.", min_size=1, max_size=12)
_CONTEXT = st.text("abcdefXYZ0123456789-_.+~", min_size=1, max_size=12)


@given(_BOX, _CONTEXT)
def test_str_then_parse_round_trips(box: str, context: str) -> None:
    mailbox = MailboxId(box, context)
    assert MailboxId.parse(str(mailbox)) == mailbox


@given(st.lists(st.tuples(_BOX, _CONTEXT), max_size=6, unique=True))
def test_joined_list_round_trips(pairs: list[tuple[str, str]]) -> None:
    mailboxes = tuple(MailboxId(b, c) for b, c in pairs)
    assert MailboxId.parse_list(",".join(map(str, mailboxes))) == mailboxes
    assert MailboxId.parse_list("&".join(map(str, mailboxes)), separator="&") == mailboxes
