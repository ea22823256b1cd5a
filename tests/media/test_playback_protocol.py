"""Received datagrams as the playback process packs them and the server reads them back."""

from __future__ import annotations

import pytest

from harness.media.playback_protocol import (
    PlaybackProtocolError,
    Received,
    ReceivedBatch,
    ReceivedReader,
    decode,
    encode,
)


def test_datagrams_come_back_in_order_with_their_socket_time_and_source() -> None:
    batch = ReceivedBatch()
    batch.add(1, 10.5, ("127.0.0.1", 4000), b"first")
    batch.add(2, 10.5, ("::1", 4002), b"")
    batch.add(1, 10.52, ("127.0.0.1", 4000), b"second")
    batch.add(1, 10.54, ("127.0.0.2", 4000), b"moved")
    reader = ReceivedReader()
    message = decode(encode(batch.take()))
    assert isinstance(message, Received)
    assert list(reader.read(message)) == [
        (1, 10.5, ("127.0.0.1", 4000), b"first"),
        (2, 10.5, ("::1", 4002), b""),
        (1, 10.52, ("127.0.0.1", 4000), b"second"),
        (1, 10.54, ("127.0.0.2", 4000), b"moved"),
    ]
    assert len(batch) == 0


def test_a_source_named_once_holds_for_the_next_batches() -> None:
    batch = ReceivedBatch()
    reader = ReceivedReader()
    batch.add(7, 1.0, ("192.0.2.1", 5004), b"a")
    first = batch.take()
    batch.add(7, 1.02, ("192.0.2.1", 5004), b"b")
    second = batch.take()
    assert len(second.records) < len(first.records)  # the source is not sent again
    assert [source for _, _, source, _ in reader.read(first)] == [("192.0.2.1", 5004)]
    assert [source for _, _, source, _ in reader.read(second)] == [("192.0.2.1", 5004)]


def test_a_released_socket_id_names_its_source_afresh() -> None:
    batch = ReceivedBatch()
    batch.add(3, 1.0, ("192.0.2.1", 5004), b"a")
    batch.forget(3)
    batch.add(3, 2.0, ("192.0.2.1", 5004), b"b")
    reader = ReceivedReader()
    records = batch.take()
    reader.forget(3)
    assert [data for *_, data in reader.read(records)] == [b"a", b"b"]


@pytest.mark.parametrize(
    "records",
    [
        b"\x00\x00\x00\x01",  # a record's head cut short
        b"\x00\x00\x00\x01" + b"\x00" * 8 + b"\x00\x05\x00" + b"abc",  # its data cut short
        b"\x00\x00\x00\x01" + b"\x00" * 8 + b"\x00\x01\x00" + b"a",  # no source ever named
        b"\x00\x00\x00\x01" + b"\x00" * 8 + b"\x00\x00\x04" + b"\xff\xfe 1",  # not text
    ],
)
def test_malformed_records_are_refused_by_name(records: bytes) -> None:
    with pytest.raises(PlaybackProtocolError, match="received datagrams"):
        list(ReceivedReader().read(Received(records)))
