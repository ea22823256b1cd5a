"""The trace: pairing of both ends' records, JSON round trip, schema errors, the RTP hook."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.media.session import RtpSession
from harness.report.records import (
    ClockAnchor,
    DtmfDigit,
    Endpoint,
    LatencySample,
    RtpStream,
    SmdiFrame,
    rtp_stream,
)
from harness.report.trace import (
    SCHEMA_VERSION,
    Trace,
    TraceError,
    message_label,
    pair_echoes,
)
from harness.sip.transport import WireMessage


def test_each_message_between_two_parties_is_shown_once(kit: Any) -> None:
    trace = kit.sample_trace()
    messages = trace.transmissions()
    assert len(trace.sip) == 14
    assert len(messages) == 7
    assert [(m.sender, m.receiver, m.label) for m in messages] == [
        ("phone 2000", "proxy", "INVITE"),
        ("proxy", "phone 2000", "100 Trying (INVITE)"),
        ("proxy", "voicemail", "INVITE"),
        ("voicemail", "proxy", "200 OK (INVITE)"),
        ("proxy", "phone 2000", "200 OK (INVITE)"),
        ("voicemail", "proxy", "NOTIFY"),
        ("proxy", "voicemail", "404 Not Found (NOTIFY)"),
    ]
    assert [m.number for m in messages] == list(range(1, 8))
    assert messages[0].source == Endpoint("127.0.0.1", 40000)
    assert messages[0].destination == Endpoint("127.0.0.1", 5060)


@pytest.mark.parametrize(
    ("body", "label"),
    [
        (b"Messages-Waiting: yes\r\nVoice-Message: 2/1 (0/0)\r\n", "NOTIFY yes 2/1"),
        (b"Messages-Waiting: no\r\n", "NOTIFY no"),
        (b"Voice-Message: lots\r\n", "NOTIFY (unreadable summary)"),
    ],
)
def test_a_message_summary_notify_is_labelled_with_the_lamp_state(
    kit: Any, body: bytes, label: str
) -> None:
    notify = kit.request("NOTIFY", body=body).replace(
        b"Max-Forwards", b"Content-Type: application/simple-message-summary\r\nMax-Forwards"
    )
    assert message_label(notify) == label
    assert message_label(b"garbage") == "unparsable"


def test_retransmissions_pair_one_to_one(kit: Any) -> None:
    invite = kit.request("INVITE")
    wire = [
        *kit.hop(invite, kit.PHONE, kit.PROXY, 0.1),
        *kit.hop(invite, kit.PHONE, kit.PROXY, 0.6),
    ]
    records = pair_echoes(wire)
    assert [r.echo_of for r in records] == [None, 0, None, 2]


def test_a_message_from_a_peer_the_harness_does_not_run_is_kept(kit: Any) -> None:
    data = kit.response(200, "OK", "OPTIONS", server="Kamailio 5.6")
    external = WireMessage(
        "in", data, ("127.0.0.1", 5060), kit.EXTERNAL, "UDP", 2.0, kit.T0 + 2.0, "proxy"
    )
    trace = kit.sample_trace(sip=pair_echoes([*kit.sample_wire(), external]))
    last = trace.transmissions()[-1]
    assert (last.sender, last.receiver) == ("127.0.0.1:5999", "proxy")
    assert last.sent is None
    assert trace.agent("127.0.0.1:5999") == "Kamailio 5.6"
    assert trace.parties()[-1] == "127.0.0.1:5999"


def test_tcp_messages_travel_between_the_connection_ports(kit: Any) -> None:
    # The client's records name its listening port; the server saw the connection's own port.
    invite = kit.request("INVITE")
    ok = kit.response(200, "OK", "INVITE")
    wire = [
        WireMessage(
            "out", invite, kit.PHONE[1], kit.PROXY[1], "TCP", 0.1, kit.T0 + 0.1, "phone 2000"
        ),
        WireMessage(
            "in", invite, kit.PROXY[1], ("127.0.0.1", 51000), "TCP", 0.2, kit.T0 + 0.2, "proxy"
        ),
        WireMessage(
            "out", ok, kit.PROXY[1], ("127.0.0.1", 51000), "TCP", 0.3, kit.T0 + 0.3, "proxy"
        ),
        WireMessage("in", ok, kit.PHONE[1], kit.PROXY[1], "TCP", 0.4, kit.T0 + 0.4, "phone 2000"),
    ]
    messages = kit.sample_trace(sip=pair_echoes(wire)).transmissions()
    assert [(m.sender, m.receiver) for m in messages] == [
        ("phone 2000", "proxy"),
        ("proxy", "phone 2000"),
    ]
    assert messages[0].source == messages[1].destination == Endpoint("127.0.0.1", 51000)


def test_parties_are_phones_then_proxy_then_target(kit: Any) -> None:
    assert kit.sample_trace().parties() == ["phone 2000", "proxy", "voicemail"]


def test_target_identity_is_its_server_header_else_its_name(kit: Any) -> None:
    trace = kit.sample_trace()
    assert trace.target_identity == "Asterisk PBX 18.20.0"
    assert trace.agent("phone 2000") == "phone/1"
    silent = trace.transmissions()[0].data
    quiet = kit.sample_trace(sip=pair_echoes(kit.hop(silent, kit.PHONE, kit.PROXY, 0.1)))
    assert quiet.target_identity == "embedded"


def test_a_trace_reads_back_equal_with_every_section(kit: Any, tmp_path: Path) -> None:
    binary = replace(kit.sample_trace().sip[0], data=b"\xff\xfe not utf-8 \x00")
    trace = kit.sample_trace(
        sip=(binary, *kit.sample_trace().sip[1:]),
        rtp=(
            RtpStream(
                "voicemail",
                "c1",
                Endpoint("127.0.0.1", 20000),
                None,
                1234,
                (0, 101),
                0,
                150,
                1,
                2,
                3,
                0.0125,
                0,
                0,
                (DtmfDigit("1", 800), DtmfDigit("#", 2400)),
            ),
        ),
        smdi=(SmdiFrame("pbx", "MD", "out", b"\r\nMD0010001D2000\r\n\x19", kit.T0 + 0.5),),
        latency=(LatencySample(kit.T0 + 1, 0.042),),
        quirks=("compact-headers",),
        tags=("mwi",),
        description="what it does",
    )
    path = trace.save(tmp_path / "t.json")
    assert Trace.load(path) == trace
    document = json.loads(path.read_text())
    assert document["schema_version"] == SCHEMA_VERSION
    assert document["sip"][0]["data_encoding"] == "base64"
    assert document["sip"][2]["data"].startswith("SIP/2.0 100 Trying")
    assert document["sip"][1]["echo_of"] == 0


def _document(kit: Any) -> dict[str, Any]:
    return kit.sample_trace().to_json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(schema="other"), "schema: not a vmharness trace"),
        (lambda d: d.update(schema_version=SCHEMA_VERSION + 1), "is newer than this vmharness"),
        (lambda d: d["sip"][3].pop("wall"), "sip[3].wall: missing"),
        (lambda d: d["sip"][0].update(wall="soon"), "sip[0].wall: expected a number, got a string"),
        (lambda d: d["steps"][1].update(status="meh"), 'steps[1].status: "meh" is not one of'),
        (
            lambda d: d["sip"][2].update(data_encoding="base64", data="%%"),
            "sip[2].data: not base64",
        ),
        (lambda d: d.update(steps={}), "steps: expected a list, got an object"),
        (lambda d: d["scenario"].update(name=None), "scenario.name: expected a string, got null"),
    ],
)
def test_a_bad_trace_file_names_the_field(
    kit: Any, tmp_path: Path, change: Any, message: str
) -> None:
    document = _document(kit)
    change(document)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(TraceError, match=r"bad\.json: ") as error:
        Trace.load(path)
    assert message in str(error.value)


def test_a_file_that_is_not_json_says_where(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"schema":\n  nope}')
    with pytest.raises(TraceError, match=r"broken.json:2:3: not JSON"):
        Trace.load(path)


async def test_the_runner_hook_snapshots_an_rtp_session() -> None:
    sender, receiver = await RtpSession.open(), await RtpSession.open()
    try:
        sender.remote = receiver.local_address
        await sender.send_payload(b"\xff" * 160 * 3, 0)
        await sender.send_dtmf("5", 101)
        for _ in range(200):
            if receiver.dtmf.digits:
                break
            await asyncio.sleep(0.005)
        stream = rtp_stream("voicemail", receiver, "call-1")
    finally:
        sender.close()
        receiver.close()
    assert stream.party == "voicemail"
    assert stream.call_id == "call-1"
    assert stream.local == Endpoint(*receiver_address(stream))
    assert stream.payload_types == (0, 101)
    assert stream.received >= 4
    assert stream.lost == 0
    assert [digit.digit for digit in stream.dtmf] == ["5"]
    assert rtp_stream("voicemail", receiver).local is None  # closed: no address any more


def receiver_address(stream: RtpStream) -> tuple[str, int]:
    assert stream.local is not None
    return stream.local.host, stream.local.port


def test_the_wire_is_dated_by_the_run_s_one_anchor(kit: Any) -> None:
    wire = kit.sample_wire()
    records = pair_echoes(wire, ClockAnchor(loop=0.0, wall=kit.T0 + 100))
    assert [record.monotonic for record in records] == [message.monotonic for message in wire]
    assert all(
        record.wall == kit.T0 + 100 + message.monotonic
        for record, message in zip(records, wire, strict=True)
    )
    # Without an anchor, the log's first message carries one.
    first = wire[0]
    assert pair_echoes(wire)[3].wall == first.wall + (wire[3].monotonic - first.monotonic)


def test_a_failed_steps_finding_reads_back_by_name(kit: Any, tmp_path: Path) -> None:
    sample = kit.sample_trace()
    failed = replace(sample.steps[0], status="failed", finding="notify-late")
    trace = replace(sample, steps=(failed, *sample.steps[1:]))

    back = Trace.load(trace.save(tmp_path / "trace.json"))

    assert back.findings == ("notify-late",)
    assert back.steps[0].finding == "notify-late"
    # A step without a finding writes none.
    assert all("finding" not in step for step in sample.to_json()["steps"])
