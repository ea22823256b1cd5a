"""SMDI readers under random junk: valid messages survive, nothing raises.

The readers promise (see harness.smdi.codec) that every strictly encoded message is parsed
whatever bytes surround it. Junk may of course itself contain a valid message, so with
arbitrary junk the sent messages must appear *in order among* the parsed ones; with junk free of
sync bytes they must be exactly the parsed ones, and every junk byte must be reported as noise.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harness.smdi.codec import (
    FRAMING_BYTES,
    MdMessage,
    MwiCommand,
    MwiError,
    Noise,
    Received,
    SmdiCommandReader,
    SmdiReader,
)

digits = st.text(alphabet="0123456789", min_size=0, max_size=10)
md_messages = st.builds(
    MdMessage,
    desk=st.text(alphabet="0123456789", min_size=3, max_size=3),
    terminal=st.text(alphabet="0123456789", min_size=4, max_size=4),
    call_type=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    forwarding_station=digits,
    calling_station=digits,
)
mwi_errors = st.builds(
    MwiError,
    station=st.text(alphabet="0123456789", min_size=1, max_size=10),
    cause=st.sampled_from(["INV", "BLK", "XYZ"]),
    style=st.sampled_from(["dms", "toshiba", "cisco"]),
)
commands = st.builds(
    MwiCommand,
    station=st.text(alphabet="0123456789@abcdefORM#*", min_size=1, max_size=20),
    on=st.booleans(),
)


def prefixes(
    messages: st.SearchStrategy[MdMessage | MwiError | MwiCommand],
) -> st.SearchStrategy[bytes]:
    """Messages cut short anywhere: the junk a noisy line really produces."""
    return messages.map(lambda m: m.encode()).flatmap(
        lambda wire: st.integers(0, len(wire)).map(lambda k: wire[:k])
    )


# Junk is biased towards what can confuse a reader: truncated messages, sync letters, digits,
# spaces and line ends; plus plain random bytes.
junk_bytes = st.lists(
    st.binary(max_size=12)
    | st.lists(st.sampled_from(b"MDWIOPRV:! 0123456789\r\n\x19\x7f\x04"), max_size=12).map(bytes)
    | prefixes(md_messages | mwi_errors | commands),
    max_size=4,
).map(b"".join)


def wire(message: MdMessage | MwiError, bare: bool) -> bytes:
    """The encoded message, or (``bare``) without the CR LF before it, as in a pipelined burst."""
    data = message.encode()
    return data.removeprefix(b"\r\n") if bare else data


def split(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(stream) + 1) for c in cuts})
    return [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]


def is_subsequence(wanted: list[object], got: list[object]) -> bool:
    remaining = iter(got)
    return all(any(item == candidate for candidate in remaining) for item in wanted)


def without_framing(data: bytes) -> bytes:
    return bytes(b for b in data if b not in FRAMING_BYTES)


@given(
    st.lists(st.tuples(junk_bytes, md_messages | mwi_errors, st.booleans()), max_size=6),
    junk_bytes,
    st.lists(st.integers(min_value=0), max_size=12),
)
def test_switch_messages_survive_any_junk(
    items: list[tuple[bytes, MdMessage | MwiError, bool]], tail: bytes, cuts: list[int]
) -> None:
    stream = b"".join(junk + wire(message, bare) for junk, message, bare in items) + tail
    reader = SmdiReader()
    events = [e for chunk in split(stream, cuts) for e in reader.feed(chunk, now=0.0)]
    events += reader.flush()
    parsed = [e.message for e in events if isinstance(e, Received)]
    assert is_subsequence([message for _, message, _ in items], parsed)  # type: ignore[arg-type]
    assert reader.pending == b""


@given(
    st.lists(st.tuples(junk_bytes, md_messages | mwi_errors, st.booleans()), max_size=6),
    junk_bytes,
    st.lists(st.integers(min_value=0), max_size=12),
)
def test_switch_junk_without_sync_bytes_is_all_reported(
    items: list[tuple[bytes, MdMessage | MwiError, bool]], tail: bytes, cuts: list[int]
) -> None:
    items = [(junk.replace(b"M", b""), message, bare) for junk, message, bare in items]
    tail = tail.replace(b"M", b"")
    stream = b"".join(junk + wire(message, bare) for junk, message, bare in items) + tail
    reader = SmdiReader()
    events = [e for chunk in split(stream, cuts) for e in reader.feed(chunk, now=0.0)]
    events += reader.flush()
    assert [e.message for e in events if isinstance(e, Received)] == [m for _, m, _ in items]
    reported = b"".join(e.data for e in events if isinstance(e, Noise))
    sent_junk = b"".join(junk for junk, _, _ in items) + tail
    assert without_framing(reported) == without_framing(sent_junk)


@given(
    st.lists(st.tuples(junk_bytes, commands), max_size=6),
    junk_bytes,
    st.lists(st.integers(min_value=0), max_size=12),
    st.integers(min_value=0, max_value=3),
)
def test_commands_survive_any_junk(
    items: list[tuple[bytes, MwiCommand]], tail: bytes, cuts: list[int], msdstrip: int
) -> None:
    stream = b"".join(junk + command.encode(msdstrip) for junk, command in items) + tail
    reader = SmdiCommandReader(msdstrip=msdstrip)
    events = [e for chunk in split(stream, cuts) for e in reader.feed(chunk, now=0.0)]
    events += reader.flush()
    parsed = [e.message for e in events if isinstance(e, Received)]
    assert is_subsequence([command for _, command in items], parsed)  # type: ignore[arg-type]


@given(
    st.lists(st.tuples(junk_bytes, commands), max_size=6),
    st.lists(st.integers(min_value=0), max_size=12),
)
def test_command_junk_without_sync_bytes_changes_nothing(
    items: list[tuple[bytes, MwiCommand]], cuts: list[int]
) -> None:
    items = [(junk.translate(None, b"OR"), command) for junk, command in items]
    stream = b"".join(junk + command.encode() for junk, command in items)
    reader = SmdiCommandReader()
    events = [e for chunk in split(stream, cuts) for e in reader.feed(chunk, now=0.0)]
    events += reader.flush()
    assert [e.message for e in events if isinstance(e, Received)] == [c for _, c in items]


@given(st.binary(max_size=300), st.lists(st.integers(min_value=0), max_size=20))
def test_random_bytes_never_raise(data: bytes, cuts: list[int]) -> None:
    for reader in (SmdiReader(), SmdiCommandReader()):
        for k, chunk in enumerate(split(data, cuts)):
            reader.feed(chunk, now=k * 0.7)
        reader.flush()
        assert reader.pending == b""
